/**
 * Traffic control per provider instance: every call Tether makes to one instance (proxy now, syncs and
 * actions later, from every connection to that instance) asks this controller for a {@link Permit} first.
 *
 * A permit is granted when, for the instance:
 *  - fewer than `maxInFlight` permits are out (background work may not take the last
 *    `reservedForInteractive` of them),
 *  - fewer than `rateMax` permits were granted in the last `rateWindowMs + windowSkewMs` (rolling window
 *    over grant times; the skew covers the latency jitter between our grant and the provider's count, so
 *    the provider's own window never sees `rateMax + 1`),
 *  - the instance is not paused (a rate or concurrency limit was hit anyway: other tools share it) and
 *    not blocked (the provider's daily quota is spent, until `QuotaDay.nextStart`),
 *  - the connection's daily budget and Tether's share of the instance's daily quota are not spent
 *    (budgets reject at once: waiting would not help before the day ends).
 * Otherwise the caller waits in a queue: interactive waiters before background ones, FIFO within a
 * class (strict priority: sustained interactive load can starve background work, by design). A waiter
 * that is not served within `maxWaitMs` rejects with `capacity_timeout` and a Retry-After estimate;
 * nothing waits forever. `close()` rejects every waiter and clears every timer.
 *
 * Generic: limits, the quota day and the classification of responses ({@link CallOutcome}) come from the
 * provider side as data (Marketo: src/marketo/limits.ts). State is in memory, per process: several Tether
 * processes on one database split the rate and in-flight limits between them (`setProcesses`, fed by
 * engine/presence.ts); the daily budgets are shared: each process is told the calls the others made today
 * (`setUsedElsewhere`, from their stored usage, engine/usage.ts) and counts them with its own.
 */

import type { AbortSignalLike } from './outbound.ts';

export type Priority = 'interactive' | 'background';

/** One instance's limits, all configurable (customers buy larger quotas). */
export interface InstanceLimits {
  /** Calls started in any rolling window of `rateWindowMs`. */
  rateMax: number;
  rateWindowMs: number;
  /** Added to the window when granting: margin for latency jitter between our start and the provider's count. */
  windowSkewMs: number;
  /** Calls in flight at once. */
  maxInFlight: number;
  /** In-flight slots that background work may not take (kept for interactive calls). */
  reservedForInteractive: number;
  /** The provider's daily call quota for the instance (shared with the customer's other tools). */
  dailyQuota: number;
  /** Share of `dailyQuota` Tether may spend per day on the instance, all connections together (0..1). */
  quotaShare: number;
}

/** The provider's quota day: a key per day and when the next day starts (the daily quota reset). */
export interface QuotaDay {
  dayOf(ms: number): string;
  nextStart(ms: number): number;
}

/** UTC days: the default when a provider does not say. */
export const UTC_DAY: QuotaDay = {
  dayOf: (ms) => new Date(ms).toISOString().slice(0, 10),
  nextStart: (ms) => (Math.floor(ms / 86_400_000) + 1) * 86_400_000,
};

/** What a call came to, as the provider side classified it. `code` is the provider's error code. */
export type CallOutcome =
  | { kind: 'ok' }
  /** The instance's rate limit was hit anyway; the call did not run. */
  | { kind: 'rate_limited'; code: string }
  /** The instance's concurrency limit was hit anyway; the call did not run. */
  | { kind: 'concurrency_limited'; code: string }
  /** Temporary failure; the call may or may not have run (retry reads, writes only when asked). */
  | { kind: 'transient'; code: string }
  /** The daily quota is spent: block the instance until `resetAt` (default: the next quota day). */
  | { kind: 'quota_spent'; code: string; resetAt?: number }
  /** Credentials must be refreshed first (handled by the token manager, not here). */
  | { kind: 'auth'; code: string }
  /** Do not retry as is. */
  | { kind: 'fail'; code: string };

export type TrafficErrorCode =
  'capacity_timeout' | 'budget_exhausted' | 'quota_exhausted' | 'aborted' | 'closed';

export class TrafficError extends Error {
  readonly code: TrafficErrorCode;
  /** When to try again (ms from the rejection): Retry-After. */
  readonly retryAfterMs: number | undefined;
  /** Epoch ms at which a budget or quota resets. */
  readonly resetAt: number | undefined;
  /** Which budget is spent. */
  readonly scope: 'connection' | 'instance' | undefined;

  constructor(
    code: TrafficErrorCode,
    message: string,
    opts: {
      retryAfterMs?: number;
      resetAt?: number;
      scope?: 'connection' | 'instance';
      cause?: unknown;
    } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'TrafficError';
    this.code = code;
    this.retryAfterMs = opts.retryAfterMs;
    this.resetAt = opts.resetAt;
    this.scope = opts.scope;
  }
}

export function isTrafficError(err: unknown): err is TrafficError {
  return err instanceof TrafficError;
}

export interface AcquireRequest {
  instanceKey: string;
  connectionId: string;
  priority: Priority;
  /** Longest wait for capacity before `capacity_timeout` (default: the controller's `defaultMaxWaitMs`). */
  maxWaitMs?: number;
  signal?: AbortSignalLike;
}

export interface Permit {
  readonly instanceKey: string;
  readonly connectionId: string;
  readonly priority: Priority;
  /** When the permit was granted (the call's start as counted by the rate window). */
  readonly grantedAt: number;
  /** Time spent waiting for it. */
  readonly queuedMs: number;
  /** Free the slot; the outcome feeds limit-hit pauses, quota blocks and usage. Idempotent. */
  release(outcome?: CallOutcome): void;
}

export interface BudgetState {
  /** Calls per quota day. */
  limit: number;
  used: number;
  left: number;
  day: string;
  resetAt: number;
}

/** Events for usage accounting (see usage.ts). Must not throw; errors are swallowed. */
export interface TrafficObserver {
  granted(e: {
    instanceKey: string;
    connectionId: string;
    priority: Priority;
    at: number;
    queuedMs: number;
  }): void;
  released(e: { instanceKey: string; connectionId: string; at: number; outcome: CallOutcome }): void;
  retried(e: { instanceKey: string; connectionId: string; at: number; code: string }): void;
  rejected(e: { instanceKey: string; connectionId: string; at: number; code: TrafficErrorCode }): void;
}

/** How long to pause an instance after a limit was hit anyway: `minMs × 2^(hits in a row − 1)`, at most `maxMs`. */
export interface LimitHitPause {
  rate: { minMs: number; maxMs: number };
  concurrency: { minMs: number; maxMs: number };
}

export interface BackoffPolicy {
  /** First retry waits up to `baseMs` (full jitter), doubling per attempt, at most `maxMs`. */
  baseMs: number;
  maxMs: number;
  /** Retries of idempotent calls after transient failures when the caller does not ask for more. */
  maxRetries: number;
  /** Hard cap on any retries (also bounds what a caller may ask for). */
  maxRetriesCap: number;
  /** Retries after rate/concurrency limit hits (the call did not run; the wait is the instance pause). */
  maxLimitRetries: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = {
  baseMs: 500,
  maxMs: 8_000,
  maxRetries: 3,
  maxRetriesCap: 10,
  maxLimitRetries: 10,
};

export const DEFAULT_LIMIT_HIT_PAUSE: LimitHitPause = {
  rate: { minMs: 1_000, maxMs: 30_000 },
  concurrency: { minMs: 250, maxMs: 5_000 },
};

export interface TrafficOptions {
  /** Limits of an instance that was not `configure`d. */
  defaults: InstanceLimits;
  day?: QuotaDay;
  /** Epoch ms; injectable for tests. */
  now?: () => number;
  /** Default 30 s. */
  defaultMaxWaitMs?: number;
  /** Daily budget of a connection without `setBudget` (default: Tether's share of its instance's quota). */
  defaultConnectionBudget?: number;
  limitHitPause?: LimitHitPause;
  backoff?: BackoffPolicy;
  observer?: TrafficObserver;
  /**
   * Calls already made on a quota day by a connection or an instance, before this controller (stored
   * usage, engine/usage.ts): its daily counts start from there, so a restart does not give a spent
   * budget back. Asked when a connection's or an instance's day begins here. Default: none.
   */
  usedBefore?: (scope: 'instance' | 'connection', key: string, day: string) => number;
  /** [0, 1); injectable for tests (jitter). */
  random?: () => number;
}

// ---------------------------------------------------------------------------------------------------
// Retry policy

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS']);

export interface RetryContext {
  method: string;
  /** Overrides the method's idempotency (e.g. `POST ?_method=GET` is a read). */
  idempotent?: boolean;
  /** Retries the caller asked for (Nango's `Retries` header). */
  callerRetries?: number;
  /** Retries done so far (0 for the first call). */
  attempt: number;
  backoff?: BackoffPolicy;
  random?: () => number;
}

/**
 * Whether to retry a call and after how long.
 *  - `rate_limited` / `concurrency_limited`: the call did not run, retry (delay 0: the next `acquire`
 *    waits out the instance pause), at most `maxLimitRetries` times so a misbehaving instance cannot loop.
 *  - `transient`: exponential backoff with full jitter; reads up to max(`maxRetries`, callerRetries),
 *    other methods only up to `callerRetries`; never more than `maxRetriesCap`.
 *  - `ok`, `auth` (token manager's business), `quota_spent`, `fail`: no.
 */
export function retryPolicy(outcome: CallOutcome, ctx: RetryContext): { retry: boolean; delayMs: number } {
  const b = ctx.backoff ?? DEFAULT_BACKOFF;
  switch (outcome.kind) {
    case 'rate_limited':
    case 'concurrency_limited':
      return { retry: ctx.attempt < b.maxLimitRetries, delayMs: 0 };
    case 'transient': {
      const asked = Math.max(0, Math.floor(ctx.callerRetries ?? 0));
      const idempotent = ctx.idempotent ?? IDEMPOTENT.has(ctx.method.toUpperCase());
      const allowed = Math.min(b.maxRetriesCap, idempotent ? Math.max(b.maxRetries, asked) : asked);
      if (ctx.attempt >= allowed) return { retry: false, delayMs: 0 };
      const ceiling = Math.min(b.maxMs, b.baseMs * 2 ** ctx.attempt);
      return { retry: true, delayMs: Math.floor((ctx.random ?? Math.random)() * ceiling) };
    }
    default:
      return { retry: false, delayMs: 0 };
  }
}

// ---------------------------------------------------------------------------------------------------
// Controller

const OK: CallOutcome = { kind: 'ok' };

/** A granted permit: a class rather than a closure per grant (traffic control is on every call's path). */
class GrantedPermit implements Permit {
  readonly instanceKey: string;
  readonly connectionId: string;
  readonly priority: Priority;
  private released = false;

  constructor(
    private readonly controller: TrafficController,
    private readonly inst: InstanceState,
    req: AcquireRequest,
    readonly grantedAt: number,
    readonly queuedMs: number,
  ) {
    this.instanceKey = req.instanceKey;
    this.connectionId = req.connectionId;
    this.priority = req.priority;
  }

  release(outcome: CallOutcome = OK): void {
    if (this.released) return;
    this.released = true;
    this.controller.settle(this.inst, this, outcome);
  }
}

interface Waiter {
  req: AcquireRequest;
  enqueuedAt: number;
  resolve: (p: Permit) => void;
  reject: (e: TrafficError) => void;
  timer: ReturnType<typeof setTimeout> | undefined;
  onAbort: (() => void) | undefined;
}

/** Grant times in the current (skewed) window, ascending: a queue with a moving head, not a shift per grant. */
class Starts {
  private items: number[] = [];
  private head = 0;

  get size(): number {
    return this.items.length - this.head;
  }

  oldest(): number | undefined {
    return this.head < this.items.length ? this.items[this.head] : undefined;
  }

  /** The `n`-th newest grant time (1: the newest); `n` ≤ size. */
  newest(n: number): number {
    return this.items[this.items.length - n]!;
  }

  push(t: number): void {
    this.items.push(t);
  }

  /** Forget the grants that left the window. */
  prune(now: number, windowMs: number): void {
    const items = this.items;
    let h = this.head;
    while (h < items.length && now - items[h]! >= windowMs) h++;
    if (h === items.length) {
      items.length = 0;
      h = 0;
    } else if (h > 1024 && h * 2 > items.length) {
      this.items = items.slice(h);
      h = 0;
    }
    this.head = h;
  }
}

interface InstanceState {
  key: string;
  /** The instance's limits as configured (defaults + overrides). */
  configured: InstanceLimits;
  /** This process's part of them (see {@link TrafficController.setProcesses}): what grants obey. */
  limits: InstanceLimits;
  inFlight: number;
  starts: Starts;
  pausedUntil: number;
  blockedUntil: number;
  limitHits: { rate: number; concurrency: number };
  interactive: Waiter[];
  background: Waiter[];
  timer: ReturnType<typeof setTimeout> | undefined;
  timerAt: number;
  day: string;
  dayEndsAt: number;
  usedToday: number;
  /** Calls other processes made on `elsewhereDay` (see {@link TrafficController.setUsedElsewhere}). */
  elsewhere: number;
  elsewhereDay: string;
}

interface ConnectionState {
  budget: number | undefined;
  instanceKey: string | undefined;
  day: string;
  dayEndsAt: number;
  used: number;
  elsewhere: number;
  elsewhereDay: string;
}

export interface InstanceStatus {
  instanceKey: string;
  /** This process's part of the instance's limits (what it grants). */
  limits: InstanceLimits;
  /** Tether processes sharing the limits (this one included). */
  processes: number;
  inFlight: number;
  /** Grants in the current rolling window. */
  inWindow: number;
  queued: { interactive: number; background: number };
  pausedUntil: number | undefined;
  blockedUntil: number | undefined;
  budget: BudgetState;
}

export interface RunRequest extends AcquireRequest {
  method: string;
  idempotent?: boolean;
  callerRetries?: number;
}

export interface RunResult<T> {
  value: T;
  outcome: CallOutcome;
  /** Calls made (1 + retries). */
  attempts: number;
}

function positiveInt(n: number, name: string, min: number): number {
  if (!Number.isFinite(n) || Math.floor(n) !== n || n < min) {
    throw new RangeError(`${name} must be an integer ≥ ${min}`);
  }
  return n;
}

function checkLimits(l: InstanceLimits): InstanceLimits {
  positiveInt(l.rateMax, 'rateMax', 1);
  positiveInt(l.rateWindowMs, 'rateWindowMs', 1);
  positiveInt(l.windowSkewMs, 'windowSkewMs', 0);
  positiveInt(l.maxInFlight, 'maxInFlight', 1);
  positiveInt(l.reservedForInteractive, 'reservedForInteractive', 0);
  positiveInt(l.dailyQuota, 'dailyQuota', 0);
  if (!(l.quotaShare >= 0 && l.quotaShare <= 1)) throw new RangeError('quotaShare must be within 0..1');
  if (l.reservedForInteractive >= l.maxInFlight) {
    throw new RangeError('reservedForInteractive must leave background work at least one slot');
  }
  return l;
}

const instanceBudget = (l: InstanceLimits): number => Math.floor(l.dailyQuota * l.quotaShare);

/**
 * One process's part of an instance's limits when `processes` Tether processes call it: the rolling-window
 * rate and the calls in flight divided between them (at least one each), so that together they stay
 * within what Marketo allows (100 calls per 20 s, 10 at once) instead of each taking all of it. The daily
 * budget is not divided: it is shared by counting the other processes' calls ({@link
 * TrafficController.setUsedElsewhere}).
 */
export function shareOfLimits(l: InstanceLimits, processes: number): InstanceLimits {
  if (processes <= 1) return l;
  const maxInFlight = Math.max(1, Math.floor(l.maxInFlight / processes));
  return {
    ...l,
    rateMax: Math.max(1, Math.floor(l.rateMax / processes)),
    maxInFlight,
    reservedForInteractive: Math.min(Math.floor(l.reservedForInteractive / processes), maxInFlight - 1),
  };
}

/** The other processes' calls of the state's current quota day (0 when told of another day only). */
const elsewhereOf = (s: { day: string; elsewhere: number; elsewhereDay: string }): number =>
  s.elsewhereDay === s.day ? s.elsewhere : 0;

export class TrafficController {
  private readonly instances = new Map<string, InstanceState>();
  private readonly connections = new Map<string, ConnectionState>();
  private readonly overrides = new Map<string, Partial<InstanceLimits>>();
  private readonly sleepers = new Set<{ timer: ReturnType<typeof setTimeout>; cancel: () => void }>();
  private readonly defaults: InstanceLimits;
  private readonly day: QuotaDay;
  private readonly now: () => number;
  private readonly defaultMaxWaitMs: number;
  private readonly defaultConnectionBudget: number | undefined;
  private readonly pause: LimitHitPause;
  private readonly backoff: BackoffPolicy;
  private readonly observer: TrafficObserver | undefined;
  private readonly usedBefore: TrafficOptions['usedBefore'];
  private readonly random: () => number;
  private closed = false;
  /** Live Tether processes calling the same instances (this one included): see {@link setProcesses}. */
  private processes = 1;

  constructor(opts: TrafficOptions) {
    this.defaults = checkLimits({ ...opts.defaults });
    this.day = opts.day ?? UTC_DAY;
    this.now = opts.now ?? Date.now;
    this.defaultMaxWaitMs = opts.defaultMaxWaitMs ?? 30_000;
    this.defaultConnectionBudget = opts.defaultConnectionBudget;
    this.pause = opts.limitHitPause ?? DEFAULT_LIMIT_HIT_PAUSE;
    this.backoff = opts.backoff ?? DEFAULT_BACKOFF;
    this.observer = opts.observer;
    this.usedBefore = opts.usedBefore;
    this.random = opts.random ?? Math.random;
  }

  // -- configuration ------------------------------------------------------------------------------

  /** Override an instance's limits (merged over the defaults; `{}` restores them). Takes effect at once. */
  configure(instanceKey: string, limits: Partial<InstanceLimits>): void {
    const merged = checkLimits({ ...this.defaults, ...limits });
    this.overrides.set(instanceKey, { ...limits });
    const inst = this.instances.get(instanceKey);
    if (inst) {
      inst.configured = merged;
      inst.limits = shareOfLimits(merged, this.processes);
      this.pump(inst);
    }
  }

  /** An instance's limits as configured (this process grants its part of them: {@link status}). */
  limitsOf(instanceKey: string): InstanceLimits {
    return (
      this.instances.get(instanceKey)?.configured ?? {
        ...this.defaults,
        ...this.overrides.get(instanceKey),
      }
    );
  }

  /**
   * How many Tether processes call the instances (engine/presence.ts counts them through the database):
   * each grants its part of every instance's rate and in-flight limits ({@link shareOfLimits}). Takes
   * effect at once; waiters are served again under the new limits.
   */
  setProcesses(n: number): void {
    const processes = Math.max(1, Math.floor(n));
    if (processes === this.processes) return;
    this.processes = processes;
    for (const inst of this.instances.values()) {
      inst.limits = shareOfLimits(inst.configured, processes);
      this.pump(inst);
    }
  }

  /**
   * Calls other Tether processes on this database made on quota day `day` to a connection or an instance
   * (a running total, from their stored usage: engine/usage.ts). The daily budget checks and
   * {@link budget} / {@link instanceBudget} count them with this process's own. They arrive at every usage
   * flush (1 s) after the other process stored them (its flush, 1 s): together the processes may pass a
   * budget by at most the calls the others made in those last ~2 s (the README says so).
   * A total for an older day than one already given is ignored.
   */
  setUsedElsewhere(scope: 'instance' | 'connection', key: string, day: string, calls: number): void {
    positiveInt(calls, 'calls', 0);
    const now = this.now();
    let state: InstanceState | ConnectionState;
    if (scope === 'instance') {
      state = this.instance(key);
      this.rollDay(state, now);
    } else {
      state = this.connection(key, now);
    }
    if (day < state.elsewhereDay) return;
    state.elsewhereDay = day;
    state.elsewhere = calls;
  }

  /** A connection's daily budget in calls (`null`: back to the default). */
  setBudget(connectionId: string, callsPerDay: number | null): void {
    if (callsPerDay !== null) positiveInt(callsPerDay, 'callsPerDay', 0);
    this.connection(connectionId, this.now()).budget = callsPerDay ?? undefined;
  }

  /** Block an instance until `resetAt` (its daily quota is spent): acquires reject with `quota_exhausted`. */
  blockUntil(instanceKey: string, resetAt: number): void {
    const inst = this.instance(instanceKey);
    inst.blockedUntil = Math.max(inst.blockedUntil, resetAt);
    this.pump(inst);
  }

  /**
   * A limit was hit anyway (the customer's other tools share the instance): pause new grants.
   * `rate`: until the oldest grant in our window ages out, at least the minimum pause (doubling per hit in
   * a row). `concurrency`: briefly (same doubling). The call did not run; the caller retries it.
   */
  reportLimitHit(instanceKey: string, kind: 'rate' | 'concurrency'): void {
    const inst = this.instance(instanceKey);
    const now = this.now();
    // Hits answered while a pause is already running are the same storm, not a new one: escalate
    // only on a hit after the previous pause ended.
    if (now < inst.pausedUntil) {
      this.pump(inst);
      return;
    }
    const hits = ++inst.limitHits[kind];
    const p = this.pause[kind];
    let until = now + Math.min(p.maxMs, p.minMs * 2 ** (hits - 1));
    if (kind === 'rate') {
      this.prune(inst, now);
      const oldest = inst.starts.oldest();
      if (oldest !== undefined) until = Math.max(until, oldest + this.window(inst));
    }
    inst.pausedUntil = Math.max(inst.pausedUntil, until);
    this.pump(inst);
  }

  // -- permits ------------------------------------------------------------------------------------

  /**
   * A permit at once when `acquire` would grant it at once (nothing queued ahead, capacity free, no
   * refusal), else undefined: the caller then goes through `acquire`, which queues or rejects. Saves
   * the promise and the waiter of the common case.
   */
  tryAcquire(req: AcquireRequest): Permit | undefined {
    if (this.closed || req.signal?.aborted) return undefined;
    const inst = this.instances.get(req.instanceKey);
    if (!inst) return undefined;
    if (inst.interactive.length > 0) return undefined;
    if (req.priority !== 'interactive' && inst.background.length > 0) return undefined;
    const now = this.now();
    if (inst.pausedUntil > now || inst.blockedUntil > now) return undefined;
    const l = inst.limits;
    const cap = req.priority === 'interactive' ? l.maxInFlight : l.maxInFlight - l.reservedForInteractive;
    if (inst.inFlight >= cap) return undefined;
    const conn = this.connection(req.connectionId, now);
    if (this.refusal(inst, conn, now)) return undefined;
    conn.instanceKey = req.instanceKey;
    this.prune(inst, now);
    if (inst.starts.size >= l.rateMax) return undefined;
    return this.issue(inst, conn, req, now, now);
  }

  acquire(req: AcquireRequest): Promise<Permit> {
    return new Promise<Permit>((resolve, reject) => {
      const fail = (e: TrafficError): void => {
        this.emit('rejected', {
          instanceKey: req.instanceKey,
          connectionId: req.connectionId,
          at: this.now(),
          code: e.code,
        });
        reject(e);
      };
      if (this.closed) return fail(new TrafficError('closed', 'traffic control is closed'));
      if (req.signal?.aborted) {
        return fail(new TrafficError('aborted', 'the call was aborted', { cause: req.signal.reason }));
      }
      const now = this.now();
      const inst = this.instance(req.instanceKey);
      const conn = this.connection(req.connectionId, now);
      conn.instanceKey = req.instanceKey;
      const refused = this.refusal(inst, conn, now);
      if (refused) return fail(refused);

      const w: Waiter = {
        req,
        enqueuedAt: now,
        resolve,
        reject: fail,
        timer: undefined,
        onAbort: undefined,
      };
      (req.priority === 'interactive' ? inst.interactive : inst.background).push(w);
      const maxWaitMs = Math.max(0, req.maxWaitMs ?? this.defaultMaxWaitMs);
      this.pump(inst);
      if (!this.isQueued(inst, w)) return; // served (or refused) at once
      if (maxWaitMs === 0) return this.timeOut(inst, w);
      w.timer = setTimeout(() => {
        w.timer = undefined;
        this.timeOut(inst, w);
        this.pump(inst); // re-arms or clears the instance timer for who is left
      }, maxWaitMs);
      if (req.signal) {
        const signal = req.signal;
        w.onAbort = () => {
          this.dequeue(inst, w);
          w.reject(new TrafficError('aborted', 'the call was aborted', { cause: signal.reason }));
          this.pump(inst);
        };
        signal.addEventListener('abort', w.onAbort, { once: true });
      }
    });
  }

  /**
   * Acquire, call, release and retry per {@link retryPolicy}. `call` returns its value and the provider's
   * classification; a thrown error with `retryable: true` and a string `code` (e.g. an OutboundError) is a
   * `transient` outcome, rethrown when no retry is left; any other error releases the permit and is
   * rethrown. A `quota_spent` outcome blocks the instance (via release) and is returned: the caller
   * answers it (e.g. 429 with the reset time from `status().blockedUntil`).
   */
  async run<T>(
    req: RunRequest,
    call: (permit: Permit, attempt: number) => Promise<{ value: T; outcome: CallOutcome }>,
  ): Promise<RunResult<T>> {
    for (let attempt = 0; ; attempt++) {
      const permit = await this.acquire(req);
      let result: { value: T; outcome: CallOutcome };
      try {
        result = await call(permit, attempt);
      } catch (err) {
        const e = err as { retryable?: unknown; code?: unknown } | null;
        if (e && e.retryable === true && typeof e.code === 'string') {
          const outcome: CallOutcome = { kind: 'transient', code: e.code };
          permit.release(outcome);
          const d = this.decide(req, outcome, attempt);
          if (!d.retry) throw err;
          this.emit('retried', this.retryEvent(req, e.code));
          await this.sleep(d.delayMs, req.signal);
          continue;
        }
        permit.release({ kind: 'fail', code: 'exception' });
        throw err;
      }
      permit.release(result.outcome);
      const d = this.decide(req, result.outcome, attempt);
      if (!d.retry) return { ...result, attempts: attempt + 1 };
      this.emit('retried', this.retryEvent(req, 'code' in result.outcome ? result.outcome.code : 'ok'));
      await this.sleep(d.delayMs, req.signal);
    }
  }

  // -- state --------------------------------------------------------------------------------------

  /** A connection's budget for the current quota day (min of its own and its instance's what is left). */
  budget(connectionId: string): BudgetState {
    const now = this.now();
    const conn = this.connection(connectionId, now);
    const limit = this.connectionLimit(conn);
    const used = conn.used + elsewhereOf(conn);
    const own: BudgetState = {
      limit,
      used,
      left: Math.max(0, limit - used),
      day: conn.day,
      resetAt: conn.dayEndsAt,
    };
    if (conn.instanceKey === undefined) return own;
    const inst = this.instanceBudget(conn.instanceKey);
    return { ...own, left: Math.min(own.left, inst.left) };
  }

  /** Tether's budget on an instance for the current quota day (its share of the daily quota). */
  instanceBudget(instanceKey: string): BudgetState {
    const now = this.now();
    const inst = this.instance(instanceKey);
    this.rollDay(inst, now);
    const limit = instanceBudget(inst.limits);
    const used = inst.usedToday + elsewhereOf(inst);
    return {
      limit,
      used,
      left: Math.max(0, limit - used),
      day: inst.day,
      resetAt: inst.dayEndsAt,
    };
  }

  status(instanceKey: string): InstanceStatus {
    const now = this.now();
    const inst = this.instance(instanceKey);
    this.prune(inst, now);
    return {
      instanceKey,
      limits: { ...inst.limits },
      processes: this.processes,
      inFlight: inst.inFlight,
      inWindow: inst.starts.size,
      queued: { interactive: inst.interactive.length, background: inst.background.length },
      pausedUntil: inst.pausedUntil > now ? inst.pausedUntil : undefined,
      blockedUntil: inst.blockedUntil > now ? inst.blockedUntil : undefined,
      budget: this.instanceBudget(instanceKey),
    };
  }

  /** Reject every waiter (`closed`), clear every timer; later acquires reject. Permits out may still be released. */
  close(): void {
    this.closed = true;
    for (const inst of this.instances.values()) {
      this.clearTimer(inst);
      for (const w of [...inst.interactive, ...inst.background]) {
        this.dequeue(inst, w);
        w.reject(new TrafficError('closed', 'traffic control is closed'));
      }
    }
    for (const s of [...this.sleepers]) s.cancel();
  }

  // -- internals ----------------------------------------------------------------------------------

  private instance(key: string): InstanceState {
    let inst = this.instances.get(key);
    if (!inst) {
      const configured = checkLimits({ ...this.defaults, ...this.overrides.get(key) });
      inst = {
        key,
        configured,
        limits: shareOfLimits(configured, this.processes),
        inFlight: 0,
        starts: new Starts(),
        pausedUntil: 0,
        blockedUntil: 0,
        limitHits: { rate: 0, concurrency: 0 },
        interactive: [],
        background: [],
        timer: undefined,
        timerAt: Infinity,
        day: '',
        dayEndsAt: -Infinity,
        usedToday: 0,
        elsewhere: 0,
        elsewhereDay: '',
      };
      this.instances.set(key, inst);
    }
    return inst;
  }

  private connection(id: string, now: number): ConnectionState {
    let conn = this.connections.get(id);
    if (!conn) {
      conn = {
        budget: undefined,
        instanceKey: undefined,
        day: '',
        dayEndsAt: -Infinity,
        used: 0,
        elsewhere: 0,
        elsewhereDay: '',
      };
      this.connections.set(id, conn);
    }
    if (now >= conn.dayEndsAt) {
      conn.day = this.day.dayOf(now);
      conn.dayEndsAt = this.day.nextStart(now);
      conn.used = this.usedBefore?.('connection', id, conn.day) ?? 0;
    }
    return conn;
  }

  private connectionLimit(conn: ConnectionState): number {
    if (conn.budget !== undefined) return conn.budget;
    if (this.defaultConnectionBudget !== undefined) return this.defaultConnectionBudget;
    return instanceBudget(conn.instanceKey === undefined ? this.defaults : this.limitsOf(conn.instanceKey));
  }

  private rollDay(inst: InstanceState, now: number): void {
    if (now >= inst.dayEndsAt) {
      inst.day = this.day.dayOf(now);
      inst.dayEndsAt = this.day.nextStart(now);
      inst.usedToday = this.usedBefore?.('instance', inst.key, inst.day) ?? 0;
    }
  }

  private window(inst: InstanceState): number {
    return inst.limits.rateWindowMs + inst.limits.windowSkewMs;
  }

  private prune(inst: InstanceState, now: number): void {
    inst.starts.prune(now, this.window(inst));
  }

  /** Why a call may not be made at all now (quota block, budgets), or null. */
  private refusal(inst: InstanceState, conn: ConnectionState, now: number): TrafficError | null {
    if (inst.blockedUntil > now) {
      return new TrafficError('quota_exhausted', `the daily quota of ${inst.key} is spent`, {
        resetAt: inst.blockedUntil,
        retryAfterMs: inst.blockedUntil - now,
      });
    }
    this.rollDay(inst, now);
    if (inst.usedToday + elsewhereOf(inst) >= instanceBudget(inst.limits)) {
      return new TrafficError('budget_exhausted', `Tether's daily budget on ${inst.key} is spent`, {
        resetAt: inst.dayEndsAt,
        retryAfterMs: inst.dayEndsAt - now,
        scope: 'instance',
      });
    }
    if (conn.used + elsewhereOf(conn) >= this.connectionLimit(conn)) {
      return new TrafficError('budget_exhausted', "the connection's daily budget is spent", {
        resetAt: conn.dayEndsAt,
        retryAfterMs: conn.dayEndsAt - now,
        scope: 'connection',
      });
    }
    return null;
  }

  private isQueued(inst: InstanceState, w: Waiter): boolean {
    return inst.interactive.includes(w) || inst.background.includes(w);
  }

  private dequeue(inst: InstanceState, w: Waiter): void {
    const q = w.req.priority === 'interactive' ? inst.interactive : inst.background;
    const i = q.indexOf(w);
    if (i >= 0) q.splice(i, 1);
    if (w.timer) clearTimeout(w.timer);
    w.timer = undefined;
    if (w.onAbort) w.req.signal?.removeEventListener('abort', w.onAbort);
    w.onAbort = undefined;
  }

  private timeOut(inst: InstanceState, w: Waiter): void {
    const now = this.now();
    const ahead =
      w.req.priority === 'interactive'
        ? inst.interactive.indexOf(w)
        : inst.interactive.length + inst.background.indexOf(w);
    this.dequeue(inst, w);
    // Estimate: until the instance can grant again, plus a window per `rateMax` waiters ahead.
    this.prune(inst, now);
    const l = inst.limits;
    const rateFree = inst.starts.size >= l.rateMax ? inst.starts.newest(l.rateMax) + this.window(inst) : now;
    const free = Math.max(rateFree, inst.pausedUntil, now);
    const retryAfterMs = Math.max(
      1,
      free - now + Math.floor(Math.max(0, ahead) / l.rateMax) * this.window(inst),
    );
    w.reject(
      new TrafficError(
        'capacity_timeout',
        `no capacity on ${inst.key} within ${w.req.maxWaitMs ?? this.defaultMaxWaitMs} ms`,
        {
          retryAfterMs,
        },
      ),
    );
  }

  /** Serve waiters while capacity allows; otherwise arm one timer for when it may. */
  private pump(inst: InstanceState, at?: number): void {
    if (this.closed) return;
    // Nothing queued, no timer: nothing to do (the common case after a release).
    if (inst.interactive.length === 0 && inst.background.length === 0 && !inst.timer) return;
    const now = at ?? this.now();
    if (inst.blockedUntil > now) {
      this.clearTimer(inst);
      for (const w of [...inst.interactive, ...inst.background]) {
        this.dequeue(inst, w);
        w.reject(this.refusal(inst, this.connection(w.req.connectionId, now), now)!);
      }
      return;
    }
    const l = inst.limits;
    while (true) {
      const w = inst.interactive[0] ?? inst.background[0];
      if (!w) return this.clearTimer(inst);
      const conn = this.connection(w.req.connectionId, now);
      const refused = this.refusal(inst, conn, now);
      if (refused) {
        this.dequeue(inst, w);
        w.reject(refused);
        continue;
      }
      if (inst.pausedUntil > now) return this.armTimer(inst, inst.pausedUntil, now);
      const cap = w.req.priority === 'interactive' ? l.maxInFlight : l.maxInFlight - l.reservedForInteractive;
      if (inst.inFlight >= cap) return this.clearTimer(inst); // a release pumps
      this.prune(inst, now);
      if (inst.starts.size >= l.rateMax) {
        return this.armTimer(inst, inst.starts.newest(l.rateMax) + this.window(inst), now);
      }
      this.dequeue(inst, w);
      this.grant(inst, conn, w, now);
    }
  }

  private grant(inst: InstanceState, conn: ConnectionState, w: Waiter, now: number): void {
    w.resolve(this.issue(inst, conn, w.req, w.enqueuedAt, now));
  }

  private issue(
    inst: InstanceState,
    conn: ConnectionState,
    req: AcquireRequest,
    enqueuedAt: number,
    now: number,
  ): Permit {
    inst.inFlight++;
    inst.starts.push(now);
    inst.usedToday++;
    conn.used++;
    const permit = new GrantedPermit(this, inst, req, now, now - enqueuedAt);
    if (this.observer) {
      this.emit('granted', {
        instanceKey: req.instanceKey,
        connectionId: req.connectionId,
        priority: req.priority,
        at: now,
        queuedMs: permit.queuedMs,
      });
    }
    return permit;
  }

  /** A permit's release (once per permit: {@link GrantedPermit} guards it). */
  settle(inst: InstanceState, permit: GrantedPermit, outcome: CallOutcome): void {
    inst.inFlight--;
    const now = this.now();
    if (this.observer) {
      this.emit('released', {
        instanceKey: permit.instanceKey,
        connectionId: permit.connectionId,
        at: now,
        outcome,
      });
    }
    if (outcome.kind !== 'ok' || inst.limitHits.rate !== 0 || inst.limitHits.concurrency !== 0) {
      this.onOutcome(inst, outcome);
    }
    this.pump(inst, now);
  }

  private onOutcome(inst: InstanceState, outcome: CallOutcome): void {
    switch (outcome.kind) {
      case 'ok':
        inst.limitHits.rate = 0;
        inst.limitHits.concurrency = 0;
        return;
      case 'rate_limited':
        return this.reportLimitHit(inst.key, 'rate');
      case 'concurrency_limited':
        return this.reportLimitHit(inst.key, 'concurrency');
      case 'quota_spent':
        return this.blockUntil(inst.key, outcome.resetAt ?? this.day.nextStart(this.now()));
      default:
        return;
    }
  }

  private armTimer(inst: InstanceState, at: number, now: number): void {
    if (inst.timer && inst.timerAt <= at) return;
    this.clearTimer(inst);
    inst.timerAt = at;
    inst.timer = setTimeout(
      () => {
        inst.timer = undefined;
        inst.timerAt = Infinity;
        this.pump(inst);
      },
      Math.max(1, at - now),
    );
  }

  private clearTimer(inst: InstanceState): void {
    if (inst.timer) clearTimeout(inst.timer);
    inst.timer = undefined;
    inst.timerAt = Infinity;
  }

  private decide(
    req: RunRequest,
    outcome: CallOutcome,
    attempt: number,
  ): { retry: boolean; delayMs: number } {
    return retryPolicy(outcome, {
      method: req.method,
      idempotent: req.idempotent,
      callerRetries: req.callerRetries,
      attempt,
      backoff: this.backoff,
      random: this.random,
    });
  }

  private retryEvent(req: RunRequest, code: string) {
    return { instanceKey: req.instanceKey, connectionId: req.connectionId, at: this.now(), code };
  }

  private sleep(ms: number, signal: AbortSignalLike | undefined): Promise<void> {
    if (signal?.aborted) {
      return Promise.reject(new TrafficError('aborted', 'the call was aborted', { cause: signal.reason }));
    }
    if (ms <= 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        done();
        reject(new TrafficError('aborted', 'the call was aborted', { cause: signal?.reason }));
      };
      const s = {
        timer: setTimeout(() => {
          done();
          resolve();
        }, ms),
        cancel: () => {
          done();
          reject(new TrafficError('closed', 'traffic control is closed'));
        },
      };
      const done = (): void => {
        clearTimeout(s.timer);
        this.sleepers.delete(s);
        signal?.removeEventListener('abort', onAbort);
      };
      this.sleepers.add(s);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  private emit<K extends keyof TrafficObserver>(event: K, e: Parameters<TrafficObserver[K]>[0]): void {
    if (!this.observer) return;
    try {
      (this.observer[event] as (x: typeof e) => void).call(this.observer, e);
    } catch {
      // usage accounting must never break traffic
    }
  }
}
