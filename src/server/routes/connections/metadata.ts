import { z } from 'zod';
import type { RouteContext, RouteDef } from '../../router.ts';
import { parseWith } from '../../validate.ts';
import { ApiError } from '../../errors.ts';
import { setMetadata, updateMetadata } from '../../../db/connections.ts';
import { connectionIdSchema, providerConfigKeySchema, requireEmptyQuery } from './schemas.ts';

const bodySchema = z
  .object({
    metadata: z.record(z.string(), z.unknown()),
    connection_id: z.union([connectionIdSchema, z.array(connectionIdSchema).min(1).max(1000)]),
    provider_config_key: providerConfigKeySchema,
  })
  .strict();

async function writeMetadata(ctx: RouteContext, merge: boolean) {
  requireEmptyQuery(ctx);
  const raw = await ctx.json();
  const body = parseWith(bodySchema, raw, 'invalid_body');
  const ids = Array.isArray(body.connection_id) ? body.connection_id : [body.connection_id];
  const write = merge ? updateMetadata : setMetadata;
  const { missing } = await write(
    ctx.deps.store.ctx,
    ctx.auth.environment.id,
    body.provider_config_key,
    ids,
    body.metadata,
  );
  if (missing.length > 0) {
    const base = `Connection with connection id ${missing[0]} and provider config key ${body.provider_config_key} not found. Please make sure the connection exists in the Nango dashboard`;
    throw new ApiError(
      404,
      'unknown_connection',
      ids.length > 1
        ? `${base}. No actions were taken on any of the connections as a result of this failure.`
        : base,
    );
  }
  return raw;
}

/** `POST /connections/metadata`: replaces the metadata of each connection; 201 with the body echoed. */
export const postMetadata: RouteDef = {
  method: 'POST',
  path: '/connections/metadata',
  auth: 'secret',
  handler: async (ctx) => ({ status: 201, body: await writeMetadata(ctx, false) }),
};

/** `PATCH /connections/metadata`: shallow-merges into each connection's metadata; 200 with the body echoed. */
export const patchMetadata: RouteDef = {
  method: 'PATCH',
  path: '/connections/metadata',
  auth: 'secret',
  handler: async (ctx) => ({ status: 200, body: await writeMetadata(ctx, true) }),
};

export const postMetadataLegacy: RouteDef = { ...postMetadata, path: '/connection/metadata' };
export const patchMetadataLegacy: RouteDef = { ...patchMetadata, path: '/connection/metadata' };
