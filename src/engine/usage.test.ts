import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { TrafficController, type InstanceLimits } from './traffic.ts';
import { UsageRecorder, sumCounters, type UsageCounters } from './usage.ts';
import { MARKETO_QUOTA_DAY } from '../marketo/limits.ts';

const I = 'abc-123-def.mktorest.com';
const LIMITS: InstanceLimits = {
  rateMax: 100,
  rateWindowMs: 100,
  windowSkewMs: 0,
  maxInFlight: 1,
  reservedForInteractive: 0,
  dailyQuota: 1_000,
  quotaShare: 0.8,
};

/** Fake timers for each test of the suite, the clock at `iso` (Chicago noon: mid quota day). */
function fakeClockAt(iso: string): void {
  beforeEach(() => {
    vi.useFakeTimers();
    vi.setSystemTime(new Date(iso));
  });
  afterEach(() => {
    vi.useRealTimers();
  });
}

describe('UsageRecorder', () => {
  fakeClockAt('2025-01-15T12:00:00-06:00');

  const now = () => Date.now();

  it('counts per instance and per connection per day', async () => {
    const u = new UsageRecorder({ day: MARKETO_QUOTA_DAY, now });
    const at = now();
    u.granted({ instanceKey: I, connectionId: 'c1', priority: 'interactive', at, queuedMs: 30 });
    u.granted({ instanceKey: I, connectionId: 'c1', priority: 'interactive', at, queuedMs: 0 });
    u.granted({ instanceKey: I, connectionId: 'c2', priority: 'background', at, queuedMs: 70 });
    u.released({ instanceKey: I, connectionId: 'c1', at, outcome: { kind: 'ok' } });
    u.released({ instanceKey: I, connectionId: 'c1', at, outcome: { kind: 'rate_limited', code: '606' } });
    u.released({ instanceKey: I, connectionId: 'c2', at, outcome: { kind: 'fail', code: '1003' } });
    u.retried({ instanceKey: I, connectionId: 'c1', at, code: '606' });
    u.rejected({ instanceKey: I, connectionId: 'c2', at, code: 'capacity_timeout' });
    u.identityCall({ instanceKey: I, connectionId: 'c1' });

    const [inst, ...conns] = await u.snapshot({ instanceKey: I });
    expect(inst).toMatchObject({
      scope: 'instance',
      key: I,
      day: '2025-01-15',
      calls: 3,
      identityCalls: 1,
      errors: 2,
      errorsByCode: { '606': 1, '1003': 1 },
      retries: 1,
      queuedMs: 100,
      maxQueuedMs: 70,
      rejected: { capacity_timeout: 1 },
      budget: undefined,
    });
    expect(conns.map((r) => r.key).sort()).toEqual(['c1', 'c2']);
    expect(await u.snapshot({ connectionId: 'c1' })).toEqual([
      {
        scope: 'connection',
        key: 'c1',
        instanceKey: I,
        day: '2025-01-15',
        calls: 2,
        identityCalls: 1,
        errors: 1,
        errorsByCode: { '606': 1 },
        retries: 1,
        queuedMs: 30,
        maxQueuedMs: 30,
        rejected: {},
        budget: undefined,
      },
    ]);
    const all = await u.snapshot();
    expect(all.map((r) => `${r.scope}:${r.key}`)).toEqual([
      `instance:${I}`,
      'connection:c1',
      'connection:c2',
    ]);
  });

  it('splits days at midnight America/Chicago (CST and CDT), and answers zeros for a quiet key', async () => {
    const u = new UsageRecorder({ day: MARKETO_QUOTA_DAY, now });
    const ev = (at: number) =>
      u.granted({ instanceKey: I, connectionId: 'c1', priority: 'interactive', at, queuedMs: 0 });
    ev(Date.parse('2025-01-16T05:59:59.999Z')); // 23:59:59.999 CST
    ev(Date.parse('2025-01-16T06:00:00Z')); // 00:00 CST
    ev(Date.parse('2025-07-16T04:59:59.999Z')); // 23:59:59.999 CDT
    ev(Date.parse('2025-07-16T05:00:00Z')); // 00:00 CDT
    for (const day of ['2025-01-15', '2025-01-16', '2025-07-15', '2025-07-16']) {
      const [row] = await u.snapshot({ connectionId: 'c1', day });
      expect(row).toMatchObject({ day, calls: 1 });
    }
    expect(await u.retainedDays()).toEqual(['2025-01-15', '2025-01-16', '2025-07-15', '2025-07-16']);
    const [quiet] = await u.snapshot({ connectionId: 'nobody', day: '2025-01-15' });
    expect(quiet).toMatchObject({ key: 'nobody', calls: 0, errorsByCode: {}, instanceKey: undefined });
  });

  it('keeps retentionDays days', async () => {
    const u = new UsageRecorder({ day: MARKETO_QUOTA_DAY, now, retentionDays: 2 });
    const ev = (iso: string) =>
      u.granted({
        instanceKey: I,
        connectionId: 'c1',
        priority: 'interactive',
        at: Date.parse(iso),
        queuedMs: 0,
      });
    ev('2025-01-10T12:00:00-06:00');
    ev('2025-01-11T12:00:00-06:00');
    ev('2025-01-12T12:00:00-06:00');
    ev('2025-01-09T12:00:00-06:00'); // older than what is kept: dropped
    expect(await u.retainedDays()).toEqual(['2025-01-11', '2025-01-12']);
    expect((await u.snapshot({ day: '2025-01-10' })).length).toBe(0);
  });

  it('as the traffic observer: calls, queued time, errors, retries, rejections and budget left', async () => {
    const u = new UsageRecorder({ day: MARKETO_QUOTA_DAY, now });
    const c = new TrafficController({
      defaults: LIMITS,
      day: MARKETO_QUOTA_DAY,
      now,
      observer: u,
      random: () => 0,
      limitHitPause: { rate: { minMs: 100, maxMs: 1_000 }, concurrency: { minMs: 50, maxMs: 500 } },
    });
    u.useBudgets(c);
    c.setBudget('c1', 10);
    const base = { instanceKey: I, connectionId: 'c1', priority: 'interactive' as const, maxWaitMs: 5_000 };

    const held = await c.acquire(base);
    const queued = c.acquire(base);
    await vi.advanceTimersByTimeAsync(40);
    held.release();
    (await queued).release();

    let n = 0;
    const done = c.run({ ...base, method: 'GET' }, async () => ({
      value: null,
      outcome: ++n === 1 ? { kind: 'rate_limited', code: '606' } : { kind: 'ok' },
    }));
    await vi.runAllTimersAsync();
    await done;

    const blocker = await c.acquire({ ...base, connectionId: 'c2' });
    await expect(c.acquire({ ...base, maxWaitMs: 0 })).rejects.toMatchObject({ code: 'capacity_timeout' });
    blocker.release();

    const [row] = await u.snapshot({ connectionId: 'c1' });
    expect(row).toMatchObject({
      calls: 4,
      errors: 1,
      errorsByCode: { '606': 1 },
      retries: 1,
      queuedMs: 40 + 100,
      rejected: { capacity_timeout: 1 },
      budget: { limit: 10, used: 4, left: 6, day: '2025-01-15' },
    });
    const [inst] = await u.snapshot({ instanceKey: I });
    expect(inst).toMatchObject({ calls: 5, budget: { limit: 800, used: 5, left: 795 } });
    // Past days carry no budget.
    vi.setSystemTime(new Date('2025-01-16T12:00:00-06:00'));
    expect((await u.snapshot({ connectionId: 'c1', day: '2025-01-15' }))[0]!.budget).toBeUndefined();
    expect((await u.snapshot({ connectionId: 'c1' }))[0]).toMatchObject({
      day: '2025-01-16',
      calls: 0,
      budget: { used: 0, left: 10 },
    });
    c.close();
  });

  it('an observer that throws never breaks traffic', async () => {
    const c = new TrafficController({
      defaults: LIMITS,
      now,
      observer: {
        granted: () => {
          throw new Error('x');
        },
        released: () => {
          throw new Error('x');
        },
        retried: () => {},
        rejected: () => {},
      },
    });
    const p = await c.acquire({ instanceKey: I, connectionId: 'c1', priority: 'interactive' });
    p.release();
    expect(c.status(I).inFlight).toBe(0);
    c.close();
  });
});

describe('UsageRecorder across a restart (restore, takeChanged, callsOn)', () => {
  fakeClockAt('2025-01-15T12:00:00-06:00');
  const now = () => Date.now();

  it('hands out the rows counted into, once, as copies', () => {
    const u = new UsageRecorder({ day: MARKETO_QUOTA_DAY, now });
    expect(u.takeChanged()).toEqual([]);
    u.granted({ instanceKey: I, connectionId: 'c1', priority: 'interactive', at: now(), queuedMs: 5 });
    u.released({ instanceKey: I, connectionId: 'c1', at: now(), outcome: { kind: 'fail', code: '1003' } });
    const rows = u.takeChanged();
    expect(rows.map((r) => [r.scope, r.key, r.day, r.counters.calls, r.counters.errorsByCode])).toEqual([
      ['instance', I, '2025-01-15', 1, { '1003': 1 }],
      ['connection', 'c1', '2025-01-15', 1, { '1003': 1 }],
    ]);
    expect(u.takeChanged()).toEqual([]);
    // Copies: counting on does not change what was handed out.
    u.granted({ instanceKey: I, connectionId: 'c1', priority: 'interactive', at: now(), queuedMs: 0 });
    expect(rows[1]!.counters.calls).toBe(1);
    expect(u.takeChanged().map((r) => r.counters.calls)).toEqual([2, 2]);
  });

  it('restored rows count on, and seed traffic control so that a spent budget stays spent', async () => {
    const before = new UsageRecorder({ day: MARKETO_QUOTA_DAY, now });
    for (let i = 0; i < 3; i++)
      before.granted({ instanceKey: I, connectionId: 'c1', priority: 'interactive', at: now(), queuedMs: 0 });
    const stored = before.takeChanged();

    const u = new UsageRecorder({ day: MARKETO_QUOTA_DAY, now });
    u.restore(stored);
    expect(u.callsOn('connection', 'c1', '2025-01-15')).toBe(3);
    expect(u.callsOn('instance', I, '2025-01-15')).toBe(3);
    expect(u.callsOn('connection', 'c2', '2025-01-15')).toBe(0);
    const c = new TrafficController({
      defaults: { ...LIMITS, maxInFlight: 10 },
      day: MARKETO_QUOTA_DAY,
      now,
      observer: u,
      usedBefore: (scope, key, day) => u.callsOn(scope, key, day),
    });
    u.useBudgets(c);
    c.setBudget('c1', 4);
    const base = { instanceKey: I, connectionId: 'c1', priority: 'interactive' as const, maxWaitMs: 0 };
    (await c.acquire(base)).release();
    await expect(c.acquire(base)).rejects.toMatchObject({ code: 'budget_exhausted' });
    const [row] = await u.snapshot({ connectionId: 'c1' });
    expect(row).toMatchObject({ calls: 4, budget: { limit: 4, used: 4, left: 0 } });
    expect(c.instanceBudget(I).used).toBe(4);
    // The next quota day starts from zero.
    await vi.advanceTimersByTimeAsync(24 * 3_600_000);
    (await c.acquire(base)).release();
    expect(c.budget('c1').used).toBe(1);
    c.close();
  });

  it('restores only the days it keeps', () => {
    const u = new UsageRecorder({ day: MARKETO_QUOTA_DAY, now, retentionDays: 2 });
    const row = (day: string) => ({
      scope: 'connection' as const,
      key: 'c1',
      day,
      instanceKey: I,
      counters: {
        calls: 1,
        identityCalls: 0,
        errors: 0,
        errorsByCode: {},
        retries: 0,
        queuedMs: 0,
        maxQueuedMs: 0,
        rejected: {},
      },
    });
    u.restore([row('2025-01-13'), row('2025-01-14'), row('2025-01-15')]);
    expect(u.callsOn('connection', 'c1', '2025-01-13')).toBe(0);
    expect(u.callsOn('connection', 'c1', '2025-01-14')).toBe(1);
    expect(u.callsOn('connection', 'c1', '2025-01-15')).toBe(1);
    expect(u.oldestKeptDay()).toBe('2025-01-14');
  });
});

describe('UsageRecorder with other processes (sumCounters, setElsewhere, onElsewhere)', () => {
  fakeClockAt('2025-01-15T12:00:00-06:00');
  const now = () => Date.now();
  const counters = (more: Partial<UsageCounters>): UsageCounters => ({
    calls: 0,
    identityCalls: 0,
    errors: 0,
    errorsByCode: {},
    retries: 0,
    queuedMs: 0,
    maxQueuedMs: 0,
    rejected: {},
    ...more,
  });
  const other = (
    key: string,
    day: string,
    more: Partial<UsageCounters>,
    scope: 'instance' | 'connection' = 'connection',
  ) => ({
    scope,
    key,
    day,
    instanceKey: I,
    counters: counters(more),
  });

  it('sums field by field: the longest wait is the larger, codes per code', () => {
    expect(
      sumCounters(
        counters({ calls: 2, errors: 1, errorsByCode: { '606': 1 }, queuedMs: 10, maxQueuedMs: 10 }),
        counters({
          calls: 3,
          identityCalls: 1,
          errors: 2,
          errorsByCode: { '606': 1, http_502: 1 },
          retries: 1,
          queuedMs: 5,
          maxQueuedMs: 4,
          rejected: { budget_exhausted: 2 },
        }),
      ),
    ).toEqual({
      calls: 5,
      identityCalls: 1,
      errors: 3,
      errorsByCode: { '606': 2, http_502: 1 },
      retries: 1,
      queuedMs: 15,
      maxQueuedMs: 10,
      rejected: { budget_exhausted: 2 },
    });
    // Fields missing from an older stored row count as zero.
    expect(sumCounters({ calls: 1 }, {}).calls).toBe(1);
  });

  it("answers mine + the others' rows, and tells listeners of today's totals that changed", async () => {
    const u = new UsageRecorder({ day: MARKETO_QUOTA_DAY, now });
    u.granted({ instanceKey: I, connectionId: 'c1', priority: 'interactive', at: now(), queuedMs: 7 });
    const told: [string, string, string, number][] = [];
    u.setElsewhere(
      [
        other('c1', '2025-01-15', { calls: 2, maxQueuedMs: 3, errorsByCode: { '606': 1 } }),
        other('c1', '2025-01-15', { calls: 1, rejected: { budget_exhausted: 1 } }),
        other('c3', '2025-01-15', { calls: 4 }),
        other(I, '2025-01-15', { calls: 7 }, 'instance'),
        other('c1', '2025-01-14', { calls: 9 }),
      ],
      '2025-01-14',
    );
    u.onElsewhere((scope, key, day, calls) => told.push([scope, key, day, calls]));
    // A new listener hears today's totals at once.
    expect(told.sort()).toEqual([
      ['connection', 'c1', '2025-01-15', 3],
      ['connection', 'c3', '2025-01-15', 4],
      ['instance', I, '2025-01-15', 7],
    ]);
    expect(u.callsOn('connection', 'c1', '2025-01-15')).toBe(4);
    expect(u.ownCallsOn('connection', 'c1', '2025-01-15')).toBe(1);
    const [c1] = await u.snapshot({ connectionId: 'c1' });
    expect(c1).toMatchObject({
      calls: 4,
      maxQueuedMs: 7,
      errorsByCode: { '606': 1 },
      rejected: { budget_exhausted: 1 },
    });
    const byInstance = await u.snapshot({ instanceKey: I });
    expect(byInstance.map((r) => [r.scope, r.key, r.calls])).toEqual([
      ['instance', I, 8],
      ['connection', 'c1', 4],
      ['connection', 'c3', 4],
    ]);
    expect((await u.snapshot({ day: '2025-01-14' })).map((r) => [r.key, r.calls])).toEqual([['c1', 9]]);
    expect((await u.snapshot()).map((r) => r.key)).toEqual([I, 'c1', 'c3']);

    // A refresh of today only: yesterday stays; only what changed is told.
    told.length = 0;
    u.setElsewhere(
      [
        other('c1', '2025-01-15', { calls: 3 }),
        other('c3', '2025-01-15', { calls: 6 }),
        other(I, '2025-01-15', { calls: 9 }, 'instance'),
      ],
      '2025-01-15',
    );
    expect(told.sort()).toEqual([
      ['connection', 'c3', '2025-01-15', 6],
      ['instance', I, '2025-01-15', 9],
    ]);
    expect(u.callsOn('connection', 'c1', '2025-01-14')).toBe(9);
    // Only this process's own counts are handed out to be stored.
    expect(u.takeChanged().map((r) => [r.scope, r.counters.calls])).toEqual([
      ['instance', 1],
      ['connection', 1],
    ]);
  });

  it("feeds traffic control: the others' calls spend the budget here", async () => {
    const u = new UsageRecorder({ day: MARKETO_QUOTA_DAY, now });
    const c = new TrafficController({
      defaults: { ...LIMITS, maxInFlight: 10 },
      day: MARKETO_QUOTA_DAY,
      now,
      observer: u,
      usedBefore: (scope, key, day) => u.ownCallsOn(scope, key, day),
    });
    u.useBudgets(c);
    u.onElsewhere((scope, key, day, calls) => c.setUsedElsewhere(scope, key, day, calls));
    c.setBudget('c1', 3);
    const base = { instanceKey: I, connectionId: 'c1', priority: 'interactive' as const, maxWaitMs: 0 };
    (await c.acquire(base)).release();
    u.setElsewhere([other('c1', '2025-01-15', { calls: 2 })], '2025-01-15');
    await expect(c.acquire(base)).rejects.toMatchObject({ code: 'budget_exhausted' });
    const [row] = await u.snapshot({ connectionId: 'c1' });
    expect(row).toMatchObject({ calls: 3, budget: { limit: 3, used: 3, left: 0 } });
    c.close();
  });
});
