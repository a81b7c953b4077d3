/**
 * Keeps API usage across restarts and shares it between the Tether processes on one database. Each
 * process stores the rows that changed every `intervalMs` (1 s) and at close, under its own process id
 * (a new one at every start: engine/presence.ts's), so that processes never overwrite each other's counts.
 * At start every stored row of the kept days (the previous process's among them) is given to the
 * {@link UsageRecorder} as "elsewhere" (before any traffic, so traffic control counts today's spend); at
 * every flush the other processes' rows of the current quota day written since the last read are read
 * (kept here, so that one quiet process re-reads nothing), so that this process's answers and daily
 * budgets count their calls too, at most ~2 flushes late.
 *
 * A row is stored whole (its current counters), so a later write of it heals a failed one; rows whose
 * write failed are kept and retried with the next.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { DbContext } from '../db/context.ts';
import { loadUsageDays, pruneUsageDays, saveUsageDays, type LoadedUsageDay } from '../db/usage-days.ts';
import type { UsageCounters, UsageDayRow, UsageRecorder } from './usage.ts';

const PRUNE_EVERY_MS = 3_600_000;
/**
 * The others' rows are read again from the quota day of this long ago: just after midnight, the last
 * calls of the day before (stored by a flush a little later) still reach the history.
 */
const REREAD_BACK_MS = 60_000;
/**
 * Rows written this long before the last read are read again: another host's clock (which stamps its
 * rows' `updated_at`) may be behind this one's, and a write may commit a little after its stamp.
 */
const CLOCK_MARGIN_MS = 120_000;

export interface UsagePersistenceOptions {
  log: Logger;
  now: () => Date;
  intervalMs?: number;
  /** This process's id, under which its rows are stored (default a random UUID). */
  processId?: string;
}

export class UsagePersistence {
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();
  /** Rows whose write failed, by scope/key/day (a newer copy of a row replaces an older one). */
  private failed = new Map<string, UsageDayRow>();
  private prunedAt = 0;
  private closed = false;
  /** The other processes' rows of the recent quota days, by process/scope/key/day. */
  private readonly others = new Map<string, LoadedUsageDay<UsageCounters>>();
  /** When the others' rows were last read (this process's clock, epoch ms). */
  private othersReadAt = 0;

  private constructor(
    private readonly ctx: DbContext,
    private readonly usage: UsageRecorder,
    private readonly log: Logger,
    private readonly now: () => Date,
    readonly processId: string,
  ) {}

  /**
   * Gives the kept days' stored rows to `usage` (its own, if this process id wrote any, restored; the
   * others' as elsewhere), then stores its changes and reads the others' every `intervalMs`.
   */
  static async start(
    ctx: DbContext,
    usage: UsageRecorder,
    opts: UsagePersistenceOptions,
  ): Promise<UsagePersistence> {
    const p = new UsagePersistence(ctx, usage, opts.log, opts.now, opts.processId ?? randomUUID());
    const oldest = usage.oldestKeptDay(opts.now().getTime());
    const rows = await loadUsageDays<UsageCounters>(ctx, oldest);
    usage.restore(rows.filter((r) => r.processId === p.processId));
    const others = rows.filter((r) => r.processId !== p.processId);
    for (const r of others) p.others.set(otherKey(r), r);
    p.othersReadAt = opts.now().getTime();
    usage.setElsewhere(others, oldest);
    await p.prune();
    p.timer = setInterval(() => void p.flush(), Math.max(10, opts.intervalMs ?? 1_000));
    p.timer.unref();
    return p;
  }

  /** Stores what changed since the last flush, then reads the others' (one flush at a time). Never throws. */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(() => this.write());
    return this.flushing;
  }

  /** Stops the timer and stores the last changes. */
  async close(): Promise<void> {
    if (this.closed) return this.flushing;
    this.closed = true;
    clearInterval(this.timer);
    await this.flush();
  }

  private async write(): Promise<void> {
    const rows = new Map(this.failed);
    for (const r of this.usage.takeChanged()) rows.set(`${r.scope}\n${r.key}\n${r.day}`, r);
    this.failed = new Map();
    if (rows.size > 0) {
      try {
        await saveUsageDays(this.ctx, [...rows.values()], this.now(), this.processId);
      } catch (err) {
        this.log.warn({ err, rows: rows.size }, 'could not store API usage; retrying with the next write');
        this.failed = rows;
      }
    }
    if (this.closed) return;
    await this.readOthers();
    if (Date.now() - this.prunedAt >= PRUNE_EVERY_MS) await this.prune();
  }

  /**
   * The other processes' rows of the current quota day written since the last read (less a margin), merged
   * into those already known: a row is stored whole, so a newer copy replaces the older one.
   */
  private async readOthers(): Promise<void> {
    const now = this.now().getTime();
    const from = this.usage.dayAt(now - REREAD_BACK_MS);
    try {
      const rows = await loadUsageDays<UsageCounters>(this.ctx, from, {
        exceptProcess: this.processId,
        updatedSince: new Date(this.othersReadAt - CLOCK_MARGIN_MS).toISOString(),
      });
      this.othersReadAt = now;
      let changed = rows.length > 0;
      for (const r of rows) this.others.set(otherKey(r), r);
      for (const [k, r] of this.others) {
        if (r.day < from) changed = this.others.delete(k);
      }
      if (changed) this.usage.setElsewhere([...this.others.values()], from);
    } catch (err) {
      this.log.warn({ err }, "could not read the other processes' API usage");
    }
  }

  private async prune(): Promise<void> {
    this.prunedAt = Date.now();
    try {
      await pruneUsageDays(this.ctx, this.usage.oldestKeptDay(this.now().getTime()));
    } catch (err) {
      this.log.warn({ err }, 'could not prune stored API usage');
    }
  }
}

function otherKey(r: LoadedUsageDay<UsageCounters>): string {
  return `${r.processId}\n${r.scope}\n${r.key}\n${r.day}`;
}
