/**
 * Export files are written on a thread of their own (file-worker.ts), as Marketo makes them on other
 * machines than those that serve the API and the downloads.
 *
 * Why: made on the main thread, a file took its slices of the event loop from everything else. While
 * two jobs were being processed, a download of a finished file advanced by one 256 KB read per loop
 * turn between slices of generation, ~10 MB/s, and a client reading exports as they complete waited on
 * the sandbox rather than on its own work (bench:sync: Tether's threads ~35% busy for the first two
 * seconds). Now the main thread only walks the rows (a lead the API never touched is just its id,
 * which the file thread turns into its line) and sends them in parts of about {@link PART_BYTES}, at
 * most {@link MAX_PARTS_IN_FLIGHT} ahead of the writer.
 *
 * One thread per process, started with the first job (the standalone sandbox starts it at launch:
 * {@link prepareFileThread}) and `unref()`ed while no job runs. It makes the files one after the other
 * in the order their jobs began (file-worker.ts). Should it fail to start, files are written on the
 * main thread as before ({@link writeExportFile}); should it stop, the jobs it was writing fail and the
 * next job starts a new one.
 */
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type { Worker } from 'node:worker_threads';
import { startModuleWorker, startReadyWorker } from '../../worker-module.ts';
import { writeExportFile, type RowSource, type WrittenFile } from './csv.ts';
import { FILE_WORKER_MARK, type FilePart, type FromFileWorker, type ToFileWorker } from './file-worker.ts';
import { LeadBatch, type GeneratedLines } from './rows.ts';

/** The server bundle's file name of the thread's entry (scripts/build.ts), next to the bundle. */
declare const __SANDBOX_FILE_WORKER__: string | undefined;

/** Bytes of file (estimated) per message to the thread. */
const PART_BYTES = 512 * 1024;
/** A generated lead's line, for that estimate (every field: ~620 bytes; the estimate only paces). */
const GENERATED_LINE_BYTES = 512;
const MAX_PARTS_IN_FLIGHT = 4;
/** Longest stretch of synchronous row walking before other requests get a turn. */
const SLICE_MS = 8;
const READY_TIMEOUT_MS = 30_000;
/**
 * The thread's CPU priority (nice value, Linux). Marketo makes files on machines of its own; here they
 * share the cores with the API the sandbox serves and, on a developer's machine or in bench:sync, with
 * the client reading the files. At a lower priority the files are made with the CPU time others leave.
 */
const FILE_THREAD_NICE = 10;

/** Whether jobs go to the file thread (tests compare both ways); the thread is started on demand. */
let enabled = true;

export function useFileThread(on: boolean): void {
  enabled = on;
}

/** Files written by the thread and on the main thread (tests check which way a file went). */
export const fileThreadCounts = { thread: 0, inThread: 0 };

interface JobHandle {
  acked: number;
  wake: (() => void) | undefined;
  settle: (result: { written?: WrittenFile; error?: Error }) => void;
}

class FileThread {
  private readonly jobs = new Map<number, JobHandle>();
  private nextJob = 1;
  private dead = false;

  constructor(
    private readonly worker: Worker,
    private readonly onDead: () => void,
  ) {
    // Its 'ready' was taken by startReadyWorker: only job messages come here.
    worker.on('message', (msg: Exclude<FromFileWorker, { t: 'ready' }>) => {
      const h = this.jobs.get(msg.job);
      if (h === undefined) return;
      if (msg.t === 'ack') {
        h.acked++;
      } else {
        this.jobs.delete(msg.job);
        if (this.jobs.size === 0) this.worker.unref();
        h.settle(msg.t === 'done' ? { written: msg.written } : { error: new Error(msg.message) });
      }
      const wake = h.wake;
      h.wake = undefined;
      wake?.();
    });
  }

  /** The thread stopped ('error', then 'exit'): every job it held fails. */
  die(err: Error): void {
    if (this.dead) return;
    this.dead = true;
    this.onDead();
    for (const h of this.jobs.values()) {
      h.settle({ error: err });
      h.wake?.();
    }
    this.jobs.clear();
  }

  terminate(): Promise<number> {
    return this.worker.terminate();
  }

  private post(msg: ToFileWorker): void {
    this.worker.postMessage(msg);
  }

  async write(
    path: string,
    header: string,
    rows: RowSource,
    stopped: () => boolean,
  ): Promise<WrittenFile | undefined> {
    const job = this.nextJob++;
    let result: { written?: WrittenFile; error?: Error } | undefined;
    const h: JobHandle = {
      acked: 0,
      wake: undefined,
      settle: (r) => {
        result ??= r;
      },
    };
    this.jobs.set(job, h);
    this.worker.ref();
    this.post({ t: 'open', job, path, header });

    /** Waits for the thread to answer (an ack or the job's end). */
    const answer = () => new Promise<void>((resolve) => (h.wake = resolve));
    const sources = new Map<GeneratedLines, number>();
    let sent = 0;
    let parts: FilePart[] = [];
    let text = '';
    let textRecords = 0;
    let ids: number[] = [];
    let idsLines = -1;
    let bytes = 0;
    let ended = false;
    const cutText = () => {
      if (textRecords === 0) return;
      parts.push({ text, records: textRecords });
      text = '';
      textRecords = 0;
    };
    const cutIds = () => {
      if (ids.length === 0) return;
      parts.push({ lines: idsLines, ids: Float64Array.from(ids) });
      ids = [];
    };
    /** Sends what was gathered; false when the job ended meanwhile (stopped, or the thread failed). */
    const send = async (): Promise<boolean> => {
      cutText();
      cutIds();
      if (parts.length > 0) {
        this.post({ t: 'rows', job, parts });
        sent++;
        parts = [];
        bytes = 0;
      }
      while (result === undefined && sent - h.acked >= MAX_PARTS_IN_FLIGHT && !stopped()) await answer();
      return result === undefined && !stopped();
    };

    try {
      let sliceStart = performance.now();
      let seen = 0;
      for (const row of rows) {
        if (typeof row === 'string') {
          cutIds();
          text += row;
          textRecords++;
          bytes += row.length;
        } else if (row !== undefined) {
          if (!(row instanceof LeadBatch) || row.source === undefined) {
            throw new Error('sandbox: export rows the file thread cannot take');
          }
          const lines = row.source;
          cutText();
          let index = sources.get(lines);
          if (index === undefined) {
            index = sources.size;
            sources.set(lines, index);
            this.post({ t: 'lines', job, index, lines });
          }
          if (index !== idsLines) cutIds();
          idsLines = index;
          for (let i = 0; i < row.records; i++) ids.push(row.ids[i]!);
          bytes += row.records * GENERATED_LINE_BYTES;
        }
        if (bytes >= PART_BYTES) {
          if (!(await send())) break;
          sliceStart = performance.now();
        } else if ((++seen & 1023) === 0 && performance.now() - sliceStart > SLICE_MS) {
          await yieldToLoop();
          if (stopped() || result !== undefined) break;
          sliceStart = performance.now();
        }
      }
      if (result === undefined && !stopped() && (await send())) {
        this.post({ t: 'end', job });
        ended = true;
      }
    } finally {
      // Stopped, or the walk threw: the thread drops the job (and answers done).
      if (result === undefined && !ended) this.post({ t: 'cancel', job });
    }
    while (result === undefined) await answer();
    if (result.error) throw result.error;
    return stopped() ? undefined : result.written;
  }
}

let current: Promise<FileThread | undefined> | undefined;
/** Set once the thread could not start: the process then writes files on the main thread. */
let startFailed = false;

function spawn(): Worker {
  const bundled = typeof __SANDBOX_FILE_WORKER__ === 'string' ? __SANDBOX_FILE_WORKER__ : undefined;
  const workerData = { [FILE_WORKER_MARK]: true, nice: FILE_THREAD_NICE };
  return startModuleWorker(bundled, new URL('./file-worker.ts', import.meta.url), workerData);
}

async function start(): Promise<FileThread | undefined> {
  const worker = await startReadyWorker(spawn, READY_TIMEOUT_MS);
  if (worker === undefined) {
    startFailed = true;
    current = undefined;
    return undefined;
  }
  const thread = new FileThread(worker, () => {
    current = undefined;
  });
  worker.on('error', (err) => thread.die(new Error(`sandbox file thread failed: ${err.message}`)));
  worker.on('exit', (code) => thread.die(new Error(`sandbox file thread stopped (exit code ${code})`)));
  return thread;
}

/** Stops the thread (tests: a thread that dies in the middle of a job); the next job starts another. */
export async function stopFileThread(): Promise<void> {
  const thread = await current;
  await thread?.terminate();
}

/**
 * Starts the thread now rather than with the first job (the standalone sandbox: its first file is then
 * not late by the thread's start, ~0.3 s through tsx). Resolves once it is ready or could not start.
 */
export async function prepareFileThread(): Promise<void> {
  if (!enabled || startFailed) return;
  current ??= start();
  await current;
}

/**
 * {@link writeExportFile}'s contract, the file written on the file thread: the same bytes, figures and
 * checksum; undefined when `stopped()` turned true midway (the caller deletes the partial file).
 */
export async function writeExportFileOffThread(
  path: string,
  header: string,
  rows: RowSource,
  stopped: () => boolean,
): Promise<WrittenFile | undefined> {
  let thread: FileThread | undefined;
  if (enabled && !startFailed) {
    current ??= start();
    thread = await current;
  }
  if (thread === undefined) {
    fileThreadCounts.inThread++;
    return writeExportFile(path, header, rows, stopped);
  }
  fileThreadCounts.thread++;
  return thread.write(path, header, rows, stopped);
}
