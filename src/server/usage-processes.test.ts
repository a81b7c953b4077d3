import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningTether } from './start.ts';
import { startTestTether, type TestTether } from './testing.ts';
import { connectNew, startSecondTether } from './routes/connections/test-helpers.ts';
import { waitFor } from '../testing/wait.ts';
import { loadUsageDays } from '../db/usage-days.ts';
import type { UsageCounters } from '../engine/usage.ts';

/**
 * Two Tether processes on one database (a second server on the same data dir and database, as a second
 * process would run) share API usage and the daily budgets: each stores its own usage rows, reads the
 * other's every second, answers the sum, and counts the other's calls against a connection's budget.
 */

interface UsageBody {
  day: string;
  connection: { calls: number; budget: { limit: number; used: number; left: number } | null };
  instance: { calls: number; budget: { used: number } | null };
}

describe('API usage and daily budgets across Tether processes on one database', () => {
  const BUDGET = 10;
  let t: TestTether;
  let second: RunningTether | undefined;
  let connectionId: string;

  const headers = (tether: RunningTether) => ({ authorization: `Bearer ${tether.secretKey}` });
  const proxyGet = (tether: RunningTether, i: number) =>
    fetch(`${tether.url}/proxy/rest/v1/lead/${i + 1}.json`, {
      headers: { ...headers(tether), 'connection-id': connectionId, 'provider-config-key': 'marketo' },
    });
  const usage = async (tether: RunningTether): Promise<UsageBody> => {
    const res = await fetch(`${tether.url}/connections/${connectionId}/usage?provider_config_key=marketo`, {
      headers: headers(tether),
    });
    expect(res.status).toBe(200);
    return (await res.json()) as UsageBody;
  };
  /** Waits until `tether` answers `calls` calls for the connection (its own and the other's). */
  const seen = (tether: RunningTether, calls: number) =>
    waitFor(`${calls} calls in the usage answer`, async () => {
      const body = await usage(tether);
      return body.connection.calls === calls ? body : undefined;
    });
  /** Calls through `tether` until traffic control refuses one: how many went through. */
  const spend = async (tether: RunningTether): Promise<number> => {
    for (let n = 0; n <= BUDGET; n++) {
      const res = await proxyGet(tether, n);
      if (res.status !== 200) {
        expect(res.status).toBe(429);
        expect(((await res.json()) as { error: { code: string } }).error.code).toBe('daily_budget_exhausted');
        return n;
      }
      await res.arrayBuffer();
    }
    throw new Error('the budget was never refused');
  };

  beforeAll(async () => {
    t = await startTestTether();
    connectionId = await connectNew(t);
    const res = await t.api(`/connections/${connectionId}/limits?provider_config_key=marketo`, {
      method: 'PATCH',
      json: { daily_budget: BUDGET },
    });
    expect(res.status).toBe(200);
    // Started after the budget was set: it applies the stored one at start.
    second = await startSecondTether(t);
  });
  afterAll(async () => {
    await second?.close();
    await t?.close();
  });

  it("each answers the sum of both processes' calls, and together they keep the connection's budget", async () => {
    const a = t.tether;
    const b = second!;
    const instanceBefore = (await usage(a)).instance.calls;
    for (let i = 0; i < 4; i++) expect((await proxyGet(a, i)).status).toBe(200);

    // B's answer counts A's calls within a few seconds (A's flush, then B's read: 1 s each).
    const seenByB = await seen(b, 4);
    expect(seenByB.connection.budget).toMatchObject({ limit: BUDGET, used: 4, left: BUDGET - 4 });
    expect(seenByB.instance.calls).toBe(instanceBefore + 4);

    // B spends what is left of the day's budget, not a whole budget of its own.
    expect(await spend(b)).toBe(BUDGET - 4);
    // Once A has read B's calls, A refuses too: 10 calls together, the budget.
    const seenByA = await seen(a, BUDGET);
    expect(seenByA.connection.budget).toMatchObject({ used: BUDGET, left: 0 });
    expect(await spend(a)).toBe(0);
    const last = await seen(b, BUDGET);
    expect(last.instance.calls).toBe(instanceBefore + BUDGET);
    expect(last.instance.budget?.used).toBe(instanceBefore + BUDGET);

    // Each process stored its own row: A's 4 calls and B's 6, under two process ids.
    const pk = await t
      .api(`/connections/${connectionId}?provider_config_key=marketo`)
      .then(async (r) => String(((await r.json()) as { id: number }).id));
    const stored = await waitFor('both rows stored', async () => {
      const rows = (await loadUsageDays<UsageCounters>(a.deps.store.ctx, last.day)).filter(
        (r) => r.scope === 'connection' && r.key === pk,
      );
      return rows.length === 2 && rows.every((r) => r.counters.calls > 0) ? rows : undefined;
    });
    expect(stored.map((r) => r.counters.calls).sort()).toEqual([4, BUDGET - 4]);
    expect(new Set(stored.map((r) => r.processId)).size).toBe(2);
  }, 30_000);
});
