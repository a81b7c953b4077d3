import { assetDate, isoSeconds } from '../core/envelope.ts';
import type { AssetCatalog } from './catalog.ts';
import type { Program, SmartCampaign } from './model.ts';
import { WORKSPACE } from './generate.ts';

/** How programs and campaigns look on the wire (asset API and lead-database API differ). */

const APP_HOST = 'https://app-sj01.marketo.com';

/** The Marketo UI's URL prefix for each program type (as in recorded responses: PG, NP, EBP…). */
const URL_PREFIX: Record<Program['type'], string> = {
  Default: 'PG',
  Engagement: 'NP',
  Email: 'EBP',
  Event: 'ME',
  'Event with Webinar': 'ME',
};

export function programView(
  catalog: AssetCatalog,
  p: Program,
  extra: { tags?: boolean; costs?: boolean } = {},
): Record<string, unknown> {
  const view: Record<string, unknown> = {
    id: p.id,
    name: p.name,
    description: p.description,
    createdAt: assetDate(p.createdAt),
    updatedAt: assetDate(p.updatedAt),
    url: `${APP_HOST}/#${URL_PREFIX[p.type]}${p.id}A1`,
    type: p.type,
    channel: p.channel,
    folder: { type: 'Folder', value: p.folderId, folderName: catalog.folder(p.folderId)?.name ?? '' },
    status: p.status,
    workspace: p.workspace,
    headStart: false,
  };
  if (p.startDate !== undefined) view.startDate = assetDate(p.startDate);
  if (p.endDate !== undefined) view.endDate = assetDate(p.endDate);
  if (extra.tags) view.tags = p.tags.map((t) => ({ ...t }));
  if (extra.costs) {
    view.costs = p.costs.map((c) => ({ startDate: assetDate(c.startDate), cost: c.cost, note: c.note }));
  }
  return view;
}

export function campaignStatus(c: SmartCampaign): string {
  if (c.type === 'trigger') return c.isActive ? 'Active' : 'Inactive';
  if (c.isActive) return c.recurring ? 'Recurring Run' : 'Single Run';
  return c.hasRun ? 'Inactive' : 'Never Run';
}

export function smartCampaignView(c: SmartCampaign): Record<string, unknown> {
  const view: Record<string, unknown> = {
    id: c.id,
    name: c.name,
    description: c.description,
    createdAt: assetDate(c.createdAt),
    updatedAt: assetDate(c.updatedAt),
    folder: { id: c.programId, type: 'Program' },
    status: campaignStatus(c),
    type: c.type,
    isSystem: false,
    isActive: c.isActive,
    isRequestable: c.isRequestable,
    isCommunicationLimitEnabled: false,
    recurrence: c.recurring
      ? { startAt: assetDate(c.createdAt), intervalType: 'Daily', interval: 1, weekdayOnly: false }
      : { weekdayOnly: false },
    qualificationRuleType: c.qualificationRuleType,
  };
  if (c.qualificationRuleInterval !== undefined) view.qualificationRuleInterval = c.qualificationRuleInterval;
  if (c.qualificationRuleUnit !== undefined) view.qualificationRuleUnit = c.qualificationRuleUnit;
  if (c.maxMembers !== undefined) view.maxMembers = c.maxMembers;
  view.workspace = WORKSPACE;
  view.smartListId = c.smartListId;
  view.flowId = c.flowId;
  view.parentProgramId = c.programId;
  view.computedUrl = `${APP_HOST}/#SC${c.id}A1`;
  return view;
}

/** The lead-database view (`/rest/v1/campaigns.json`): ISO `…Z` dates, `active`, program name. */
export function leadDbCampaignView(catalog: AssetCatalog, c: SmartCampaign): Record<string, unknown> {
  const view: Record<string, unknown> = { id: c.id, name: c.name };
  // Recorded responses omit `description` when the campaign has none.
  if (c.description !== '') view.description = c.description;
  view.type = c.type;
  view.programId = c.programId;
  view.programName = catalog.program(c.programId)?.name;
  view.workspaceName = WORKSPACE;
  view.createdAt = isoSeconds(c.createdAt);
  view.updatedAt = isoSeconds(c.updatedAt);
  view.active = c.isActive;
  return view;
}
