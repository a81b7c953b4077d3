import { z } from 'zod';
import type { RouteContext } from '../../router.ts';
import { parseWith } from '../../validate.ts';
import { nowOf } from '../../../db/context.ts';
import { setScheduleStatus, type ScheduleStatus } from '../../../db/syncs.ts';
import { connectionIdSchema, jsonOrEmpty, providerConfigKeySchema } from '../connections/schemas.ts';
import { enabledTargets, normalizeSelectors, resolveTargets, syncSelectorSchema } from './shared.ts';

const bodySchema = z
  .object({
    syncs: z.array(syncSelectorSchema).max(256),
    provider_config_key: providerConfigKeySchema,
    connection_id: connectionIdSchema.optional(),
  })
  .strict();

/**
 * Shared by `POST /sync/start` and `POST /sync/pause`. Starting a sync its integration disabled answers
 * 404 `disabled_resource` when named (skipped when all are started); pausing one is allowed (it is kept
 * paused once enabled again).
 */
export async function setSchedules(ctx: RouteContext, status: ScheduleStatus): Promise<{ success: true }> {
  const body = parseWith(bodySchema, await jsonOrEmpty(ctx), 'invalid_body');
  const selectors = normalizeSelectors(body.syncs);
  const targets = await resolveTargets(ctx, {
    providerConfigKey: body.provider_config_key,
    connectionId: body.connection_id,
    selectors,
  });
  const syncs = status === 'STARTED' ? enabledTargets(targets, selectors) : targets.syncs;
  const store = ctx.deps.store.ctx;
  const changed = await setScheduleStatus(
    store,
    syncs.map((s) => s.id),
    status,
    nowOf(store),
  );
  if (changed > 0 && status === 'STARTED') ctx.deps.syncs?.wake();
  return { success: true };
}
