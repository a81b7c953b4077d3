/**
 * Shared by the bulk export tests: a sync model that drives a {@link BulkExporter} the way the Lead and
 * Activity syncs do (state in the checkpoint, one save per batch), an I/O wrapper that traces calls and
 * lets a test play Marketo's network (rewrite a job list, corrupt a download, stop a sleep), and reads of
 * the sandbox to compare with.
 */
import type { Harness } from '../models/test-helpers.ts';
import type { DownloadResponse, SyncIO, SyncModelDef } from '../models/types.ts';
import {
  BulkExporter,
  type ExportBatch,
  type ExportOptions,
  type ExportPlan,
  type ExportState,
  type ExportWindow,
} from './exports.ts';

export const DAY_MS = 86_400_000;

/** What a test may fake of Marketo's network, around the real sandbox calls. */
export interface Fakes {
  /** Rewrite a GET's parsed body (e.g. a job list). */
  get?(path: string, body: unknown): unknown;
  /** Before a POST is sent: throw to make it fail; after: rewrite or throw. */
  beforePost?(path: string, body: unknown): void | Promise<void>;
  afterPost?(path: string, body: unknown, result: unknown): unknown | Promise<unknown>;
  download?(path: string, res: DownloadResponse): DownloadResponse;
  sleep?(ms: number, real: (ms: number) => Promise<void>): Promise<void>;
}

/** Every call and persist, in order: `GET path`, `POST path`, `POST path -> 1029`, `persist ids`. */
export function traced(io: SyncIO, events: string[], fakes: Fakes = {}): SyncIO {
  const post = io.post;
  const wrapped: SyncIO = {
    ...io,
    get: async (path) => {
      events.push(`GET ${path}`);
      const body = await io.get(path);
      return fakes.get ? fakes.get(path, body) : body;
    },
    download: async (path, opts) => {
      events.push(`FILE ${path}`);
      const res = await io.download(path, opts);
      return fakes.download ? fakes.download(path, res) : res;
    },
    sleep: (ms) => (fakes.sleep ? fakes.sleep(ms, (m) => io.sleep(m)) : io.sleep(ms)),
    pause: (resetAt, reason, message) => io.pause(resetAt, reason, message),
    log: (message, data) => io.log(message, data),
    now: () => io.now(),
    save: (page) => io.save(page),
  };
  if (post) {
    wrapped.post = async (path, body) => {
      await fakes.beforePost?.(path, body);
      events.push(`POST ${path}`);
      let result = await post(path, body);
      const errors = (result as { errors?: { code?: string }[] }).errors;
      if (errors?.[0]?.code) events.push(`POST ${path} -> ${errors[0].code}`);
      if (fakes.afterPost) result = await fakes.afterPost(path, body, result);
      return result;
    };
  }
  return wrapped;
}

/** Rows as a test sees them: the id column and the batch they came in. */
export interface Collected {
  ids: string[];
  batches: ExportBatch[];
  exporter?: BulkExporter;
}

export interface ExportSyncConfig {
  name?: string;
  plan: ExportPlan;
  windows: ExportWindow[];
  options?: ExportOptions;
  fakes?: Fakes;
  events?: string[];
  out?: Collected;
  /** Column holding the record id (default 'id'). */
  idColumn?: string;
  /** Called after each batch is saved (throw to simulate a crash there). */
  afterBatch?(batch: ExportBatch, n: number): void | Promise<void>;
  /** Instead of reading batches: what the test does with the exporter. */
  drive?(exporter: BulkExporter, io: SyncIO): Promise<void>;
}

/** A sync model running one export plan from its checkpoint (`{export: ExportState}`). */
export function exportSync(cfg: ExportSyncConfig): SyncModelDef {
  const events = cfg.events ?? [];
  const out = cfg.out ?? { ids: [], batches: [] };
  return {
    name: cfg.name ?? 'bulk-export-test',
    models: ['Row'],
    mode: 'incremental',
    defaultFrequencySeconds: 3600,
    description: 'test driver of BulkExporter',
    async run(engineIo) {
      const io = traced(engineIo, events, cfg.fakes);
      const saved = io.checkpoint?.export as ExportState | undefined;
      const state: ExportState = saved ?? { jobs: [], pending: cfg.windows };
      const exporter = new BulkExporter(
        io,
        cfg.plan,
        state,
        async (s) => {
          events.push(`persist ${s.jobs.map((j) => `${j.exportId}:${j.status}`).join(',')}`);
          await io.save({ checkpoint: { export: s } });
        },
        cfg.options,
      );
      out.exporter = exporter;
      if (cfg.drive) return cfg.drive(exporter, io);
      let n = 0;
      for await (const batch of exporter.batches()) {
        const col = batch.header.indexOf(cfg.idColumn ?? 'id');
        const rows = batch.rows.map((r) => ({
          id: String(r[col]),
          ...Object.fromEntries(batch.header.map((h, i) => [h, r[i]])),
        }));
        out.ids.push(...rows.map((r) => r.id));
        out.batches.push({ ...batch, rows: [] });
        await io.save({ upserts: { Row: rows }, checkpoint: { export: exporter.state() } });
        await cfg.afterBatch?.(batch, ++n);
      }
    },
  };
}

/** Ids (as strings) of the sandbox's leads created in [from, to), ascending: the truth to compare with. */
export function leadIdsCreated(h: Harness, from: number, to: number): string[] {
  const inst = h.sb.sandbox.instances.get(h.sb.munchkinId);
  if (!inst) throw new Error('no sandbox instance');
  return [...inst.leads.ids({ createdAt: { from, to } })].map(String);
}

export interface BulkStats {
  jobs: Record<string, number>;
  processing: number;
  queued: number;
  bytesExportedToday: number;
}

export async function bulkStats(h: Harness): Promise<BulkStats> {
  const { body } = await h.sb.control<{ bulk: BulkStats }>('GET', `/instances/${h.sb.munchkinId}/counters`);
  return body.bulk;
}

export function totalJobs(stats: BulkStats): number {
  return Object.values(stats.jobs).reduce((a, b) => a + b, 0);
}

export async function sandboxSettings(
  h: Harness,
  patch: { settings?: Record<string, unknown>; limits?: Record<string, unknown> },
): Promise<void> {
  const res = await h.sb.control('PATCH', `/instances/${h.sb.munchkinId}`, patch);
  if (res.status !== 200) throw new Error(`PATCH instance: ${JSON.stringify(res.body)}`);
}

/** Moves the sandbox clock (and the harness's) just past the next midnight America/Chicago. */
export async function pastChicagoMidnight(h: Harness, next: (ms: number) => number): Promise<void> {
  const now = h.now().getTime();
  await h.advance(Math.ceil((next(now) - now) / 1000) + 60);
}

/**
 * Downloads whose first data row has one byte changed (`times` downloads, then real bytes): a letter
 * moved to the next one (`'letter'`: the CSV still parses), or the first comma made a letter
 * (`'comma'`: the row has a cell too few, the parser stops).
 */
export function corruptDownloads(times: number, what: 'letter' | 'comma' = 'letter'): Fakes['download'] {
  let left = times;
  const hit = (c: number) => (what === 'comma' ? c === 44 : c >= 97 && c <= 122);
  return (_path, res) => {
    if (res.status !== 200 || left <= 0) return res;
    left--;
    const body = res.body;
    let done = false;
    return {
      ...res,
      body: (async function* () {
        for await (const chunk of body) {
          if (done) {
            yield chunk;
            continue;
          }
          const copy = Uint8Array.from(chunk);
          const nl = copy.indexOf(10);
          for (let i = nl + 1; nl >= 0 && i < copy.length; i++) {
            const c = copy[i]!;
            if (hit(c)) {
              copy[i] = c === 122 ? 97 : c === 44 ? 120 : c + 1;
              done = true;
              break;
            }
          }
          yield copy;
        }
      })(),
    };
  };
}

/** Rewrites job-list and status bodies: `edit(job)` returns the job as the fake Marketo reports it. */
export function rewriteJobs(
  edit: (job: Record<string, unknown>) => Record<string, unknown>,
): NonNullable<Fakes['get']> {
  return (path, body) => {
    if (!/\/export(\.json|\/[^/]+\/status\.json)/.test(path)) return body;
    const b = body as { result?: Record<string, unknown>[] };
    if (!Array.isArray(b.result)) return body;
    return { ...b, result: b.result.map((j) => edit({ ...j })) };
  };
}

/** Export ids in create order, from a trace's create responses (the fakes see them). */
export function createdIds(): { ids: string[]; afterPost: NonNullable<Fakes['afterPost']> } {
  const ids: string[] = [];
  return {
    ids,
    afterPost: (path, _body, result) => {
      if (path.endsWith('/create.json')) {
        const id = (result as { result?: { exportId?: string }[] }).result?.[0]?.exportId;
        if (id) ids.push(id);
      }
      return result;
    },
  };
}
