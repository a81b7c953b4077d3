import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createConnection, deleteConnection } from './connections.ts';
import {
  getConnectionBudget,
  getInstanceLimits,
  listConnectionBudgets,
  listInstanceLimits,
  setConnectionBudget,
  setInstanceLimits,
} from './limits.ts';
import { openTestDb, type TestDb } from './testing.ts';

describe('limits repository', () => {
  let t: TestDb;
  beforeEach(async () => {
    t = await openTestDb();
  });
  afterEach(() => t.cleanup());

  const connection = (connectionId: string) =>
    createConnection(t.ctx, {
      environmentId: t.environmentId,
      connectionId,
      providerConfigKey: 'marketo',
      provider: 'marketo',
    });

  it('sets, replaces and clears a connection budget; lists live connections only', async () => {
    const a = await connection('a');
    const b = await connection('b');
    expect(await getConnectionBudget(t.ctx, a.id)).toBeNull();
    await setConnectionBudget(t.ctx, a.id, 100);
    await setConnectionBudget(t.ctx, a.id, 250); // upsert
    await setConnectionBudget(t.ctx, b.id, 0);
    expect(await getConnectionBudget(t.ctx, a.id)).toBe(250);
    expect((await listConnectionBudgets(t.ctx)).sort((x, y) => x.connectionPk - y.connectionPk)).toEqual([
      { connectionPk: a.id, provider: 'marketo', dailyBudget: 250 },
      { connectionPk: b.id, provider: 'marketo', dailyBudget: 0 },
    ]);
    await deleteConnection(t.ctx, t.environmentId, 'marketo', 'b');
    expect((await listConnectionBudgets(t.ctx)).map((r) => r.connectionPk)).toEqual([a.id]);
    await setConnectionBudget(t.ctx, a.id, null);
    expect(await getConnectionBudget(t.ctx, a.id)).toBeNull();
    expect(await listConnectionBudgets(t.ctx)).toEqual([]);
  });

  it('stores instance limits per provider and instance; {} removes them', async () => {
    const key = 'https://123-abc-456.mktorest.com';
    expect(await getInstanceLimits(t.ctx, 'marketo', key)).toEqual({});
    await setInstanceLimits(t.ctx, 'marketo', key, { rateMax: 50, dailyQuota: 100_000 });
    await setInstanceLimits(t.ctx, 'marketo', key, { rateMax: 60, maxInFlight: 5, rateWindowMs: 10_000 });
    await setInstanceLimits(t.ctx, 'marketo', 'other', { dailyQuota: 1 });
    expect(await getInstanceLimits(t.ctx, 'marketo', key)).toEqual({
      rateMax: 60,
      maxInFlight: 5,
      rateWindowMs: 10_000,
    });
    expect(await getInstanceLimits(t.ctx, 'other-provider', key)).toEqual({});
    expect(await listInstanceLimits(t.ctx)).toHaveLength(2);
    await setInstanceLimits(t.ctx, 'marketo', key, {});
    expect(await listInstanceLimits(t.ctx)).toEqual([
      { provider: 'marketo', instanceKey: 'other', limits: { dailyQuota: 1 } },
    ]);
  });
});
