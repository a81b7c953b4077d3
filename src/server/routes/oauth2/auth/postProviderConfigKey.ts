import { z } from 'zod';
import type { RouteDef } from '../../../router.ts';
import { parseWith } from '../../../validate.ts';
import { ApiError } from '../../../errors.ts';
import { connectClientCredentials } from '../../../../engine/connect.ts';

const bodySchema = z
  .object({
    client_id: z.string().max(1000).optional(),
    client_secret: z.string().max(4000).optional(),
    client_certificate: z.string().max(20_000).optional(),
    client_private_key: z.string().max(20_000).optional(),
  })
  .strict();

/**
 * `POST /oauth2/auth/{providerConfigKey}?connect_session_token=…&params[endpointURL]=…`, body
 * `{client_id, client_secret}`: exactly what `@nangohq/frontend` sends for a client-credentials
 * provider. Answers `{providerConfigKey, connectionId}` once the connection test passed.
 */
export const postOauth2Auth: RouteDef = {
  method: 'POST',
  path: '/oauth2/auth/:providerConfigKey',
  auth: 'session',
  handler: async (ctx) => {
    const session = ctx.auth.session!;
    if (ctx.query.connection_id !== undefined) {
      throw new ApiError(400, 'invalid_query_params', 'connection_id is forbidden when using session token');
    }
    const body = parseWith(bodySchema, (await ctx.json()) ?? {}, 'invalid_body');
    if (!body.client_id) throw new ApiError(400, 'missing_client_id', 'The Client ID is missing.');
    if (!body.client_secret)
      throw new ApiError(400, 'missing_client_secret', 'The Client Secret is missing.');
    const rawParams = ctx.query.params;
    const params: Record<string, string> = {};
    if (rawParams !== undefined && typeof rawParams === 'object' && !Array.isArray(rawParams)) {
      for (const [k, v] of Object.entries(rawParams)) if (k !== 'webhook_url') params[k] = v;
    }
    for (const [k, v] of Object.entries(params)) {
      if (v.length > 2048) throw new ApiError(400, 'invalid_query_params', `params[${k}] is too long.`);
    }
    const { connection } = await connectClientCredentials(ctx.deps, {
      environment: ctx.auth.environment,
      session,
      providerConfigKey: ctx.params.providerConfigKey!,
      params,
      clientId: body.client_id,
      clientSecret: body.client_secret,
    });
    return {
      body: { providerConfigKey: connection.providerConfigKey, connectionId: connection.connectionId },
    };
  },
};
