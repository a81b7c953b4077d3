/**
 * The CSV worker thread: parses bulk export files off Tether's main thread (see csv-offload.ts for the
 * main side and the message protocol). A worker cannot receive a reader function, so it gets a
 * serialisable recipe and builds the file's reader with the same code the main thread would use.
 *
 * This module is also imported on the main thread (for the recipe types and {@link recipeReader}); it
 * only listens for jobs inside a worker started with {@link CSV_WORKER_MARK} in its workerData.
 */
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { activityCsvReader } from '../models/activity-records.ts';
import { LeadRowConverter, LeadSchema, type LeadFieldType } from '../models/lead-records.ts';
import { MarketoSyncError } from '../models/types.ts';
import { PayloadRecord, type RecordShape } from '../../record-payload.ts';
import { csvBatches, CsvError, type CsvBatch, type CsvReader } from './csv.ts';

/**
 * What a worker needs to build a file's reader: plain data only (it crosses threads). `activity`: an
 * activity export file (models/activity-records.ts; the reader needs nothing but the file's header).
 */
export type CsvRecipe = { kind: 'lead'; fields: LeadFieldType[] } | { kind: 'activity' };

export type ReaderFactory<T> = (header: readonly string[], delimiter: string) => CsvReader<T>;

/** The reader factory a recipe stands for: the same code in both threads. */
export function recipeReader(recipe: CsvRecipe): ReaderFactory<unknown> {
  switch (recipe.kind) {
    case 'lead': {
      const schema = new LeadSchema(recipe.fields);
      return (header, delimiter) => new LeadRowConverter(header, schema).csvReader(delimiter);
    }
    case 'activity':
      return (header) => activityCsvReader(header);
  }
}

/** workerData marking a CSV worker (so importing this module elsewhere starts nothing). */
export const CSV_WORKER_MARK = 'tetherCsvWorker';

/** Main → worker. */
export type ToWorker =
  | { t: 'start'; job: number; recipe: CsvRecipe; batchRows: number }
  | { t: 'chunk'; job: number; buf: ArrayBuffer }
  | { t: 'end'; job: number }
  | { t: 'drop'; job: number };

/** An error crossing back, enough to rebuild the same class, code and message. */
export type WireError =
  | { type: 'csv'; message: string; line: number }
  | { type: 'sync'; message: string; code: string; path: string; kind: MarketoSyncError['kind'] }
  | { type: 'other'; message: string };

/** Item kinds of a batch when not all are PayloadRecords. */
export const ITEM_PAYLOAD = 0;
export const ITEM_NONE = 1;
export const ITEM_VALUE = 2;

/** Worker → main. */
export type FromWorker =
  | { t: 'ready' }
  /**
   * The parser asks for another chunk: the `chunks` it had are parsed and their batches were posted
   * before this message (the main side's backpressure count, and its barrier after a download error).
   */
  | { t: 'parsed'; job: number; chunks: number }
  | {
      t: 'batch';
      job: number;
      /** Only with the job's first batch (the same array for all its batches). */
      header?: string[];
      bytes: number;
      /** Per item (ITEM_*), or null when every item is a PayloadRecord. */
      kinds: Uint8Array | null;
      /** The shape of the batch's PayloadRecords when they are packed (all share it), else null. */
      shape: RecordShape | null;
      ids: string[];
      payloads: string[];
      /** Items of kind ITEM_VALUE, in order (structured clone). */
      values: unknown[];
    }
  | { t: 'done'; job: number }
  | { t: 'error'; job: number; error: WireError };

export function toWire(err: unknown): WireError {
  if (err instanceof CsvError) return { type: 'csv', message: err.message, line: err.line };
  if (err instanceof MarketoSyncError) {
    return { type: 'sync', message: err.message, code: err.code, path: err.path, kind: err.kind };
  }
  return { type: 'other', message: err instanceof Error ? err.message : String(err) };
}

/** A job's chunks as the parser pulls them. */
class ChunkQueue implements AsyncIterable<Uint8Array> {
  private readonly chunks: Uint8Array[] = [];
  private ended = false;
  private waiting: ((r: IteratorResult<Uint8Array>) => void) | undefined;

  private given = 0;

  constructor(private readonly onAsk: (parsed: number) => void) {}

  push(chunk: Uint8Array): void {
    const waiting = this.waiting;
    if (waiting) {
      this.waiting = undefined;
      this.given++;
      waiting({ done: false, value: chunk });
    } else this.chunks.push(chunk);
  }

  end(): void {
    this.ended = true;
    this.chunks.length = 0;
    const waiting = this.waiting;
    this.waiting = undefined;
    waiting?.({ done: true, value: undefined });
  }

  /** Ends the input after the chunks already queued. */
  finish(): void {
    if (this.chunks.length === 0) this.end();
    else this.ended = true;
  }

  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    return {
      next: () => {
        if (this.given > 0) this.onAsk(this.given);
        const chunk = this.chunks.shift();
        if (chunk !== undefined) {
          this.given++;
          return Promise.resolve({ done: false, value: chunk });
        }
        if (this.ended) return Promise.resolve({ done: true, value: undefined });
        return new Promise((resolve) => (this.waiting = resolve));
      },
    };
  }
}

type BatchMessage = Extract<FromWorker, { t: 'batch' }>;

/** The message carrying one batch to the main side (the header only with the job's first batch). */
export function packBatch(job: number, batch: CsvBatch<unknown>, first: boolean): BatchMessage {
  const rows = batch.rows;
  const ids: string[] = [];
  const payloads: string[] = [];
  const values: unknown[] = [];
  let kinds: Uint8Array | null = null;
  const head = rows.find((item) => item instanceof PayloadRecord);
  const shape = head?.shape ?? null;
  for (let i = 0; i < rows.length; i++) {
    const item = rows[i];
    // PayloadRecord by shape: its class does not cross threads, its strings do. One of another shape
    // than the batch's (no reader makes such a mix) crosses as the object it holds.
    if (item instanceof PayloadRecord && (item.shape ?? null) === shape) {
      ids.push(item.id);
      payloads.push(item.payload);
      continue;
    }
    if (kinds === null) kinds = new Uint8Array(rows.length);
    if (item === undefined) kinds[i] = ITEM_NONE;
    else {
      kinds[i] = ITEM_VALUE;
      values.push(item instanceof PayloadRecord ? item.toJSON() : item);
    }
  }
  return first
    ? { t: 'batch', job, header: batch.header, bytes: batch.bytes, kinds, shape, ids, payloads, values }
    : { t: 'batch', job, bytes: batch.bytes, kinds, shape, ids, payloads, values };
}

function listen(port: NonNullable<typeof parentPort>): void {
  const jobs = new Map<number, ChunkQueue>();
  const post = (msg: FromWorker, transfer?: ArrayBuffer[]): void => port.postMessage(msg, transfer);

  async function run(job: number, recipe: CsvRecipe, batchRows: number, queue: ChunkQueue): Promise<void> {
    try {
      const reader = recipeReader(recipe);
      let first = true;
      for await (const batch of csvBatches<unknown>(queue, { batchRows, reader })) {
        if (!jobs.has(job)) return;
        post(packBatch(job, batch, first));
        first = false;
      }
      if (jobs.has(job)) post({ t: 'done', job });
    } catch (err) {
      if (jobs.has(job)) post({ t: 'error', job, error: toWire(err) });
    } finally {
      jobs.delete(job);
    }
  }

  port.on('message', (msg: ToWorker) => {
    switch (msg.t) {
      case 'start': {
        const queue = new ChunkQueue((chunks) => post({ t: 'parsed', job: msg.job, chunks }));
        jobs.set(msg.job, queue);
        void run(msg.job, msg.recipe, msg.batchRows, queue);
        break;
      }
      case 'chunk':
        jobs.get(msg.job)?.push(new Uint8Array(msg.buf));
        break;
      case 'end':
        jobs.get(msg.job)?.finish();
        break;
      case 'drop': {
        const queue = jobs.get(msg.job);
        jobs.delete(msg.job);
        queue?.end();
        break;
      }
    }
  });
  post({ t: 'ready' });
}

const data: unknown = workerData;
if (!isMainThread && parentPort && typeof data === 'object' && data !== null && CSV_WORKER_MARK in data) {
  listen(parentPort);
}
