import type { RouteDef } from '../../router.ts';

export const getHealth: RouteDef = {
  method: 'GET',
  path: '/health',
  auth: 'none',
  handler: () => ({ body: { result: 'ok' } }),
};
