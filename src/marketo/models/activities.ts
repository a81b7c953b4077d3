/**
 * Activity: lead activities of the chosen types, read through two paths that make the same records:
 *  - REST: `GET /rest/v1/activities.json` with date paging tokens (spec §5.4, §5.5). Each group of ≤10
 *    activity types keeps its own token (and the time it stands at) in the checkpoint, saved after every
 *    page; a caught-up group keeps its last token for the next run;
 *  - bulk: activity export jobs over `createdAt` windows (≤31 days) for the exportable chosen types
 *    (activity-exports.ts), from the oldest group position to the run's start T; the groups then continue
 *    by REST from a paging token at T, in the same run. Delete Lead (37) cannot be exported and stays on
 *    REST.
 * Record id = `marketoGUID` (Marketo's unique key; the integer id is kept as `activityId`). Activities
 * are immutable, so there is nothing to delete.
 *
 * Options:
 *  - `activityTypeIds`: the types to read (array or "1,12,13"); default: every type
 *    `activities/types.json` lists (one extra call per run), custom types included;
 *  - `sinceDatetime`: where types without a token start (ISO-8601); default `now − lookbackDays`;
 *  - `lookbackDays`: default 30;
 *  - `batchSize`: 1–300, default 300 (REST);
 *  - `activityExport`: 'rest' | 'bulk' | 'auto' (default 'auto': bulk when the span still to read is
 *    longer than `exportAboveDays`, default 7, or the previous run read more than `exportAboveRecords`,
 *    default 30,000, activities; REST otherwise);
 *  - `exportPollMs`, `exportBatchRows`, `maxQueuedExports`, `exportDailyBytes`: as for the leads sync.
 */
import {
  call,
  dateOption,
  idOf,
  intListOption,
  intOption,
  parseMarketoDate,
  uniqueById,
  withQuery,
  type MarketoItem,
} from './api.ts';
import {
  activityDate,
  activityIdOfGuid,
  cancelActivityExport,
  exportActivities,
  newActivityBulk,
  NOT_EXPORTABLE_TYPES,
  readActivityBulk,
  restAttributes,
  type ActivityBulkState,
} from './activity-exports.ts';
import { ACTIVITY_TYPES_PATH } from './activity-types.ts';
import { cancelExportJobs } from '../bulk/exports.ts';
import { exportOptionsOf, floorSecond } from './leads.ts';
import {
  chunk,
  datePages,
  MAX_ACTIVITY_TYPE_IDS,
  pagingTokenSince,
  planActivityGroups,
  type ActivityGroup,
} from './paging.ts';
import type { SyncIO, SyncModelDef, SyncRecord } from './types.ts';

export const DEFAULT_ACTIVITY_LOOKBACK_DAYS = 30;
export const DEFAULT_EXPORT_ABOVE_DAYS = 7;
export const DEFAULT_EXPORT_ABOVE_RECORDS = 30_000;
const DAY_MS = 86_400_000;

/** A REST group with the time its token stands at (ISO; unknown for checkpoints of older versions). */
export interface StoredGroup extends ActivityGroup {
  at?: string;
}

export interface ActivitiesCheckpoint {
  groups: StoredGroup[];
  /** A bulk catch-up in flight. */
  bulk?: ActivityBulkState;
  /** Activities the last run read (so far, while it runs). */
  lastRunRecords?: number;
}

/**
 * The record of one activity item (REST, or an export row through activity-exports.ts, which must
 * give the same record): `id` = `marketoGUID`, Marketo's integer id as `activityId` (from the GUID when
 * the item has none: Marketo's GUID is that id's text), empty values left out, `activityDate` as
 * `YYYY-MM-DDTHH:MM:SSZ`, `attributes` as `[{name, value}]` (what an export file can tell: no `apiName`).
 */
export function activityRecord(item: MarketoItem): SyncRecord | undefined {
  const guid = idOf(item.marketoGUID);
  if (guid === undefined) return undefined;
  const rec: SyncRecord = { id: guid, marketoGUID: guid };
  const activityId = item.id ?? activityIdOfGuid(guid);
  if (activityId !== undefined && activityId !== null) rec.activityId = activityId;
  for (const [k, v] of Object.entries(item)) {
    if (k === 'id' || k === 'marketoGUID' || v === null || v === undefined || v === '') continue;
    if (k === 'attributes') rec.attributes = restAttributes(v);
    else if (k === 'activityDate') rec.activityDate = activityDate(v);
    else rec[k] = v;
  }
  rec.attributes ??= [];
  return rec;
}

/** Where types without a token start reading: the option, or now minus the lookback. */
export function sinceOf(io: Pick<SyncIO, 'options' | 'now'>, defaultLookbackDays: number): number {
  const explicit = dateOption(io.options, 'sinceDatetime');
  if (explicit !== undefined) return explicit;
  const days = intOption(io.options, 'lookbackDays', defaultLookbackDays, { min: 0, max: 3650 });
  return io.now().getTime() - days * DAY_MS;
}

function readGroups(checkpoint: Record<string, unknown> | null): StoredGroup[] {
  const raw = checkpoint?.groups;
  if (!Array.isArray(raw)) return [];
  const out: StoredGroup[] = [];
  for (const g of raw) {
    if (typeof g !== 'object' || g === null) continue;
    const { typeIds, nextPageToken, at } = g as { typeIds?: unknown; nextPageToken?: unknown; at?: unknown };
    if (!Array.isArray(typeIds)) continue;
    const ids = typeIds.filter((x): x is number => typeof x === 'number' && Number.isInteger(x));
    const group: StoredGroup = { typeIds: ids };
    if (typeof nextPageToken === 'string') group.nextPageToken = nextPageToken;
    if (typeof at === 'string' && !Number.isNaN(Date.parse(at))) group.at = at;
    out.push(group);
  }
  return out;
}

/** {@link planActivityGroups}, keeping each token's time (groups merge only at the same token). */
export function planGroups(wanted: readonly number[], previous: readonly StoredGroup[]): StoredGroup[] {
  const atOf = new Map<string, string>();
  for (const g of previous)
    if (g.nextPageToken !== undefined && g.at !== undefined) atOf.set(g.nextPageToken, g.at);
  return planActivityGroups(wanted, previous).map((g) => {
    const at = g.nextPageToken === undefined ? undefined : atOf.get(g.nextPageToken);
    return at === undefined ? g : { ...g, at };
  });
}

async function wantedTypeIds(io: SyncIO): Promise<number[]> {
  const explicit = intListOption(io.options, 'activityTypeIds');
  if (explicit) return explicit;
  const env = await call(io, ACTIVITY_TYPES_PATH);
  const ids = env.result.map((t) => t.id).filter((x): x is number => typeof x === 'number');
  return [...new Set(ids)].sort((a, b) => a - b);
}

export type ActivityExportMode = 'rest' | 'bulk' | 'auto';

export function activityExportMode(options: Record<string, unknown>): ActivityExportMode {
  const raw = options.activityExport;
  return raw === 'rest' || raw === 'bulk' ? raw : 'auto';
}

export interface PathChoice {
  path: 'rest' | 'bulk';
  reason: string;
}

/**
 * REST or bulk for this run. `spanMs` = from the oldest group position to now; `lastRunRecords` =
 * what the previous run read (undefined on a first run).
 */
export function chooseActivityPath(
  mode: ActivityExportMode,
  spanMs: number,
  lastRunRecords: number | undefined,
  limits: { aboveDays: number; aboveRecords: number },
): PathChoice {
  const days = Math.round((spanMs / DAY_MS) * 10) / 10;
  if (mode === 'rest') return { path: 'rest', reason: 'activityExport is rest' };
  if (mode === 'bulk') return { path: 'bulk', reason: 'activityExport is bulk' };
  if (spanMs > limits.aboveDays * DAY_MS)
    return { path: 'bulk', reason: `${days} days to read, more than exportAboveDays (${limits.aboveDays})` };
  if (lastRunRecords !== undefined && lastRunRecords > limits.aboveRecords)
    return {
      path: 'bulk',
      reason: `the previous run read ${lastRunRecords} activities, more than exportAboveRecords (${limits.aboveRecords})`,
    };
  return {
    path: 'rest',
    reason: `${days} days to read (exportAboveDays ${limits.aboveDays})${lastRunRecords === undefined ? '' : `, ${lastRunRecords} activities last run (exportAboveRecords ${limits.aboveRecords})`}`,
  };
}

/** Where a group stands: its time; the since-date without a token; now when unknown (older checkpoints). */
function positionOf(g: StoredGroup, since: number, now: number): number {
  if (g.nextPageToken === undefined) return since;
  const at = g.at === undefined ? undefined : Date.parse(g.at);
  return at === undefined || Number.isNaN(at) ? now : at;
}

/**
 * The groups after a bulk catch-up to `at` (token `token`): the exported types continue from there;
 * the others (not exportable) keep their positions.
 */
export function groupsAfterBulk(
  wanted: readonly number[],
  groups: readonly StoredGroup[],
  exported: readonly number[],
  token: string,
  at: string,
): StoredGroup[] {
  const done = new Set(exported);
  const rest: StoredGroup[] = [];
  for (const g of groups) {
    const ids = g.typeIds.filter((id) => !done.has(id));
    if (ids.length > 0) rest.push({ ...g, typeIds: ids });
  }
  const moved = chunk(
    [...done].sort((a, b) => a - b),
    MAX_ACTIVITY_TYPE_IDS,
  ).map((ids): StoredGroup => ({ typeIds: ids, nextPageToken: token, at }));
  return planGroups(wanted, [...moved, ...rest]);
}

function sameSet(a: readonly number[], b: readonly number[]): boolean {
  const s = new Set(a);
  return s.size === new Set(b).size && b.every((x) => s.has(x));
}

export const activitiesSync: SyncModelDef = {
  name: 'activities',
  models: ['Activity'],
  mode: 'incremental',
  defaultFrequencySeconds: 900,
  description:
    'Lead activities of the chosen activity types: REST paging tokens, or bulk activity exports for large spans.',
  async run(io) {
    const runStart = floorSecond(io.now().getTime());
    const batchSize = intOption(io.options, 'batchSize', 300, { min: 1, max: 300 });
    const exportOptions = exportOptionsOf(io.options);
    const previousRecords =
      typeof io.checkpoint?.lastRunRecords === 'number' ? io.checkpoint.lastRunRecords : undefined;
    const wanted = await wantedTypeIds(io);
    let groups = planGroups(wanted, readGroups(io.checkpoint));
    if (groups.length === 0) {
      io.log('no activity types to read');
      return;
    }
    const since = sinceOf(io, DEFAULT_ACTIVITY_LOOKBACK_DAYS);
    let bulk = readActivityBulk(io.checkpoint?.bulk);
    let records = 0;
    let savedRecords: number | undefined = previousRecords;
    const checkpoint = (): Record<string, unknown> => {
      savedRecords = records;
      const cp: ActivitiesCheckpoint = {
        groups: groups.map((g) => {
          const out: StoredGroup = { typeIds: g.typeIds, nextPageToken: g.nextPageToken };
          if (g.at !== undefined) out.at = g.at;
          return out;
        }),
        lastRunRecords: records,
      };
      if (bulk) cp.bulk = bulk;
      return cp as unknown as Record<string, unknown>;
    };

    // 1. Bulk catch-up (resumed, or chosen now).
    const mode = activityExportMode(io.options);
    const exportable = wanted.filter((t) => !NOT_EXPORTABLE_TYPES.has(t));
    if (bulk && (mode === 'rest' || !sameSet(bulk.typeIds, exportable))) {
      io.log('activity export abandoned (activity types or activityExport changed): cancelling its jobs');
      await cancelActivityExport(io, bulk, exportOptions);
      bulk = undefined;
      await io.save({ checkpoint: checkpoint() });
    }
    if (bulk) {
      io.log(`activities: bulk path (resuming the export to ${bulk.to})`);
    } else if (exportable.length > 0) {
      const from = Math.min(
        ...groups
          .filter((g) => g.typeIds.some((t) => exportable.includes(t)))
          .map((g) => positionOf(g, since, runStart)),
      );
      const choice = chooseActivityPath(mode, runStart - from, previousRecords, {
        aboveDays: intOption(io.options, 'exportAboveDays', DEFAULT_EXPORT_ABOVE_DAYS, { min: 0, max: 3650 }),
        aboveRecords: intOption(io.options, 'exportAboveRecords', DEFAULT_EXPORT_ABOVE_RECORDS, {
          min: 0,
          max: Number.MAX_SAFE_INTEGER,
        }),
      });
      io.log(`activities: ${choice.path} path (${choice.reason})`, { path: choice.path });
      if (choice.path === 'bulk') bulk = newActivityBulk(exportable, floorSecond(from), runStart);
    } else {
      io.log('activities: REST path (no exportable activity type chosen)', { path: 'rest' });
    }
    if (bulk) {
      const skipped = wanted.filter((t) => NOT_EXPORTABLE_TYPES.has(t));
      if (skipped.length > 0) {
        io.log(
          `activity types ${skipped.join(', ')} (Delete Lead) cannot be exported: they are read by REST instead`,
        );
      }
      const active = bulk;
      records += await exportActivities(
        io,
        active,
        async (recs, state) => {
          active.export = state;
          await io.save({
            upserts: recs.length > 0 ? { Activity: recs } : {},
            checkpoint: checkpoint(),
          });
        },
        async (state) => {
          active.export = state;
          await io.save({ checkpoint: checkpoint() });
        },
        exportOptions,
      );
      // REST takes over at T: tokens are positions in the activity log, whatever the type filter.
      const token = await pagingTokenSince(io, Date.parse(active.to));
      groups = groupsAfterBulk(wanted, groups, active.typeIds, token, active.to);
      bulk = undefined;
      await io.save({ checkpoint: checkpoint() });
    }

    // 2. REST, every group from its token.
    if (groups.some((g) => g.nextPageToken === undefined)) {
      const token = await pagingTokenSince(io, since);
      for (const g of groups) {
        if (g.nextPageToken !== undefined) continue;
        g.nextPageToken = token;
        g.at = new Date(floorSecond(since)).toISOString();
      }
    }
    for (const group of groups) {
      const path = withQuery('/rest/v1/activities.json', { activityTypeIds: group.typeIds, batchSize });
      for await (const page of datePages(io, path, group.nextPageToken!)) {
        const recs = uniqueById(page.items.map(activityRecord));
        if (recs.length === 0 && page.nextPageToken === group.nextPageToken) continue;
        group.nextPageToken = page.nextPageToken;
        const last = page.items.length > 0 ? parseMarketoDate(page.items.at(-1)!.activityDate) : undefined;
        // Caught up: the token stands at (about) now; else at the last activity read.
        if (!page.moreResult) group.at = new Date(runStart).toISOString();
        else if (last !== undefined) group.at = new Date(last).toISOString();
        records += recs.length;
        await io.save({ upserts: recs.length > 0 ? { Activity: recs } : {}, checkpoint: checkpoint() });
      }
      if (group.at === undefined || Date.parse(group.at) < runStart) {
        // Caught up without a page worth saving: note the position with the run's last save.
        group.at = new Date(runStart).toISOString();
        savedRecords = undefined;
      }
    }
    // The volume rule needs this run's count, and positions moved without a page: one last save.
    if (savedRecords !== records) await io.save({ checkpoint: checkpoint() });
  },
  async release(io, checkpoint) {
    const bulk = readActivityBulk(checkpoint.bulk);
    if (!bulk) return undefined;
    const n = await cancelExportJobs(io, 'activities', bulk.export);
    return n > 0 ? `cancelled ${n} activity export job(s) of the discarded checkpoint` : undefined;
  },
};
