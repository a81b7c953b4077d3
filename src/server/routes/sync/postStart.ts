import type { RouteDef } from '../../router.ts';
import { setSchedules } from './startPause.ts';

/**
 * `POST /sync/start` `{syncs, provider_config_key, connection_id?}` → `{success: true}`: starts the
 * schedule of each named sync (all when `syncs` is empty) of the connection (all of the integration's when
 * absent). A paused schedule runs at once, then every frequency; a started one is left as it is.
 */
export const postStart: RouteDef = {
  method: 'POST',
  path: '/sync/start',
  auth: 'secret',
  handler: async (ctx) => ({ body: await setSchedules(ctx, 'STARTED') }),
};
