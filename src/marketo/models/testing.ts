/**
 * A reference engine in memory for the sync models: runs a {@link SyncModelDef} against any `get`
 * (a sandbox, a fake), applies pages the way the real engine must (records, then checkpoint; sweeps;
 * cross-model deletes) and reports what each run changed. Used by the tests here; also the executable
 * statement of the {@link SyncIO} contract for the sync engine.
 */
import { PayloadRecord } from '../../record-payload.ts';
import {
  SyncPaused,
  type DownloadResponse,
  type SyncIO,
  type SyncModelDef,
  type SyncPage,
  type SyncRecord,
} from './types.ts';

export interface StoredRecord {
  record: SyncRecord;
  deleted: boolean;
  /** Id of the last sweep the record was seen in. */
  sweep?: string;
}

/** What a run changed, by model: ids added, updated (content changed), unchanged, deleted. */
export interface RunReport {
  added: Record<string, string[]>;
  updated: Record<string, string[]>;
  unchanged: Record<string, string[]>;
  deleted: Record<string, string[]>;
  /** Every id a page asked to delete, by model, whether or not the record was stored. */
  deleteRequests: Record<string, string[]>;
  /** Checkpoints saved, in order (one per page). */
  checkpoints: Record<string, unknown>[];
  pages: SyncPage[];
  calls: string[];
  logs: { message: string; data?: Record<string, unknown> }[];
  error?: unknown;
  /** Set when the run ended with `io.pause(...)`. */
  paused?: SyncPaused;
}

export class CrashError extends Error {
  constructor() {
    super('simulated crash between records and checkpoint');
  }
}

export interface RunOptions {
  options?: Record<string, unknown>;
  /** Crash on save number `crashAtSave` (1-based): its records are stored, its checkpoint is not. */
  crashAtSave?: number;
}

function stable(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stable).join(',')}]`;
  if (value && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    return `{${Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${stable(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

function push(map: Record<string, string[]>, model: string, id: string): void {
  (map[model] ??= []).push(id);
}

export class MemoryEngine {
  readonly records = new Map<string, Map<string, StoredRecord>>();
  /** Checkpoint per sync name. */
  readonly checkpoints = new Map<string, Record<string, unknown>>();

  constructor(
    private readonly deps: {
      get(path: string): Promise<unknown>;
      /** JSON POST (bulk export create/enqueue/cancel). */
      post?(path: string, body: unknown): Promise<unknown>;
      download?(path: string, opts?: { range?: { start: number; end?: number } }): Promise<DownloadResponse>;
      now?: () => Date;
      options?: Record<string, unknown>;
      /** Default: a real timer. */
      sleep?(ms: number): Promise<void>;
      /** Default: 'memory'. */
      instanceKey?: string;
    },
  ) {}

  /** Live (not deleted) records of a model, by id. */
  live(model: string): Map<string, SyncRecord> {
    const out = new Map<string, SyncRecord>();
    for (const [id, s] of this.records.get(model) ?? []) if (!s.deleted) out.set(id, s.record);
    return out;
  }

  async run(sync: SyncModelDef, opts: RunOptions = {}): Promise<RunReport> {
    const report: RunReport = {
      added: {},
      updated: {},
      unchanged: {},
      deleted: {},
      deleteRequests: {},
      checkpoints: [],
      pages: [],
      calls: [],
      logs: [],
    };
    let saves = 0;
    const io: SyncIO = {
      get: async (path) => {
        report.calls.push(path);
        return this.deps.get(path);
      },
      checkpoint: structuredClone(this.checkpoints.get(sync.name) ?? null),
      save: async (page) => {
        saves++;
        const copy = structuredClone(page);
        // structuredClone drops classes: a PayloadRecord would arrive as a plain {id, payload, shape}.
        for (const [model, recs] of Object.entries(page.upserts ?? {})) {
          recs.forEach((r, i) => {
            if (r instanceof PayloadRecord)
              copy.upserts![model]![i] = new PayloadRecord(r.id, r.payload, r.shape);
          });
        }
        report.pages.push(copy);
        this.apply(copy, report);
        if (opts.crashAtSave === saves) throw new CrashError();
        this.checkpoints.set(sync.name, structuredClone(page.checkpoint));
        report.checkpoints.push(structuredClone(page.checkpoint));
      },
      log: (message, data) => {
        report.logs.push(data ? { message, data } : { message });
      },
      options: { ...this.deps.options, ...opts.options },
      now: this.deps.now ?? (() => new Date()),
      download: async (path, o) => {
        report.calls.push(path);
        if (!this.deps.download) throw new Error('MemoryEngine: no download given');
        return this.deps.download(path, o);
      },
      sleep: (ms) => (this.deps.sleep ? this.deps.sleep(ms) : new Promise((r) => setTimeout(r, ms))),
      pause: (resetAt, reason, message) => {
        throw new SyncPaused(resetAt, reason, message);
      },
      instanceKey: this.deps.instanceKey ?? 'memory',
    };
    if (this.deps.post) {
      const post = this.deps.post;
      io.post = async (path, body) => {
        report.calls.push(`POST ${path}`);
        return post(path, body);
      };
    }
    try {
      await sync.run(io);
    } catch (err) {
      if (err instanceof SyncPaused) report.paused = err;
      else report.error = err;
    }
    return report;
  }

  private apply(page: SyncPage, report: RunReport): void {
    for (const [model, recs] of Object.entries(page.upserts ?? {})) {
      const store = this.records.get(model) ?? new Map<string, StoredRecord>();
      this.records.set(model, store);
      for (const item of recs) {
        // A record already serialised (PayloadRecord) is stored as the record its payload holds.
        const rec = item instanceof PayloadRecord ? (item.toJSON() as SyncRecord) : item;
        const old = store.get(rec.id);
        if (!old || old.deleted) push(report.added, model, rec.id);
        else if (stable(old.record) !== stable(rec)) push(report.updated, model, rec.id);
        else push(report.unchanged, model, rec.id);
        const next: StoredRecord = { record: rec, deleted: false };
        if (page.sweep?.models.includes(model)) next.sweep = page.sweep.id;
        else if (old?.sweep !== undefined) next.sweep = old.sweep;
        store.set(rec.id, next);
      }
    }
    for (const [model, ids] of Object.entries(page.deletes ?? {})) {
      const store = this.records.get(model);
      for (const id of ids) {
        push(report.deleteRequests, model, id);
        const s = store?.get(id);
        if (s && !s.deleted) {
          s.deleted = true;
          push(report.deleted, model, id);
        }
      }
    }
    if (page.sweep?.complete) {
      for (const model of page.sweep.models) {
        for (const [id, s] of this.records.get(model) ?? []) {
          if (!s.deleted && s.sweep !== page.sweep.id) {
            s.deleted = true;
            push(report.deleted, model, id);
          }
        }
      }
    }
  }
}
