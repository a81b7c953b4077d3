import type { RouteDef } from '../../router.ts';
import { ApiError } from '../../errors.ts';
import { requireEmptyQuery } from '../connections/schemas.ts';
import { deleteIntegration as deleteStored } from '../../../db/integrations.ts';
import { forgetProxyLookups } from '../../../engine/proxy.ts';
import { liveConnectionsOfIntegration } from '../../../db/connections.ts';
import { releaseDeletedConnections } from '../../../engine/sync/release.ts';
import { uniqueKeyParam } from './schemas.ts';

/**
 * `DELETE /integrations/{uniqueKey}` → `{success: true}`; its connections are deleted with it (their runs
 * stopped and their export jobs cancelled in the background, engine/sync/release.ts).
 */
export const deleteIntegration: RouteDef = {
  method: 'DELETE',
  path: '/integrations/:uniqueKey',
  auth: 'secret',
  handler: async (ctx) => {
    requireEmptyQuery(ctx);
    const uniqueKey = uniqueKeyParam(ctx);
    const store = ctx.deps.store.ctx;
    // Read first: their credentials are erased with them, and their syncs' work at Marketo is given back
    // with them (release.ts).
    const connections = await liveConnectionsOfIntegration(store, ctx.auth.environment.id, uniqueKey);
    const deleted = await deleteStored(store, ctx.auth.environment.id, uniqueKey);
    if (!deleted) throw new ApiError(404, 'not_found', 'Integration does not exist');
    // Its connections were deleted with it: the proxy must stop using them now.
    forgetProxyLookups(ctx.deps);
    // In the background, as for one connection: their runs stop and their export jobs are cancelled.
    if (connections.length > 0) void releaseDeletedConnections(ctx.deps, connections);
    return { body: { success: true } };
  },
};
