/**
 * The async action runner (`POST /action/trigger` with `X-Async: true`): executes the runs stored in
 * `action_runs` (db/action-runs.ts), in creation order per environment and one at a time per environment
 * (Nango runs them sequentially), several environments side by side, as background traffic.
 *
 * - Claims: a lease per run, renewed while it runs (db/action-runs.ts `claimNextActionRuns`): two
 *   processes never run one row at once; a run whose process died is taken again once its lease ran out.
 * - A stop waits for a claim in flight (what it took is not run), aborts the runs in progress and gives
 *   their leases up; the next start takes them at once. A run taken again after an attempt had started (a
 *   crash or a stop) runs again only when its action is idempotent; otherwise it fails with `interrupted`
 *   (the first attempt may have written to the provider already). Attempts are counted before they start,
 *   so a run taken over with none counted runs whatever its action.
 * - Retries: up to the run's `max_retries` (`X-Max-Retries`), only when running it again is safe: the
 *   action is idempotent, or the failure means the provider did not run it (a spent budget or quota, a
 *   busy instance, rate/concurrency limits, 5xx) and no write of the attempt had been taken before.
 * - A spent daily budget or quota (refused with its reset time) is no failure and spends no retry: when a
 *   retry would be safe, the run is parked (db/action-runs.ts `parkActionRun`) until the reset plus a
 *   little jitter (parked runs do not all start at once at midnight), stored, so a restart or another
 *   process honours it. Later runs of the same connection wait behind it (a product's writes to one
 *   account keep their order, as a Nango user expects of a queue); other connections' runs go on. A run
 *   that would wait longer than `maxParkMs` since it was first parked fails with the refusal, as before.
 * - The end (success or final failure) is stored, then the `async_action` webhook goes out (webhooks.ts).
 * - Runs older than 7 days are pruned. A run's input is stored (the run needs it) but never logged.
 */
import { randomUUID } from 'node:crypto';
import type { EngineDeps } from '../deps.ts';
import { getConnectionById } from '../../db/connections.ts';
import { nowOf } from '../../db/context.ts';
import { isFunctionEnabled } from '../../db/integration-functions.ts';
import {
  claimNextActionRuns,
  finishActionRun,
  parkActionRun,
  pruneActionRuns,
  releaseActionLeases,
  renewActionLease,
  setActionAttempts,
  type ActionRun,
  type ActionRunError,
  type ClaimedActionRun,
} from '../../db/action-runs.ts';
import { ApiError } from '../../api-error.ts';
import { ACTIONS_BY_PROVIDER, findActionDef, type ActionRegistry } from './registry.ts';
import { ActionFailed, ASYNC_ACTION_TIMEOUT_MS, parseActionInput, runAction } from './runner.ts';
import { sendActionWebhook } from './webhooks.ts';
import { isIdempotent } from '../../providers/action-contract.ts';

export interface ActionQueueOptions {
  registry?: ActionRegistry;
  /** This process's lease owner id (default a random UUID). */
  owner?: string;
  /** How often stored runs are looked for besides {@link ActionQueue.wake} (default 1 s). */
  pollMs?: number;
  /** How long a claim holds a run before another process may take it (default 60 s; renewed at a third). */
  leaseMs?: number;
  /** Environments whose runs execute side by side (default 4). */
  maxConcurrent?: number;
  /** Wait before retry n (0-based) of a failed run (default 1 s × 2^n, at most 30 s). */
  retryDelayMs?: (retry: number) => number;
  /** Bound on one attempt (default 15 min). */
  attemptTimeoutMs?: number;
  /** Runs are pruned this long after their creation (default 7 days). */
  keepMs?: number;
  /** Called after every run that ended here (tests, metrics). */
  onRunEnd?: (end: ActionRunEnd) => void;
  /** Longest wait for a budget or quota reset, from the run's first parking (default 48 h). */
  maxParkMs?: number;
  /** Up to this much is added at random to a parked run's reset time (default 30 s). */
  parkJitterMs?: number;
  /** The queue's clock (default the database context's): tests move it past a reset. */
  now?: () => Date;
}

export type ActionRunEnd =
  | { id: string; status: 'success'; attempts: number }
  | { id: string; status: 'failure'; attempts: number; error: ActionRunError };

const DAY_MS = 24 * 3600_000;
const PRUNE_EVERY_MS = 3600_000;

const defaultRetryDelay = (n: number): number => Math.min(30_000, 1_000 * 2 ** n);

type Ending =
  | { status: 'success'; output: unknown }
  | { status: 'failure'; error: ActionRunError }
  | { status: 'parked'; notBefore: Date; reason: ActionRunError; attempts: number }
  | null;

export class ActionQueue {
  readonly registry: ActionRegistry;
  readonly owner: string;
  private readonly pollMs: number;
  private readonly leaseMs: number;
  private readonly maxConcurrent: number;
  private readonly retryDelayMs: (n: number) => number;
  private readonly attemptTimeoutMs: number;
  private readonly keepMs: number;
  private readonly maxParkMs: number;
  private readonly parkJitterMs: number;
  /** Environment id → its run in progress here. */
  private readonly running = new Map<number, { ctl: AbortController; done: Promise<void> }>();
  private timer: NodeJS.Timeout | undefined;
  private ticking = false;
  /** The look in progress (or the last one): close() waits for it. */
  private tickDone: Promise<void> = Promise.resolve();
  private again = false;
  private closed = false;
  private lastPrune = 0;

  constructor(
    private readonly deps: EngineDeps,
    private readonly opts: ActionQueueOptions = {},
  ) {
    this.registry = opts.registry ?? ACTIONS_BY_PROVIDER;
    this.owner = opts.owner ?? randomUUID();
    this.pollMs = opts.pollMs ?? 1_000;
    this.leaseMs = opts.leaseMs ?? 60_000;
    this.maxConcurrent = opts.maxConcurrent ?? 4;
    this.retryDelayMs = opts.retryDelayMs ?? defaultRetryDelay;
    this.attemptTimeoutMs = opts.attemptTimeoutMs ?? ASYNC_ACTION_TIMEOUT_MS;
    this.keepMs = opts.keepMs ?? 7 * DAY_MS;
    this.maxParkMs = opts.maxParkMs ?? 2 * DAY_MS;
    this.parkJitterMs = opts.parkJitterMs ?? 30_000;
  }

  start(): this {
    if (this.closed || this.timer) return this;
    this.timer = setInterval(() => this.wake(), this.pollMs);
    this.timer.unref();
    // Runs left by an earlier process are taken at once.
    setImmediate(() => this.wake());
    return this;
  }

  /** Look for runs now (a run was just queued, or one ended). Never throws. */
  wake(): void {
    if (this.closed) return;
    if (this.ticking) {
      this.again = true;
      return;
    }
    this.ticking = true;
    this.tickDone = this.tick()
      .catch((err: unknown) => this.deps.log.warn({ err }, 'action queue: looking for runs failed'))
      .finally(() => {
        this.ticking = false;
        if (this.again) {
          this.again = false;
          this.wake();
        }
      });
  }

  /**
   * Stops: waits for a look in progress (its claims are not run), aborts the runs in progress, waits for
   * them, gives their leases up (see the module comment).
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    // A claim still in flight would otherwise take runs after the leases below are given up, and run
    // them on a store that is being closed.
    await this.tickDone;
    for (const r of this.running.values()) r.ctl.abort(new Error('Tether is stopping.'));
    await Promise.all([...this.running.values()].map((r) => r.done));
    try {
      await releaseActionLeases(this.deps.store.ctx, this.owner);
    } catch (err) {
      this.deps.log.warn({ err }, 'action queue: releasing leases failed');
    }
  }

  private now(): Date {
    return this.opts.now ? this.opts.now() : nowOf(this.deps.store.ctx);
  }

  private async tick(): Promise<void> {
    const ctx = this.deps.store.ctx;
    const now = this.now();
    if (now.getTime() - this.lastPrune >= PRUNE_EVERY_MS) {
      this.lastPrune = now.getTime();
      await pruneActionRuns(ctx, new Date(now.getTime() - this.keepMs), now);
    }
    const room = this.maxConcurrent - this.running.size;
    if (room <= 0 || this.closed) return;
    const claims = await claimNextActionRuns(ctx, {
      owner: this.owner,
      now,
      leaseUntil: new Date(now.getTime() + this.leaseMs),
      limit: room,
      busyEnvironments: [...this.running.keys()],
    });
    // Closed meanwhile: the claims are given back by close() (releaseActionLeases), not run.
    if (this.closed) return;
    for (const claim of claims) {
      const ctl = new AbortController();
      const envId = claim.run.environmentId;
      const done = this.execute(claim, ctl).finally(() => {
        this.running.delete(envId);
        this.wake(); // the environment's next run
      });
      this.running.set(envId, { ctl, done });
    }
  }

  private async execute(claim: ClaimedActionRun, ctl: AbortController): Promise<void> {
    const { run } = claim;
    const ctx = this.deps.store.ctx;
    const heartbeat = setInterval(
      () => {
        const until = new Date(this.now().getTime() + this.leaseMs);
        renewActionLease(ctx, run.id, this.owner, until)
          .then((held) => {
            if (!held) ctl.abort(new Error('The run was taken by another process.'));
          })
          .catch((err: unknown) =>
            this.deps.log.warn({ err, actionRunId: run.id }, 'action lease renewal failed'),
          );
      },
      Math.max(50, Math.floor(this.leaseMs / 3)),
    );
    heartbeat.unref();
    let attempts = run.attempts;
    try {
      const ending = await this.perform(claim, ctl.signal, (n) => {
        attempts = n;
      });
      // Stopped (or taken away) mid-run: the row stays `running` for the next claim.
      if (ending === null) return;
      if (ending.status === 'parked') {
        const parked = await parkActionRun(ctx, run.id, this.owner, { ...ending, now: this.now() });
        if (parked) {
          this.deps.log.info(
            {
              actionRunId: run.id,
              action: run.actionName,
              code: ending.reason.code,
              notBefore: ending.notBefore.toISOString(),
            },
            'async action waits for a daily budget or quota reset',
          );
        }
        return;
      }
      const finished = await finishActionRun(ctx, run.id, this.owner, { ...ending, now: this.now() });
      if (!finished) return;
      this.deps.log.info(
        { actionRunId: run.id, action: run.actionName, status: ending.status, attempts },
        'async action ended',
      );
      this.opts.onRunEnd?.(
        ending.status === 'success'
          ? { id: run.id, status: 'success', attempts }
          : { id: run.id, status: 'failure', attempts, error: ending.error },
      );
      await sendActionWebhook(this.deps, run);
    } catch (err) {
      this.deps.log.warn({ err, actionRunId: run.id, action: run.actionName }, 'async action run failed');
    } finally {
      clearInterval(heartbeat);
    }
  }

  /** Runs the attempts; the ending to store, or null when the run was stopped before it ended. */
  private async perform(
    claim: ClaimedActionRun,
    signal: AbortSignal,
    onAttempt: (n: number) => void,
  ): Promise<Ending> {
    const { run, resumed } = claim;
    const ctx = this.deps.store.ctx;
    const failure = (code: string, message: string, extra?: Record<string, unknown>): Ending => ({
      status: 'failure',
      error: { code, message, ...(extra && Object.keys(extra).length > 0 ? { extra } : {}) },
    });
    const connection = await getConnectionById(ctx, run.connectionPk);
    if (!connection)
      return failure('unknown_connection', 'The connection was deleted before the action ran.');
    const def = findActionDef(this.registry, connection.provider, run.actionName);
    if (!def) return failure('unknown_action', `There is no action "${run.actionName}" any more.`);
    // Disabled after it was queued (or while it waited for a quota reset): not run, as a trigger now
    // would not be (postTrigger.ts answers 404 disabled_resource).
    const enabled = await isFunctionEnabled(ctx, {
      environmentId: connection.environmentId,
      providerConfigKey: connection.providerConfigKey,
      type: 'action',
      name: def.name,
    });
    if (!enabled) {
      return failure(
        'disabled_resource',
        `The action "${def.name}" was disabled for integration "${connection.providerConfigKey}" before it ran.`,
      );
    }
    let input: unknown;
    try {
      input = parseActionInput(def, run.input);
    } catch (err) {
      if (err instanceof ApiError) return failure(err.code, err.message);
      throw err;
    }
    const idempotent = isIdempotent(def, input);
    // Attempts are counted before they start (setActionAttempts): a run taken over with none counted never
    // started one (its process stopped between the claim and the attempt), so it may run, idempotent or not.
    if (resumed && !idempotent && run.attempts > 0) {
      return failure(
        'interrupted',
        'Tether stopped while the action ran; it is not idempotent, so it was not run again (it may have written part of its changes).',
      );
    }
    let attempts = run.attempts;
    for (;;) {
      if (signal.aborted) return null;
      attempts++;
      onAttempt(attempts);
      await setActionAttempts(ctx, run.id, this.owner, attempts);
      try {
        const output = await runAction(this.deps, connection, def, input, {
          priority: 'background',
          timeoutMs: this.attemptTimeoutMs,
          signal,
        });
        return { status: 'success', output };
      } catch (err) {
        if (signal.aborted) return null;
        if (!(err instanceof ActionFailed)) throw err;
        const now = this.now().getTime();
        const park = parkingOf(err, idempotent, now, {
          parkedAt: run.parkedAt === null ? now : Date.parse(run.parkedAt),
          maxParkMs: this.maxParkMs,
          jitterMs: Math.floor(Math.random() * this.parkJitterMs),
        });
        if (park.kind === 'park') {
          return {
            status: 'parked',
            notBefore: new Date(park.notBefore),
            reason: toRunError(err),
            attempts: attempts - 1,
          };
        }
        if (park.kind === 'too_long') return { status: 'failure', error: toRunError(err) };
        if (attempts <= run.maxRetries && mayRetry(idempotent, err)) {
          this.deps.log.info(
            { actionRunId: run.id, action: run.actionName, attempt: attempts, code: err.failure.code },
            'async action attempt failed; retrying',
          );
          if (!(await pause(this.retryDelayMs(attempts - 1), signal))) return null;
          continue;
        }
        return { status: 'failure', error: toRunError(err) };
      }
    }
  }
}

/** The stored error of a failed attempt (its HTTP error code, message and extra fields). */
function toRunError(err: ActionFailed): ActionRunError {
  const { code, message, extra } = err.failure;
  return { code, message, ...(Object.keys(extra).length > 0 ? { extra } : {}) };
}

export type Parking =
  /** Not a spent budget or quota (or its reset already passed): retried or failed as any failure. */
  | { kind: 'none' }
  /** Wait: not taken again before `notBefore` (epoch ms). */
  | { kind: 'park'; notBefore: number }
  /** The reset comes later than the cap allows (counted from `parkedAt`): the run fails. */
  | { kind: 'too_long' };

/**
 * What a failed attempt means for parking (pure): a spent daily budget or quota with a reset still to
 * come parks the run until the reset plus `jitterMs`, when running it again is safe ({@link mayRetry}:
 * a non-idempotent action that already wrote is failed, as before), unless that is more than `maxParkMs`
 * after the run was first parked (`parkedAt`, now for a first parking). A reset already past is no reason
 * to wait (clocks differ): that failure takes the ordinary retry path, so a run never spins re-parking.
 */
export function parkingOf(
  failed: ActionFailed,
  idempotent: boolean,
  now: number,
  opts: { parkedAt: number; maxParkMs: number; jitterMs: number },
): Parking {
  const resetAt = failed.failure.resetAt;
  if (resetAt === undefined || resetAt <= now || !mayRetry(idempotent, failed)) return { kind: 'none' };
  const notBefore = resetAt + Math.max(0, opts.jitterMs);
  if (notBefore - opts.parkedAt > opts.maxParkMs) return { kind: 'too_long' };
  return { kind: 'park', notBefore };
}

/**
 * Whether running an action again after `failed` is safe: always for an idempotent action (running it
 * twice gives the same state); otherwise only when the provider refused without running anything and no
 * write of the attempt had been taken (a second run would repeat those writes).
 */
export function mayRetry(idempotent: boolean, failed: ActionFailed): boolean {
  return idempotent || (failed.failure.notRun && failed.writesApplied === 0);
}

/** Waits `ms`; false when `signal` aborted first. */
function pause(ms: number, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve(false);
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

export function startActionQueue(deps: EngineDeps, opts: ActionQueueOptions = {}): ActionQueue {
  return new ActionQueue(deps, opts).start();
}

export type { ActionRun };
