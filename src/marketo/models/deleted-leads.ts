/**
 * DeletedLead: `GET /rest/v1/activities/deletedleads.json` with a date paging token (spec §5.4, §5.5).
 * Record id = the deleted lead's id. Each page also carries `deletes: {Lead: [ids]}`, so the engine
 * marks the `Lead` records (synced by another sync) deleted. Incremental: the token is saved after
 * every page and kept when caught up.
 *
 * Marketo prunes deleted-lead records after 14 days: the first run starts 14 days back (or at
 * `sinceDatetime`), and a run whose previous run is older than that logs that deletions may have been
 * missed (a full Lead sync is then needed to find them).
 *
 * Options: `sinceDatetime` (ISO-8601), `lookbackDays` (default 14), `batchSize` (1–300, default 300).
 */
import { idOf, intOption, uniqueById, withQuery, type MarketoItem } from './api.ts';
import { sinceOf } from './activities.ts';
import { datePages, pagingTokenSince } from './paging.ts';
import type { SyncModelDef, SyncRecord } from './types.ts';

export const DELETED_LEAD_RETENTION_DAYS = 14;
const DAY_MS = 86_400_000;

export function deletedLeadRecord(item: MarketoItem): SyncRecord | undefined {
  const id = idOf(item.leadId);
  if (id === undefined) return undefined;
  return {
    id,
    leadId: item.leadId,
    deletedAt: item.activityDate ?? null,
    /** Marketo puts the lead's name in the primary attribute value. */
    name: typeof item.primaryAttributeValue === 'string' ? item.primaryAttributeValue : null,
    marketoGUID: idOf(item.marketoGUID) ?? null,
  };
}

export const deletedLeadsSync: SyncModelDef = {
  name: 'deleted-leads',
  models: ['DeletedLead'],
  mode: 'incremental',
  defaultFrequencySeconds: 3600,
  description: 'Deleted leads (last 14 days in Marketo); each also marks its Lead record deleted.',
  async run(io) {
    const batchSize = intOption(io.options, 'batchSize', 300, { min: 1, max: 300 });
    const now = io.now();
    const cp = io.checkpoint;
    let token = typeof cp?.nextPageToken === 'string' ? cp.nextPageToken : undefined;
    const lastRunAt = typeof cp?.lastRunAt === 'string' ? Date.parse(cp.lastRunAt) : NaN;
    if (token !== undefined && now.getTime() - lastRunAt > DELETED_LEAD_RETENTION_DAYS * DAY_MS) {
      io.log('last deleted-leads run is older than 14 days: deletions may have been pruned by Marketo', {
        lastRunAt: cp?.lastRunAt as string,
      });
    }
    token ??= await pagingTokenSince(io, sinceOf(io, DELETED_LEAD_RETENTION_DAYS));
    const path = withQuery('/rest/v1/activities/deletedleads.json', { batchSize });
    for await (const page of datePages(io, path, token)) {
      const records = uniqueById(page.items.map(deletedLeadRecord));
      const ids = records.map((r) => r.id);
      token = page.nextPageToken;
      await io.save({
        upserts: records.length > 0 ? { DeletedLead: records } : {},
        deletes: ids.length > 0 ? { Lead: ids } : {},
        checkpoint: { nextPageToken: token, lastRunAt: now.toISOString() },
      });
    }
  },
};
