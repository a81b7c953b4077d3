import type { RouteDef } from '../../router.ts';
import { deleteConnectSession } from '../../../db/sessions.ts';

/** `DELETE /connect/session` (session token): end the session early. */
export const deleteSession: RouteDef = {
  method: 'DELETE',
  path: '/connect/session',
  auth: 'session',
  handler: async (ctx) => {
    await deleteConnectSession(ctx.deps.store.ctx, ctx.auth.session!.id);
    return { status: 204 };
  },
};
