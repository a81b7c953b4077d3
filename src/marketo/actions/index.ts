/** Marketo's actions (see types.ts), in the order docs list them. */
import { addCustomActivities } from './add-custom-activities.ts';
import { addToList } from './add-to-list.ts';
import { deleteCustomObjects } from './delete-custom-objects.ts';
import { deleteLeads } from './delete-leads.ts';
import { mergeLeads } from './merge-leads.ts';
import { removeFromList } from './remove-from-list.ts';
import { scheduleCampaign } from './schedule-campaign.ts';
import { triggerCampaign } from './trigger-campaign.ts';
import type { AnyActionDef } from './types.ts';
import { upsertCustomObjects } from './upsert-custom-objects.ts';
import { upsertLeads } from './upsert-leads.ts';

export type { ActionDef, ActionIO, AnyActionDef } from './types.ts';

export const MARKETO_ACTIONS: readonly AnyActionDef[] = [
  upsertLeads,
  deleteLeads,
  mergeLeads,
  addToList,
  removeFromList,
  triggerCampaign,
  scheduleCampaign,
  addCustomActivities,
  upsertCustomObjects,
  deleteCustomObjects,
];

export function marketoAction(name: string): AnyActionDef | undefined {
  return MARKETO_ACTIONS.find((a) => a.name === name);
}
