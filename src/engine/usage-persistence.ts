/**
 * Keeps API usage across restarts: restores the stored rows into the {@link UsageRecorder} at start
 * (before any traffic, so that traffic control seeds today's spend from them), then stores the rows that
 * changed every `intervalMs` (1 s) and at close. A row is stored whole (its current counters), so a
 * later write of it heals a failed one; rows whose write failed are kept and retried with the next.
 */
import type { Logger } from 'pino';
import type { DbContext } from '../db/context.ts';
import { loadUsageDays, pruneUsageDays, saveUsageDays } from '../db/usage-days.ts';
import type { UsageCounters, UsageDayRow, UsageRecorder } from './usage.ts';

const PRUNE_EVERY_MS = 3_600_000;

export class UsagePersistence {
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();
  /** Rows whose write failed, by scope/key/day (a newer copy of a row replaces an older one). */
  private failed = new Map<string, UsageDayRow>();
  private prunedAt = 0;
  private closed = false;

  private constructor(
    private readonly ctx: DbContext,
    private readonly usage: UsageRecorder,
    private readonly log: Logger,
    private readonly now: () => Date,
  ) {}

  /** Restores the kept days' rows into `usage`, then stores its changes every `intervalMs`. */
  static async start(
    ctx: DbContext,
    usage: UsageRecorder,
    opts: { log: Logger; now: () => Date; intervalMs?: number },
  ): Promise<UsagePersistence> {
    const p = new UsagePersistence(ctx, usage, opts.log, opts.now);
    const oldest = usage.oldestKeptDay(opts.now().getTime());
    usage.restore(await loadUsageDays<UsageCounters>(ctx, oldest));
    await p.prune();
    p.timer = setInterval(() => void p.flush(), Math.max(10, opts.intervalMs ?? 1_000));
    p.timer.unref();
    return p;
  }

  /** Stores what changed since the last flush (one flush at a time). Never throws. */
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
        await saveUsageDays(this.ctx, [...rows.values()], this.now());
      } catch (err) {
        this.log.warn({ err, rows: rows.size }, 'could not store API usage; retrying with the next write');
        this.failed = rows;
      }
    }
    if (Date.now() - this.prunedAt >= PRUNE_EVERY_MS && !this.closed) await this.prune();
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
