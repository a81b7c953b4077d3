/**
 * Marketo Bulk Extract jobs (spec marketo-api.md §4, §5.10, §5.11) driven for a sync: a list of date
 * windows (each ≤ 31 days) becomes export jobs kept in a pipeline (created, enqueued up to the instance's
 * share of the queue, polled through the job list, downloaded and parsed in window order), with every job
 * id checkpointed before it is used so a restart picks up the same job.
 *
 * Calls per window: create, enqueue, file; plus one job-list call per poll for all of a kind's jobs
 * (never one status call per job), one list call per kind and process for the daily ledger (leads,
 * activities and every custom object type named so far: the daily volume is the instance's).
 */
import { nextChicagoMidnight } from '../limits.ts';
import { isoSeconds } from '../models/api.ts';
import { MarketoSyncError, type SyncIO } from '../models/types.ts';
import type { CsvBatch, CsvOptions, CsvRow } from './csv.ts';
import { readExportFile } from './file-reader.ts';
import {
  MARKETO_DAILY_EXPORT_BYTES,
  MARKETO_MAX_QUEUED,
  instanceExports,
  type InstanceExports,
} from './instance-queue.ts';
import {
  POLL_STATUSES,
  cancelJob,
  createJob,
  enqueueJob,
  exportBase,
  filePath,
  isMarketoError,
  jobStatus,
  listJobs,
  type JobInfo,
  type JobKind,
} from './job-api.ts';

/** Leads, activities or `customobjects/<apiName>` (job-api.ts {@link JobKind}). */
export type ExportKind = JobKind;

/** A date window, epoch ms, `startAt < endAt`, `endAt - startAt ≤ 31 days`. */
export interface ExportWindow {
  startAt: number;
  endAt: number;
  /** Set on the halves of a window whose job failed: the failures so far (carried to the new job). */
  attempts?: number;
}

/** A job Tether made for a window (JSON: kept in the sync's checkpoint). */
export interface ExportJobRef {
  exportId: string;
  window: ExportWindow;
  /** Marketo's last known status: Created, Queued, Processing, Completed, Failed, Cancelled. */
  status: string;
  /** Data rows of the file already handed out and saved (a restart skips them). */
  rowsDone: number;
  /** Times this window failed and was split (for the run log). */
  attempts?: number;
  /** Known once Completed: the file is checked against them (a restart can read it without a poll). */
  fileSize?: number;
  fileChecksum?: string;
}

/** Where an export stands (JSON: kept in the sync's checkpoint, `state()` after every batch). */
export interface ExportState {
  /** Jobs made and not finished, in window order. */
  jobs: ExportJobRef[];
  /** Windows without a job yet, in order. */
  pending: ExportWindow[];
}

export interface ExportPlan {
  kind: ExportKind;
  /** The date filter the windows apply to. */
  filterField: 'createdAt' | 'updatedAt';
  /**
   * Columns to export (REST names); leads and custom objects need them, activities default to
   * Marketo's columns.
   */
  fields?: string[];
  /** More filter members (activities: `activityTypeIds`). */
  extraFilter?: Record<string, unknown>;
}

export interface ExportOptions {
  /**
   * Longest wait between two polls of the job list (default 60,000: Marketo refreshes status once a
   * minute). The first poll comes after 1 s (or this, if smaller) and the wait doubles while nothing finishes.
   */
  pollMs?: number;
  /** Rows per batch, i.e. per write transaction of the sync (default 1000; see leads.ts). */
  batchRows?: number;
  /** Jobs Tether keeps queued or processing at the instance, all syncs together (default 10, max 10). */
  maxQueued?: number;
  /** Export bytes per day at the instance (default 500 MB: 500 * 1024 * 1024). */
  dailyBytes?: number;
}

export interface ExportBatch<T = CsvRow> extends CsvBatch<T> {
  job: ExportJobRef;
  /** True on the last batch of the job's file (the job is then done and leaves `state().jobs`). */
  last: boolean;
}

const DAY_MS = 86_400_000;
const SECOND_MS = 1000;

/**
 * Windows of at most `maxDays` days covering [startMs, endMs), in order (none when start ≥ end).
 * Bounds are whole seconds (start rounded down, end up), as Marketo's filters take no milliseconds: a
 * window never collapses to an empty range once written as `YYYY-MM-DDTHH:MM:SSZ`.
 */
export function windowsBetween(startMs: number, endMs: number, maxDays = 31): ExportWindow[] {
  if (!Number.isFinite(startMs) || !Number.isFinite(endMs)) {
    throw new RangeError('windowsBetween: start and end must be finite');
  }
  if (!(maxDays > 0)) throw new RangeError(`windowsBetween: maxDays must be positive, got ${maxDays}`);
  if (startMs >= endMs) return [];
  const start = Math.floor(startMs / SECOND_MS) * SECOND_MS;
  const end = Math.ceil(endMs / SECOND_MS) * SECOND_MS;
  const step = Math.max(SECOND_MS, Math.floor((maxDays * DAY_MS) / SECOND_MS) * SECOND_MS);
  const out: ExportWindow[] = [];
  for (let at = start; at < end; at += step) out.push({ startAt: at, endAt: Math.min(end, at + step) });
  return out;
}

/**
 * The two halves of a window whose job failed; none at one day or less (then the failure is final).
 * The first half is at least a day, so a window never splits below a day without failing there.
 */
export function splitWindow(w: ExportWindow): [ExportWindow, ExportWindow] | undefined {
  const length = w.endAt - w.startAt;
  if (length <= DAY_MS) return undefined;
  const half = Math.max(DAY_MS, Math.floor(length / 2 / SECOND_MS) * SECOND_MS);
  const attempts = (w.attempts ?? 0) + 1;
  return [
    { startAt: w.startAt, endAt: w.startAt + half, attempts },
    { startAt: w.startAt + half, endAt: w.endAt, attempts },
  ];
}

const ACTIVE = new Set(['Queued', 'Processing']);
const FINAL = new Set(['Completed', 'Failed', 'Cancelled']);

type Item = { job: ExportJobRef; window?: undefined } | { job?: undefined; window: ExportWindow };
/** Why a job could not go into Marketo's queue now. */
type Block = 'quota' | 'queue' | 'share';

function byStart(a: { startAt: number }, b: { startAt: number }): number {
  return a.startAt - b.startAt;
}

function clampInt(v: number | undefined, fallback: number, min: number, max: number): number {
  if (v === undefined || !Number.isFinite(v)) return fallback;
  return Math.min(max, Math.max(min, Math.floor(v)));
}

function copyJob(j: ExportJobRef): ExportJobRef {
  return { ...j, window: { startAt: j.window.startAt, endAt: j.window.endAt } };
}

function mb(bytes: number): string {
  return (bytes / (1024 * 1024)).toFixed(1);
}

/**
 * Drives one plan's windows to rows. `persist(state)` must save the state in the sync's checkpoint
 * (`io.save({ checkpoint: {...} })`): it is called right after a job is created (before it is enqueued),
 * so no restart makes a second job for a window.
 *
 * - Pipeline: jobs are created and enqueued ahead while earlier files are read, within the instance's
 *   share of the queue (see {@link ExportOptions.maxQueued}, shared by every exporter of the instance in
 *   this process, keyed by `io.instanceKey`, and, through `io.slots` when the engine gives it, by every
 *   Tether process on its database: a row per job, no Marketo call); 1029 "Too many jobs in queue", or
 *   slots held by other processes, waits and retries.
 * - Daily volume: a ledger per instance from the job list (today's Completed `fileSize`s, today = Central
 *   time, read once per process) plus the jobs later polls see completing (Marketo meters a file when it
 *   is made, not when it is read); when it reaches `dailyBytes`, or Marketo answers 1029 "Export daily
 *   quota exceeded", `io.pause(next midnight America/Chicago, 'export_quota_exhausted', …)` once the
 *   next window in order needs a job (jobs already queued are still read first).
 * - Files are streamed and verified against `fileChecksum` (sha256) as they are read; a mismatch reads the
 *   file again once, then fails. A Failed job's window is split in two and retried (down to one day).
 * - A job in the state that is Completed but whose file is gone (404 after 7 days), or Cancelled by
 *   someone, gets a new job for its window.
 * - Errors that are not Tether's to handle (e.g. 1035 on create) are thrown as MarketoSyncError.
 *
 * A file's last batch (`last: true`) may have no rows: the job still has to leave the saved state.
 */
/**
 * Cancels the jobs of a saved export state that may still be queued or processing, for a checkpoint the
 * engine discards (a reset, a deleted variant): left alone, each keeps one of the instance's 2 processing
 * / 10 queued slots until Marketo finishes it, and its file counts against the 500 MB daily volume.
 * A job Marketo no longer knows (1003) is done with. Returns how many jobs were cancelled.
 */
export async function cancelExportJobs(
  io: Pick<SyncIO, 'post'>,
  kind: ExportKind,
  state: ExportState,
): Promise<number> {
  let cancelled = 0;
  for (const job of state.jobs) {
    if (FINAL.has(job.status)) continue;
    try {
      await cancelJob(io, kind, job.exportId);
      cancelled++;
    } catch (err) {
      if (!isMarketoError(err, '1003')) throw err;
    }
  }
  return cancelled;
}

/** First wait before polling a fresh job (then doubling up to `pollMs`). */
const FIRST_POLL_MS = 1_000;

export class BulkExporter<T = CsvRow> {
  private jobs: ExportJobRef[];
  private pending: ExportWindow[];
  /** Ids of this exporter's jobs that hold a slot of the instance's queue. */
  private readonly slots = new Set<string>();
  private readonly shared: InstanceExports;
  private readonly pollMs: number;
  private readonly batchRows: number;
  private readonly maxQueued: number;
  private readonly dailyBytes: number;
  private lastPollAt: number;
  /**
   * Current wait between polls: starts at {@link FIRST_POLL_MS} (small windows finish in seconds), doubles
   * after every poll that finds no job finished, up to `pollMs` (Marketo refreshes status once a minute);
   * a poll that finds one finished keeps it. Long jobs are then polled once a minute, quick ones at once.
   */
  private pollDelay: number;
  /** After 1029 "Too many jobs in queue" (someone else filled it): no enqueue before this instant. */
  private queueFullUntil = -Infinity;
  private running = false;
  /** Jobs seen Completed or Failed by polls (drives {@link pollDelay}). */
  private finished = 0;
  /**
   * This exporter's calls to `io.slots` (the queue's slots across Tether processes), one after the other
   * so a release and a later take reach the database in the order they were made.
   */
  private slotOps: Promise<unknown> = Promise.resolve();
  /** Set while enqueues are refused because other Tether processes hold the slots (logged once). */
  private heldElsewhere = false;

  constructor(
    readonly io: SyncIO,
    readonly plan: ExportPlan,
    state: ExportState,
    readonly persist: (state: ExportState) => Promise<void>,
    readonly options: ExportOptions = {},
    /** Items of the batches from rows (default: the rows themselves), see {@link CsvOptions.reader}. */
    private readonly reader?: CsvOptions<T>['reader'],
  ) {
    this.jobs = (state.jobs ?? []).map(copyJob).sort((a, b) => byStart(a.window, b.window));
    this.pending = (state.pending ?? []).map((w) => ({ ...w })).sort(byStart);
    this.shared = instanceExports(io.instanceKey);
    this.pollMs = clampInt(options.pollMs, 60_000, 0, 3_600_000);
    this.pollDelay = Math.min(FIRST_POLL_MS, this.pollMs);
    this.batchRows = clampInt(options.batchRows, 1000, 1, 1_000_000);
    this.maxQueued = clampInt(options.maxQueued, MARKETO_MAX_QUEUED, 1, MARKETO_MAX_QUEUED);
    this.dailyBytes = clampInt(options.dailyBytes, MARKETO_DAILY_EXPORT_BYTES, 0, Number.MAX_SAFE_INTEGER);
    // Jobs of a previous run may have moved on: look at once. Fresh jobs are not worth a poll yet.
    this.lastPollAt = this.jobs.some((j) => j.status !== 'Created') ? -Infinity : this.now();
  }

  /** The current state (a copy), to checkpoint with each saved batch. */
  state(): ExportState {
    return { jobs: this.jobs.map(copyJob), pending: this.pending.map((w) => ({ ...w })) };
  }

  /** Batches of every window, in window order. */
  async *batches(): AsyncGenerator<ExportBatch<T>> {
    if (this.running) throw new Error('BulkExporter.batches: already running');
    this.running = true;
    this.shared.join();
    try {
      await this.loadLedger();
      await this.resume();
      for (;;) {
        if (this.jobs.length === 0 && this.pending.length === 0) return;
        await this.fill();
        const head = this.head();
        if (head?.job && this.readable(head.job)) {
          yield* this.read(head.job);
          continue;
        }
        if (this.jobs.some((j) => this.needsPoll(j))) await this.pollSoon();
        // Waiting for a slot of the queue (ours are all taken by other syncs, or Marketo's is full).
        else await this.io.sleep(this.pollMs);
      }
    } finally {
      for (const exportId of [...this.slots]) this.free(exportId);
      this.shared.leave();
      this.running = false;
      // The releases reach the database before the run ends (they never throw: see sharedSlot).
      await this.slotOps;
    }
  }

  /** Cancels every job of the state that is not final (the sync abandons them). */
  async cancelAll(): Promise<void> {
    let failure: unknown;
    for (const job of this.jobs) {
      if (FINAL.has(job.status)) continue;
      try {
        const info = await cancelJob(this.io, this.plan.kind, job.exportId);
        job.status = info.status || 'Cancelled';
      } catch (err) {
        // Unknown to Marketo (expired): nothing left to cancel.
        if (isMarketoError(err, '1003')) job.status = 'Cancelled';
        else failure ??= err;
      }
      if (!ACTIVE.has(job.status)) this.free(job.exportId);
    }
    if (failure !== undefined) throw failure;
  }

  // -------------------------------------------------------------------------------------------------
  // The pipeline

  private now(): number {
    return this.io.now().getTime();
  }

  /** Jobs and windows without a job, in window order. */
  private order(): Item[] {
    const out: Item[] = [];
    let i = 0;
    let k = 0;
    while (i < this.jobs.length || k < this.pending.length) {
      const job = this.jobs[i];
      const win = this.pending[k];
      if (job && (!win || job.window.startAt <= win.startAt)) {
        out.push({ job });
        i++;
      } else if (win) {
        out.push({ window: win });
        k++;
      }
    }
    return out;
  }

  private head(): Item | undefined {
    const job = this.jobs[0];
    const win = this.pending[0];
    if (job && (!win || job.window.startAt <= win.startAt)) return { job };
    return win ? { window: win } : undefined;
  }

  private readable(job: ExportJobRef): boolean {
    return job.status === 'Completed' && job.fileChecksum !== undefined;
  }

  /** Whether the job list can tell something new about this job. */
  private needsPoll(job: ExportJobRef): boolean {
    return job.status !== 'Created' && !this.readable(job);
  }

  /**
   * A job at Marketo (queued or processing) holds a slot: in this process's count and, across processes,
   * in `io.slots` whatever the count there (it is in Marketo's queue already).
   */
  private take(exportId: string): void {
    if (!this.holdLocal(exportId)) return;
    void this.sharedSlot('take', exportId, Infinity);
  }

  private free(exportId: string): void {
    if (!this.freeLocal(exportId)) return;
    void this.sharedSlot('release', exportId);
  }

  private holdLocal(exportId: string): boolean {
    if (this.slots.has(exportId)) return false;
    this.slots.add(exportId);
    this.shared.acquire();
    return true;
  }

  private freeLocal(exportId: string): boolean {
    if (!this.slots.delete(exportId)) return false;
    this.shared.release();
    return true;
  }

  /** The scope of the instance's export queue in `io.slots` (every kind counts, as at Marketo). */
  private get slotScope(): string {
    return `marketo-export-queue:${this.io.instanceKey}`;
  }

  /**
   * A take or release of `io.slots`, in order after this exporter's earlier ones; true without
   * `io.slots`. Never rejects: a failure is logged and a take is then granted (the in-process count
   * still holds; Marketo's 1029 is the backstop), so shared bookkeeping never breaks a sync.
   */
  private sharedSlot(op: 'take' | 'release', exportId: string, max = Infinity): Promise<boolean> {
    const slots = this.io.slots;
    if (!slots) return Promise.resolve(true);
    const scope = this.slotScope;
    const run = async (): Promise<boolean> => {
      try {
        if (op === 'take') return await slots.take(scope, exportId, max);
        await slots.release(scope, exportId);
        return true;
      } catch (err) {
        this.io.log(`Could not ${op} a shared slot of the bulk export queue`, {
          kind: this.plan.kind,
          error: err instanceof Error ? err.message : String(err),
        });
        return true;
      }
    };
    const p = this.slotOps.then(run);
    this.slotOps = p;
    return p;
  }

  private gate(): Block | undefined {
    const now = this.now();
    if (this.shared.quotaSpent(now, this.dailyBytes)) return 'quota';
    if (now < this.queueFullUntil) return 'queue';
    if (!this.shared.canAcquire(this.slots.size, this.maxQueued)) return 'share';
    return undefined;
  }

  /**
   * The ledger of today's export volume, read once per instance and process for every kind it knows
   * (leads, activities, the custom object types named so far, this plan's kind).
   */
  private async loadLedger(): Promise<void> {
    this.shared.know([this.plan.kind]);
    await this.shared.loadLedger(async (kind) => {
      let list: JobInfo[];
      try {
        list = await listJobs(this.io, kind, ['Completed']);
      } catch (err) {
        // A user without the other kind's permission cannot see those jobs: they are not ours. A
        // custom object type deleted since it was named has no jobs to count either.
        if (kind !== this.plan.kind && (isMarketoError(err, '603') || isMarketoError(err, '1013'))) return;
        throw err;
      }
      this.count(list);
    });
  }

  private count(list: JobInfo[]): void {
    const now = this.now();
    for (const info of list) {
      if (info.status !== 'Completed' || info.fileSize === undefined || info.finishedAt === undefined)
        continue;
      this.shared.countCompleted(info.exportId, info.fileSize, info.finishedAt, now);
    }
  }

  /** Jobs of a saved state: their slots are ours again; final ones are dealt with at once. */
  private async resume(): Promise<void> {
    for (const job of [...this.jobs]) {
      if (ACTIVE.has(job.status)) this.take(job.exportId);
      else if (job.status === 'Cancelled') await this.replace(job, 'cancelled');
      else if (job.status === 'Failed') await this.failed(job, undefined);
    }
  }

  /**
   * Puts jobs into Marketo's queue in window order (Created ones first in their place, new ones for
   * windows without a job), as far as the instance share, Tether's look-ahead and the quota allow.
   * Stops at the first item that cannot go, so an earlier window never waits behind a later one.
   */
  private async fill(): Promise<void> {
    const first = this.head();
    for (const item of this.order()) {
      const isHead = item.job ? first?.job === item.job : first?.window === item.window;
      let block: Block | undefined;
      if (item.job) {
        if (item.job.status !== 'Created') continue;
        block = await this.enqueue(item.job);
      } else {
        // Look-ahead: files not yet read are not worth more jobs than the queue can hold. The head
        // always gets its job (a split window can come before jobs made earlier).
        if (!isHead && this.jobs.length >= this.maxQueued) return;
        block = this.gate();
        if (block === undefined) block = await this.enqueue(await this.create(item.window));
      }
      if (block === undefined) continue;
      if (block === 'quota' && isHead) await this.pauseForQuota();
      return;
    }
  }

  private async create(window: ExportWindow): Promise<ExportJobRef> {
    const { kind, filterField, fields, extraFilter } = this.plan;
    const filter = {
      [filterField]: { startAt: isoSeconds(window.startAt), endAt: isoSeconds(window.endAt) },
      ...extraFilter,
    };
    const info = await createJob(this.io, kind, { ...(fields ? { fields } : {}), format: 'CSV', filter });
    const job: ExportJobRef = {
      exportId: info.exportId,
      window: { startAt: window.startAt, endAt: window.endAt },
      status: info.status || 'Created',
      rowsDone: 0,
    };
    if (window.attempts !== undefined) job.attempts = window.attempts;
    this.pending = this.pending.filter((w) => w !== window);
    this.insertJob(job);
    // Before the enqueue: a crash from here on finds this job in the checkpoint, never makes another.
    await this.persist(this.state());
    return job;
  }

  private async enqueue(job: ExportJobRef): Promise<Block | undefined> {
    const block = this.gate();
    if (block) return block;
    // Held here first, so that no other exporter of this process passes the gate on the same slot
    // while the shared take runs.
    this.holdLocal(job.exportId);
    if (!(await this.sharedSlot('take', job.exportId, this.maxQueued))) {
      // Other Tether processes on this database hold the instance's slots: like a full queue, wait.
      this.freeLocal(job.exportId);
      if (!this.heldElsewhere) {
        this.heldElsewhere = true;
        this.io.log("Marketo bulk export queue's slots are held by other Tether processes; waiting for one", {
          kind: this.plan.kind,
        });
      }
      return 'queue';
    }
    this.heldElsewhere = false;
    try {
      const info = await enqueueJob(this.io, this.plan.kind, job.exportId);
      job.status = info.status || 'Queued';
      if (!ACTIVE.has(job.status)) this.free(job.exportId);
      this.queueFullUntil = -Infinity;
      return undefined;
    } catch (err) {
      this.free(job.exportId);
      if (isMarketoError(err, '1029', /already queued/i)) {
        // Enqueued before a restart: the job list tells where it is now.
        job.status = 'Queued';
        this.take(job.exportId);
        return undefined;
      }
      if (isMarketoError(err, '1029', /quota/i)) {
        this.shared.markExhausted(this.now());
        return 'quota';
      }
      if (isMarketoError(err, '1029')) {
        if (this.queueFullUntil === -Infinity) {
          this.io.log('Marketo bulk export queue is full (1029); waiting for a slot', {
            kind: this.plan.kind,
          });
        }
        this.queueFullUntil = this.now() + this.pollMs;
        return 'queue';
      }
      if (isMarketoError(err, '1003', /not found/i)) {
        await this.replace(job, 'unknown to Marketo');
        return undefined;
      }
      throw err;
    }
  }

  private async pauseForQuota(): Promise<never> {
    await this.persist(this.state());
    const now = this.now();
    const resetAt = nextChicagoMidnight(now);
    return this.io.pause(
      resetAt,
      'export_quota_exhausted',
      `Marketo's daily bulk export volume is spent (${mb(this.shared.bytesToday(now))} of ` +
        `${mb(this.dailyBytes)} MB counted today); the export resumes after midnight America/Chicago ` +
        `(${new Date(resetAt).toISOString()}).`,
    );
  }

  /** Waits out the poll interval, then reads the job list. */
  private async pollSoon(): Promise<void> {
    const wait = this.lastPollAt + this.pollDelay - this.now();
    if (wait > 0) await this.io.sleep(wait);
    const finishedBefore = this.finished;
    await this.poll();
    if (this.finished === finishedBefore) this.pollDelay = Math.min(this.pollMs, this.pollDelay * 2);
  }

  /** One job-list read for every job of this kind (a status call only for a job the list lacks). */
  private async poll(): Promise<void> {
    const list = await listJobs(this.io, this.plan.kind, POLL_STATUSES);
    this.lastPollAt = this.now();
    this.count(list);
    const byId = new Map(list.map((info) => [info.exportId, info]));
    for (const job of [...this.jobs]) {
      let info = byId.get(job.exportId);
      if (!info && job.status === 'Created') continue;
      // The list shows 7 days; an older job still has a status (30 days) unless it is gone.
      if (!info && this.needsPoll(job)) info = await this.statusOf(job);
      if (!info) {
        if (this.needsPoll(job)) await this.replace(job, 'unknown to Marketo');
        continue;
      }
      await this.apply(job, info);
    }
  }

  private async statusOf(job: ExportJobRef): Promise<JobInfo | undefined> {
    try {
      return await jobStatus(this.io, this.plan.kind, job.exportId);
    } catch (err) {
      if (isMarketoError(err, '1003')) return undefined;
      throw err;
    }
  }

  private async apply(job: ExportJobRef, info: JobInfo): Promise<void> {
    switch (info.status) {
      case 'Queued':
      case 'Processing':
        job.status = info.status;
        this.take(job.exportId);
        return;
      case 'Completed':
        if (job.status !== 'Completed') this.finished++;
        job.status = 'Completed';
        if (info.fileSize !== undefined) job.fileSize = info.fileSize;
        // A Completed job always has a checksum; without one the file is read unchecked.
        job.fileChecksum = info.fileChecksum ?? '';
        this.free(job.exportId);
        return;
      case 'Failed':
        this.finished++;
        this.free(job.exportId);
        await this.failed(job, info.errorMsg);
        return;
      case 'Cancelled':
        this.free(job.exportId);
        await this.replace(job, 'cancelled');
        return;
      case 'Created':
        job.status = 'Created';
        this.free(job.exportId);
        return;
    }
  }

  private insertJob(job: ExportJobRef): void {
    this.jobs.push(job);
    this.jobs.sort((a, b) => byStart(a.window, b.window));
  }

  private removeJob(job: ExportJobRef): void {
    this.jobs = this.jobs.filter((j) => j !== job);
    this.free(job.exportId);
  }

  /** A new job for the window of one that cannot deliver (cancelled by someone, file or job gone). */
  private async replace(job: ExportJobRef, why: string): Promise<void> {
    this.removeJob(job);
    const window: ExportWindow = { startAt: job.window.startAt, endAt: job.window.endAt };
    if (job.attempts !== undefined) window.attempts = job.attempts;
    this.pending.push(window);
    this.pending.sort(byStart);
    this.io.log(`Bulk export job ${job.exportId} ${why}: a new job will export its window`, {
      kind: this.plan.kind,
      startAt: isoSeconds(window.startAt),
      endAt: isoSeconds(window.endAt),
    });
    await this.persist(this.state());
  }

  /** A Failed job: its window again as two halves, or the failure is final at a day or less. */
  private async failed(job: ExportJobRef, errorMsg: string | undefined): Promise<void> {
    job.status = 'Failed';
    const window: ExportWindow = { startAt: job.window.startAt, endAt: job.window.endAt };
    if (job.attempts !== undefined) window.attempts = job.attempts;
    const halves = splitWindow(window);
    const span = { startAt: isoSeconds(window.startAt), endAt: isoSeconds(window.endAt) };
    if (!halves) {
      throw new MarketoSyncError(
        'export_failed',
        `${errorMsg ?? 'Export job failed'} (job ${job.exportId}, window ${span.startAt}..${span.endAt})`,
        `${exportBase(this.plan.kind)}/${job.exportId}/status.json`,
      );
    }
    this.removeJob(job);
    this.pending.push(...halves);
    this.pending.sort(byStart);
    this.io.log(`Bulk export job ${job.exportId} failed: its window is retried as two smaller ones`, {
      kind: this.plan.kind,
      ...span,
      attempts: halves[0].attempts,
      ...(errorMsg ? { errorMsg } : {}),
    });
    await this.persist(this.state());
  }

  /**
   * The job's file, batch by batch; `rowsDone` counts each batch before it is handed out and the last
   * one takes the job out of the state. A checksum mismatch reads the whole file once more.
   */
  private async *read(job: ExportJobRef): AsyncGenerator<ExportBatch<T>> {
    const path = filePath(this.plan.kind, job.exportId);
    for (let attempt = 0; ; attempt++) {
      if (attempt > 0) job.rowsDone = 0;
      const expect: { fileSize?: number; fileChecksum?: string } = {};
      if (job.fileSize !== undefined) expect.fileSize = job.fileSize;
      if (job.fileChecksum) expect.fileChecksum = job.fileChecksum;
      const file = readExportFile<T>(this.io, path, {
        skipRows: job.rowsDone,
        batchRows: this.batchRows,
        expect,
        ...(this.reader ? { reader: this.reader } : {}),
      });
      let step = await file.next();
      try {
        while (!step.done) {
          const { batch, last } = step.value;
          job.rowsDone += batch.rows.length;
          if (last) this.removeJob(job);
          yield { ...batch, job: copyJob(job), last };
          step = await file.next();
        }
      } finally {
        if (!step.done) await file.return({ kind: 'gone' });
      }
      const outcome = step.value;
      if (outcome.kind === 'done') return;
      if (outcome.kind === 'gone') {
        await this.replace(job, 'has no file any more (404)');
        return;
      }
      const detail = `${path.split('?')[0]}: expected ${job.fileChecksum ?? '?'} (${job.fileSize ?? '?'} bytes), read ${outcome.actual} (${outcome.bytes} bytes)`;
      if (attempt === 0) {
        this.io.log('Bulk export file does not match its checksum: reading it again', { detail });
        continue;
      }
      throw new MarketoSyncError(
        'checksum_mismatch',
        `export file does not match fileChecksum; ${detail}`,
        path,
      );
    }
  }
}
