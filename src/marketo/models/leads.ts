/**
 * Lead: every lead with every field the API user sees (describe, custom fields included), loaded and
 * kept current through Marketo Bulk Extract (spec §5.10). Record id = the lead id as a string; values
 * typed as the REST API answers them, empty fields left out (see lead-records.ts).
 *
 * A run works through one *cycle*, checkpointed after every step so a failed, crashed or paused run
 * resumes the same cycle (same windows, same export jobs):
 *  1. a date paging token at the cycle's start, taken before any export;
 *  2. exports over date windows (≤31 days) ending at the cycle's start:
 *     - initial: `createdAt` windows from the start date (option `sinceDatetime`; else the earliest
 *       `createdAt` among lead ids 1..300, one REST call, floored to the day; else `lookbackDays` back);
 *     - incremental: `updatedAt` windows from the previous cycle's start minus `overlapSeconds` (an
 *       export's `updatedAt` filter is the true last change, so nothing changed since is missed);
 *     - where the subscription refuses the `updatedAt` filter (1035): `createdAt` windows for new leads,
 *       then lead-change activities (`leadchanges.json` from the previous cycle's token) for the ids of
 *       changed leads, read by REST (≤300 ids per call). Remembered; probed again at most once a day;
 *  3. deleted leads (`deletedleads.json`) from where the previous read stopped (first cycle: from the
 *     token of step 1), after the exports: a lead deleted while a file was being made does not come back.
 *
 * Options (per connection):
 *  - `sinceDatetime` (ISO-8601): where the initial load starts;
 *  - `lookbackDays` (default 3650): the initial start when no lead among ids 1..300 tells it;
 *  - `overlapSeconds` (default 300): incremental windows start this much before the previous cycle;
 *  - `exportPollMs` (default 60000, min 10): between two looks at the export job list;
 *  - `exportBatchRows` (default 1000): rows per saved batch, i.e. per write transaction. A commit costs
 *    per page, so larger pages cost the main thread less per lead (bench:sync, 1M leads, rows parsed to
 *    payload text on the CSV worker: main thread 12.9–14.1 µs per lead at 250 rows, 12.6 at 500, 11.2–11.4
 *    at 1,000), and more memory (peak RSS 234–237, 245, 266–271 MB): 1,000 keeps under the 300 MB target;
 *  - `maxQueuedExports` (1–10, default 10): export jobs Tether keeps queued at the instance;
 *  - `exportDailyBytes` (default 500 MiB): export volume per day (Central time) before the run pauses.
 *
 * When the field list changes while a cycle's exports are in flight, their jobs are cancelled and the
 * cycle's exports start over with the new fields.
 */
import {
  BulkExporter,
  cancelExportJobs,
  windowsBetween,
  type ExportOptions,
  type ExportPlan,
  type ExportState,
} from '../bulk/exports.ts';
import { withRecipe } from '../bulk/csv-offload.ts';
import {
  call,
  dateOption,
  intOption,
  isoSeconds,
  parseMarketoDate,
  withQuery,
  type MarketoItem,
} from './api.ts';
import {
  describeLeadSchema,
  LeadRowConverter,
  leadRecordFromRest,
  type LeadItem,
  type LeadSchema,
} from './lead-records.ts';
import { datePages, pagingTokenSince, positionPages } from './paging.ts';
import { MarketoSyncError, type SyncIO, type SyncModelDef, type SyncPage, type SyncRecord } from './types.ts';

const DAY_MS = 86_400_000;
export const DEFAULT_LEAD_LOOKBACK_DAYS = 3650;
/** Lead ids whose `createdAt` tells where the initial load starts (one REST call). */
const START_PROBE_IDS = 300;
/** Lead-DB reads take ≤300 ids per call (spec §4). */
const MAX_IDS_PER_CALL = 300;
/** Marketo prunes deleted leads after 14 days. */
const DELETED_RETENTION_MS = 14 * DAY_MS;
/** Marketo's GET URIs stop at 8 KB (414): long field lists are split below this. */
export const MAX_URL_CHARS = 7000;
/** Room kept for a paging token appended to a URL. */
const TOKEN_ROOM = 300;

export const UPDATED_AT_UNAVAILABLE =
  'updatedAt filter not available on this subscription (1035): new leads from createdAt windows, updates from lead-change activities';

// ---------------------------------------------------------------------------------------------------
// Options

/** The bulk export options both bulk syncs (leads, activities) read from the connection's options. */
export function exportOptionsOf(options: Record<string, unknown>): Required<ExportOptions> {
  return {
    pollMs: intOption(options, 'exportPollMs', 60_000, { min: 10, max: 3_600_000 }),
    batchRows: intOption(options, 'exportBatchRows', 1000, { min: 1, max: 100_000 }),
    maxQueued: intOption(options, 'maxQueuedExports', 10, { min: 1, max: 10 }),
    dailyBytes: intOption(options, 'exportDailyBytes', 500 * 1024 * 1024, {
      min: 1,
      max: Number.MAX_SAFE_INTEGER,
    }),
  };
}

/** Whole seconds: bulk date filters take no milliseconds, so every boundary is on a second. */
export function floorSecond(ms: number): number {
  return Math.floor(ms / 1000) * 1000;
}

// ---------------------------------------------------------------------------------------------------
// Checkpoint

type CycleKind = 'initial' | 'updated' | 'fallback';
type Step = 'exports' | 'changes' | 'deletes';

/** Lead-change reading of a fallback cycle (one stream per chunk of fields, each from `startToken`). */
export interface ChangesState {
  startToken: string;
  chunk: number;
  token: string;
  /** Changed lead ids found and not read yet. */
  pending: number[];
}

export interface LeadCycle {
  kind: CycleKind;
  /** Where the windows start (ISO). */
  from: string;
  /** The cycle's start (ISO): where the windows end and the next cycle begins. */
  startAt: string;
  /** Date paging token at `startAt`, taken before any export. */
  token: string;
  /** The fields the cycle's exports ask for (REST names). */
  fields: string[];
  step: Step;
  export: ExportState;
  changes?: ChangesState;
  /** Lead records saved in this cycle so far. */
  rows: number;
}

export interface LeadsCheckpoint {
  cycle?: LeadCycle;
  /** Start of the last finished cycle (ISO) and the token taken then. */
  doneAt?: string;
  doneToken?: string;
  /** Where the next deleted-leads read starts, and when it last ran (ISO). */
  deletedToken?: string;
  deletedReadAt?: string;
  updatedAtFilter?: { available: boolean; checkedAt: string };
  /** Lead records the last finished cycle saved. */
  lastCycleRows?: number;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}
function isoTime(v: unknown): string | undefined {
  return typeof v === 'string' && !Number.isNaN(Date.parse(v)) ? v : undefined;
}

function readExportState(v: unknown): ExportState | undefined {
  if (!isObject(v) || !Array.isArray(v.jobs) || !Array.isArray(v.pending)) return undefined;
  return v as unknown as ExportState;
}

function readCycle(v: unknown): LeadCycle | undefined {
  if (!isObject(v)) return undefined;
  const kind = v.kind;
  const step = v.step;
  const from = isoTime(v.from);
  const startAt = isoTime(v.startAt);
  const token = str(v.token);
  const exp = readExportState(v.export);
  if (
    (kind !== 'initial' && kind !== 'updated' && kind !== 'fallback') ||
    (step !== 'exports' && step !== 'changes' && step !== 'deletes') ||
    !from ||
    !startAt ||
    !token ||
    !exp ||
    !Array.isArray(v.fields) ||
    !v.fields.every((f) => typeof f === 'string')
  )
    return undefined;
  const cycle: LeadCycle = {
    kind,
    from,
    startAt,
    token,
    fields: v.fields as string[],
    step,
    export: exp,
    rows: typeof v.rows === 'number' ? v.rows : 0,
  };
  const c = v.changes;
  if (isObject(c) && str(c.startToken) && str(c.token) && typeof c.chunk === 'number') {
    cycle.changes = {
      startToken: c.startToken as string,
      token: c.token as string,
      chunk: c.chunk,
      pending: Array.isArray(c.pending) ? c.pending.filter((x): x is number => Number.isSafeInteger(x)) : [],
    };
  }
  if (kind === 'fallback' && !cycle.changes) return undefined;
  return cycle;
}

export function readLeadsCheckpoint(raw: Record<string, unknown> | null): LeadsCheckpoint {
  const cp: LeadsCheckpoint = {};
  if (!raw) return cp;
  const cycle = readCycle(raw.cycle);
  if (cycle) cp.cycle = cycle;
  const doneAt = isoTime(raw.doneAt);
  const doneToken = str(raw.doneToken);
  if (doneAt && doneToken) {
    cp.doneAt = doneAt;
    cp.doneToken = doneToken;
  }
  const deletedToken = str(raw.deletedToken);
  if (deletedToken) cp.deletedToken = deletedToken;
  const deletedReadAt = isoTime(raw.deletedReadAt);
  if (deletedReadAt) cp.deletedReadAt = deletedReadAt;
  const f = raw.updatedAtFilter;
  if (isObject(f) && typeof f.available === 'boolean' && isoTime(f.checkedAt)) {
    cp.updatedAtFilter = { available: f.available, checkedAt: f.checkedAt as string };
  }
  if (typeof raw.lastCycleRows === 'number') cp.lastCycleRows = raw.lastCycleRows;
  return cp;
}

// ---------------------------------------------------------------------------------------------------
// REST helpers

/**
 * Field lists cut so that each URL stays under {@link MAX_URL_CHARS} (`fixed` = the rest of the URL):
 * a subscription with hundreds of fields would otherwise get HTTP 414.
 */
export function fieldChunks(fields: readonly string[], fixed: number, max = MAX_URL_CHARS): string[][] {
  const room = Math.max(1, max - fixed - TOKEN_ROOM);
  const out: string[][] = [];
  let current: string[] = [];
  let used = 0;
  for (const f of fields) {
    const cost = encodeURIComponent(f).length + 3; // "%2C"
    if (current.length > 0 && used + cost > room) {
      out.push(current);
      current = [];
      used = 0;
    }
    current.push(f);
    used += cost;
  }
  if (current.length > 0) out.push(current);
  return out;
}

/**
 * Leads by id with every field of the schema (`GET /rest/v1/leads.json?filterType=id`, ≤300 ids per
 * call; the field list split over several calls when the URL would be too long, merged by id).
 */
export async function readLeadsById(
  io: Pick<SyncIO, 'get' | 'log'>,
  ids: readonly number[],
  schema: LeadSchema,
): Promise<SyncRecord[]> {
  const out: SyncRecord[] = [];
  for (let i = 0; i < ids.length; i += MAX_IDS_PER_CALL) {
    const slice = ids.slice(i, i + MAX_IDS_PER_CALL);
    const base = withQuery('/rest/v1/leads.json', {
      filterType: 'id',
      filterValues: slice,
      batchSize: MAX_IDS_PER_CALL,
    });
    const merged = new Map<string, MarketoItem>();
    for (const fields of fieldChunks(schema.names, base.length + '&fields='.length)) {
      for await (const page of positionPages(io, withQuery(base, { fields }))) {
        for (const item of page.items) {
          const key = String(item.id);
          const known = merged.get(key);
          if (known) Object.assign(known, item);
          else merged.set(key, { ...item });
        }
      }
    }
    for (const item of merged.values()) {
      const rec = leadRecordFromRest(item, schema);
      if (rec) out.push(rec);
    }
  }
  return out;
}

/** Where the initial load starts: the option, the oldest of leads 1..300 (floored to the day), or a lookback. */
async function initialStart(io: SyncIO, runStart: number): Promise<number> {
  const explicit = dateOption(io.options, 'sinceDatetime');
  if (explicit !== undefined) return floorSecond(explicit);
  const ids = Array.from({ length: START_PROBE_IDS }, (_, i) => i + 1);
  const env = await call(
    io,
    withQuery('/rest/v1/leads.json', { filterType: 'id', filterValues: ids, fields: ['id', 'createdAt'] }),
  );
  let earliest: number | undefined;
  for (const item of env.result) {
    const ms = parseMarketoDate(item.createdAt);
    if (ms !== undefined && (earliest === undefined || ms < earliest)) earliest = ms;
  }
  if (earliest !== undefined) return Math.floor(earliest / DAY_MS) * DAY_MS;
  const days = intOption(io.options, 'lookbackDays', DEFAULT_LEAD_LOOKBACK_DAYS, { min: 0, max: 36_500 });
  io.log(`no lead among ids 1..${START_PROBE_IDS}: the initial load starts ${days} days back`, {
    lookbackDays: days,
  });
  return floorSecond(runStart - days * DAY_MS);
}

// ---------------------------------------------------------------------------------------------------
// The run

class LeadsRun {
  private readonly exportOptions: Required<ExportOptions>;
  private readonly overlapMs: number;

  constructor(
    private readonly io: SyncIO,
    private readonly cp: LeadsCheckpoint,
    private readonly schema: LeadSchema,
    private readonly runStart: number,
  ) {
    this.exportOptions = exportOptionsOf(io.options);
    this.overlapMs = intOption(io.options, 'overlapSeconds', 300, { min: 0, max: 86_400 }) * 1000;
  }

  private save(page: Omit<SyncPage, 'checkpoint'> = {}): Promise<void> {
    return this.io.save({ ...page, checkpoint: structuredClone(this.cp) as Record<string, unknown> });
  }

  private freshExport(from: number, to: number): ExportState {
    return { jobs: [], pending: windowsBetween(from, to) };
  }

  private plan(cycle: LeadCycle): ExportPlan {
    return {
      kind: 'leads',
      filterField: cycle.kind === 'updated' ? 'updatedAt' : 'createdAt',
      fields: cycle.fields,
    };
  }

  private exporter(cycle: LeadCycle): BulkExporter<LeadItem> {
    const schema = this.schema;
    return new BulkExporter<LeadItem>(
      this.io,
      this.plan(cycle),
      cycle.export,
      async (state) => {
        cycle.export = state;
        await this.save();
      },
      this.exportOptions,
      // Each file's rows become records as they are parsed (undefined for a row without an id); the
      // recipe lets the CSV worker thread build the same reader (bulk/csv-offload.ts).
      withRecipe<LeadItem>((header, delimiter) => new LeadRowConverter(header, schema).csvReader(delimiter), {
        kind: 'lead',
        fields: [...schema.fields],
      }),
    );
  }

  async run(): Promise<void> {
    const { io, cp } = this;
    if (cp.cycle && cp.cycle.step !== 'deletes' && !this.schema.sameFields(cp.cycle.fields)) {
      await this.restartForNewFields(cp.cycle);
    }
    if (!cp.cycle) {
      cp.cycle = await this.startCycle();
      cp.deletedToken ??= cp.cycle.token;
      await this.save();
    } else {
      io.log('resuming the lead sync cycle started at ' + cp.cycle.startAt, {
        kind: cp.cycle.kind,
        step: cp.cycle.step,
      });
    }
    const cycle = cp.cycle;
    if (cycle.kind === 'fallback') io.log(UPDATED_AT_UNAVAILABLE);
    if (cycle.step === 'exports') {
      await this.exports(cycle);
      cycle.step = cycle.kind === 'fallback' ? 'changes' : 'deletes';
      await this.save();
    }
    if (cycle.step === 'changes') {
      await this.changes(cycle);
      cycle.step = 'deletes';
      await this.save();
    }
    await this.deletes(cycle);
    cp.doneAt = cycle.startAt;
    cp.doneToken = cycle.token;
    cp.lastCycleRows = cycle.rows;
    delete cp.cycle;
    io.log(`lead sync cycle done: ${cycle.rows} lead records`, { kind: cycle.kind, startAt: cycle.startAt });
    await this.save();
  }

  private async startCycle(): Promise<LeadCycle> {
    const { io, cp, runStart } = this;
    const startAt = new Date(runStart).toISOString();
    // Before any export: deletions from here on are read after the files (see the module comment).
    const token = await pagingTokenSince(io, runStart);
    const base = { startAt, token, fields: [...this.schema.names], step: 'exports' as const, rows: 0 };
    if (cp.doneAt === undefined || cp.doneToken === undefined) {
      const from = await initialStart(io, runStart);
      io.log(`initial lead load from ${isoSeconds(from)} to ${isoSeconds(runStart)}`);
      return {
        ...base,
        kind: 'initial',
        from: new Date(from).toISOString(),
        export: this.freshExport(from, runStart),
      };
    }
    const doneAt = Date.parse(cp.doneAt);
    const f = cp.updatedAtFilter;
    if (f && !f.available && runStart - Date.parse(f.checkedAt) < DAY_MS) {
      return this.fallbackCycle(base, doneAt, cp.doneToken);
    }
    const from = Math.min(doneAt - this.overlapMs, runStart);
    return {
      ...base,
      kind: 'updated',
      from: new Date(from).toISOString(),
      export: this.freshExport(from, runStart),
    };
  }

  private fallbackCycle(
    base: Pick<LeadCycle, 'startAt' | 'token' | 'fields' | 'step' | 'rows'>,
    doneAt: number,
    doneToken: string,
  ): LeadCycle {
    const end = Date.parse(base.startAt);
    return {
      ...base,
      kind: 'fallback',
      from: new Date(doneAt).toISOString(),
      export: this.freshExport(Math.min(doneAt, end), end),
      changes: { startToken: doneToken, chunk: 0, token: doneToken, pending: [] },
    };
  }

  /** The field list changed under a cycle in flight: cancel its jobs and export again with the new list. */
  private async restartForNewFields(cycle: LeadCycle): Promise<void> {
    this.io.log('lead fields changed during a cycle: its exports (or lead-change reads) start over', {
      before: cycle.fields.length,
      now: this.schema.names.length,
    });
    if (cycle.step === 'exports') {
      await this.exporter(cycle).cancelAll();
      const from = Date.parse(cycle.from);
      cycle.export = this.freshExport(Math.min(from, Date.parse(cycle.startAt)), Date.parse(cycle.startAt));
    }
    // Lead changes are read per chunk of fields: a new list reads them again from the start.
    cycle.fields = [...this.schema.names];
    if (cycle.changes) {
      cycle.changes = { ...cycle.changes, chunk: 0, token: cycle.changes.startToken, pending: [] };
    }
    await this.save();
  }

  private async exports(cycle: LeadCycle): Promise<void> {
    const exporter = this.exporter(cycle);
    try {
      for await (const batch of exporter.batches()) {
        const records: NonNullable<LeadItem>[] = [];
        for (const r of batch.rows) if (r !== undefined) records.push(r);
        cycle.export = exporter.state();
        cycle.rows += records.length;
        await this.save(records.length > 0 ? { upserts: { Lead: records } } : {});
      }
      cycle.export = exporter.state();
    } catch (err) {
      if (cycle.kind === 'updated' && err instanceof MarketoSyncError && err.code === '1035') {
        await this.switchToFallback(cycle, exporter, err);
        return this.exports(cycle);
      }
      throw err;
    }
    if (cycle.kind === 'updated') {
      this.cp.updatedAtFilter = { available: true, checkedAt: new Date(this.runStart).toISOString() };
    }
  }

  private async switchToFallback(
    cycle: LeadCycle,
    exporter: BulkExporter<LeadItem>,
    err: MarketoSyncError,
  ): Promise<void> {
    const { io, cp } = this;
    io.log(UPDATED_AT_UNAVAILABLE, { message: err.message });
    // Jobs made before the refusal (none, normally) are of no use now.
    await exporter.cancelAll();
    cp.updatedAtFilter = { available: false, checkedAt: new Date(this.runStart).toISOString() };
    const next = this.fallbackCycle(cycle, Date.parse(cp.doneAt!), cp.doneToken!);
    Object.assign(cycle, next);
    await this.save();
  }

  /** Fallback: leads changed since the previous cycle, from lead-change activities, read by REST. */
  private async changes(cycle: LeadCycle): Promise<void> {
    const ch = cycle.changes!;
    const path = '/rest/v1/activities/leadchanges.json';
    const chunks = fieldChunks(cycle.fields, path.length + '?fields=&batchSize=300&nextPageToken='.length);
    // Ids already read in this run (a lead changed five times is read once); pending ones are not yet.
    const seen = new Set<number>(ch.pending);
    const flush = async (all: boolean) => {
      while (ch.pending.length >= MAX_IDS_PER_CALL || (all && ch.pending.length > 0)) {
        const ids = ch.pending.splice(0, MAX_IDS_PER_CALL);
        const records = await readLeadsById(this.io, ids, this.schema);
        cycle.rows += records.length;
        await this.save(records.length > 0 ? { upserts: { Lead: records } } : {});
      }
    };
    while (ch.chunk < chunks.length) {
      const url = withQuery(path, { fields: chunks[ch.chunk], batchSize: 300 });
      for await (const page of datePages(this.io, url, ch.token)) {
        let found = false;
        for (const item of page.items) {
          // New Lead (12) is covered by the createdAt windows; Change Data Value (13) is what we want.
          if (item.activityTypeId === 12) continue;
          const id = typeof item.leadId === 'number' ? item.leadId : Number(item.leadId);
          if (!Number.isSafeInteger(id) || seen.has(id)) continue;
          seen.add(id);
          ch.pending.push(id);
          found = true;
        }
        const moved = page.nextPageToken !== ch.token;
        ch.token = page.nextPageToken;
        await flush(false);
        if (found || moved) await this.save();
      }
      ch.chunk++;
      ch.token = ch.startToken;
    }
    await flush(true);
  }

  /** Deleted leads since the previous read (spec §5.5), after every export of the cycle. */
  private async deletes(cycle: LeadCycle): Promise<void> {
    const { io, cp } = this;
    if (cp.deletedReadAt && this.runStart - Date.parse(cp.deletedReadAt) > DELETED_RETENTION_MS) {
      io.log('last deleted-leads read is older than 14 days: Marketo may have pruned some deletions', {
        deletedReadAt: cp.deletedReadAt,
      });
    }
    const token = cp.deletedToken ?? cycle.token;
    const path = withQuery('/rest/v1/activities/deletedleads.json', { batchSize: 300 });
    let previous = token;
    for await (const page of datePages(io, path, token)) {
      const ids = [
        ...new Set(page.items.map((i) => i.leadId).filter((x) => x !== undefined && x !== null)),
      ].map(String);
      cp.deletedToken = page.nextPageToken;
      if (ids.length === 0 && page.nextPageToken === previous) continue;
      previous = page.nextPageToken;
      await this.save(ids.length > 0 ? { deletes: { Lead: ids } } : {});
    }
    cp.deletedReadAt = new Date(this.runStart).toISOString();
  }
}

export const leadsSync: SyncModelDef = {
  name: 'leads',
  models: ['Lead'],
  mode: 'incremental',
  defaultFrequencySeconds: 3600,
  description:
    'Every lead with every field (custom included), through bulk lead exports; deleted leads are marked deleted.',
  async run(io) {
    const runStart = floorSecond(io.now().getTime());
    const cp = readLeadsCheckpoint(io.checkpoint);
    const schema = await describeLeadSchema(io);
    await new LeadsRun(io, cp, schema, runStart).run();
  },
  async release(io, checkpoint) {
    const cycle = readLeadsCheckpoint(checkpoint).cycle;
    if (cycle?.step !== 'exports') return undefined;
    const n = await cancelExportJobs(io, 'leads', cycle.export);
    return n > 0 ? `cancelled ${n} lead export job(s) of the discarded checkpoint` : undefined;
  },
};
