import type { RouteDef } from '../../router.ts';
import { setSchedules } from './startPause.ts';

/**
 * `POST /sync/pause` `{syncs, provider_config_key, connection_id?}` → `{success: true}`: pauses the
 * schedule of each named sync (all when `syncs` is empty). A run in progress finishes; no scheduled run
 * starts until `POST /sync/start` (a `POST /sync/trigger` still runs once).
 */
export const postPause: RouteDef = {
  method: 'POST',
  path: '/sync/pause',
  auth: 'secret',
  handler: async (ctx) => ({ body: await setSchedules(ctx, 'PAUSED') }),
};
