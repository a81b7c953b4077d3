import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestTether, type TestTether } from '../../server/testing.ts';
import { advanceTetherClock, connectNew } from '../../server/routes/connections/test-helpers.ts';
import { nowOf } from '../../db/context.ts';
import { startSyncScheduler, type SyncScheduler } from './scheduler.ts';
import type { RunOutcome } from './runner.ts';
import { waitFor } from '../../testing/wait.ts';
import { QUICK_SCHEDULER } from './testing.ts';

/**
 * The daily quota runs out in the middle of a run: the run pauses (not fails), and once the
 * sandbox's clock and Tether's pass midnight America/Chicago the scheduler resumes it by itself
 * from its checkpoint and it finishes. Nothing here triggers the second run.
 */
type Ended = RunOutcome & { syncId: number; syncName: string };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('daily quota in the middle of a run', () => {
  let t: TestTether;
  let scheduler: SyncScheduler;
  const ended: Ended[] = [];
  let connectionId: string;

  const until = <T>(what: string, fn: () => T | undefined, timeoutMs = 20_000) =>
    waitFor(what, fn, timeoutMs, 25);

  beforeAll(async () => {
    t = await startTestTether({ sandbox: { seed: { leads: 300, seed: 5, spanDays: 90 } } });
    connectionId = await connectNew(t);
    scheduler = startSyncScheduler(t.tether.deps, {
      ...QUICK_SCHEDULER,
      onRunEnd: (o) => ended.push(o),
    });
    t.tether.deps.syncs = scheduler;
  });
  afterAll(async () => {
    await scheduler?.close();
    await t?.close();
  });

  it('pauses at 607 and finishes by itself after midnight Central', async () => {
    const name = 'static-list-memberships';
    // The initial runs of every sync first, so the quota below only meets the run under test.
    await until('the initial memberships run', () =>
      ended.find((e) => e.syncName === name && e.end === 'SUCCESS'),
    );
    await until('every initial run', () =>
      new Set(ended.map((e) => e.syncName)).size >= 8 ? true : undefined,
    );
    const statusUrl = `/sync/status?syncs=${name}&provider_config_key=marketo&connection_id=${connectionId}`;
    const full = (
      (await (await t.api(statusUrl)).json()) as { syncs: { recordCount: Record<string, number> }[] }
    ).syncs[0]!.recordCount.StaticListMembership!;
    expect(full).toBeGreaterThan(50);

    // Two more calls today, then 607: the membership sweep (one call per list page) stops halfway.
    const counters = await t.sandbox.control<{ callsToday: number }>(
      'GET',
      `/instances/${t.sandbox.munchkinId}/counters`,
    );
    await t.sandbox.control('PATCH', `/instances/${t.sandbox.munchkinId}`, {
      limits: { daily: { enabled: true, quota: counters.body.callsToday + 2 } },
    });
    const before = ended.length;
    const trig = await t.api('/sync/trigger', {
      method: 'POST',
      json: {
        syncs: [name],
        provider_config_key: 'marketo',
        connection_id: connectionId,
        opts: { reset: true },
      },
    });
    expect(trig.status).toBe(200);
    const paused = await until('the paused run', () => ended.slice(before).find((e) => e.syncName === name));
    expect(paused.end).toBe('PAUSED');
    const s = (
      (await (await t.api(statusUrl)).json()) as { syncs: { status: string; pausedUntil: string }[] }
    ).syncs[0]!;
    expect(s.status).toBe('PAUSED');
    const resetAt = Date.parse(s.pausedUntil);
    const sandboxInfo = await t.sandbox.control<{ quotaResetAt: string }>(
      'GET',
      `/instances/${t.sandbox.munchkinId}`,
    );
    // Tether's reset is the sandbox's: midnight America/Chicago.
    expect(resetAt).toBe(Date.parse(sandboxInfo.body.quotaResetAt));
    await sleep(300);
    expect(ended.slice(before).filter((e) => e.syncName === name)).toHaveLength(1);

    // Past midnight on both clocks: no trigger, the scheduler resumes the run and it finishes.
    await t.sandbox.control('POST', `/instances/${t.sandbox.munchkinId}/clock`, { toNextMidnight: true });
    advanceTetherClock(t, resetAt + 1_000 - nowOf(t.tether.deps.store.ctx).getTime());
    const done = await until('the resumed run', () =>
      ended.slice(before).find((e) => e.syncName === name && e.end !== 'PAUSED'),
    );
    expect(done.end).toBe('SUCCESS');
    const after = (
      (await (await t.api(statusUrl)).json()) as {
        syncs: { status: string; recordCount: Record<string, number> }[];
      }
    ).syncs[0]!;
    expect(after.status).toBe('SUCCESS');
    expect(after.recordCount.StaticListMembership).toBe(full);
  });
});
