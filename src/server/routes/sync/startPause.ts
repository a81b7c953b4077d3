import { z } from 'zod';
import type { RouteContext } from '../../router.ts';
import { parseWith } from '../../validate.ts';
import { nowOf } from '../../../db/context.ts';
import { setScheduleStatus, type ScheduleStatus } from '../../../db/syncs.ts';
import { connectionIdSchema, jsonOrEmpty, providerConfigKeySchema } from '../connections/schemas.ts';
import { normalizeSelectors, resolveTargets, syncSelectorSchema } from './shared.ts';

const bodySchema = z
  .object({
    syncs: z.array(syncSelectorSchema).max(256),
    provider_config_key: providerConfigKeySchema,
    connection_id: connectionIdSchema.optional(),
  })
  .strict();

/** Shared by `POST /sync/start` and `POST /sync/pause`. */
export async function setSchedules(ctx: RouteContext, status: ScheduleStatus): Promise<{ success: true }> {
  const body = parseWith(bodySchema, await jsonOrEmpty(ctx), 'invalid_body');
  const targets = await resolveTargets(ctx, {
    providerConfigKey: body.provider_config_key,
    connectionId: body.connection_id,
    selectors: normalizeSelectors(body.syncs),
  });
  const store = ctx.deps.store.ctx;
  const changed = await setScheduleStatus(
    store,
    targets.syncs.map((s) => s.id),
    status,
    nowOf(store),
  );
  if (changed > 0 && status === 'STARTED') ctx.deps.syncs?.wake();
  return { success: true };
}
