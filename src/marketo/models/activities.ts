/**
 * Activity: `GET /rest/v1/activities.json` with date paging tokens (spec §5.4, §5.5). Record id =
 * `marketoGUID` (Marketo's unique key; the integer `id` may be absent after the Activity-Service
 * migration and is kept as `activityId`). Incremental: each group of ≤10 activity types keeps its own
 * token in the checkpoint, saved after every page; a caught-up group keeps its last token for the next
 * run. Activities are immutable, so there is nothing to delete.
 *
 * Options:
 *  - `activityTypeIds`: the types to read (array or "1,12,13"); default: every type
 *    `activities/types.json` lists (one extra call per run), custom types included;
 *  - `sinceDatetime`: where types without a token start (ISO-8601); default `now − lookbackDays`;
 *  - `lookbackDays`: default 30;
 *  - `batchSize`: 1–300, default 300.
 */
import {
  call,
  dateOption,
  idOf,
  intListOption,
  intOption,
  uniqueById,
  withQuery,
  type MarketoItem,
} from './api.ts';
import { ACTIVITY_TYPES_PATH } from './activity-types.ts';
import { datePages, pagingTokenSince, planActivityGroups, type ActivityGroup } from './paging.ts';
import type { SyncIO, SyncModelDef, SyncRecord } from './types.ts';

export const DEFAULT_ACTIVITY_LOOKBACK_DAYS = 30;
const DAY_MS = 86_400_000;

export interface ActivitiesCheckpoint {
  groups: ActivityGroup[];
}

export function activityRecord(item: MarketoItem): SyncRecord | undefined {
  const guid = idOf(item.marketoGUID);
  if (guid === undefined) return undefined;
  const { id, marketoGUID: _g, ...rest } = item;
  const rec: SyncRecord = { id: guid, marketoGUID: guid, ...rest };
  if (id !== undefined) rec.activityId = id;
  return rec;
}

/** Where types without a token start reading: the option, or now minus the lookback. */
export function sinceOf(io: Pick<SyncIO, 'options' | 'now'>, defaultLookbackDays: number): number {
  const explicit = dateOption(io.options, 'sinceDatetime');
  if (explicit !== undefined) return explicit;
  const days = intOption(io.options, 'lookbackDays', defaultLookbackDays, { min: 0, max: 3650 });
  return io.now().getTime() - days * DAY_MS;
}

function readGroups(checkpoint: Record<string, unknown> | null): ActivityGroup[] {
  const raw = checkpoint?.groups;
  if (!Array.isArray(raw)) return [];
  const out: ActivityGroup[] = [];
  for (const g of raw) {
    if (typeof g !== 'object' || g === null) continue;
    const { typeIds, nextPageToken } = g as { typeIds?: unknown; nextPageToken?: unknown };
    if (!Array.isArray(typeIds)) continue;
    const ids = typeIds.filter((x): x is number => typeof x === 'number' && Number.isInteger(x));
    out.push(typeof nextPageToken === 'string' ? { typeIds: ids, nextPageToken } : { typeIds: ids });
  }
  return out;
}

async function wantedTypeIds(io: SyncIO): Promise<number[]> {
  const explicit = intListOption(io.options, 'activityTypeIds');
  if (explicit) return explicit;
  const env = await call(io, ACTIVITY_TYPES_PATH);
  const ids = env.result.map((t) => t.id).filter((x): x is number => typeof x === 'number');
  return [...new Set(ids)].sort((a, b) => a - b);
}

export const activitiesSync: SyncModelDef = {
  name: 'activities',
  models: ['Activity'],
  mode: 'incremental',
  defaultFrequencySeconds: 900,
  description: 'Lead activities of the chosen activity types, read forward with paging tokens.',
  async run(io) {
    const batchSize = intOption(io.options, 'batchSize', 300, { min: 1, max: 300 });
    const groups = planActivityGroups(await wantedTypeIds(io), readGroups(io.checkpoint));
    if (groups.length === 0) {
      io.log('no activity types to read');
      return;
    }
    if (groups.some((g) => g.nextPageToken === undefined)) {
      const since = sinceOf(io, DEFAULT_ACTIVITY_LOOKBACK_DAYS);
      const token = await pagingTokenSince(io, since);
      for (const g of groups) g.nextPageToken ??= token;
    }
    const checkpoint = (): Record<string, unknown> => ({
      groups: groups.map((g) => ({ typeIds: g.typeIds, nextPageToken: g.nextPageToken })),
    });
    for (const group of groups) {
      const path = withQuery('/rest/v1/activities.json', { activityTypeIds: group.typeIds, batchSize });
      for await (const page of datePages(io, path, group.nextPageToken!)) {
        const records = uniqueById(page.items.map(activityRecord));
        if (records.length === 0 && page.nextPageToken === group.nextPageToken) continue;
        group.nextPageToken = page.nextPageToken;
        await io.save({ upserts: records.length > 0 ? { Activity: records } : {}, checkpoint: checkpoint() });
      }
    }
  },
};
