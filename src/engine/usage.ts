/**
 * API usage per instance and per connection per quota day: calls, identity calls, errors by provider
 * code, retries, time spent queued, traffic-control rejections and (for today) the budget left.
 *
 * Fed by the traffic controller as its {@link TrafficObserver} (calls, errors, retries, queueing) and by
 * the token manager (`identityCall`). Counted in memory (recording is fire-and-forget, reading is
 * async), bounded to `retentionDays` days; the rows that changed are taken by engine/usage-persistence.ts
 * and stored, and stored rows are restored at start, so that a restart keeps today's spend: traffic
 * control seeds its daily counts from {@link UsageRecorder.callsOn}.
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

  /** Calls granted on `day` (a quota day) to a connection or an instance, as counted and restored. */
  callsOn(scope: 'instance' | 'connection', key: string, day: string): number {
    return this.rows.get(rowKey(scope, key, day))?.c.calls ?? 0;
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
      for (const r of this.rows.values()) {
        if (r.scope === 'connection' && r.day === day && r.instanceKey === query.instanceKey) {
          out.push(this.view('connection', r.key, day, today));
        }
      }
    } else {
      const rows = [...this.rows.values()].filter((r) => r.day === day);
      rows.sort((a, b) =>
        a.scope === b.scope ? a.key.localeCompare(b.key) : a.scope === 'instance' ? -1 : 1,
      );
      for (const r of rows) out.push(this.view(r.scope, r.key, day, today));
    }
    return out;
  }

  /** Quota days with data, oldest first. */
  async retainedDays(): Promise<string[]> {
    return [...this.days].sort();
  }

  // -- internals ----------------------------------------------------------------------------------

  private view(
    scope: 'instance' | 'connection',
    key: string,
    day: string,
    today: string,
    instanceKey?: string,
  ): UsageRow {
    const r = this.rows.get(rowKey(scope, key, day));
    const c = r?.c ?? empty();
    let budget: BudgetState | undefined;
    if (day === today && this.budgets) {
      budget = scope === 'instance' ? this.budgets.instanceBudget(key) : this.budgets.budget(key);
    }
    return {
      scope,
      key,
      instanceKey: scope === 'instance' ? key : (r?.instanceKey ?? instanceKey),
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
  }

  private dayOf(ms: number): string {
    if (ms < this.cached.from || ms >= this.cached.until) {
      this.cached = { from: ms, until: this.quotaDay.nextStart(ms), day: this.quotaDay.dayOf(ms) };
    }
    return this.cached.day;
  }
}

const rowKey = (scope: string, key: string, day: string): string => `${scope}\n${key}\n${day}`;
