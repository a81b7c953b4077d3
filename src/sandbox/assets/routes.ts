import type { Route } from '../core/route.ts';

export const assetsRoutes: Route[] = [];
