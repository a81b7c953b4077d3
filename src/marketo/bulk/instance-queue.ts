/**
 * What every bulk exporter of one Marketo instance shares inside this process (spec marketo-api.md §4):
 * the slots of Marketo's export queue Tether may hold (queued + processing, leads and activities
 * together, as Marketo counts them) and the ledger of bytes exported today (Central time), with the day
 * Marketo said the quota is spent. Keyed by `SyncIO.instanceKey`, so every connection and sync to one
 * Munchkin ID meets here.
 */
import { chicagoDay } from '../limits.ts';

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
  private ledgerLoad: Promise<void> | undefined;
  private ledgerLoaded = false;

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

  /**
   * Reads the ledger from Marketo once per process (later completions are counted as polls see them;
   * a new day starts from zero). Concurrent callers share one load; a failed load is tried again.
   */
  async loadLedger(load: () => Promise<void>): Promise<void> {
    if (this.ledgerLoaded) return;
    this.ledgerLoad ??= load().then(
      () => {
        this.ledgerLoaded = true;
      },
      (err: unknown) => {
        this.ledgerLoad = undefined;
        throw err;
      },
    );
    return this.ledgerLoad;
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
