import { z } from 'zod';
import { ApiError } from '../../errors.ts';
import type { RouteContext } from '../../router.ts';
import { parseWith } from '../../validate.ts';
import { getConnection } from '../../../db/connections.ts';
import {
  connectionIdSchema,
  jsonOrEmpty,
  providerConfigKeySchema,
  requireEmptyQuery,
} from '../connections/schemas.ts';
import { syncNameSchema } from './shared.ts';

/**
 * What `POST` and `DELETE /sync/:name/variant/:variant` share: their input, checked in Nango's order
 * (controllers `postSyncVariant` / `deleteSyncVariant`): body (400 `invalid_body`, strict), URI params
 * (400 `invalid_uri_params`: names of `[a-zA-Z0-9_-]`, at most 255), empty query (400
 * `invalid_query_params`), the reserved variant `base` in any case (400 `invalid_variant`), then the
 * connection (400 `unknown_connection`).
 */
const bodySchema = z
  .object({
    provider_config_key: providerConfigKeySchema,
    connection_id: connectionIdSchema,
  })
  .strict();

const paramsSchema = z.object({ name: syncNameSchema, variant: syncNameSchema }).strict();

export interface VariantRequest {
  name: string;
  variant: string;
  providerConfigKey: string;
  connection: { id: number; provider: string };
}

export async function parseVariantRequest(
  ctx: RouteContext,
  baseMessage: (variant: string) => string,
): Promise<VariantRequest> {
  const body = parseWith(bodySchema, await jsonOrEmpty(ctx), 'invalid_body');
  const params = parseWith(paramsSchema, ctx.params, 'invalid_uri_params');
  requireEmptyQuery(ctx);
  // Nango compares case-insensitively: `Base` is refused too (it would read as the base variant).
  if (params.variant.toLowerCase() === 'base') {
    throw new ApiError(400, 'invalid_variant', baseMessage(params.variant));
  }
  const connection = await getConnection(
    ctx.deps.store.ctx,
    ctx.auth.environment.id,
    body.provider_config_key,
    body.connection_id,
  );
  if (!connection) {
    throw new ApiError(
      400,
      'unknown_connection',
      `There is no connection "${body.connection_id}" for integration "${body.provider_config_key}".`,
    );
  }
  return {
    name: params.name,
    variant: params.variant,
    providerConfigKey: body.provider_config_key,
    connection: { id: connection.id, provider: connection.provider },
  };
}
