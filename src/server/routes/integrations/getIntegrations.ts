import type { RouteDef } from '../../router.ts';
import { listIntegrations } from '../../../db/integrations.ts';
import { integrationView } from '../../views.ts';

/** `GET /integrations`: secret key (all) or connect session (only the allowed ones). */
export const getIntegrations: RouteDef = {
  method: 'GET',
  path: '/integrations',
  auth: 'secret_or_session',
  handler: async (ctx) => {
    const all = await listIntegrations(ctx.deps.store.ctx, ctx.auth.environment.id);
    const allowed = ctx.auth.session?.allowedIntegrations;
    const visible = allowed ? all.filter((i) => allowed.includes(i.uniqueKey)) : all;
    return {
      body: {
        data: visible.map((i) =>
          integrationView(i, ctx.deps.providers.get(i.provider), ctx.deps.config.publicUrl),
        ),
      },
    };
  },
};
