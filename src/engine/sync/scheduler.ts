/**
 * The sync scheduler: every `tickMs` it looks for syncs that may run (due by their schedule, triggered,
 * or left `RUNNING` by a stopped or crashed process), claims each in the database (one run per
 * connection and sync, across processes: see src/db/syncs.ts) and runs it (src/engine/sync/runner.ts),
 * at most `maxConcurrentRuns` at once in this process. Traffic to each Marketo instance is governed by
 * the provider's traffic controller, so several runs against one instance share its limits with the
 * proxy (which has priority).
 *
 * Syncs are created for a connection when it is created ({@link ensureSyncsForConnection}, called by the
 * connect flow) and, as a safety net, for every live connection that lacks some, at start and every
 * `ensureEveryMs`. A new sync is due at once: the initial run.
 *
 * Variants (Nango's sync variants, engine/sync/variants.ts) are syncs like any other: scheduled, claimed
 * and run the same way; `cancelRun()` stops the run of a deleted variant at once.
 *
 * An integration's function settings (db/integration-functions.ts) decide two things here: a sync it does
 * not auto-start is created paused for its new connections, and a sync it disabled is never due (the
 * query filters it) and its run in progress in this process is stopped at the next tick: the run ends
 * CANCELLED (`sync_disabled`), keeping its last checkpoint, and the sync is due again on its schedule
 * once enabled.
 *
 * `close()` stops claiming and stops the runs in progress at once: a call in flight is abandoned, a page
 * being saved is saved. Their runs stay `RUNNING` with their last checkpoint, leases freed, and are resumed
 * by the next start (the abandoned call's page is read again). It waits for them at most `closeTimeoutMs`.
 *
 * Enabled unless `TETHER_SYNCS=off`; under vitest (`VITEST` set) disabled unless `TETHER_SYNCS=on`, so
 * tests of other features do not see background calls. A disabled scheduler still serves the sync routes
 * (schedules, triggers and status are stored), it just runs nothing.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { EngineDeps } from '../deps.ts';
import type { Connection } from '../../db/connections.ts';
import { nowOf } from '../../db/context.ts';
import {
  claimSync,
  connectionsMissingSyncs,
  ensureSyncs,
  listDueSyncs,
  type Claim,
  type DueSync,
} from '../../db/syncs.ts';
import { disabledSyncKey, listDisabledSyncs, syncsNotAutoStarted } from '../../db/integration-functions.ts';
import { executeRun, type RunCancelReason, type RunOutcome } from './runner.ts';
import {
  findSyncDef,
  registerModels,
  storedModelsOf,
  SYNCS_BY_PROVIDER,
  syncDefsOf,
  type SyncRegistry,
} from './registry.ts';

export interface SyncSchedulerOptions {
  /** Default: {@link syncsEnabledFromEnv}. */
  enabled?: boolean;
  /** How often to look for due syncs (default 1 s). */
  tickMs?: number;
  /** How often a run renews its lease (default 5 s). */
  heartbeatMs?: number;
  /** A lease not renewed for this long belongs to a dead process: its run is resumed (default 30 s). */
  staleAfterMs?: number;
  /** Runs at once in this process (default 8, the background slots of a Marketo instance). */
  maxConcurrentRuns?: number;
  /** How often to create missing syncs of live connections (default 60 s). */
  ensureEveryMs?: number;
  /** Longest wait for runs to stop on close (default 10 s). */
  closeTimeoutMs?: number;
  /** Provider → syncs (default {@link SYNCS_BY_PROVIDER}). */
  registry?: SyncRegistry;
  /** This process's lease owner id (default a random UUID). */
  owner?: string;
  /** Called after every run (tests, metrics). */
  onRunEnd?: (outcome: RunOutcome & { syncId: number; syncName: string; variant: string }) => void;
}

/** `TETHER_SYNCS` on|off (unset: on), for schedulers built without a config. */
export function syncsEnabledFromEnv(env: Record<string, string | undefined> = process.env): boolean {
  const v = (env.TETHER_SYNCS ?? '').trim().toLowerCase();
  return !['off', 'false', '0', 'no'].includes(v);
}

export class SyncScheduler {
  readonly registry: SyncRegistry;
  readonly owner: string;
  readonly enabled: boolean;
  private readonly tickMs: number;
  private readonly heartbeatMs: number;
  private readonly staleAfterMs: number;
  private readonly maxConcurrentRuns: number;
  private readonly ensureEveryMs: number;
  private readonly closeTimeoutMs: number;
  private readonly onRunEnd: SyncSchedulerOptions['onRunEnd'];
  private readonly log: Logger;
  private readonly running = new Map<number, Promise<void>>();
  /** Per run in progress (by sync id): aborted when its sync is deleted ({@link cancelRun}) or disabled. */
  private readonly cancels = new Map<number, AbortController>();
  /** Per run in progress (by sync id): the settings key of its sync ({@link disabledSyncKey}). */
  private readonly runKeys = new Map<number, string>();
  private readonly stop = new AbortController();
  private timer: ReturnType<typeof setInterval> | undefined;
  private ticking: Promise<void> | undefined;
  private again = false;
  private lastEnsure = 0;
  private closed = false;
  private started = false;

  constructor(
    private readonly deps: EngineDeps,
    opts: SyncSchedulerOptions = {},
  ) {
    this.registry = opts.registry ?? SYNCS_BY_PROVIDER;
    this.owner = opts.owner ?? randomUUID();
    this.enabled = opts.enabled ?? syncsEnabledFromEnv();
    this.tickMs = opts.tickMs ?? 1_000;
    this.heartbeatMs = opts.heartbeatMs ?? 5_000;
    // A live owner renews its lease several times before it may be considered dead.
    this.staleAfterMs = Math.max(opts.staleAfterMs ?? 30_000, this.heartbeatMs * 3);
    this.maxConcurrentRuns = opts.maxConcurrentRuns ?? 8;
    this.ensureEveryMs = opts.ensureEveryMs ?? 60_000;
    this.closeTimeoutMs = opts.closeTimeoutMs ?? 10_000;
    this.onRunEnd = opts.onRunEnd;
    this.log = deps.log.child({ component: 'syncs' });
    registerModels(this.registry);
  }

  /** Starts ticking (no-op when disabled or closed). */
  start(): this {
    if (!this.enabled || this.closed || this.started) return this;
    this.started = true;
    this.timer = setInterval(() => this.wake(), this.tickMs);
    this.timer.unref();
    this.wake();
    return this;
  }

  /** Looks for due syncs now (after a connect, a trigger, a start). */
  wake(): void {
    if (!this.started || this.closed) return;
    if (this.ticking) {
      this.again = true;
      return;
    }
    this.ticking = this.tick()
      .catch((err: unknown) => this.log.error({ err }, 'sync scheduler tick failed'))
      .finally(() => {
        this.ticking = undefined;
        if (this.again && !this.closed) {
          this.again = false;
          this.wake();
        }
      });
  }

  /** Runs in progress in this process. */
  get runningCount(): number {
    return this.running.size;
  }

  /** Resolves when no run is in progress in this process and no tick is under way. */
  async idle(): Promise<void> {
    while (this.running.size > 0 || this.ticking) {
      await Promise.allSettled([...this.running.values(), this.ticking]);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.stop.abort();
    const all = Promise.allSettled([...this.running.values(), this.ticking]);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, this.closeTimeoutMs);
    });
    await Promise.race([all, timeout]);
    if (timer) clearTimeout(timer);
    if (this.running.size > 0) this.log.warn({ runs: this.running.size }, 'sync runs still busy at close');
  }

  /**
   * Stops this process's run of a sync that was deleted (a variant: `sync_deleted`) or whose connection
   * was (`connection_deleted`), and waits for it to end, at most `closeTimeoutMs`: calls in flight are
   * abandoned, downloads cancelled, nothing more is written. A deleted sync's run ends DELETED (its row
   * must be gone already, so that no one claims it again); a deleted connection's run ends CANCELLED, as
   * it would at its next page. A run in another process stops at its next page or heartbeat.
   */
  async cancelRun(syncId: number, why: RunCancelReason = 'sync_deleted'): Promise<void> {
    const run = this.running.get(syncId);
    if (!run) return;
    this.cancels.get(syncId)?.abort(why);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, this.closeTimeoutMs);
    });
    await Promise.race([run.catch(() => undefined), timeout]);
    if (timer) clearTimeout(timer);
  }

  /** Creates the missing syncs of a connection (due at once) and wakes the scheduler. */
  async ensureForConnection(connection: Pick<Connection, 'id' | 'provider'>): Promise<number> {
    const defs = syncDefsOf(this.registry, connection.provider);
    const ctx = this.deps.store.ctx;
    const created = await ensureSyncs(
      ctx,
      connection.id,
      defs.map((d) => d.name),
      nowOf(ctx),
      () => syncsNotAutoStarted(ctx, connection.id),
    );
    if (created > 0) this.wake();
    return created;
  }

  private async ensureAll(): Promise<void> {
    const counts: Record<string, number> = {};
    for (const [provider, defs] of Object.entries(this.registry)) counts[provider] = defs.length;
    for (const c of await connectionsMissingSyncs(this.deps.store.ctx, counts)) {
      await this.ensureForConnection(c);
    }
  }

  private async tick(): Promise<void> {
    if (this.closed) return;
    const ctx = this.deps.store.ctx;
    if (Date.now() - this.lastEnsure >= this.ensureEveryMs) {
      this.lastEnsure = Date.now();
      await this.ensureAll();
    }
    if (this.running.size > 0) await this.stopDisabledRuns();
    const free = this.maxConcurrentRuns - this.running.size;
    if (free <= 0) return;
    const now = nowOf(ctx);
    const staleBefore = new Date(now.getTime() - this.staleAfterMs);
    const due = await listDueSyncs(ctx, {
      now,
      staleBefore,
      limit: free,
      exclude: [...this.running.keys()],
      providers: Object.keys(this.registry),
    });
    for (const d of due) {
      if (this.closed || this.running.size >= this.maxConcurrentRuns) break;
      const def = findSyncDef(this.registry, d.provider, d.name);
      const claim = await claimSync(ctx, {
        syncId: d.id,
        owner: this.owner,
        now: nowOf(ctx),
        staleBefore,
        // A variant's records are its own (`Model::variant`): a reset that empties the cache empties those.
        models: storedModelsOf(def, d.variant),
      });
      if (claim) this.launch(claim, d);
    }
  }

  /**
   * Stops this process's runs of syncs their integration disabled (one small query per tick while runs are
   * in progress): the runner ends each CANCELLED, `sync_disabled` (a second abort of a run is a no-op).
   */
  private async stopDisabledRuns(): Promise<void> {
    const disabled = new Set((await listDisabledSyncs(this.deps.store.ctx)).map(disabledSyncKey));
    if (disabled.size === 0) return;
    for (const [syncId, key] of this.runKeys) {
      if (disabled.has(key)) this.cancels.get(syncId)?.abort('sync_disabled' satisfies RunCancelReason);
    }
  }

  private launch(claim: Claim, due: DueSync): void {
    const provider = due.provider;
    const def = findSyncDef(this.registry, provider, claim.sync.name);
    if (claim.resumed) {
      this.log.info(
        { syncId: claim.sync.id, sync: claim.sync.name, runId: claim.run.id },
        'resuming a sync run from its checkpoint',
      );
    }
    const cancel = new AbortController();
    const p = executeRun({
      deps: this.deps,
      owner: this.owner,
      claim,
      def,
      stop: this.stop.signal,
      cancel: cancel.signal,
      heartbeatMs: this.heartbeatMs,
      log: this.log,
    })
      .then((outcome) => {
        this.onRunEnd?.({
          ...outcome,
          syncId: claim.sync.id,
          syncName: claim.sync.name,
          variant: claim.sync.variant,
        });
      })
      .catch((err: unknown) => {
        this.log.error({ err, syncId: claim.sync.id }, 'sync run crashed');
      })
      .finally(() => {
        this.running.delete(claim.sync.id);
        this.cancels.delete(claim.sync.id);
        this.runKeys.delete(claim.sync.id);
        // A freed slot, or a run requested meanwhile: look again.
        this.wake();
      });
    this.running.set(claim.sync.id, p);
    this.cancels.set(claim.sync.id, cancel);
    this.runKeys.set(
      claim.sync.id,
      disabledSyncKey({
        environmentId: due.environmentId,
        providerConfigKey: due.providerConfigKey,
        name: claim.sync.name,
      }),
    );
  }
}

/**
 * Timings from the environment (operators and process-level tests): `TETHER_SYNC_TICK_MS`,
 * `TETHER_SYNC_HEARTBEAT_MS`, `TETHER_SYNC_STALE_MS`, `TETHER_SYNC_MAX_RUNS`; invalid values are ignored.
 */
export function syncSchedulerEnvOptions(
  env: Record<string, string | undefined> = process.env,
): SyncSchedulerOptions {
  const int = (name: string, min: number): number | undefined => {
    const raw = env[name]?.trim();
    if (!raw || !/^\d{1,9}$/.test(raw)) return undefined;
    const n = Number(raw);
    return n >= min ? n : undefined;
  };
  const out: SyncSchedulerOptions = {};
  const tick = int('TETHER_SYNC_TICK_MS', 10);
  const beat = int('TETHER_SYNC_HEARTBEAT_MS', 10);
  const stale = int('TETHER_SYNC_STALE_MS', 100);
  const runs = int('TETHER_SYNC_MAX_RUNS', 1);
  if (tick !== undefined) out.tickMs = tick;
  if (beat !== undefined) out.heartbeatMs = beat;
  if (stale !== undefined) out.staleAfterMs = stale;
  if (runs !== undefined) out.maxConcurrentRuns = runs;
  return out;
}

/** Creates and starts the scheduler (`deps.syncs`), with {@link syncSchedulerEnvOptions} under `opts`. */
export function startSyncScheduler(deps: EngineDeps, opts: SyncSchedulerOptions = {}): SyncScheduler {
  return new SyncScheduler(deps, { ...syncSchedulerEnvOptions(), ...opts }).start();
}

/**
 * Hook for the connect flow: the syncs of a new connection exist at once and their initial runs start.
 * Never throws (a failure is logged; the scheduler creates missing syncs later anyway).
 */
export async function ensureSyncsForConnection(
  deps: EngineDeps,
  connection: Pick<Connection, 'id' | 'provider'>,
): Promise<void> {
  try {
    if (deps.syncs) await deps.syncs.ensureForConnection(connection);
    else {
      const defs = syncDefsOf(SYNCS_BY_PROVIDER, connection.provider);
      await ensureSyncs(
        deps.store.ctx,
        connection.id,
        defs.map((d) => d.name),
        nowOf(deps.store.ctx),
        () => syncsNotAutoStarted(deps.store.ctx, connection.id),
      );
    }
  } catch (err) {
    deps.log.warn({ err, connectionPk: connection.id }, 'could not create the syncs of a connection');
  }
}
