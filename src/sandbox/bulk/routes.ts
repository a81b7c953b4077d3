import type { Route } from '../core/route.ts';

export const bulkRoutes: Route[] = [];
