import type { Route } from '../core/route.ts';
import { programRoutes } from './program-routes.ts';
import { smartCampaignRoutes } from './smart-campaign-routes.ts';
import { campaignRoutes } from './campaign-routes.ts';

export const assetsRoutes: Route[] = [...programRoutes, ...smartCampaignRoutes, ...campaignRoutes];
