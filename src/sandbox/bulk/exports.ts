import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmdirSync, rmSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Instance } from '../core/instance.ts';
import { chicagoDay } from '../core/clock.ts';
import { MarketoError } from '../core/envelope.ts';
import { RowEncoder } from './csv.ts';
import { writeExportFileOffThread } from './file-thread.ts';
import { FINAL_STATUSES, formatMb, JOB_STATUSES, jobView, type ExportJob, type JobStatus } from './jobs.ts';
import type { ExportKind, ExportSpec } from './requests.ts';
import { exportRows } from './rows.ts';

const DAY_MS = 86_400_000;
/** Marketo keeps files 7 days, job status 30 days, and lists jobs of the last 7 days. */
const FILE_RETENTION_MS = 7 * DAY_MS;
const JOB_RETENTION_MS = 30 * DAY_MS;
const LIST_WINDOW_MS = 7 * DAY_MS;

let processDir: string | undefined;
let dirSeq = 0;
let exitHook = false;

/** One temp directory per sandbox process; it goes when its last instance resets or at exit. */
function sandboxTempDir(): string {
  if (processDir === undefined) {
    processDir = mkdtempSync(join(tmpdir(), 'tether-sandbox-bulk-'));
    if (!exitHook) {
      exitHook = true;
      process.once('exit', () => {
        if (processDir === undefined) return;
        try {
          rmSync(processDir, { recursive: true, force: true, maxRetries: 3 });
        } catch {
          // A file still being made (the file thread stops with the process): left to the OS's tmp.
        }
      });
    }
  }
  return processDir;
}

/** Delete an instance's directory, and the process directory once no instance uses it. */
function removeInstanceDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  if (processDir === undefined) return;
  try {
    rmdirSync(processDir);
    processDir = undefined;
  } catch {
    // Other instances still hold files there.
  }
}

/** Directories of resets waiting for their files' writers to let go ({@link BulkExports.reset}). */
const removals = new Set<Promise<void>>();

/** Resolves once the directories of earlier resets are removed (the sandbox's close waits for it). */
export async function exportFilesRemoved(): Promise<void> {
  await Promise.all(removals);
}

function unlinkQuiet(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // Already gone (reset removed the directory, or expiry raced a cancel).
  }
}

/**
 * Bulk extract jobs of one instance: the job store, the queue shared by lead and activity exports,
 * the processing slots, the daily volume quota and the files on disk.
 */
export class BulkExports {
  private readonly jobs = new Map<string, ExportJob>();
  /** Queued jobs in enqueue order. */
  private queue: ExportJob[] = [];
  private readonly processing = new Set<ExportJob>();
  private seq = 0;
  /** Most jobs ever queued or processing at once (tests check a client's cap from Marketo's side). */
  private peakActive = 0;
  /** Bytes of jobs completed on the Central-time day `day`. */
  private used = { day: '', bytes: 0 };
  private dir: string | undefined;
  /** Files being made, each settled once its writer let go of the file (done, failed or stopped). */
  private readonly writing = new Set<Promise<void>>();

  constructor(readonly inst: Instance) {}

  /**
   * Cancel timers and delete files (instance deleted or reseeded, sandbox closing). A file being made
   * may still be opened by its writer (the file thread works through its jobs on its own), which would
   * put it back into a directory being removed: the directory goes once those writers let go
   * ({@link exportFilesRemoved}).
   */
  reset(): void {
    for (const job of this.jobs.values()) {
      if (job.run) job.run.stopped = true;
      if (job.timer) clearTimeout(job.timer);
    }
    this.jobs.clear();
    this.queue = [];
    this.processing.clear();
    this.peakActive = 0;
    this.used = { day: '', bytes: 0 };
    const dir = this.dir;
    this.dir = undefined;
    if (dir === undefined) return;
    if (this.writing.size === 0) {
      removeInstanceDir(dir);
      return;
    }
    const removal = Promise.all(this.writing)
      .then(() => removeInstanceDir(dir))
      .catch((err: unknown) => console.error('sandbox: removing bulk export files failed', err))
      .finally(() => removals.delete(removal));
    removals.add(removal);
  }

  /**
   * Advance job states to the instance clock: finish jobs whose processing time is over, start
   * queued jobs in free slots, expire old files and jobs. Called after the clock moved, by timers,
   * and before every read so a status never lags the clock.
   */
  tick(): void {
    const now = this.inst.clock.now();
    this.expire(now);
    for (const job of this.processing) {
      if (!job.written) continue;
      const readyAt = job.startedAt! + this.inst.settings.bulkProcessingMs;
      if (now >= readyAt) this.complete(job, now);
      else if (!job.timer) this.arm(job, readyAt - now);
    }
    this.startQueued(now);
  }

  /** The directory of this instance's files, if one was made (tests check it goes with a reset). */
  get filesDirectory(): string | undefined {
    return this.dir;
  }

  /** Figures for the control API's counters. */
  stats(): Record<string, unknown> {
    const byStatus = Object.fromEntries(JOB_STATUSES.map((s) => [s, 0])) as Record<JobStatus, number>;
    let files = 0;
    for (const job of this.jobs.values()) {
      byStatus[job.status]++;
      if (job.file !== undefined) files++;
    }
    return {
      jobs: byStatus,
      processing: this.processing.size,
      queued: this.queue.length,
      peakQueuedOrProcessing: this.peakActive,
      bytesExportedToday: this.bytesToday(this.inst.clock.now()),
      files,
    };
  }

  create(owner: string, spec: ExportSpec): ExportJob {
    const job: ExportJob = {
      id: randomUUID(),
      seq: ++this.seq,
      kind: spec.kind,
      owner,
      spec,
      format: spec.format,
      status: 'Created',
      createdAt: this.inst.clock.now(),
    };
    this.jobs.set(job.id, job);
    return job;
  }

  /** A job its owner may see (jobs of other API users do not exist for the caller). */
  find(owner: string, kind: ExportKind, id: string): ExportJob | undefined {
    this.tick();
    const job = this.jobs.get(id);
    return job && job.owner === owner && job.kind === kind ? job : undefined;
  }

  /** The caller's jobs of one kind from the last 7 days, oldest first. */
  list(owner: string, kind: ExportKind, statuses: ReadonlySet<JobStatus> | undefined): ExportJob[] {
    this.tick();
    const since = this.inst.clock.now() - LIST_WINDOW_MS;
    const out: ExportJob[] = [];
    for (const job of this.jobs.values()) {
      if (job.owner !== owner || job.kind !== kind || job.createdAt < since) continue;
      if (statuses && !statuses.has(job.status)) continue;
      out.push(job);
    }
    return out;
  }

  /** Move a Created job to the queue; returns its view as of the enqueue (before it may start). */
  enqueue(job: ExportJob): Record<string, unknown> {
    const now = this.inst.clock.now();
    if (job.status !== 'Created') throw new MarketoError('1029', 'Job already queued');
    const limits = this.inst.limits.bulk;
    if (limits.enabled) {
      if (this.bytesToday(now) >= limits.dailyBytes) {
        throw new MarketoError('1029', `Export daily quota ${formatMb(limits.dailyBytes)}MB exceeded.`);
      }
      if (this.queue.length + this.processing.size >= limits.maxQueued) {
        throw new MarketoError('1029', 'Too many jobs in queue');
      }
    }
    job.status = 'Queued';
    job.queuedAt = now;
    this.queue.push(job);
    this.peakActive = Math.max(this.peakActive, this.queue.length + this.processing.size);
    const view = jobView(job);
    this.startQueued(now);
    return view;
  }

  /** Cancel a job that has not finished; a finished job is returned unchanged. */
  cancel(job: ExportJob): Record<string, unknown> {
    if (FINAL_STATUSES.has(job.status)) return jobView(job);
    if (job.status === 'Queued') this.queue = this.queue.filter((j) => j !== job);
    if (job.status === 'Processing') {
      this.processing.delete(job);
      this.stopRun(job);
      if (job.file !== undefined) unlinkQuiet(job.file);
      job.file = undefined;
      job.written = undefined;
    }
    job.status = 'Cancelled';
    const view = jobView(job);
    this.startQueued(this.inst.clock.now());
    return view;
  }

  /** The finished file of a Completed job, while it is retained. */
  fileOf(job: ExportJob): { path: string; size: number } | undefined {
    if (job.status !== 'Completed' || job.file === undefined) return undefined;
    return { path: job.file, size: job.fileSize ?? 0 };
  }

  /** Bytes of export files served to clients. */
  countServed(bytes: number): void {
    this.inst.counters.bytesExported += bytes;
  }

  private bytesToday(now: number): number {
    return this.used.day === chicagoDay(now) ? this.used.bytes : 0;
  }

  private directory(): string {
    if (this.dir === undefined) {
      const dir = join(sandboxTempDir(), `${this.inst.munchkinId}-${++dirSeq}`);
      mkdirSync(dir, { recursive: true });
      this.dir = dir;
    }
    return this.dir;
  }

  private startQueued(now: number): void {
    const slots = this.inst.limits.bulk.maxProcessing;
    while (this.processing.size < slots && this.queue.length > 0) this.start(this.queue.shift()!, now);
  }

  /** Begin Processing: generate the file in the background, in small slices. */
  private start(job: ExportJob, now: number): void {
    job.status = 'Processing';
    job.startedAt = now;
    this.processing.add(job);
    let path: string;
    try {
      path = join(this.directory(), `${job.id}.${job.format.toLowerCase()}`);
    } catch (err) {
      this.fail(job, err);
      return;
    }
    const run = { stopped: false, path };
    job.run = run;
    const enc = new RowEncoder(job.format);
    const writing = writeExportFileOffThread(
      path,
      enc.row(job.spec.headers),
      exportRows(this.inst, job.spec, enc),
      () => run.stopped,
    )
      .then(
        (written) => {
          if (run.stopped || written === undefined) {
            // A cancel can land before the file was even opened: remove whatever was written.
            unlinkQuiet(path);
            return;
          }
          job.run = undefined;
          const failAbove = this.inst.settings.bulkFailAboveRecords;
          if (failAbove !== null && written.records > failAbove) {
            unlinkQuiet(path);
            this.fail(job, new Error('Export job failed: the extract was too large to complete.'));
            this.tick();
            return;
          }
          job.written = written;
          job.file = path;
          this.tick();
        },
        (err: unknown) => {
          // Stopped or not, the writer may have created the file before it failed.
          unlinkQuiet(path);
          if (run.stopped) return;
          job.run = undefined;
          this.fail(job, err);
          this.tick();
        },
      )
      .catch((err: unknown) => console.error('sandbox: bulk export bookkeeping failed', err))
      .finally(() => this.writing.delete(writing));
    this.writing.add(writing);
  }

  private fail(job: ExportJob, err: unknown): void {
    this.processing.delete(job);
    job.status = 'Failed';
    job.finishedAt = this.inst.clock.now();
    job.errorMsg = err instanceof Error ? err.message : String(err);
  }

  private stopRun(job: ExportJob): void {
    if (job.run) {
      job.run.stopped = true;
      unlinkQuiet(job.run.path);
      job.run = undefined;
    }
    if (job.timer) {
      clearTimeout(job.timer);
      job.timer = undefined;
    }
  }

  /** Wake up when a generated job's processing time is over (the clock may also jump there). */
  private arm(job: ExportJob, delayMs: number): void {
    if (job.timer) clearTimeout(job.timer);
    job.timer = setTimeout(
      () => {
        job.timer = undefined;
        this.tick();
      },
      Math.max(1, delayMs),
    );
    job.timer.unref();
  }

  private complete(job: ExportJob, now: number): void {
    const written = job.written!;
    this.processing.delete(job);
    if (job.timer) clearTimeout(job.timer);
    job.timer = undefined;
    job.written = undefined;
    job.status = 'Completed';
    job.finishedAt = now;
    job.numberOfRecords = written.records;
    job.fileSize = written.size;
    job.fileChecksum = written.checksum;
    const day = chicagoDay(now);
    if (this.used.day !== day) this.used = { day, bytes: 0 };
    this.used.bytes += written.size;
  }

  private expire(now: number): void {
    for (const [id, job] of this.jobs) {
      const end = job.finishedAt ?? job.createdAt;
      if (
        job.file !== undefined &&
        job.finishedAt !== undefined &&
        now - job.finishedAt > FILE_RETENTION_MS
      ) {
        unlinkQuiet(job.file);
        job.file = undefined;
      }
      if ((FINAL_STATUSES.has(job.status) || job.status === 'Created') && now - end > JOB_RETENTION_MS) {
        this.jobs.delete(id);
      }
    }
  }
}
