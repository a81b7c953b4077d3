import { z } from 'zod';
import type { RouteDef } from '../../router.ts';
import { ApiError } from '../../errors.ts';
import { parseWith } from '../../validate.ts';
import { nowOf } from '../../../db/context.ts';
import { setSyncOptions } from '../../../db/syncs.ts';
import {
  connectionIdSchema,
  jsonOrEmpty,
  providerConfigKeySchema,
  requireEmptyQuery,
} from '../connections/schemas.ts';
import { defOf, resolveTargets, syncNameSchema } from './shared.ts';

const MAX_OPTIONS_BYTES = 16 * 1024;

const bodySchema = z
  .object({
    sync_name: syncNameSchema,
    sync_variant: syncNameSchema.optional(),
    provider_config_key: providerConfigKeySchema,
    connection_id: connectionIdSchema,
    options: z.record(z.string().min(1).max(100), z.unknown()),
  })
  .strict();

/**
 * `PUT /sync/options` `{sync_name, sync_variant?, provider_config_key, connection_id, options}` → `{options}`:
 * the connection's options for one sync, or for one variant of it with `sync_variant` (each variant has
 * its own: two variants of `activities` may read different activity types) (Tether's own route; Nango has
 * none). E.g. the `activities` sync's
 * `{"activityTypeIds": [1, 12, 13]}` chooses the activity types it reads; see the model table in
 * src/marketo/models/README.md. The next run uses them. Errors: 400 `unknown_connection`,
 * `unknown_sync`, `invalid_body` (not an object, or larger than 16 KiB).
 */
export const putSyncOptions: RouteDef = {
  method: 'PUT',
  path: '/sync/options',
  auth: 'secret',
  handler: async (ctx) => {
    requireEmptyQuery(ctx);
    const body = parseWith(bodySchema, await jsonOrEmpty(ctx), 'invalid_body');
    if (Buffer.byteLength(JSON.stringify(body.options)) > MAX_OPTIONS_BYTES) {
      throw new ApiError(400, 'invalid_body', 'options must be at most 16 KiB of JSON.');
    }
    const targets = await resolveTargets(ctx, {
      providerConfigKey: body.provider_config_key,
      connectionId: body.connection_id,
      selectors: [{ name: body.sync_name, variant: body.sync_variant ?? 'base' }],
    });
    const sync = targets.syncs[0];
    if (!sync || !defOf(targets.defs, body.sync_name)) {
      throw new ApiError(400, 'unknown_sync', `Unknown sync "${body.sync_name}".`);
    }
    const store = ctx.deps.store.ctx;
    await setSyncOptions(store, sync.id, body.options, nowOf(store));
    return { body: { options: body.options } };
  },
};
