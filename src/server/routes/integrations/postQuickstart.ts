import type { RouteDef } from '../../router.ts';
import { parseWith } from '../../validate.ts';
import { requireEmptyQuery } from '../connections/schemas.ts';
import { createIntegrationReply, integrationBodySchema } from './postIntegration.ts';

// Strict like POST /integrations' body, without `credentials`: a quickstart uses none of its own.
const quickstartBodySchema = integrationBodySchema.omit({ credentials: true });

/**
 * `POST /integrations/quickstart` (Nango's `createQuickstartIntegration`) → 200 `{data}`. Nango creates
 * the integration with its own shared app credentials; Marketo (OAUTH2_CC) has none (each end user brings
 * a client id and secret), so this is `POST /integrations` without credentials, with its errors.
 */
export const postQuickstart: RouteDef = {
  method: 'POST',
  path: '/integrations/quickstart',
  auth: 'secret',
  handler: async (ctx) => {
    requireEmptyQuery(ctx);
    return createIntegrationReply(ctx, parseWith(quickstartBodySchema, await ctx.json(), 'invalid_body'));
  },
};
