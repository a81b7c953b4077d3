import { z } from 'zod';
import type { Reply, RouteContext, RouteDef } from '../../router.ts';
import { parseWith } from '../../validate.ts';
import { ApiError } from '../../errors.ts';
import { requireEmptyQuery } from '../connections/schemas.ts';
import { createIntegration, getIntegration, IntegrationExistsError } from '../../../db/integrations.ts';
import { integrationView } from '../../views.ts';
import {
  displayNameSchema,
  forwardWebhooksSchema,
  integrationCredentialsSchema,
  providerConfigKeySchema,
} from './schemas.ts';

/** Nango's `POST /integrations` body (quickstart takes the same without `credentials`). */
export const integrationBodySchema = z
  .object({
    provider: z.string().min(1).max(255),
    unique_key: providerConfigKeySchema,
    display_name: displayNameSchema.optional(),
    credentials: integrationCredentialsSchema.optional(),
    forward_webhooks: forwardWebhooksSchema.optional(),
  })
  .strict();

const uniqueKeyTaken = () =>
  new ApiError(400, 'invalid_body', 'Unique key already exists', {
    errors: [{ code: 'invalid_string', message: 'Unique key already exists', path: ['uniqueKey'] }],
  });

/**
 * Creates the integration a checked body describes and answers as Nango does: 200 `{data}`; 400
 * `invalid_body` for an unknown provider, credentials of another auth mode, or a unique key in use.
 */
export async function createIntegrationReply(
  ctx: RouteContext,
  body: z.infer<typeof integrationBodySchema>,
): Promise<Reply> {
  const provider = ctx.deps.providers.get(body.provider);
  if (!provider) {
    throw new ApiError(400, 'invalid_body', 'Invalid provider', {
      errors: [{ code: 'invalid_string', message: 'Invalid provider', path: ['provider'] }],
    });
  }
  if (body.credentials && (body.credentials.type as string) !== provider.auth_mode) {
    throw new ApiError(400, 'invalid_body', 'incompatible credentials auth type and provider auth');
  }
  const env = ctx.auth.environment;
  if (await getIntegration(ctx.deps.store.ctx, env.id, body.unique_key)) throw uniqueKeyTaken();
  try {
    const created = await createIntegration(ctx.deps.store.ctx, {
      environmentId: env.id,
      uniqueKey: body.unique_key,
      provider: provider.name,
      displayName: body.display_name ?? null,
      credentials: body.credentials ?? null,
      forwardWebhooks: body.forward_webhooks ?? true,
    });
    return { body: { data: integrationView(created, provider, ctx.deps.config.publicUrl) } };
  } catch (err) {
    if (err instanceof IntegrationExistsError) throw uniqueKeyTaken();
    throw err;
  }
}

/** `POST /integrations` → 200 `{data}` (Nango answers 200, not 201). */
export const postIntegration: RouteDef = {
  method: 'POST',
  path: '/integrations',
  auth: 'secret',
  handler: async (ctx) => {
    requireEmptyQuery(ctx);
    return createIntegrationReply(ctx, parseWith(integrationBodySchema, await ctx.json(), 'invalid_body'));
  },
};
