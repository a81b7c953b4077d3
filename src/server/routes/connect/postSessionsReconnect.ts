import { z } from 'zod';
import type { RouteDef } from '../../router.ts';
import { parseWith } from '../../validate.ts';
import { ApiError } from '../../errors.ts';
import { createConnectSession } from '../../../db/sessions.ts';
import { getConnection } from '../../../db/connections.ts';
import {
  endUserSchema,
  integrationsConfigDefaultsSchema,
  organizationSchema,
  overridesSchema,
  tagsSchema,
  webhookUrlOverrideSchema,
} from './schemas.ts';
import { sessionCreated } from './sessionResponse.ts';

const bodySchema = z
  .object({
    connection_id: z.string().min(1).max(255),
    integration_id: z.string().min(1).max(255),
    end_user: endUserSchema.optional(),
    organization: organizationSchema.optional(),
    integrations_config_defaults: integrationsConfigDefaultsSchema.optional(),
    overrides: overridesSchema.optional(),
    webhook_url_override: webhookUrlOverrideSchema.optional(),
    tags: tagsSchema.optional(),
  })
  .strict();

/**
 * `POST /connect/sessions/reconnect`: a session whose connect overwrites one existing connection
 * (a customer who rotated the Client Secret keeps the same connection id, records and syncs).
 */
export const postSessionsReconnect: RouteDef = {
  method: 'POST',
  path: '/connect/sessions/reconnect',
  auth: 'secret',
  handler: async (ctx) => {
    const body = parseWith(bodySchema, await ctx.json(), 'invalid_body');
    const env = ctx.auth.environment;
    const existing = await getConnection(ctx.deps.store.ctx, env.id, body.integration_id, body.connection_id);
    if (!existing) {
      throw new ApiError(
        400,
        'invalid_body',
        `No connection '${body.connection_id}' for integration '${body.integration_id}'.`,
      );
    }
    const endUser =
      body.end_user ??
      (existing.endUser
        ? {
            id: existing.endUser.id,
            ...(existing.endUser.email ? { email: existing.endUser.email } : {}),
            ...(existing.endUser.display_name ? { display_name: existing.endUser.display_name } : {}),
          }
        : null);
    const { token, session } = await createConnectSession(ctx.deps.store.ctx, {
      environmentId: env.id,
      endUser,
      organization:
        body.organization ??
        (existing.endUser?.organization
          ? {
              id: existing.endUser.organization.id,
              ...(existing.endUser.organization.display_name
                ? { display_name: existing.endUser.organization.display_name }
                : {}),
            }
          : null),
      allowedIntegrations: [body.integration_id],
      integrationsConfigDefaults: body.integrations_config_defaults ?? null,
      overrides: body.overrides ?? null,
      webhookUrlOverride: body.webhook_url_override || null,
      tags: body.tags ?? null,
      connectionId: body.connection_id,
      integrationKey: body.integration_id,
    });
    return sessionCreated(ctx.deps, token, session);
  },
};
