import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openTestDb, type TestDb } from './testing.ts';
import { createIntegration, deleteIntegration, type Integration } from './integrations.ts';
import { createConnection } from './connections.ts';
import { ensureSyncs, listDueSyncs, listSyncs } from './syncs.ts';
import {
  getFunctionSettings,
  isFunctionEnabled,
  listDisabledSyncs,
  listFunctionSettings,
  settingsOf,
  syncsNotAutoStarted,
  updateFunctionSettings,
} from './integration-functions.ts';

/** Per-integration function settings on a real database (SQLite; PostgreSQL in the `postgres` project). */

const T0 = new Date('2025-01-01T00:00:00.000Z');

describe('integration function settings', () => {
  let t: TestDb;
  let mk: Integration;
  let other: Integration;

  beforeEach(async () => {
    t = await openTestDb(T0);
    mk = await createIntegration(t.ctx, {
      environmentId: t.environmentId,
      uniqueKey: 'mk',
      provider: 'marketo',
    });
    other = await createIntegration(t.ctx, {
      environmentId: t.environmentId,
      uniqueKey: 'other',
      provider: 'marketo',
    });
  });
  afterEach(async () => {
    await t.cleanup();
  });

  const set = (integrationId: number, type: 'sync' | 'action', name: string, patch: object) =>
    updateFunctionSettings(t.ctx, { integrationId, type, name, patch, now: T0 });

  it('defaults without a row; a patch changes only its fields, per integration and type', async () => {
    expect(await getFunctionSettings(t.ctx, mk.id, 'sync', 'leads')).toEqual({
      enabled: true,
      autoStart: true,
    });
    expect(await set(mk.id, 'sync', 'leads', { autoStart: false })).toEqual({
      enabled: true,
      autoStart: false,
    });
    expect(await set(mk.id, 'sync', 'leads', { enabled: false })).toEqual({
      enabled: false,
      autoStart: false,
    });
    expect(await set(mk.id, 'sync', 'leads', { enabled: true })).toEqual({ enabled: true, autoStart: false });
    await set(mk.id, 'action', 'leads', { enabled: false });

    const map = await listFunctionSettings(t.ctx, mk.id);
    expect(map.size).toBe(2);
    expect(settingsOf(map, 'sync', 'leads')).toEqual({ enabled: true, autoStart: false });
    expect(settingsOf(map, 'action', 'leads')).toEqual({ enabled: false, autoStart: true });
    expect(settingsOf(map, 'sync', 'lists')).toEqual({ enabled: true, autoStart: true });
    expect((await listFunctionSettings(t.ctx, other.id)).size).toBe(0);

    const where = { environmentId: t.environmentId, providerConfigKey: 'mk', name: 'leads' };
    expect(await isFunctionEnabled(t.ctx, { ...where, type: 'action' })).toBe(false);
    expect(await isFunctionEnabled(t.ctx, { ...where, type: 'sync' })).toBe(true);
    expect(await isFunctionEnabled(t.ctx, { ...where, providerConfigKey: 'other', type: 'action' })).toBe(
      true,
    );
  });

  it('names the syncs a connection gets paused, and every disabled sync', async () => {
    const c = await createConnection(t.ctx, {
      environmentId: t.environmentId,
      connectionId: 'c1',
      providerConfigKey: 'mk',
      provider: 'marketo',
    });
    expect(await syncsNotAutoStarted(t.ctx, c.id)).toEqual(new Set());
    await set(mk.id, 'sync', 'lists', { autoStart: false });
    await set(other.id, 'sync', 'leads', { autoStart: false, enabled: false });
    await set(mk.id, 'action', 'merge-leads', { enabled: false });
    expect(await syncsNotAutoStarted(t.ctx, c.id)).toEqual(new Set(['lists']));
    expect(await listDisabledSyncs(t.ctx)).toEqual([
      { environmentId: t.environmentId, providerConfigKey: 'other', name: 'leads' },
    ]);

    // ensureSyncs creates the not auto-started ones paused.
    await ensureSyncs(t.ctx, c.id, ['leads', 'lists'], T0, () => syncsNotAutoStarted(t.ctx, c.id));
    const syncs = await listSyncs(t.ctx, { environmentId: t.environmentId, providerConfigKey: 'mk' });
    expect(syncs.map((s) => [s.name, s.scheduleStatus])).toEqual([
      ['leads', 'STARTED'],
      ['lists', 'PAUSED'],
    ]);
  });

  it('a disabled sync is never due (for its integration only); enabled again, it is', async () => {
    const pks: number[] = [];
    for (const key of ['mk', 'other']) {
      const c = await createConnection(t.ctx, {
        environmentId: t.environmentId,
        connectionId: 'c1',
        providerConfigKey: key,
        provider: 'marketo',
      });
      await ensureSyncs(t.ctx, c.id, ['leads', 'lists'], T0);
      pks.push(c.id);
    }
    const due = async () =>
      (
        await listDueSyncs(t.ctx, {
          now: T0,
          staleBefore: new Date(T0.getTime() - 30_000),
          limit: 10,
          providers: ['marketo'],
        })
      ).map((d) => `${d.providerConfigKey}/${d.name}`);
    expect((await due()).sort()).toEqual(['mk/leads', 'mk/lists', 'other/leads', 'other/lists']);
    await set(mk.id, 'sync', 'leads', { enabled: false });
    // An action of that name, or the auto-start setting, changes nothing.
    await set(mk.id, 'action', 'lists', { enabled: false });
    await set(mk.id, 'sync', 'lists', { autoStart: false });
    expect((await due()).sort()).toEqual(['mk/lists', 'other/leads', 'other/lists']);
    await set(mk.id, 'sync', 'leads', { enabled: true });
    expect(await due()).toHaveLength(4);
  });

  it('deleting an integration deletes its settings, and only its', async () => {
    await set(mk.id, 'sync', 'leads', { enabled: false });
    await set(other.id, 'sync', 'leads', { enabled: false });
    expect(await deleteIntegration(t.ctx, t.environmentId, 'mk')).toBe(true);
    expect((await listFunctionSettings(t.ctx, mk.id)).size).toBe(0);
    expect(await listDisabledSyncs(t.ctx)).toEqual([
      { environmentId: t.environmentId, providerConfigKey: 'other', name: 'leads' },
    ]);
    // A new integration of the same key starts from the defaults.
    const again = await createIntegration(t.ctx, {
      environmentId: t.environmentId,
      uniqueKey: 'mk',
      provider: 'marketo',
    });
    expect(await getFunctionSettings(t.ctx, again.id, 'sync', 'leads')).toEqual({
      enabled: true,
      autoStart: true,
    });
  });
});
