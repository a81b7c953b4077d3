import { CORS_HEADERS } from '../../cors.ts';
import type { ServerResponse } from 'node:http';
import { z } from 'zod';
import { ApiError } from '../../errors.ts';
import { parseWith } from '../../validate.ts';
import type { RouteContext } from '../../router.ts';
import { connectionIdSchema, providerConfigKeySchema } from '../connections/schemas.ts';
import { hasRecordsOfModel } from '../../../db/records.ts';
import { isKnownModel, knownModels } from '../../../engine/models-registry.ts';
import { storedModelName } from '../../../engine/sync/registry.ts';

/** Nango's model and variant names. */
export const modelSchema = z
  .string()
  .max(255)
  .regex(/^[A-Z][a-zA-Z0-9_-]+$/, 'Invalid model');
export const variantSchema = z
  .string()
  .min(1)
  .max(255)
  .regex(/^[a-zA-Z0-9_-]+$/, 'Invalid variant');

const headersSchema = z.object({
  'connection-id': connectionIdSchema,
  'provider-config-key': providerConfigKeySchema,
});

function header(ctx: RouteContext, name: string): string | undefined {
  const v = ctx.req.headers[name];
  return typeof v === 'string' ? v : undefined;
}

/**
 * The connection named by the `Connection-Id` and `Provider-Config-Key` headers (400 `invalid_headers`,
 * 400 `unknown_connection` as Nango). Returns its numeric id.
 */
export async function connectionFromHeaders(ctx: RouteContext): Promise<number> {
  const h = parseWith(
    headersSchema,
    {
      'connection-id': header(ctx, 'connection-id'),
      'provider-config-key': header(ctx, 'provider-config-key'),
    },
    'invalid_headers',
  );
  const row = await ctx.deps.store.ctx.db
    .selectFrom('connections')
    .select('id')
    .where('environment_id', '=', ctx.auth.environment.id)
    .where('provider_config_key', '=', h['provider-config-key'])
    .where('connection_id', '=', h['connection-id'])
    .where('deleted_at', 'is', null)
    .executeTakeFirst();
  if (!row) {
    throw new ApiError(
      400,
      'unknown_connection',
      'Provided ConnectionId and ProviderConfigKey does not match a valid connection',
    );
  }
  return row.id;
}

/**
 * `Model` or `Model::variant` (`base` is no variant), as Nango names the stored model: the same mapping
 * the sync runner writes with (engine/sync/registry.ts).
 */
export function storedModel(model: string, variant: string | undefined): string {
  return storedModelName(model, variant);
}

/**
 * 400 `unknown_model` unless some sync writes `model` (src/engine/models-registry.ts) or the connection
 * has records of it. Nango answers 200 with no records instead; a clear error is more useful for a typo.
 */
export async function requireKnownModel(
  ctx: RouteContext,
  connectionPk: number,
  model: string,
  stored: string,
): Promise<void> {
  if (isKnownModel(model)) return;
  if (await hasRecordsOfModel(ctx.deps.store.ctx, connectionPk, stored)) return;
  throw new ApiError(
    400,
    'unknown_model',
    `Unknown model "${model}": no sync writes it and this connection has no records of it. Known models: ${knownModels().join(', ')}.`,
  );
}

export function invalidCursor(): ApiError {
  return new ApiError(
    400,
    'invalid_cursor',
    'Invalid cursor: use a next_cursor or a record cursor as given.',
  );
}

/** Writes an already serialised JSON body (the route then returns undefined). */
export function sendRawJson(res: ServerResponse, status: number, json: string | Buffer): void {
  // Encoded once (byteLength + end(string) would encode twice).
  const body = typeof json === 'string' ? Buffer.from(json, 'utf8') : json;
  res.writeHead(status, {
    ...CORS_HEADERS,
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': String(body.length),
  });
  res.end(body);
}
