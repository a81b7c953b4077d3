import { z } from 'zod';
import { ApiError } from '../../errors.ts';
import { parseWith } from '../../validate.ts';
import type { RouteContext } from '../../router.ts';
import { providerConfigKeySchema } from '../connections/schemas.ts';
import { getIntegration, type Integration } from '../../../db/integrations.ts';

export { providerConfigKeySchema };

/** Nango `integrationDisplayNameSchema` / `integrationForwardWebhooksSchema`. */
export const displayNameSchema = z.string().min(1).max(255);
export const forwardWebhooksSchema = z.boolean();

/**
 * Nango `integrationCredentialsSchema`: app credentials kept on the integration. Marketo (OAUTH2_CC)
 * takes none (each connection brings its own), so any of these is refused for it as incompatible.
 */
export const integrationCredentialsSchema = z.discriminatedUnion('type', [
  z
    .object({
      type: z.enum(['OAUTH1', 'OAUTH2', 'TBA']),
      client_id: z.string().min(1).max(255),
      client_secret: z.string().min(1).max(4000),
      scopes: z.string().max(4000).optional(),
      webhook_secret: z.string().max(255).optional(),
    })
    .strict(),
  z
    .object({
      type: z.literal('APP'),
      app_id: z.string().min(1).max(255),
      app_link: z.string().min(1).max(2048),
      private_key: z.string().min(1).max(20_000),
    })
    .strict(),
  z
    .object({
      type: z.literal('CUSTOM'),
      client_id: z.string().min(1).max(255),
      client_secret: z.string().min(1).max(4000),
      app_id: z.string().min(1).max(255),
      app_link: z.string().min(1).max(2048),
      private_key: z.string().min(1).max(20_000),
    })
    .strict(),
]);

const uniqueKeyParams = z.object({ uniqueKey: providerConfigKeySchema }).strict();

/** `:uniqueKey` checked like Nango (400 `invalid_uri_params`). */
export function uniqueKeyParam(ctx: RouteContext): string {
  return parseWith(uniqueKeyParams, ctx.params, 'invalid_uri_params').uniqueKey;
}

/** The integration, or 404 `not_found` like Nango. */
export async function integrationOr404(ctx: RouteContext, uniqueKey: string): Promise<Integration> {
  const integration = await getIntegration(ctx.deps.store.ctx, ctx.auth.environment.id, uniqueKey);
  if (!integration) throw new ApiError(404, 'not_found', `Integration "${uniqueKey}" does not exist`);
  return integration;
}
