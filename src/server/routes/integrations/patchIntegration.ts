import { z } from 'zod';
import type { RouteDef } from '../../router.ts';
import { parseWith } from '../../validate.ts';
import { ApiError } from '../../errors.ts';
import { requireEmptyQuery } from '../connections/schemas.ts';
import {
  getIntegration,
  IntegrationExistsError,
  updateIntegration,
  type IntegrationPatch,
} from '../../../db/integrations.ts';
import { listConnections } from '../../../db/connections.ts';
import { integrationView } from '../../views.ts';
import {
  displayNameSchema,
  forwardWebhooksSchema,
  integrationCredentialsSchema,
  integrationOr404,
  providerConfigKeySchema,
  uniqueKeyParam,
} from './schemas.ts';

const bodySchema = z
  .object({
    unique_key: providerConfigKeySchema.optional(),
    display_name: displayNameSchema.optional(),
    credentials: integrationCredentialsSchema.optional(),
    forward_webhooks: forwardWebhooksSchema.optional(),
  })
  .strict();

const keyInUse = () => new ApiError(400, 'invalid_body', 'uniqueKey is already used by another integration');

/**
 * `PATCH /integrations/{uniqueKey}` with `{unique_key?, display_name?, credentials?, forward_webhooks?}`
 * → `{data}`. Like Nango, an integration with live connections cannot be renamed.
 */
export const patchIntegration: RouteDef = {
  method: 'PATCH',
  path: '/integrations/:uniqueKey',
  auth: 'secret',
  handler: async (ctx) => {
    requireEmptyQuery(ctx);
    const body = parseWith(bodySchema, await ctx.json(), 'invalid_body');
    const uniqueKey = uniqueKeyParam(ctx);
    const store = ctx.deps.store.ctx;
    const env = ctx.auth.environment;
    const integration = await integrationOr404(ctx, uniqueKey);
    const provider = ctx.deps.providers.get(integration.provider);
    if (!provider) throw new ApiError(404, 'not_found', `Unknown provider ${integration.provider}`);
    if (body.credentials && (body.credentials.type as string) !== provider.auth_mode) {
      throw new ApiError(400, 'invalid_body', 'incompatible credentials auth type and provider auth');
    }
    const patch: IntegrationPatch = {};
    if (body.unique_key !== undefined && body.unique_key !== uniqueKey) {
      if (await getIntegration(store, env.id, body.unique_key)) throw keyInUse();
      const live = await listConnections(store, env.id, { integrationIds: [uniqueKey], limit: 1 });
      if (live.length > 0) {
        throw new ApiError(400, 'invalid_body', "Can't rename an integration with active connections");
      }
      patch.uniqueKey = body.unique_key;
    }
    if (body.display_name !== undefined) patch.displayName = body.display_name;
    if (body.forward_webhooks !== undefined) patch.forwardWebhooks = body.forward_webhooks;
    if (body.credentials !== undefined) patch.credentials = body.credentials;
    let updated;
    try {
      updated = await updateIntegration(store, env.id, uniqueKey, patch);
    } catch (err) {
      if (err instanceof IntegrationExistsError) throw keyInUse();
      throw err;
    }
    if (!updated) throw new ApiError(404, 'not_found', `Integration "${uniqueKey}" does not exist`);
    return { body: { data: integrationView(updated, provider, ctx.deps.config.publicUrl) } };
  },
};
