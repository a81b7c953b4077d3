import type { RouteDef } from '../../router.ts';
import { ApiError } from '../../errors.ts';
import { deleteSyncVariant } from '../../../engine/sync/variants.ts';
import { findSyncDef } from '../../../engine/sync/registry.ts';
import { registryOf } from './shared.ts';
import { parseVariantRequest } from './variant-shared.ts';

/**
 * `DELETE /sync/:name/variant/:variant` with the JSON body `{provider_config_key, connection_id}` (SDK
 * `deleteSyncVariant`) → 200 `{success: true}` once the variant is gone: its schedule, its run in progress
 * (stopped: it writes nothing more), its run history and logs, its records (`Model::variant`). The base
 * sync and other variants are untouched. See src/engine/sync/variants.ts.
 *
 * Errors, as Nango's `deleteSyncVariant` controller: 400 `invalid_body`, 400 `invalid_uri_params`, 400
 * `invalid_query_params`, 400 `invalid_variant` (`base`, any case: "Cannot delete protected variant"), 400
 * `unknown_connection`, 404 `not_found` (the connection has no such variant).
 */
export const deleteSyncVariantRoute: RouteDef = {
  method: 'DELETE',
  path: '/sync/:name/variant/:variant',
  auth: 'secret',
  handler: async (ctx) => {
    const req = await parseVariantRequest(ctx, (v) => `Cannot delete protected variant "${v}".`);
    const r = await deleteSyncVariant(ctx.deps, {
      connectionPk: req.connection.id,
      name: req.name,
      variant: req.variant,
      def: findSyncDef(registryOf(ctx), req.connection.provider, req.name),
    });
    if (!r) {
      throw new ApiError(
        404,
        'not_found',
        `Sync "${req.name}" has no variant "${req.variant}" for this connection.`,
      );
    }
    return { body: { success: true } };
  },
};
