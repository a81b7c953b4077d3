/**
 * The asset-API browse syncs (programs, smart campaigns; spec §5.7, §5.8): offset paging with
 * `maxReturn` ≤200 until the "No assets found" warning, incremental through the `earliestUpdatedAt` /
 * `latestUpdatedAt` window, and a periodic full sweep for deletions (the asset API has no "deleted since").
 *
 * A run is one of:
 *  - full sweep: no date filter, inside a {@link SweepMarker}; assets not seen are deleted when it
 *    completes. Chosen on the first run, when the last completed sweep is older than
 *    `fullSweepIntervalSeconds` (default 1 day), or with `fullSweep: true`;
 *  - incremental: `earliestUpdatedAt` = the high-water mark (largest `updatedAt` seen) minus
 *    `overlapSeconds` (default 300: updates stamped just before the mark but visible later), and
 *    `latestUpdatedAt` = start of the run + 1 day (clock skew). Re-read assets are unchanged upserts.
 * The run's window and offset are checkpointed after every page, so a failed run resumes there. Each page
 * re-reads a few items of the previous one to detect items skipped when an asset disappears mid-browse
 * ({@link assetStep}); then a sweep is not completed and the high-water mark does not move.
 */
import {
  boolOption,
  idOf,
  intOption,
  isoSeconds,
  newSweepId,
  normalizeDate,
  parseMarketoDate,
  uniqueById,
  withQuery,
  type MarketoItem,
} from './api.ts';
import { assetPages, type AssetCursor } from './paging.ts';
import type { SweepMarker, SyncModelDef, SyncRecord } from './types.ts';

export const DEFAULT_FULL_SWEEP_INTERVAL_SECONDS = 86_400;
export const DEFAULT_OVERLAP_SECONDS = 300;
const LATEST_MARGIN_MS = 86_400_000;
const DATE_KEYS = ['createdAt', 'updatedAt', 'startDate', 'endDate'];

export interface AssetSyncSpec {
  name: string;
  model: string;
  /** Browse path without paging or date parameters, e.g. '/rest/asset/v1/programs.json'. */
  path: string;
  description: string;
  defaultFrequencySeconds: number;
}

interface AssetRun {
  kind: 'full' | 'incremental';
  startedAt: string;
  sweepId?: string;
  since?: string;
  until?: string;
  cursor: AssetCursor;
  /** Largest updatedAt seen in this run (ISO). */
  maxSeen?: string;
}

export interface AssetCheckpoint {
  highWater?: string;
  lastFullSweepAt?: string;
  run?: AssetRun;
}

/** The asset with `id` as a string and its dates as `YYYY-MM-DDTHH:MM:SSZ` (Marketo sends `…Z+0000`). */
export function assetRecord(item: MarketoItem): SyncRecord | undefined {
  const id = idOf(item.id);
  if (id === undefined) return undefined;
  const rec: SyncRecord = { ...item, id };
  for (const k of DATE_KEYS) if (k in rec) rec[k] = normalizeDate(rec[k]);
  return rec;
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

function readCheckpoint(cp: Record<string, unknown> | null): AssetCheckpoint {
  const out: AssetCheckpoint = {};
  if (!cp) return out;
  if (str(cp.highWater)) out.highWater = cp.highWater as string;
  if (str(cp.lastFullSweepAt)) out.lastFullSweepAt = cp.lastFullSweepAt as string;
  const r = cp.run as Partial<AssetRun> | undefined;
  if (r && typeof r === 'object' && (r.kind === 'full' || r.kind === 'incremental') && r.cursor) {
    const c = r.cursor as Partial<AssetCursor>;
    if (typeof c.offset === 'number' && str(r.startedAt)) {
      const cursor: AssetCursor = { offset: c.offset };
      if (str(c.lastId)) cursor.lastId = c.lastId;
      if (c.broken === true) cursor.broken = true;
      const run: AssetRun = { kind: r.kind, startedAt: r.startedAt!, cursor };
      if (str(r.sweepId)) run.sweepId = r.sweepId;
      if (str(r.since)) run.since = r.since;
      if (str(r.until)) run.until = r.until;
      if (str(r.maxSeen)) run.maxSeen = r.maxSeen;
      if (run.kind === 'incremental' ? run.since && run.until : run.sweepId) out.run = run;
    }
  }
  return out;
}

/** Whether a new run should be a full sweep. */
export function needsFullSweep(
  cp: AssetCheckpoint,
  now: number,
  intervalSeconds: number,
  force: boolean,
): boolean {
  if (force || cp.highWater === undefined || cp.lastFullSweepAt === undefined) return true;
  const last = Date.parse(cp.lastFullSweepAt);
  return Number.isNaN(last) || now - last >= intervalSeconds * 1000;
}

function later(a: string | undefined, b: string | undefined): string | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return Date.parse(a) >= Date.parse(b) ? a : b;
}

export function assetSync(spec: AssetSyncSpec): SyncModelDef {
  const models = [spec.model];
  return {
    name: spec.name,
    models,
    mode: 'incremental',
    defaultFrequencySeconds: spec.defaultFrequencySeconds,
    description: spec.description,
    async run(io) {
      const maxReturn = intOption(io.options, 'maxReturn', 200, { min: 1, max: 200 });
      const interval = intOption(
        io.options,
        'fullSweepIntervalSeconds',
        DEFAULT_FULL_SWEEP_INTERVAL_SECONDS,
        {
          min: 0,
          max: 365 * 86_400,
        },
      );
      const overlapMs =
        intOption(io.options, 'overlapSeconds', DEFAULT_OVERLAP_SECONDS, { min: 0, max: 30 * 86_400 }) * 1000;
      const cp = readCheckpoint(io.checkpoint);
      const now = io.now().getTime();
      let run = cp.run;
      if (!run) {
        if (needsFullSweep(cp, now, interval, boolOption(io.options, 'fullSweep'))) {
          run = {
            kind: 'full',
            startedAt: isoSeconds(now),
            sweepId: newSweepId(spec.name, new Date(now)),
            cursor: { offset: 0 },
          };
        } else {
          run = {
            kind: 'incremental',
            startedAt: isoSeconds(now),
            since: isoSeconds(Date.parse(cp.highWater!) - overlapMs),
            until: isoSeconds(now + LATEST_MARGIN_MS),
            cursor: { offset: 0 },
          };
        }
      }
      const r = run;
      const path =
        r.kind === 'full'
          ? spec.path
          : withQuery(spec.path, { earliestUpdatedAt: r.since, latestUpdatedAt: r.until });
      io.log(`${spec.name}: ${r.kind} run`, {
        offset: r.cursor.offset,
        ...(r.since ? { since: r.since } : {}),
      });
      const base = (): AssetCheckpoint => {
        const out: AssetCheckpoint = {};
        if (cp.highWater !== undefined) out.highWater = cp.highWater;
        if (cp.lastFullSweepAt !== undefined) out.lastFullSweepAt = cp.lastFullSweepAt;
        return out;
      };
      for await (const step of assetPages(io, path, r.cursor, maxReturn)) {
        const records = uniqueById(step.fresh.map(assetRecord));
        for (const item of step.fresh) {
          const t = parseMarketoDate(item.updatedAt);
          if (t !== undefined) r.maxSeen = later(r.maxSeen, isoSeconds(t));
        }
        r.cursor = step.cursor;
        const broken = step.cursor.broken === true;
        let checkpoint: AssetCheckpoint;
        let sweep: SweepMarker | undefined;
        if (!step.done) {
          checkpoint = { ...base(), run: r };
          if (r.kind === 'full') sweep = { id: r.sweepId!, models, complete: false };
        } else {
          checkpoint = base();
          if (r.kind === 'full') {
            // A full run saw everything (or knows it may not have): its high-water mark is sound either way.
            const hw = later(cp.highWater, r.maxSeen);
            if (hw !== undefined) checkpoint.highWater = hw;
            // A sweep that may have skipped assets deletes nothing, and the next run sweeps again.
            if (broken) delete checkpoint.lastFullSweepAt;
            else checkpoint.lastFullSweepAt = r.startedAt;
            sweep = { id: r.sweepId!, models, complete: !broken };
          } else if (!broken) {
            const hw = later(cp.highWater, r.maxSeen);
            if (hw !== undefined) checkpoint.highWater = hw;
          }
          if (broken) io.log(`${spec.name}: assets moved during the browse; the next run reads again`);
        }
        const page: Parameters<typeof io.save>[0] = {
          upserts: { [spec.model]: records },
          checkpoint: checkpoint as Record<string, unknown>,
        };
        if (sweep) page.sweep = sweep;
        await io.save(page);
      }
    },
  };
}
