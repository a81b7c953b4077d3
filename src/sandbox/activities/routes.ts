import type { Route } from '../core/route.ts';

export const activitiesRoutes: Route[] = [];
