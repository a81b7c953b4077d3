import { getConnection, type ConnectionWithCredentials } from '../../../db/connections.ts';
import { getIntegration } from '../../../db/integrations.ts';
import { ApiError } from '../../errors.ts';
import type { RouteContext } from '../../router.ts';

/**
 * The live connection a `/connections/{id}/…` route is about, in the caller's environment, with the
 * errors of `GET /connections/{id}`: 400 `unknown_provider_config`, 404 `not_found`.
 */
export async function liveConnection(
  ctx: RouteContext,
  providerConfigKey: string,
  connectionId: string,
): Promise<ConnectionWithCredentials> {
  const env = ctx.auth.environment;
  const store = ctx.deps.store.ctx;
  if (!(await getIntegration(store, env.id, providerConfigKey))) {
    throw new ApiError(400, 'unknown_provider_config', 'Provider does not exists');
  }
  const found = await getConnection(store, env.id, providerConfigKey, connectionId);
  if (!found) throw new ApiError(404, 'not_found', 'Failed to find connection');
  return found;
}
