import type { RouteDef } from '../../router.ts';

/**
 * `GET /environment-variables` → `[{name, value}]` (Nango's public route, `getEnvironmentVariables()`).
 * Nango's environment variables are values its hosted scripts read; Tether runs no customer scripts (its
 * syncs are built in and configured per connection through `PUT /sync/options`), so an environment has
 * none and the answer is the empty list, which code written for Nango handles as "no variables".
 */
export const getEnvironmentVariables: RouteDef = {
  method: 'GET',
  path: '/environment-variables',
  auth: 'secret',
  handler: () => ({ body: [] }),
};
