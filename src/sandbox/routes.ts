import type { Route } from './core/route.ts';
import { statsRoutes } from './core/stats.ts';
import { leadsRoutes } from './leads/routes.ts';
import { leadSchemaRoutes } from './leads/schema-routes.ts';
import { activitiesRoutes } from './activities/routes.ts';
import { listsRoutes } from './lists/routes.ts';
import { assetsRoutes } from './assets/routes.ts';
import { bulkRoutes } from './bulk/routes.ts';
import { membershipRoutes } from './membership/routes.ts';
import { customActivityRoutes } from './activities/custom-routes.ts';
import { customObjectRoutes } from './customobjects/routes.ts';

/** Every Marketo endpoint the sandbox serves, by module. */
export const allRoutes: Route[] = [
  ...statsRoutes,
  ...leadsRoutes,
  ...leadSchemaRoutes,
  ...activitiesRoutes,
  ...listsRoutes,
  ...membershipRoutes,
  ...customActivityRoutes,
  ...customObjectRoutes,
  ...assetsRoutes,
  ...bulkRoutes,
];
