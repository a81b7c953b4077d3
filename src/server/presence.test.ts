import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningTether } from './start.ts';
import { startTestTether, type TestTether } from './testing.ts';
import { connectNew, startSecondTether } from './routes/connections/test-helpers.ts';
import { waitFor } from '../testing/wait.ts';

/**
 * Two Tether processes on one database (a second server on the same data dir and database, as a second
 * process would run) against one Marketo sandbox: each counts the other through its heartbeat and grants
 * only its part of the instance's rate, so that together they stay within what Marketo allows (no 606),
 * and the one left alone takes the whole rate back when the other stops.
 */
describe('several Tether processes on one database', () => {
  const RATE = 10;
  const WINDOW_MS = 2_000;
  let t: TestTether;
  let second: RunningTether | undefined;
  let connectionId: string;
  let instanceKey: string;

  const processesOf = (tether: RunningTether) =>
    tether.deps.traffic.get('marketo')!.status(instanceKey).processes;

  beforeAll(async () => {
    t = await startTestTether({ presence: { heartbeatMs: 50 } });
    connectionId = await connectNew(t);
    // Marketo's rate, small: 10 calls per 2 s (the sandbox answers 606 past it), and Tether's the same.
    const limited = await t.sandbox.control('PATCH', `/instances/${t.sandbox.munchkinId}`, {
      limits: { rate: { max: RATE, windowMs: WINDOW_MS } },
    });
    expect(limited.status).toBe(200);
    const res = await t.api(`/connections/${connectionId}/limits?provider_config_key=marketo`, {
      method: 'PATCH',
      json: { instance: { rate_max: RATE, rate_window_ms: WINDOW_MS } },
    });
    expect(res.status).toBe(200);
    instanceKey = ((await res.json()) as { instance: { key: string } }).instance.key;
  });
  afterAll(async () => {
    await second?.close();
    await t?.close();
  });

  it('split the rate while both run: together within Marketo’s limit; alone again, the whole of it', async () => {
    expect(processesOf(t.tether)).toBe(1);
    second = await startSecondTether(t, [], { presence: { heartbeatMs: 50 } });
    expect(processesOf(second)).toBe(2);
    await waitFor('the first process to count the second', () =>
      processesOf(t.tether) === 2 ? true : undefined,
    );
    expect(t.tether.deps.traffic.get('marketo')!.status(instanceKey).limits.rateMax).toBe(RATE / 2);

    const before = (
      await t.sandbox.control<{ errorsByCode: Record<string, number>; apiCalls: number }>(
        'GET',
        `/instances/${t.sandbox.munchkinId}/counters`,
      )
    ).body;
    // 12 calls through each process at once: 24 calls, at most 10 per 2 s at Marketo.
    const call = (tether: RunningTether, i: number) =>
      fetch(`${tether.url}/proxy/rest/v1/lead/${i + 1}.json`, {
        headers: {
          authorization: `Bearer ${tether.secretKey}`,
          'connection-id': connectionId,
          'provider-config-key': 'marketo',
        },
      }).then((r) => r.status);
    const statuses = await Promise.all([
      ...Array.from({ length: 12 }, (_, i) => call(t.tether, i)),
      ...Array.from({ length: 12 }, (_, i) => call(second!, i)),
    ]);
    expect(statuses.every((s) => s === 200)).toBe(true);
    const after = (
      await t.sandbox.control<{ errorsByCode: Record<string, number>; apiCalls: number }>(
        'GET',
        `/instances/${t.sandbox.munchkinId}/counters`,
      )
    ).body;
    // Every call reached Marketo once, and none was refused for the rate.
    expect(after.apiCalls - before.apiCalls).toBe(24);
    expect((after.errorsByCode['606'] ?? 0) - (before.errorsByCode['606'] ?? 0)).toBe(0);

    // The second process stops: the first counts itself alone at its next beat.
    await second.close();
    second = undefined;
    await waitFor('the first process alone again', () => (processesOf(t.tether) === 1 ? true : undefined));
    expect(t.tether.deps.traffic.get('marketo')!.status(instanceKey).limits.rateMax).toBe(RATE);
  }, 30_000);
});
