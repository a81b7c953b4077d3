/**
 * SmartCampaign: `GET /rest/asset/v1/smartCampaigns.json` (spec §5.8). Record id = the campaign id.
 * Incremental by `updatedAt` window (activation, scheduling and edits move it) with a daily full sweep
 * for deletions (see assets.ts). Options as for programs.
 */
import { assetSync } from './assets.ts';

export const smartCampaignsSync = assetSync({
  name: 'smart-campaigns',
  model: 'SmartCampaign',
  path: '/rest/asset/v1/smartCampaigns.json',
  description:
    'Smart campaigns (type, status, active, qualification rules); deletions found by a daily full sweep.',
  defaultFrequencySeconds: 3600,
});
