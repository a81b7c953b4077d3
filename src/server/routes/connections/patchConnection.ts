import { z } from 'zod';
import type { RouteDef } from '../../router.ts';
import { parseWith } from '../../validate.ts';
import { ApiError } from '../../errors.ts';
import {
  getConnection as findConnection,
  patchConnection as patchStored,
  type ConnectionPatch,
} from '../../../db/connections.ts';
import { getIntegration } from '../../../db/integrations.ts';
import { endUserSchema, tagsSchema, webhookUrlOverrideSchema } from '../connect/schemas.ts';
import { connectionIdParam, jsonOrEmpty, providerConfigKeySchema } from './schemas.ts';

const querySchema = z.object({ provider_config_key: providerConfigKeySchema }).strict();

const bodySchema = z
  .object({
    end_user: endUserSchema.optional(),
    tags: tagsSchema.optional(),
    webhook_url_override: webhookUrlOverrideSchema.nullable().optional(),
  })
  .strict();

/**
 * `PATCH /connections/{connectionId}?provider_config_key=…` with `{end_user?, tags?,
 * webhook_url_override?}` → `{success: true}`. The end user's organization is kept; tags are
 * replaced; `""` or `null` clears the webhook override.
 */
export const patchConnection: RouteDef = {
  method: 'PATCH',
  path: '/connections/:connectionId',
  auth: 'secret',
  handler: async (ctx) => {
    const q = parseWith(querySchema, ctx.query, 'invalid_query_params');
    const body = parseWith(bodySchema, await jsonOrEmpty(ctx), 'invalid_body');
    const connectionId = connectionIdParam(ctx);
    const env = ctx.auth.environment;
    const store = ctx.deps.store.ctx;
    if (!(await getIntegration(store, env.id, q.provider_config_key))) {
      throw new ApiError(400, 'unknown_provider_config', 'Provider does not exists');
    }
    const existing = await findConnection(store, env.id, q.provider_config_key, connectionId);
    if (!existing) throw new ApiError(404, 'not_found', 'Failed to find connection');
    const patch: ConnectionPatch = {};
    if (body.end_user) {
      patch.endUser = {
        id: body.end_user.id,
        email: body.end_user.email ?? null,
        display_name: body.end_user.display_name ?? null,
        tags: body.end_user.tags ?? null,
        organization: existing.endUser?.organization ?? null,
      };
    }
    if (body.tags !== undefined) patch.tags = body.tags;
    if (body.webhook_url_override !== undefined) patch.webhookUrlOverride = body.webhook_url_override || null;
    if (Object.keys(patch).length > 0) {
      // Deleted meanwhile (a concurrent DELETE): the same answer as before the read.
      if (!(await patchStored(store, env.id, q.provider_config_key, connectionId, patch)))
        throw new ApiError(404, 'not_found', 'Failed to find connection');
    }
    return { body: { success: true } };
  },
};
