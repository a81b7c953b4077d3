/**
 * What every bulk exporter of one Marketo instance shares inside this process (spec marketo-api.md §4):
 * the slots of Marketo's export queue Tether may hold (queued + processing, leads, activities and custom
 * objects together, as Marketo counts them) and the ledger of bytes exported today (Central time), with the day
 * Marketo said the quota is spent. Keyed by `SyncIO.instanceKey`, so every connection and sync to one
 * Munchkin ID meets here.
 */
import { chicagoDay } from '../limits.ts';
import type { JobKind } from './job-api.ts';

/** Marketo's queue: 10 jobs queued or processing per instance. */
export const MARKETO_MAX_QUEUED = 10;
/** Marketo's default daily export volume: 500 MB. */
export const MARKETO_DAILY_EXPORT_BYTES = 500 * 1024 * 1024;

export class InstanceExports {
  /** Slots held: Tether's jobs at the instance that are queued or processing. */
  private held = 0;
  /** Exporters currently running (`batches()` entered and not left): they split the queue. */
  private running = 0;
  private ledger = { day: '', bytes: 0, counted: new Set<string>() };
  /** The Central-time day on which Marketo answered "Export daily quota exceeded". */
  private exhaustedDay = '';
  /**
   * Job kinds whose Completed jobs count in the ledger: leads and activities always, each custom object
   * type once an exporter or the custom-objects sync names it ({@link know}).
   */
  private readonly kinds: JobKind[] = ['leads', 'activities'];
  /** Kinds whose job list was read into the ledger (once per process), and loads in flight. */
  private readonly loaded = new Set<JobKind>();
  private readonly loading = new Map<JobKind, Promise<void>>();

  constructor(readonly key: string) {}

  join(): void {
    this.running++;
  }

  leave(): void {
    this.running = Math.max(0, this.running - 1);
  }

  /** Slots held by every exporter of the instance. */
  get slotsHeld(): number {
    return this.held;
  }

  /**
   * Whether an exporter holding `mine` slots may take one more: the instance total stays under
   * `maxQueued`, and each running exporter gets an even share so one sync cannot starve the others.
   */
  canAcquire(mine: number, maxQueued: number): boolean {
    const share = Math.max(1, Math.floor(maxQueued / Math.max(1, this.running)));
    return this.held < maxQueued && mine < share;
  }

  acquire(): void {
    this.held++;
  }

  release(): void {
    this.held = Math.max(0, this.held - 1);
  }

  /** Bytes of files completed today (Central time) as far as Tether knows. */
  bytesToday(nowMs: number): number {
    this.roll(chicagoDay(nowMs));
    return this.ledger.bytes;
  }

  /** Count a Completed job once, if it finished today (Central time). */
  countCompleted(exportId: string, bytes: number, finishedAtMs: number, nowMs: number): void {
    const day = chicagoDay(nowMs);
    this.roll(day);
    if (chicagoDay(finishedAtMs) !== day || this.ledger.counted.has(exportId)) return;
    this.ledger.counted.add(exportId);
    this.ledger.bytes += bytes;
  }

  markExhausted(nowMs: number): void {
    this.exhaustedDay = chicagoDay(nowMs);
  }

  /** The day's volume is spent: Marketo said so today, or the ledger reached `dailyBytes`. */
  quotaSpent(nowMs: number, dailyBytes: number): boolean {
    return this.exhaustedDay === chicagoDay(nowMs) || this.bytesToday(nowMs) >= dailyBytes;
  }

  /** Job kinds the ledger reads, in order (see {@link know}). */
  get ledgerKinds(): readonly JobKind[] {
    return this.kinds;
  }

  /** Adds job kinds (custom object types) to those the ledger reads. */
  know(kinds: Iterable<JobKind>): void {
    for (const kind of kinds) if (!this.kinds.includes(kind)) this.kinds.push(kind);
  }

  /**
   * Reads the ledger from Marketo: each known kind's job list once per process (later completions are
   * counted as polls see them; a new day starts from zero), kinds one after the other. Concurrent
   * callers share a kind's load; a failed load is tried again by the next caller.
   */
  async loadLedger(loadKind: (kind: JobKind) => Promise<void>): Promise<void> {
    for (const kind of [...this.kinds]) {
      if (this.loaded.has(kind)) continue;
      let load = this.loading.get(kind);
      if (!load) {
        load = loadKind(kind).then(
          () => {
            this.loaded.add(kind);
            this.loading.delete(kind);
          },
          (err: unknown) => {
            this.loading.delete(kind);
            throw err;
          },
        );
        this.loading.set(kind, load);
      }
      await load;
    }
  }

  private roll(day: string): void {
    if (this.ledger.day !== day) this.ledger = { day, bytes: 0, counted: new Set() };
  }
}

const registry = new Map<string, InstanceExports>();

/** The shared bookkeeping of one instance (created on first use, kept for the process's life). */
export function instanceExports(key: string): InstanceExports {
  let inst = registry.get(key);
  if (!inst) {
    inst = new InstanceExports(key);
    registry.set(key, inst);
  }
  return inst;
}
