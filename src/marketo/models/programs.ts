/**
 * Program: `GET /rest/asset/v1/programs.json` (spec §5.7). Record id = the program id. Incremental by
 * `updatedAt` window with a daily full sweep for deletions (see assets.ts). Browse results carry no tags
 * or costs (those need one call per program).
 *
 * Options: `maxReturn` (1–200, default 200), `fullSweepIntervalSeconds` (default 86400),
 * `overlapSeconds` (default 300), `fullSweep` (force one).
 */
import { assetSync } from './assets.ts';

export const programsSync = assetSync({
  name: 'programs',
  model: 'Program',
  path: '/rest/asset/v1/programs.json',
  description: 'Programs (type, channel, folder, status, dates); deletions found by a daily full sweep.',
  defaultFrequencySeconds: 3600,
});
