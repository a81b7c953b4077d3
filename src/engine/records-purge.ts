/**
 * Deletes the cached records of deleted connections, in the background.
 *
 * Deleting a connection (or its integration) is a soft delete: the row stays, its credentials are wiped,
 * and its records become unreachable through the API at once. The records themselves (a bulk lead sync
 * leaves ~1.5 KB per lead: gigabytes for a large instance) are removed here, a bounded number per
 * transaction and a bounded time per tick, so that a connection holding millions of records never stalls
 * the event loop or holds SQLite's write lock for long.
 */
import type { Logger } from 'pino';
import type { DbContext } from '../db/context.ts';
import { purgeRecordsOfDeletedConnection } from '../db/records.ts';

export interface RecordsPurgeOptions {
  log: Logger;
  /** Between two ticks (ms). */
  intervalMs?: number;
  /** Records deleted per transaction. */
  chunk?: number;
  /** Work per tick before yielding to the next tick (ms). */
  budgetMs?: number;
}

export interface RecordsPurge {
  /** One tick: purges until nothing is left or the tick's budget is spent. Returns records deleted. */
  runOnce(): Promise<number>;
  /** Stops the timer after the tick in progress. */
  close(): Promise<void>;
}

const DEFAULT_INTERVAL_MS = 2_000;
const DEFAULT_CHUNK = 2_000;
const DEFAULT_BUDGET_MS = 50;

export function startRecordsPurge(ctx: DbContext, options: RecordsPurgeOptions): RecordsPurge {
  const chunk = options.chunk ?? DEFAULT_CHUNK;
  const budgetMs = options.budgetMs ?? DEFAULT_BUDGET_MS;
  const log = options.log;
  /** Records deleted so far per connection being purged, for one log line when it is done. */
  const progress = new Map<number, number>();
  let closed = false;
  let running: Promise<number> = Promise.resolve(0);

  const finish = (keep?: number): void => {
    for (const [connectionPk, deleted] of progress) {
      if (connectionPk === keep) continue;
      log.info({ connectionPk, deleted }, 'Records of a deleted connection purged');
      progress.delete(connectionPk);
    }
  };

  const tick = async (): Promise<number> => {
    const end = performance.now() + budgetMs;
    let total = 0;
    try {
      while (!closed) {
        const r = await purgeRecordsOfDeletedConnection(ctx, { limit: chunk });
        if (r === undefined) {
          finish();
          break;
        }
        finish(r.connectionPk);
        progress.set(r.connectionPk, (progress.get(r.connectionPk) ?? 0) + r.deleted);
        total += r.deleted;
        if (performance.now() >= end) break;
      }
    } catch (err) {
      // A failed purge is retried at the next tick; it never stops Tether.
      log.warn({ err: err instanceof Error ? err.message : String(err) }, 'Purging records failed');
    }
    return total;
  };

  const runOnce = (): Promise<number> => (running = running.then(tick, tick));
  const timer = setInterval(() => void runOnce(), Math.max(10, options.intervalMs ?? DEFAULT_INTERVAL_MS));
  timer.unref();

  return {
    runOnce,
    async close() {
      closed = true;
      clearInterval(timer);
      await running;
    },
  };
}
