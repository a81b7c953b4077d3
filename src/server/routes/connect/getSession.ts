import type { RouteDef } from '../../router.ts';

/** `GET /connect/session` (session token): what the Connect UI needs to render. */
export const getSession: RouteDef = {
  method: 'GET',
  path: '/connect/session',
  auth: 'session',
  handler: (ctx) => {
    const s = ctx.auth.session!;
    const data: Record<string, unknown> = {
      endUser: s.endUser
        ? {
            id: s.endUser.id,
            display_name: s.endUser.display_name ?? null,
            email: s.endUser.email ?? null,
            tags: s.endUser.tags ?? null,
            organization: s.organization
              ? { id: s.organization.id, display_name: s.organization.display_name ?? null }
              : null,
          }
        : null,
      connectUISettings: {
        theme: { light: { primary: '#1f4fbf' }, dark: { primary: '#7aa2ff' } },
        defaultTheme: 'system',
        showWatermark: true,
      },
    };
    if (s.allowedIntegrations) data.allowed_integrations = s.allowedIntegrations;
    if (s.integrationsConfigDefaults) data.integrations_config_defaults = s.integrationsConfigDefaults;
    if (s.overrides) data.overrides = s.overrides;
    if (s.connectionId) data.isReconnecting = true;
    return { body: { data } };
  },
};
