/**
 * How many Tether processes share this database, hence the Marketo instances they call. Each process
 * keeps a heartbeat row (db/processes.ts) every `heartbeatMs`; those that beat within `staleMs` are live.
 * The count goes to `onCount` whenever it changes (start.ts: every traffic controller then grants its
 * part of each instance's rate and in-flight limits, traffic.ts `setProcesses`). A clean stop removes
 * the row, so the others take the whole limits back at their next beat; a crashed process stops counting
 * once its heartbeat is `staleMs` old. Database errors are logged, never thrown: the last count stays.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { DbContext } from '../db/context.ts';
import { nowOf } from '../db/context.ts';
import { beatProcess, countLiveProcesses, pruneProcesses, removeProcess } from '../db/processes.ts';

export interface PresenceOptions {
  onCount(processes: number): void;
  log: Logger;
  /** Default 5 s. */
  heartbeatMs?: number;
  /** A process silent this long no longer counts (default 3 heartbeats). */
  staleMs?: number;
  /** This process's id (default a random UUID). */
  id?: string;
}

/** Rows of processes silent this long are deleted (they only count while live anyway). */
const PRUNE_AFTER_MS = 24 * 3600_000;
const PRUNE_EVERY_MS = 3600_000;

export class ProcessPresence {
  readonly id: string;
  private readonly heartbeatMs: number;
  /** A process silent this long no longer counts (shared slots use the same rule). */
  readonly staleMs: number;
  private timer: NodeJS.Timeout | undefined;
  private count = 0;
  private beating: Promise<void> = Promise.resolve();
  private closed = false;
  private prunedAt = -Infinity;

  private constructor(
    private readonly ctx: DbContext,
    private readonly opts: PresenceOptions,
  ) {
    this.id = opts.id ?? randomUUID();
    this.heartbeatMs = opts.heartbeatMs ?? 5_000;
    this.staleMs = opts.staleMs ?? 3 * this.heartbeatMs;
  }

  /** Registers this process and reports the first count before returning. */
  static async start(ctx: DbContext, opts: PresenceOptions): Promise<ProcessPresence> {
    const p = new ProcessPresence(ctx, opts);
    await p.beat();
    p.timer = setInterval(() => {
      p.beating = p.beating.then(() => p.beat());
    }, p.heartbeatMs);
    p.timer.unref();
    return p;
  }

  /** The last count (1 until the first beat succeeded). */
  get processes(): number {
    return Math.max(1, this.count);
  }

  private async beat(): Promise<void> {
    if (this.closed) return;
    try {
      const now = nowOf(this.ctx);
      await beatProcess(this.ctx, this.id, now);
      const n = await countLiveProcesses(this.ctx, new Date(now.getTime() - this.staleMs));
      if (n !== this.count) {
        if (this.count !== 0)
          this.opts.log.info({ processes: n }, 'Tether processes on this database changed');
        this.count = n;
        this.opts.onCount(Math.max(1, n));
      }
      // Dead processes' rows only cost a row each: cleared hourly, not at every beat.
      if (now.getTime() - this.prunedAt >= PRUNE_EVERY_MS) {
        this.prunedAt = now.getTime();
        await pruneProcesses(this.ctx, new Date(now.getTime() - PRUNE_AFTER_MS));
      }
    } catch (err) {
      this.opts.log.warn({ err }, 'process heartbeat failed');
    }
  }

  /** Stops beating and removes this process's row. Never throws. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    await this.beating;
    await removeProcess(this.ctx, this.id).catch((err: unknown) =>
      this.opts.log.warn({ err }, 'could not remove the process row'),
    );
  }
}
