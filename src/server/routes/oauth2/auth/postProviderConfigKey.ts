import { z } from 'zod';
import type { RouteDef } from '../../../router.ts';
import { parseWith } from '../../../validate.ts';
import { ApiError } from '../../../errors.ts';
import { connectClientCredentials } from '../../../../engine/connect.ts';

const MAX_LENGTH = { client_id: 1000, client_secret: 4000 } as const;
const MAX_PARAM_LENGTH = 2048;
const TITLES = { client_id: 'Client ID', client_secret: 'Client Secret' } as const;

/**
 * Zero-width characters and BOMs come along when a value is copied from a web page or a document;
 * never part of a real credential, and invisible in the form, so the user could not see why Marketo
 * refuses the ID. (Whitespace at the ends is trimmed by the connect flow.)
 */
const INVISIBLE_RE = /[\u200B-\u200D\u2060\uFEFF]/g;

/** A value too long for its field: a clear message naming the field (not zod's "Too big …"). */
function tooLong(field: string, title: string, max: number): ApiError {
  return new ApiError(400, 'invalid_body', `The ${title} is too long (more than ${max} characters).`, {
    step: 'input',
    field,
    hint: `Paste only the ${title}, without anything around it.`,
  });
}

const bodySchema = z
  .object({
    client_id: z.string().max(MAX_LENGTH.client_id).optional(),
    client_secret: z.string().max(MAX_LENGTH.client_secret).optional(),
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
    const raw: unknown = (await ctx.json()) ?? {};
    if (typeof raw === 'object' && raw !== null) {
      for (const key of ['client_id', 'client_secret'] as const) {
        const v = (raw as Record<string, unknown>)[key];
        if (typeof v === 'string' && v.length > MAX_LENGTH[key]) {
          throw tooLong(key, TITLES[key], MAX_LENGTH[key]);
        }
      }
    }
    const body = parseWith(bodySchema, raw, 'invalid_body');
    if (body.client_id !== undefined) body.client_id = body.client_id.replace(INVISIBLE_RE, '');
    if (body.client_secret !== undefined) body.client_secret = body.client_secret.replace(INVISIBLE_RE, '');
    if (!body.client_id) throw new ApiError(400, 'missing_client_id', 'The Client ID is missing.');
    if (!body.client_secret)
      throw new ApiError(400, 'missing_client_secret', 'The Client Secret is missing.');
    const rawParams = ctx.query.params;
    const params: Record<string, string> = {};
    if (rawParams !== undefined && typeof rawParams === 'object' && !Array.isArray(rawParams)) {
      for (const [k, v] of Object.entries(rawParams)) if (k !== 'webhook_url') params[k] = v;
    }
    for (const [k, v] of Object.entries(params)) {
      if (v.length > MAX_PARAM_LENGTH) {
        throw new ApiError(
          400,
          'invalid_query_params',
          `The value for ${k} is too long (more than ${MAX_PARAM_LENGTH} characters).`,
          {
            step: 'input',
            field: k,
            hint: 'Paste only the value asked for, without anything around it.',
          },
        );
      }
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
