import type { RouteDef } from '../../router.ts';
import { ApiError } from '../../errors.ts';
import { requireEmptyQuery } from '../connections/schemas.ts';
import { deleteIntegration as deleteStored } from '../../../db/integrations.ts';
import { forgetProxyLookups } from '../../../engine/proxy.ts';
import { uniqueKeyParam } from './schemas.ts';

/** `DELETE /integrations/{uniqueKey}` → `{success: true}`; its connections are deleted with it. */
export const deleteIntegration: RouteDef = {
  method: 'DELETE',
  path: '/integrations/:uniqueKey',
  auth: 'secret',
  handler: async (ctx) => {
    requireEmptyQuery(ctx);
    const uniqueKey = uniqueKeyParam(ctx);
    const deleted = await deleteStored(ctx.deps.store.ctx, ctx.auth.environment.id, uniqueKey);
    if (!deleted) throw new ApiError(404, 'not_found', 'Integration does not exist');
    // Its connections were deleted with it: the proxy must stop using them now.
    forgetProxyLookups(ctx.deps);
    return { body: { success: true } };
  },
};
