import { z } from 'zod';
import type { RouteDef } from '../../router.ts';
import { parseWith } from '../../validate.ts';
import { ApiError } from '../../errors.ts';
import {
  getConnection as findConnection,
  getConnectionById,
  touchConnection,
} from '../../../db/connections.ts';
import { getIntegration } from '../../../db/integrations.ts';
import { getValidCredentials, RefreshError } from '../../../engine/tokens.ts';
import { connectionFull } from '../../views.ts';
import { connectionIdParam, providerConfigKeySchema } from './schemas.ts';

/** The four keys `@nangohq/node` always sends (`force_refresh=false` etc.); nothing else. */
const querySchema = z
  .object({
    provider_config_key: providerConfigKeySchema,
    force_refresh: z.stringbool().optional(),
    refresh_token: z.stringbool().optional(),
    refresh_github_app_jwt_token: z.stringbool().optional(),
  })
  .strict();

/**
 * `GET /connections/{connectionId}?provider_config_key=…` (and legacy `/connection/{id}`): the full
 * connection with a token valid for at least a minute (renewed here when needed, or always with
 * `force_refresh=true`). Refresh failures answer Nango's `invalid_credentials` with the connection
 * (credentials `{}`) as payload; back-off and exhaustion answer 424.
 */
export const getConnection: RouteDef = {
  method: 'GET',
  path: '/connections/:connectionId',
  auth: 'secret',
  handler: async (ctx) => {
    const q = parseWith(querySchema, ctx.query, 'invalid_query_params');
    const connectionId = connectionIdParam(ctx);
    const env = ctx.auth.environment;
    const store = ctx.deps.store.ctx;
    const integration = await getIntegration(store, env.id, q.provider_config_key);
    if (!integration) throw new ApiError(400, 'unknown_provider_config', 'Provider does not exists');
    const found = await findConnection(store, env.id, q.provider_config_key, connectionId);
    if (!found) throw new ApiError(404, 'not_found', 'Failed to find connection');
    const refreshToken = q.refresh_token ?? false;
    let valid;
    try {
      valid = await getValidCredentials(ctx.deps, found, {
        force: q.force_refresh ?? false,
        environment: env,
      });
    } catch (err) {
      if (!(err instanceof RefreshError)) throw err;
      throw new ApiError(err.status, err.code, err.message, {
        payload: { connection: connectionFull(err.connection, { withCredentials: false }) },
      });
    }
    await touchConnection(store, valid.id);
    const latest = (await getConnectionById(store, valid.id)) ?? valid;
    return { body: connectionFull(latest, { withCredentials: true, refreshToken }) };
  },
};

/** Legacy path, same handler. */
export const getConnectionLegacy: RouteDef = { ...getConnection, path: '/connection/:connectionId' };
