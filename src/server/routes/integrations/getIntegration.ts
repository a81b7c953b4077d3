import { z } from 'zod';
import type { RouteDef } from '../../router.ts';
import { parseWith } from '../../validate.ts';
import { ApiError } from '../../errors.ts';
import { integrationView, type IntegrationInclude } from '../../views.ts';
import { integrationOr404, uniqueKeyParam } from './schemas.ts';

const includeValue = z.enum(['webhook', 'credentials']);
const querySchema = z
  .object({
    include: z
      .union([includeValue, z.array(includeValue).max(2)])
      .transform((v) => (Array.isArray(v) ? v : [v]))
      .optional(),
  })
  .strict();

/**
 * `GET /integrations/{uniqueKey}?include=webhook|credentials` → `{data}`. With a connect session:
 * only the session's allowed integrations, and no `include`.
 */
export const getIntegration: RouteDef = {
  method: 'GET',
  path: '/integrations/:uniqueKey',
  auth: 'secret_or_session',
  handler: async (ctx) => {
    const q = parseWith(querySchema, ctx.query, 'invalid_query_params');
    const uniqueKey = uniqueKeyParam(ctx);
    const include = new Set(q.include ?? []);
    const session = ctx.auth.session;
    if (session && include.size > 0) {
      throw new ApiError(403, 'invalid_permissions', "Can't include credentials without a private key");
    }
    if (session?.allowedIntegrations && !session.allowedIntegrations.includes(uniqueKey)) {
      throw new ApiError(404, 'not_found', `Integration "${uniqueKey}" does not exist`);
    }
    const integration = await integrationOr404(ctx, uniqueKey);
    const provider = ctx.deps.providers.get(integration.provider);
    if (!provider) throw new ApiError(404, 'not_found', `Unknown provider ${integration.provider}`);
    const extra: IntegrationInclude = {};
    // No provider Tether knows routes webhooks, so there is no webhook URL to give.
    if (include.has('webhook')) extra.webhook_url = null;
    if (include.has('credentials')) {
      const creds = integration.credentials;
      const mode = provider.auth_mode as string;
      extra.credentials =
        creds && (mode === 'OAUTH1' || mode === 'OAUTH2' || mode === 'TBA')
          ? {
              type: mode,
              client_id: creds.client_id ?? null,
              client_secret: creds.client_secret ?? null,
              scopes: creds.scopes ?? null,
            }
          : null;
    }
    return {
      body: { data: integrationView(integration, provider, ctx.deps.config.publicUrl, extra) },
    };
  },
};
