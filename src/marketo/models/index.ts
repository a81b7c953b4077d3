/**
 * Marketo sync models: provider code with no engine dependency. The engine runs a {@link SyncModelDef}
 * with a {@link SyncIO} (see types.ts for the contract, including sweeps for deletion detection).
 */
import { activitiesSync } from './activities.ts';
import { activityTypesSync } from './activity-types.ts';
import { customObjectsSync } from './custom-objects.ts';
import { deletedLeadsSync } from './deleted-leads.ts';
import { leadFieldsSync } from './lead-fields.ts';
import { leadsSync } from './leads.ts';
import { programMembersSync } from './program-members.ts';
import { programsSync } from './programs.ts';
import { smartCampaignsSync } from './smart-campaigns.ts';
import { staticListMembershipsSync } from './static-list-memberships.ts';
import { staticListsSync } from './static-lists.ts';
import type { SyncModelDef } from './types.ts';

export type { DownloadResponse, SweepMarker, SyncIO, SyncModelDef, SyncPage, SyncRecord } from './types.ts';
export { MarketoSyncError, SyncPaused } from './types.ts';
export {
  activitiesSync,
  activityTypesSync,
  customObjectsSync,
  deletedLeadsSync,
  leadFieldsSync,
  leadsSync,
  programMembersSync,
  programsSync,
  smartCampaignsSync,
  staticListMembershipsSync,
  staticListsSync,
};

/** Every Marketo sync, in the order of the README's model table. */
export const MARKETO_SYNCS: readonly SyncModelDef[] = [
  leadFieldsSync,
  activityTypesSync,
  leadsSync,
  activitiesSync,
  deletedLeadsSync,
  staticListsSync,
  staticListMembershipsSync,
  programsSync,
  programMembersSync,
  smartCampaignsSync,
  customObjectsSync,
];

export function marketoSync(name: string): SyncModelDef | undefined {
  return MARKETO_SYNCS.find((s) => s.name === name);
}
