/**
 * Parses export files on a worker thread (csv-worker.ts), so that the main thread of a bulk sync only
 * downloads, hashes and saves: turning a lead row into its payload text costs about as much as saving
 * it, and the machine has another core.
 *
 * One long-lived worker per process, started on the first file and `unref()`ed. It takes one file at a
 * time: a second file read at the same moment, or any failure to start the worker, is parsed in-thread
 * by csvBatches exactly as before. {@link offloadedBatches} keeps csvBatches' contract: the same batches
 * with the same `bytes`, and the same errors (CsvError with its line, MarketoSyncError with its code).
 *
 * Backpressure: the download is not pulled while {@link MAX_WAITING_BATCHES} batches wait for the caller
 * or {@link offloadLimits}.unparsedBytes of the file wait in the worker. Stopping early (the caller's `return()`, an
 * error) drops the job in the worker; messages of a dropped job are ignored (job ids). A worker that
 * fails ('error', 'exit') fails the file being read with an Error; the next file starts a new worker.
 */
import type { Worker } from 'node:worker_threads';
import { startModuleWorker, startReadyWorker } from '../../worker-module.ts';
import { PayloadRecord, type RecordShape } from '../../record-payload.ts';
import { MarketoSyncError } from '../models/types.ts';
import { csvBatches, CsvError, type CsvBatch } from './csv.ts';
import {
  CSV_WORKER_MARK,
  ITEM_NONE,
  ITEM_PAYLOAD,
  type CsvRecipe,
  type FromWorker,
  type ReaderFactory,
  type ToWorker,
  type WireError,
} from './csv-worker.ts';

/** The server bundle's file name of the worker entry (scripts/build.ts), next to the bundle. */
declare const __CSV_WORKER_FILE__: string | undefined;

/** Off switch: false parses every file in-thread. */
const OFFLOAD = true;
const MAX_WAITING_BATCHES = 2;
/**
 * Bytes of the file the worker may hold unparsed. The caller saves a batch synchronously (SQLite) and
 * the main thread cannot pass the worker more of the download meanwhile: the worker must already hold
 * more than a batch's worth, or it sits idle while the save runs and the save then waits for it. With 4
 * chunks (~256 KB, ~400 leads; a save is ~1,000) both threads waited ~40% of each file; with ~3 MB
 * (48 chunks) a 1M-lead sync measured +8–13% records/s (bench:sync, three runs each) and +20–30 MB of
 * peak RSS (the batches the worker parses from it wait on the main side); 2 MiB kept the rate with
 * 12 MB less. Tests lower it.
 */
export const offloadLimits = { unparsedBytes: 2 * 1024 * 1024 };
/** A worker not ready by then (loading the TypeScript sources takes longest) is given up. */
const READY_TIMEOUT_MS = 20_000;
/**
 * An idle worker ends after this long and gives its memory back; the next file starts a new one (tens
 * of ms from the bundle). Files of one sync follow each other within seconds, so a sync keeps its worker.
 */
export const offloadSettings = { idleMs: 30_000 };

/** A reader factory that may carry the recipe of the same reader for the worker. */
export type RecipeReader<T> = ReaderFactory<T> & { readonly recipe?: CsvRecipe };

/** `factory`, marked as built from `recipe` (so its files may be parsed by the worker). */
export function withRecipe<T>(factory: ReaderFactory<T>, recipe: CsvRecipe): RecipeReader<T> {
  return Object.assign(factory, { recipe });
}

interface JobHandler {
  job: number;
  message(msg: FromWorker): void;
  fail(err: Error): void;
}

class CsvWorker {
  busy = false;
  handler: JobHandler | undefined;
  /** Ends the worker once it sat idle (its heap is ~100 MB after a large file). */
  idleTimer: NodeJS.Timeout | undefined;
  constructor(readonly worker: Worker) {}

  post(msg: ToWorker, transfer?: ArrayBuffer[]): void {
    this.worker.postMessage(msg, transfer);
  }
}

let current: Promise<CsvWorker | undefined> | undefined;
/** The worker `current` resolved to, while it lives. */
let live: CsvWorker | undefined;
/** Set once the worker could not start: the process then parses in-thread. */
let startFailed = false;
let nextJob = 1;

/** Files read so far by the worker and in-thread (tests check which way a file went). */
export const offloadCounts = { worker: 0, inThread: 0, started: 0 };

function spawn(): Worker {
  const bundled = typeof __CSV_WORKER_FILE__ === 'string' ? __CSV_WORKER_FILE__ : undefined;
  offloadCounts.started++;
  return startModuleWorker(bundled, new URL('./csv-worker.ts', import.meta.url), { [CSV_WORKER_MARK]: true });
}

async function start(): Promise<CsvWorker | undefined> {
  const worker = await startReadyWorker(spawn, READY_TIMEOUT_MS);
  if (worker === undefined) {
    startFailed = true;
    current = undefined;
    return undefined;
  }
  const w = new CsvWorker(worker);
  live = w;
  const dead = (err: Error): void => {
    if (live === w) live = current = undefined;
    const handler = w.handler;
    w.handler = undefined;
    handler?.fail(err);
  };
  worker.on('message', (msg: FromWorker) => {
    const handler = w.handler;
    if (handler !== undefined && 'job' in msg && msg.job === handler.job) handler.message(msg);
  });
  worker.on('error', (err) => dead(new Error(`CSV worker failed: ${err.message}`)));
  worker.on('exit', (code) => dead(new Error(`CSV worker stopped (exit code ${code})`)));
  return w;
}

/** The worker if it is free (and now taken), else undefined. */
async function acquire(): Promise<CsvWorker | undefined> {
  if (!OFFLOAD || startFailed) return undefined;
  current ??= start();
  const w = await current;
  if (w === undefined || w.busy) return undefined;
  w.busy = true;
  clearTimeout(w.idleTimer);
  return w;
}

/** The worker is free again: ended if no file comes within `offloadSettings.idleMs`. */
function release(w: CsvWorker): void {
  w.busy = false;
  clearTimeout(w.idleTimer);
  w.idleTimer = setTimeout(() => {
    if (w.busy || live !== w) return;
    live = current = undefined;
    void w.worker.terminate().catch(() => undefined);
  }, offloadSettings.idleMs);
  w.idleTimer.unref();
}

function fromWire(e: WireError): Error {
  let err: Error;
  if (e.type === 'csv') err = new CsvError('', e.line);
  else if (e.type === 'sync') err = new MarketoSyncError(e.code, '', e.path, e.kind);
  else err = new Error('');
  // The message as the worker wrote it (the constructors add to what they are given).
  err.message = e.message;
  return err;
}

/** The batch's items; `shapes` keeps one object per shape for a job's records (compared by reference). */
function itemsOf(msg: Extract<FromWorker, { t: 'batch' }>, shapes: Map<string, RecordShape>): unknown[] {
  const { kinds, ids, payloads, values } = msg;
  let shape: RecordShape | undefined;
  if (msg.shape !== null) {
    shape = shapes.get(msg.shape.hash);
    if (shape === undefined) shapes.set(msg.shape.hash, (shape = msg.shape));
  }
  if (kinds === null) {
    const out = new Array<unknown>(ids.length);
    for (let i = 0; i < ids.length; i++) out[i] = new PayloadRecord(ids[i]!, payloads[i]!, shape);
    return out;
  }
  const out = new Array<unknown>(kinds.length);
  let p = 0;
  let v = 0;
  for (let i = 0; i < kinds.length; i++) {
    const kind = kinds[i];
    if (kind === ITEM_PAYLOAD) {
      out[i] = new PayloadRecord(ids[p]!, payloads[p]!, shape);
      p++;
    } else if (kind === ITEM_NONE) out[i] = undefined;
    else out[i] = values[v++];
  }
  return out;
}

/**
 * csvBatches(source, { batchRows, reader }) with ',' as delimiter, parsed by the worker when it is free
 * (`recipe` builds the same reader there), else in-thread with `reader`.
 */
export async function* offloadedBatches<T>(
  source: AsyncIterable<Uint8Array>,
  options: { batchRows: number; reader: ReaderFactory<T>; recipe: CsvRecipe },
): AsyncGenerator<CsvBatch<T>> {
  const { batchRows, reader, recipe } = options;
  // Bad options throw in csvBatches, as before.
  const w = Number.isSafeInteger(batchRows) && batchRows >= 1 ? await acquire() : undefined;
  if (w === undefined) {
    offloadCounts.inThread++;
    yield* csvBatches<T>(source, { batchRows, reader });
    return;
  }
  offloadCounts.worker++;
  try {
    yield* workerBatches<T>(w, source, recipe, batchRows);
  } finally {
    release(w);
  }
}

async function* workerBatches<T>(
  w: CsvWorker,
  source: AsyncIterable<Uint8Array>,
  recipe: CsvRecipe,
  batchRows: number,
): AsyncGenerator<CsvBatch<T>> {
  const job = nextJob++;
  const ready: CsvBatch<T>[] = [];
  const shapes = new Map<string, RecordShape>();
  let header: string[] = [];
  let sent = 0;
  let parsed = 0;
  /** Sizes of the chunks sent and not yet reported parsed, oldest first; `unparsed` their sum. */
  const inWorker: number[] = [];
  let unparsed = 0;
  let finished = false;
  let stopped = false;
  let workerError: Error | undefined;
  let sourceError: { err: unknown } | undefined;
  let waiters: (() => void)[] = [];
  const notify = (): void => {
    const list = waiters;
    waiters = [];
    for (const f of list) f();
  };
  const changed = (): Promise<void> => new Promise((resolve) => waiters.push(resolve));

  w.handler = {
    job,
    message(msg) {
      switch (msg.t) {
        case 'parsed':
          for (; parsed < msg.chunks; parsed++) unparsed -= inWorker.shift() ?? 0;
          break;
        case 'batch':
          if (msg.header !== undefined) header = msg.header;
          ready.push({ header, rows: itemsOf(msg, shapes) as T[], bytes: msg.bytes });
          break;
        case 'done':
          finished = true;
          break;
        case 'error':
          workerError = fromWire(msg.error);
          break;
        default:
          return;
      }
      notify();
    },
    fail(err) {
      workerError = err;
      notify();
    },
  };
  w.post({ t: 'start', job, recipe, batchRows });

  const it = source[Symbol.asyncIterator]();
  let sourceDone = false;
  /** The pump waits on the download: an early stop must not wait for its next chunk (a stalled one). */
  let pulling = false;
  const pump = async (): Promise<void> => {
    try {
      while (!stopped && workerError === undefined) {
        if (ready.length >= MAX_WAITING_BATCHES || unparsed >= offloadLimits.unparsedBytes) {
          await changed();
          continue;
        }
        pulling = true;
        const r = await it.next();
        pulling = false;
        if (stopped) return;
        if (r.done) {
          sourceDone = true;
          w.post({ t: 'end', job });
          return;
        }
        // A fresh buffer the size of the chunk, moved (not copied again) to the worker.
        const { buffer } = new Uint8Array(r.value);
        // (Counted before the transfer detaches it.)
        inWorker.push(buffer.byteLength);
        unparsed += buffer.byteLength;
        w.post({ t: 'chunk', job, buf: buffer }, [buffer]);
        sent++;
      }
    } catch (err) {
      sourceError = { err };
      notify();
    }
  };
  const pumping = pump();

  try {
    for (;;) {
      const batch = ready.shift();
      if (batch !== undefined) {
        notify();
        yield batch;
        continue;
      }
      if (workerError !== undefined) throw workerError;
      // A download error comes once every chunk before it is parsed, as in-thread.
      if (sourceError !== undefined && parsed === sent) throw sourceError.err;
      if (finished) return;
      await changed();
    }
  } finally {
    stopped = true;
    if (w.handler?.job === job) w.handler = undefined;
    if (!finished) {
      try {
        w.post({ t: 'drop', job });
      } catch {
        // A worker already gone has nothing to drop.
      }
    }
    notify();
    // A pump between chunks ends at once; one waiting on the download ends when the caller closes the
    // download (readExportFile's finally), its chunk then dropped.
    if (!pulling) await pumping;
    // As for-await in csvBatches: a source not read to its end is closed (not awaited while a read is
    // pending: an async generator would only close after it).
    if (!sourceDone && sourceError === undefined) {
      const closing = it.return?.().catch(() => undefined);
      if (!pulling) await closing;
    }
  }
}
