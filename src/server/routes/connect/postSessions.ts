import { z } from 'zod';
import type { RouteDef } from '../../router.ts';
import { parseWith } from '../../validate.ts';
import { ApiError } from '../../errors.ts';
import { createConnectSession } from '../../../db/sessions.ts';
import { listIntegrations } from '../../../db/integrations.ts';
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
    end_user: endUserSchema.optional(),
    organization: organizationSchema.optional(),
    allowed_integrations: z.array(z.string().min(1).max(255)).max(100).optional(),
    integrations_config_defaults: integrationsConfigDefaultsSchema.optional(),
    overrides: overridesSchema.optional(),
    webhook_url_override: webhookUrlOverrideSchema.optional(),
    tags: tagsSchema.optional(),
  })
  .strict()
  .refine((b) => b.end_user !== undefined || b.tags !== undefined, {
    message: 'end_user is required (or give tags)',
    path: ['end_user'],
  });

/** `POST /connect/sessions`: a 30-minute token for the Connect UI. */
export const postSessions: RouteDef = {
  method: 'POST',
  path: '/connect/sessions',
  auth: 'secret',
  handler: async (ctx) => {
    if (ctx.search !== '')
      throw new ApiError(400, 'invalid_query_params', 'This route takes no query parameters.');
    const body = parseWith(bodySchema, await ctx.json(), 'invalid_body');
    const env = ctx.auth.environment;
    if (body.allowed_integrations) {
      const known = new Set((await listIntegrations(ctx.deps.store.ctx, env.id)).map((i) => i.uniqueKey));
      const errors = body.allowed_integrations
        .map((key, i) => ({ key, i }))
        .filter(({ key }) => !known.has(key))
        .map(({ i }) => ({
          code: 'custom',
          message: 'Integration does not exist',
          path: ['allowed_integrations', String(i)],
        }));
      if (errors.length > 0) {
        throw new ApiError(400, 'invalid_body', 'Integration does not exist', { errors });
      }
    }
    const { token, session } = await createConnectSession(ctx.deps.store.ctx, {
      environmentId: env.id,
      endUser: body.end_user ?? null,
      organization: body.organization ?? null,
      allowedIntegrations: body.allowed_integrations ?? null,
      integrationsConfigDefaults: body.integrations_config_defaults ?? null,
      overrides: body.overrides ?? null,
      webhookUrlOverride: body.webhook_url_override || null,
      tags: body.tags ?? null,
    });
    return sessionCreated(ctx.deps, token, session);
  },
};
