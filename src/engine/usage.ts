/**
 * API usage per instance and per connection per quota day: calls, identity calls, errors by provider
 * code, retries, time spent queued, traffic-control rejections and (for today) the budget left.
 *
 * Fed by the traffic controller as its {@link TrafficObserver} (calls, errors, retries, queueing) and by
 * the token manager (`identityCall`). Counted in memory (recording is fire-and-forget, reading is
 * async), bounded to `retentionDays` days; the rows that changed are taken by engine/usage-persistence.ts
 * and stored under this process's id.
 *
 * Several Tether processes may share one database: each counts only its own calls here ("mine") and is
 * told the others' stored rows, summed, as "elsewhere" ({@link UsageRecorder.setElsewhere}: every row at
 * start, today's at every flush). Readers see mine + elsewhere; traffic control gets today's elsewhere
 * calls through {@link UsageRecorder.onElsewhere} (its `setUsedElsewhere`), so that the daily budgets are
 * shared. A restart is a new process: the previous one's rows are elsewhere, so today's spend is kept.
 */
import {
  UTC_DAY,
  type BudgetState,
  type CallOutcome,
  type Priority,
  type QuotaDay,
  type TrafficErrorCode,
  type TrafficObserver,
} from './traffic.ts';

export interface UsageCounters {
  /** Calls started (permits granted), retries included. */
  calls: number;
  identityCalls: number;
  /** Calls whose outcome was not `ok`. */
  errors: number;
  /** By the provider's code (e.g. `606`, `http_502`). */
  errorsByCode: Record<string, number>;
  retries: number;
  /** Total and longest time calls waited for capacity. */
  queuedMs: number;
  maxQueuedMs: number;
  /** Calls traffic control refused (capacity_timeout, budget_exhausted, quota_exhausted, aborted…). */
  rejected: Partial<Record<TrafficErrorCode, number>>;
}

export interface UsageRow extends UsageCounters {
  scope: 'instance' | 'connection';
  /** The instance key or the connection id. */
  key: string;
  /** For a connection row: the instance it called (last seen that day). */
  instanceKey: string | undefined;
  day: string;
  /** Only for the current quota day, when a budget source is attached. */
  budget: BudgetState | undefined;
}

export interface UsageQuery {
  connectionId?: string;
  instanceKey?: string;
  /** Quota day `YYYY-MM-DD` (default: today). */
  day?: string;
}

/** Where budgets come from (the traffic controller). */
export interface BudgetSource {
  budget(connectionId: string): BudgetState;
  instanceBudget(instanceKey: string): BudgetState;
}

export interface UsageStore extends TrafficObserver {
  identityCall(e: { instanceKey: string; connectionId: string; at?: number }): void;
  /**
   * Rows for one day: a connection's row (`connectionId`), an instance's row and its connections' rows
   * (`instanceKey`), or every row. A row asked for by key exists even without traffic (zeros).
   */
  snapshot(query?: UsageQuery): Promise<UsageRow[]>;
}

export interface UsageOptions {
  /** The provider's quota day (Marketo: midnight America/Chicago); default UTC. */
  day?: QuotaDay;
  now?: () => number;
  /** Days kept (default 35). */
  retentionDays?: number;
}

/** Told the calls other processes made on a quota day to a connection or an instance (a running total). */
export type ElsewhereListener = (
  scope: 'instance' | 'connection',
  key: string,
  day: string,
  calls: number,
) => void;

const empty = (): UsageCounters => ({
  calls: 0,
  identityCalls: 0,
  errors: 0,
  errorsByCode: {},
  retries: 0,
  queuedMs: 0,
  maxQueuedMs: 0,
  rejected: {},
});

/** `a + b` field by field (the longest wait: the larger; codes: summed per code). New objects. */
export function sumCounters(a: Partial<UsageCounters>, b: Partial<UsageCounters>): UsageCounters {
  const n = (x: number | undefined) => (typeof x === 'number' && Number.isFinite(x) ? x : 0);
  const codes = <K extends string>(
    x: Partial<Record<K, number>> = {},
    y: Partial<Record<K, number>> = {},
  ) => {
    const out: Partial<Record<K, number>> = { ...x };
    for (const [k, v] of Object.entries(y) as [K, number | undefined][]) out[k] = n(out[k]) + n(v);
    return out;
  };
  return {
    calls: n(a.calls) + n(b.calls),
    identityCalls: n(a.identityCalls) + n(b.identityCalls),
    errors: n(a.errors) + n(b.errors),
    errorsByCode: codes(a.errorsByCode, b.errorsByCode) as Record<string, number>,
    retries: n(a.retries) + n(b.retries),
    queuedMs: n(a.queuedMs) + n(b.queuedMs),
    maxQueuedMs: Math.max(n(a.maxQueuedMs), n(b.maxQueuedMs)),
    rejected: codes(a.rejected, b.rejected),
  };
}

interface Row {
  scope: 'instance' | 'connection';
  key: string;
  instanceKey: string | undefined;
  day: string;
  c: UsageCounters;
}

/** A row as stored (engine/usage-persistence.ts). */
export interface UsageDayRow {
  scope: 'instance' | 'connection';
  key: string;
  day: string;
  instanceKey: string | undefined;
  counters: UsageCounters;
}

export class UsageRecorder implements UsageStore {
  private readonly rows = new Map<string, Row>();
  private readonly days = new Set<string>();
  private readonly quotaDay: QuotaDay;
  private readonly now: () => number;
  private readonly retentionDays: number;
  private budgets: BudgetSource | undefined;
  private cached = { from: Infinity, until: -Infinity, day: '' };
  /** The rows of the day last written, by scope then key: no key string built per event. */
  private recent = { day: '', instance: new Map<string, Row>(), connection: new Map<string, Row>() };
  /** Rows counted into since the last {@link takeChanged}. */
  private changed = new Set<Row>();
  /** The other processes' rows, summed per (scope, key, day): see {@link setElsewhere}. */
  private elsewhere = new Map<string, Row>();
  private readonly elsewhereListeners: ElsewhereListener[] = [];

  constructor(opts: UsageOptions = {}) {
    this.quotaDay = opts.day ?? UTC_DAY;
    this.now = opts.now ?? Date.now;
    this.retentionDays = Math.max(1, opts.retentionDays ?? 35);
  }

  /** Attach the budget source (the traffic controller, which itself reports here). */
  useBudgets(source: BudgetSource): void {
    this.budgets = source;
  }

  // -- TrafficObserver ------------------------------------------------------------------------------

  granted(e: {
    instanceKey: string;
    connectionId: string;
    priority: Priority;
    at: number;
    queuedMs: number;
  }): void {
    const day = this.dayOf(e.at);
    this.countGrant(this.row('instance', e.instanceKey, day, e.instanceKey), e.queuedMs);
    this.countGrant(this.row('connection', e.connectionId, day, e.instanceKey), e.queuedMs);
  }

  released(e: { instanceKey: string; connectionId: string; at: number; outcome: CallOutcome }): void {
    if (e.outcome.kind === 'ok') return;
    const code = e.outcome.code;
    for (const c of this.both(e.instanceKey, e.connectionId, e.at)) {
      c.errors++;
      c.errorsByCode[code] = (c.errorsByCode[code] ?? 0) + 1;
    }
  }

  retried(e: { instanceKey: string; connectionId: string; at: number; code: string }): void {
    for (const c of this.both(e.instanceKey, e.connectionId, e.at)) c.retries++;
  }

  rejected(e: { instanceKey: string; connectionId: string; at: number; code: TrafficErrorCode }): void {
    for (const c of this.both(e.instanceKey, e.connectionId, e.at))
      c.rejected[e.code] = (c.rejected[e.code] ?? 0) + 1;
  }

  identityCall(e: { instanceKey: string; connectionId: string; at?: number }): void {
    for (const c of this.both(e.instanceKey, e.connectionId, e.at ?? this.now())) c.identityCalls++;
  }

  // -- persistence --------------------------------------------------------------------------------

  /**
   * Restores stored rows (at start, before any traffic): each replaces the row of its (scope, key, day).
   * Rows older than what is kept are skipped.
   */
  restore(rows: UsageDayRow[]): void {
    for (const r of [...rows].sort((a, b) => a.day.localeCompare(b.day))) {
      this.remember(r.day);
      if (!this.days.has(r.day)) continue;
      const c = { ...empty(), ...r.counters };
      c.errorsByCode = { ...r.counters.errorsByCode };
      c.rejected = { ...r.counters.rejected };
      this.rows.set(rowKey(r.scope, r.key, r.day), {
        scope: r.scope,
        key: r.key,
        instanceKey: r.instanceKey,
        day: r.day,
        c,
      });
    }
    this.recent = { day: '', instance: new Map(), connection: new Map() };
  }

  /** Copies of the rows counted into since the last call (to store), oldest day first. */
  takeChanged(): UsageDayRow[] {
    const out: UsageDayRow[] = [];
    for (const r of this.changed) {
      if (!this.days.has(r.day)) continue; // dropped by retention meanwhile
      out.push({
        scope: r.scope,
        key: r.key,
        day: r.day,
        instanceKey: r.instanceKey,
        counters: { ...r.c, errorsByCode: { ...r.c.errorsByCode }, rejected: { ...r.c.rejected } },
      });
    }
    this.changed = new Set();
    return out;
  }

  /** The oldest quota day kept, for `at` (stored rows before it can go). */
  oldestKeptDay(at: number = this.now()): string {
    let ms = at;
    for (let i = 1; i < this.retentionDays; i++) ms -= 86_400_000;
    return this.dayOf(ms);
  }

  /**
   * The other processes' stored rows (each process's apart) for `fromDay` and later: they replace what
   * was known of those days (older days stay). Listeners hear of each today's (or later) total that
   * changed.
   */
  setElsewhere(rows: UsageDayRow[], fromDay: string): void {
    const next = new Map<string, Row>();
    for (const r of rows) {
      if (r.day < fromDay) continue;
      this.remember(r.day);
      if (!this.days.has(r.day)) continue; // older than what is kept
      const k = rowKey(r.scope, r.key, r.day);
      const prev = next.get(k);
      if (prev) {
        prev.c = sumCounters(prev.c, r.counters);
        prev.instanceKey ??= r.instanceKey;
      } else {
        const c = sumCounters(empty(), r.counters);
        next.set(k, { scope: r.scope, key: r.key, instanceKey: r.instanceKey, day: r.day, c });
      }
    }
    // Today's (and later) totals before, to tell listeners only of what changed.
    const today = this.dayOf(this.now());
    const before = new Map<string, Row>();
    for (const [k, old] of this.elsewhere) {
      if (old.day < fromDay) continue;
      if (old.day >= today) before.set(k, old);
      this.elsewhere.delete(k);
    }
    for (const [k, r] of next) this.elsewhere.set(k, r);
    if (this.elsewhereListeners.length === 0) return;
    const told = new Map(before);
    for (const [k, r] of next) if (r.day >= today) told.set(k, r);
    for (const [k, r] of told) {
      const calls = next.get(k)?.c.calls ?? 0;
      if (calls === (before.get(k)?.c.calls ?? 0)) continue;
      for (const l of this.elsewhereListeners) l(r.scope, r.key, r.day, calls);
    }
  }

  /**
   * Tells `listener` the other processes' calls of today (and later days) now, then whenever they change.
   * Start.ts: each traffic controller's `setUsedElsewhere`.
   */
  onElsewhere(listener: ElsewhereListener): void {
    this.elsewhereListeners.push(listener);
    const today = this.dayOf(this.now());
    for (const r of this.elsewhere.values()) {
      if (r.day >= today && r.c.calls > 0) listener(r.scope, r.key, r.day, r.c.calls);
    }
  }

  /** Calls granted on `day` (a quota day) to a connection or an instance: this process's and the others'. */
  callsOn(scope: 'instance' | 'connection', key: string, day: string): number {
    const k = rowKey(scope, key, day);
    return (this.rows.get(k)?.c.calls ?? 0) + (this.elsewhere.get(k)?.c.calls ?? 0);
  }

  /** Calls granted on `day` by this process alone (as counted here, and restored). */
  ownCallsOn(scope: 'instance' | 'connection', key: string, day: string): number {
    return this.rows.get(rowKey(scope, key, day))?.c.calls ?? 0;
  }

  /** The quota day of `at` (epoch ms). */
  dayAt(at: number): string {
    return this.dayOf(at);
  }

  // -- reading ------------------------------------------------------------------------------------

  async snapshot(query: UsageQuery = {}): Promise<UsageRow[]> {
    const today = this.dayOf(this.now());
    const day = query.day ?? today;
    const out: UsageRow[] = [];
    if (query.connectionId !== undefined) {
      out.push(this.view('connection', query.connectionId, day, today, query.instanceKey));
    } else if (query.instanceKey !== undefined) {
      out.push(this.view('instance', query.instanceKey, day, today));
      const keys = new Set<string>();
      for (const r of this.rowsOf(day)) {
        if (r.scope === 'connection' && r.instanceKey === query.instanceKey && !keys.has(r.key)) {
          keys.add(r.key);
          out.push(this.view('connection', r.key, day, today));
        }
      }
    } else {
      // This process's rows and the others', once each.
      const rows = new Map<string, Row>();
      for (const r of this.rowsOf(day)) rows.set(rowKey(r.scope, r.key, r.day), r);
      const sorted = [...rows.values()].sort((a, b) =>
        a.scope === b.scope ? a.key.localeCompare(b.key) : a.scope === 'instance' ? -1 : 1,
      );
      for (const r of sorted) out.push(this.view(r.scope, r.key, day, today));
    }
    return out;
  }

  /** Quota days with data, oldest first. */
  async retainedDays(): Promise<string[]> {
    return [...this.days].sort();
  }

  // -- internals ----------------------------------------------------------------------------------

  /** This process's rows of `day`, then the others'. */
  private *rowsOf(day: string): Generator<Row> {
    for (const r of this.rows.values()) if (r.day === day) yield r;
    for (const r of this.elsewhere.values()) if (r.day === day) yield r;
  }

  private view(
    scope: 'instance' | 'connection',
    key: string,
    day: string,
    today: string,
    instanceKey?: string,
  ): UsageRow {
    const k = rowKey(scope, key, day);
    const mine = this.rows.get(k);
    const other = this.elsewhere.get(k);
    // Summed over processes (a new object); a row of one process alone is copied below.
    const c = mine && other ? sumCounters(mine.c, other.c) : (mine?.c ?? other?.c ?? empty());
    let budget: BudgetState | undefined;
    if (day === today && this.budgets) {
      budget = scope === 'instance' ? this.budgets.instanceBudget(key) : this.budgets.budget(key);
    }
    return {
      scope,
      key,
      instanceKey: scope === 'instance' ? key : (mine?.instanceKey ?? other?.instanceKey ?? instanceKey),
      day,
      ...c,
      errorsByCode: { ...c.errorsByCode },
      rejected: { ...c.rejected },
      budget,
    };
  }

  private countGrant(c: UsageCounters, queuedMs: number): void {
    c.calls++;
    c.queuedMs += queuedMs;
    if (queuedMs > c.maxQueuedMs) c.maxQueuedMs = queuedMs;
  }

  private both(instanceKey: string, connectionId: string, at: number): [UsageCounters, UsageCounters] {
    const day = this.dayOf(at);
    return [
      this.row('instance', instanceKey, day, instanceKey),
      this.row('connection', connectionId, day, instanceKey),
    ];
  }

  private row(
    scope: 'instance' | 'connection',
    key: string,
    day: string,
    instanceKey: string,
  ): UsageCounters {
    const recent = this.recent.day === day ? this.recent[scope] : undefined;
    let r = recent?.get(key);
    if (!r) {
      const k = rowKey(scope, key, day);
      r = this.rows.get(k);
      if (!r) {
        this.remember(day);
        if (!this.days.has(day)) return empty(); // older than what is kept
        r = { scope, key, instanceKey, day, c: empty() };
        this.rows.set(k, r);
      }
      if (this.recent.day !== day) this.recent = { day, instance: new Map(), connection: new Map() };
      this.recent[scope].set(key, r);
    }
    r.instanceKey = instanceKey;
    this.changed.add(r);
    return r.c;
  }

  private remember(day: string): void {
    if (this.days.has(day)) return;
    this.days.add(day);
    if (this.days.size <= this.retentionDays) return;
    const drop = new Set([...this.days].sort().slice(0, this.days.size - this.retentionDays));
    for (const d of drop) this.days.delete(d);
    if (drop.has(this.recent.day)) this.recent = { day: '', instance: new Map(), connection: new Map() };
    for (const [k, r] of this.rows) if (drop.has(r.day)) this.rows.delete(k);
    for (const [k, r] of this.elsewhere) if (drop.has(r.day)) this.elsewhere.delete(k);
  }

  private dayOf(ms: number): string {
    if (ms < this.cached.from || ms >= this.cached.until) {
      this.cached = { from: ms, until: this.quotaDay.nextStart(ms), day: this.quotaDay.dayOf(ms) };
    }
    return this.cached.day;
  }
}

const rowKey = (scope: string, key: string, day: string): string => `${scope}\n${key}\n${day}`;
