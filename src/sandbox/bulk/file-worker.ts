/**
 * The sandbox's file thread (started by file-thread.ts): writes export files from the rows the main
 * thread sends. Text parts are lines the main thread encoded (leads the API wrote, activities, custom
 * objects); id parts are untouched generated leads, whose lines this thread makes from the seed, the
 * fields and the delimiter (the same bytes the main thread's generator would write: see rows.ts).
 *
 * Importing this module elsewhere starts nothing: it listens only inside a worker started with
 * {@link FILE_WORKER_MARK} in its workerData.
 */
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { isMainThread, parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { ExportFileWriter, type WrittenFile } from './csv.ts';
import { BATCH_LEADS, LeadBatch, type GeneratedLines } from './rows.ts';

/** workerData marking the file thread. */
export const FILE_WORKER_MARK = 'tetherSandboxFileWorker';

/** Lines the main thread encoded (`records` of them), or untouched leads by id. */
export type FilePart = { text: string; records: number } | { lines: number; ids: Float64Array };

export type ToFileWorker =
  | { t: 'open'; job: number; path: string; header: string }
  /** What the id parts of the job's later `rows` with index `index` are made from. */
  | { t: 'lines'; job: number; index: number; lines: GeneratedLines }
  | { t: 'rows'; job: number; parts: FilePart[] }
  | { t: 'end'; job: number }
  | { t: 'cancel'; job: number };

export type FromFileWorker =
  | { t: 'ready' }
  /** One `rows` message written (the main thread sends more as these come back). */
  | { t: 'ack'; job: number }
  /** The file is complete (`written`), or was cancelled (no `written`). */
  | { t: 'done'; job: number; written?: WrittenFile }
  | { t: 'failed'; job: number; message: string };

interface Job {
  /** Messages not handled yet (see `order` in listen). */
  queue: ToFileWorker[];
  file: ExportFileWriter | undefined;
  lines: GeneratedLines[];
  batch: LeadBatch;
  cancelled: boolean;
  /** Set once the job answered done or failed. */
  over: boolean;
}

async function writeParts(job: Job, parts: FilePart[]): Promise<void> {
  const file = job.file!;
  const batch = job.batch;
  for (const part of parts) {
    if (job.cancelled) return;
    if ('text' in part) {
      if (!file.put(part.text, part.records)) await file.flushWith(part.text, part.records);
      continue;
    }
    const lines = job.lines[part.lines]!;
    batch.use(lines);
    const { ids } = part;
    for (let i = 0; i < ids.length; i += BATCH_LEADS) {
      const n = Math.min(BATCH_LEADS, ids.length - i);
      for (let k = 0; k < n; k++) batch.ids[k] = ids[i + k]!;
      batch.records = n;
      if (!file.put(batch)) {
        await file.flushWith(batch);
        if (job.cancelled) return;
      }
    }
  }
}

/**
 * Lowers this thread's CPU priority (Linux: setpriority on a thread id changes that thread only;
 * elsewhere nothing changes). See FILE_THREAD_NICE in file-thread.ts.
 */
function lowerPriority(nice: number): void {
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    setPriority(tid, nice);
  } catch {
    // No /proc/thread-self: not Linux.
  }
}

function listen(port: MessagePort): void {
  const jobs = new Map<number, Job>();
  /**
   * Jobs in the order they were opened. Files are made one after the other: the head job's messages run
   * one at a time (writes are asynchronous) until it ends, while later jobs' messages wait in their
   * queues (their walks on the main thread stop at MAX_PARTS_IN_FLIGHT). So the first of two jobs
   * processing at once is ready in half the time; both still show as processing (exports.ts), as on
   * Marketo.
   */
  const order: number[] = [];
  let pumping = false;
  const send = (msg: FromFileWorker) => port.postMessage(msg);

  const finish = async (id: number, job: Job, answer: FromFileWorker) => {
    job.over = true;
    try {
      await job.file?.close();
    } catch {
      // The answer below says what happened to the file; a failed close changes nothing for it.
    }
    send(answer);
  };

  const handle = async (id: number, job: Job, msg: ToFileWorker): Promise<void> => {
    switch (msg.t) {
      case 'open':
        job.file = await ExportFileWriter.open(msg.path, msg.header);
        return;
      case 'lines':
        job.lines[msg.index] = msg.lines;
        return;
      case 'rows':
        await writeParts(job, msg.parts);
        if (!job.cancelled) send({ t: 'ack', job: id });
        return;
      case 'end':
        if (job.cancelled) return;
        await finish(id, job, { t: 'done', job: id, written: await job.file!.finish() });
        return;
      case 'cancel':
        await finish(id, job, { t: 'done', job: id });
        return;
    }
  };

  const pump = async (): Promise<void> => {
    if (pumping) return;
    pumping = true;
    try {
      while (order.length > 0) {
        const id = order[0]!;
        const job = jobs.get(id)!;
        const msg = job.queue.shift();
        // The head job's next message has not come yet: its arrival pumps again.
        if (msg === undefined) break;
        try {
          await handle(id, job, msg);
        } catch (err) {
          if (!job.over) await finish(id, job, { t: 'failed', job: id, message: errorText(err) });
        }
        if (job.over) {
          order.shift();
          jobs.delete(id);
        }
      }
    } finally {
      pumping = false;
    }
  };

  port.on('message', (msg: ToFileWorker) => {
    let job = jobs.get(msg.job);
    if (msg.t === 'open') {
      job = { queue: [], file: undefined, lines: [], batch: new LeadBatch(), cancelled: false, over: false };
      jobs.set(msg.job, job);
      order.push(msg.job);
    }
    if (job === undefined) return;
    if (msg.t === 'cancel') {
      job.cancelled = true;
      if (order[0] !== msg.job) {
        // Not begun (no file yet): answered at once, not after the files before it.
        order.splice(order.indexOf(msg.job), 1);
        jobs.delete(msg.job);
        job.over = true;
        send({ t: 'done', job: msg.job });
        return;
      }
    }
    job.queue.push(msg);
    void pump();
  });
  send({ t: 'ready' });
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

const data: unknown = workerData;
if (!isMainThread && parentPort && typeof data === 'object' && data !== null && FILE_WORKER_MARK in data) {
  const nice = (data as { nice?: unknown }).nice;
  if (typeof nice === 'number' && nice > 0) lowerPriority(nice);
  listen(parentPort);
}
