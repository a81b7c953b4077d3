import type { RouteDef } from '../../router.ts';
import { ApiError } from '../../errors.ts';
import { createSyncVariant } from '../../../engine/sync/variants.ts';
import { ensureSyncsForConnection } from '../../../engine/sync/scheduler.ts';
import { syncDefsOf } from '../../../engine/sync/registry.ts';
import { registryOf, unknownSync } from './shared.ts';
import { parseVariantRequest } from './variant-shared.ts';

/**
 * `POST /sync/:name/variant/:variant` `{provider_config_key, connection_id}` (SDK `createSyncVariant`) →
 * 200 `{id, name, variant}`: a variant of the connection's sync `name`, with its own schedule (started,
 * its initial run due at once), checkpoint, options (`PUT /sync/options` with `sync_variant`), frequency,
 * run history and records (`GET /records?model=…&variant=…`). Select it elsewhere with `{name, variant}`
 * (trigger, pause, start) or `name::variant` (status).
 *
 * Errors, in the order and with the codes of Nango's `postSyncVariant` controller: 400 `invalid_body`,
 * 400 `invalid_uri_params`, 400 `invalid_query_params`, 400 `invalid_variant` (`base`, any case: "Variant
 * name … is protected"), 400 `unknown_connection`, 400 `sync_variant_already_exists` (Nango answers 400,
 * not 409), 400 `unknown_sync`.
 */
export const postSyncVariant: RouteDef = {
  method: 'POST',
  path: '/sync/:name/variant/:variant',
  auth: 'secret',
  handler: async (ctx) => {
    const req = await parseVariantRequest(ctx, (v) => `Variant name "${v}" is protected.`);
    const defs = syncDefsOf(registryOf(ctx), req.connection.provider);
    const def = defs.find((d) => d.name === req.name);
    if (!def) throw unknownSync(req.name, 'base', defs);
    // The sync the variant is made of exists for the connection (a connection made before syncs existed).
    await ensureSyncsForConnection(ctx.deps, req.connection);
    const r = await createSyncVariant(ctx.deps, {
      connectionPk: req.connection.id,
      def,
      variant: req.variant,
    });
    if (r.kind === 'connection_deleted') {
      throw new ApiError(400, 'unknown_connection', 'The connection was deleted.');
    }
    if (r.kind === 'exists') {
      throw new ApiError(
        400,
        'sync_variant_already_exists',
        `Sync "${req.name}" already has a variant "${req.variant}" for this connection.`,
      );
    }
    return { body: { id: String(r.sync.id), name: r.sync.name, variant: r.sync.variant } };
  },
};
