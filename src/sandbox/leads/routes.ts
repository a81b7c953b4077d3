import type { Route } from '../core/route.ts';

export const leadsRoutes: Route[] = [];
