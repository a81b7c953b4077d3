import { z } from 'zod';
import type { RouteDef } from '../../router.ts';
import { parseWith } from '../../validate.ts';
import { ApiError } from '../../errors.ts';
import { deleteConnection as deleteStored, getConnection } from '../../../db/connections.ts';
import { releaseDeletedConnection } from '../../../engine/sync/release.ts';
import { forgetProxyLookups } from '../../../engine/proxy.ts';
import { connectionIdParam, providerConfigKeySchema } from './schemas.ts';

const querySchema = z.object({ provider_config_key: providerConfigKeySchema }).strict();

/**
 * `DELETE /connections/{connectionId}?provider_config_key=…` (and legacy `/connection/{id}`):
 * soft delete that erases the credentials. Unknown → 400 `unknown_connection`, like Nango. Then, in the
 * background, its syncs' runs in this process stop and the export jobs their checkpoints hold at Marketo
 * are cancelled (bounded; engine/sync/release.ts).
 */
export const deleteConnection: RouteDef = {
  method: 'DELETE',
  path: '/connections/:connectionId',
  auth: 'secret',
  handler: async (ctx) => {
    const connectionId = connectionIdParam(ctx);
    const q = parseWith(querySchema, ctx.query, 'invalid_query_params');
    const store = ctx.deps.store.ctx;
    // Read first: once deleted its credentials are erased, and its syncs' work at Marketo is given back
    // with them (release.ts).
    const before = await getConnection(store, ctx.auth.environment.id, q.provider_config_key, connectionId);
    const deleted = await deleteStored(
      ctx.deps.store.ctx,
      ctx.auth.environment.id,
      q.provider_config_key,
      connectionId,
    );
    if (!deleted) throw new ApiError(400, 'unknown_connection', 'Failed to find connection');
    // The proxy's short-lived lookups must not serve the deleted connection's credentials any more.
    forgetProxyLookups(ctx.deps);
    // In the background: the answer does not wait for a run to wind down (it never throws).
    if (before) void releaseDeletedConnection(ctx.deps, before);
    return { body: { success: true } };
  },
};

/** Legacy path, same handler. */
export const deleteConnectionLegacy: RouteDef = { ...deleteConnection, path: '/connection/:connectionId' };
