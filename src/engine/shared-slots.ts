/**
 * Shared slots: named scopes each holding at most N holders across every Tether process on this
 * database (db/shared-slots.ts), e.g. the jobs one Marketo instance's bulk export queue may hold. Binds
 * this process's id and presence's stale rule (engine/presence.ts: a process silent `staleMs` is dead,
 * so its holders stop counting). No provider code here: callers name their scopes.
 *
 * Database errors are logged and the slot is granted ("fail open"): callers keep their own in-process
 * count (the bulk exporter's instance share), so the worst case is what Tether did before slots were
 * shared (each process within its own cap; Marketo then answers "too many jobs" and the caller waits),
 * whereas failing closed would stall every sync for as long as the database is unreachable.
 */
import type { Logger } from 'pino';
import type { DbContext } from '../db/context.ts';
import { nowOf } from '../db/context.ts';
import { releaseProcessSlots, releaseSlot, takeSlot, type SlotTake } from '../db/shared-slots.ts';

export interface SharedSlotsOptions {
  /** This process's id: its `tether_processes` row (presence). */
  processId: string;
  /** A process whose heartbeat is older than this is dead (presence's `staleMs`). */
  staleMs: number;
  log: Logger;
}

export class SharedSlots {
  private closed = false;

  constructor(
    private readonly ctx: DbContext,
    private readonly opts: SharedSlotsOptions,
  ) {}

  /**
   * Takes a slot of `scope` for `holder`: true when it got one (or already had it). `max` is the scope's
   * cap; `Infinity` takes it whatever the count (the holder is in use already, e.g. a job Marketo has
   * queued). After {@link close}, or on a database error (logged), it answers true (see above).
   */
  async take(scope: string, holder: string, max: number): Promise<boolean> {
    if (this.closed) return true;
    const now = nowOf(this.ctx);
    const input: SlotTake = {
      scope,
      holder,
      processId: this.opts.processId,
      liveSince: new Date(now.getTime() - this.opts.staleMs),
      now,
    };
    if (Number.isFinite(max)) input.max = max;
    else if (Number.isNaN(max)) return false;
    try {
      return await takeSlot(this.ctx, input);
    } catch (err) {
      this.opts.log.warn({ err, scope }, 'shared slot take failed; going on with this process count only');
      return true;
    }
  }

  /** Gives the holder's slot back. Never throws (a failure is logged: the row goes at this process's stop). */
  async release(scope: string, holder: string): Promise<void> {
    if (this.closed) return;
    try {
      await releaseSlot(this.ctx, scope, holder, this.opts.processId);
    } catch (err) {
      this.opts.log.warn({ err, scope }, 'shared slot release failed');
    }
  }

  /** A clean stop: every slot this process holds is given back. Never throws. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await releaseProcessSlots(this.ctx, this.opts.processId);
    } catch (err) {
      this.opts.log.warn({ err }, "could not release this process's shared slots");
    }
  }
}
