import { z } from 'zod';
import type { RouteDef } from '../../router.ts';
import { ApiError } from '../../errors.ts';
import { parseWith } from '../../validate.ts';
import { nowOf } from '../../../db/context.ts';
import { setFrequency } from '../../../db/syncs.ts';
import { FrequencyError, formatFrequency, parseFrequency } from '../../../engine/sync/frequency.ts';
import {
  connectionIdSchema,
  jsonOrEmpty,
  providerConfigKeySchema,
  requireEmptyQuery,
} from '../connections/schemas.ts';
import { defOf, resolveTargets, syncNameSchema } from './shared.ts';

const bodySchema = z
  .object({
    sync_name: syncNameSchema,
    sync_variant: syncNameSchema.optional(),
    provider_config_key: providerConfigKeySchema,
    connection_id: connectionIdSchema,
    frequency: z.string().min(1).max(100).nullable(),
  })
  .strict();

/**
 * `PUT /sync/update-connection-frequency` `{sync_name, sync_variant?, provider_config_key, connection_id,
 * frequency}` → `{frequency}`: the connection's own frequency for the sync (`every 30m`, `every 2 hours`,
 * `every day`…; at least 30 s), or `null` for the sync's default. An idle sync's next run moves to its
 * last run's end plus the new interval. Answers the frequency now in force, as `GET /sync/status` shows it.
 * Errors: 400 `unknown_connection`, 400 `unknown_sync`, 400 `invalid_body` (bad frequency).
 */
export const putUpdateConnectionFrequency: RouteDef = {
  method: 'PUT',
  path: '/sync/update-connection-frequency',
  auth: 'secret',
  handler: async (ctx) => {
    requireEmptyQuery(ctx);
    const body = parseWith(bodySchema, await jsonOrEmpty(ctx), 'invalid_body');
    let frequency: { text: string; seconds: number } | null = null;
    if (body.frequency !== null) {
      try {
        frequency = parseFrequency(body.frequency);
      } catch (err) {
        if (!(err instanceof FrequencyError)) throw err;
        throw new ApiError(400, 'invalid_body', err.message, {
          errors: [{ code: 'invalid_frequency', message: err.message, path: ['frequency'] }],
        });
      }
    }
    const targets = await resolveTargets(ctx, {
      providerConfigKey: body.provider_config_key,
      connectionId: body.connection_id,
      selectors: [{ name: body.sync_name, variant: body.sync_variant ?? 'base' }],
    });
    const sync = targets.syncs[0];
    const def = defOf(targets.defs, body.sync_name);
    if (!sync || !def) throw new ApiError(400, 'unknown_sync', `Unknown sync "${body.sync_name}".`);
    const store = ctx.deps.store.ctx;
    const seconds = frequency?.seconds ?? def.defaultFrequencySeconds;
    await setFrequency(store, sync.id, frequency, seconds, nowOf(store));
    return { body: { frequency: frequency?.text ?? formatFrequency(def.defaultFrequencySeconds) } };
  },
};
