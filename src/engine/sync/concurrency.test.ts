/**
 * Sync runs racing the public API, on a real Tether and sandbox: a connection or an integration deleted
 * mid-run, the frequency changed mid-run, pause/start storms, triggers at once, the scheduler closed
 * mid-run. The races are lined up without sleeps: the test sync (a provider sync of its own, registered
 * for `marketo`) makes a real call to the sandbox, then waits at a gate the test opens once the racing
 * request has been answered. Expected: consistent state, no record written for a deleted connection, one
 * run per request, clear 4xx, never a 5xx.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { TestTether } from '../../server/testing.ts';
import {
  captureLogs,
  connectNew,
  startReceiver,
  startTetherWithReceiver,
  type Receiver,
} from '../../server/routes/connections/test-helpers.ts';
import { countRecords } from '../../db/records.ts';
import { getSync, listRuns, syncsDb } from '../../db/syncs.ts';
import type { SyncIO, SyncModelDef } from '../../marketo/models/types.ts';
import { startSyncScheduler, type SyncScheduler } from './scheduler.ts';
import type { RunOutcome } from './runner.ts';
import { waitFor } from '../../testing/wait.ts';

type Ended = RunOutcome & { syncId: number; syncName: string };

/** A gate the sync waits at: the test learns it arrived, then lets it through. */
class Gates {
  private waiting: { page: number; open: () => void }[] = [];
  private arrivals: ((page: number) => void)[] = [];
  /** When false, the sync passes every gate at once. */
  closed = true;

  async pass(page: number): Promise<void> {
    if (!this.closed) return;
    await new Promise<void>((open) => {
      this.waiting.push({ page, open });
      for (const a of this.arrivals.splice(0)) a(page);
    });
  }

  /** Resolves with the page once the sync waits at a gate. */
  reached(): Promise<number> {
    const w = this.waiting[0];
    if (w) return Promise.resolve(w.page);
    return new Promise((resolve) => this.arrivals.push(resolve));
  }

  open(): void {
    const w = this.waiting.shift();
    if (!w) throw new Error('no sync waits at a gate');
    w.open();
  }

  openAll(): void {
    this.closed = false;
    for (const w of this.waiting.splice(0)) w.open();
  }
}

const gates = new Gates();
const PAGES = 3;
const PER_PAGE = 5;
let started = 0;

/** Three pages of five records, each after one real call to the sandbox and a gate. */
const gated: SyncModelDef = {
  name: 'gated',
  models: ['GatedThing'],
  mode: 'incremental',
  defaultFrequencySeconds: 3600,
  description: 'test sync with gates',
  async run(io: SyncIO) {
    started++;
    let page = typeof io.checkpoint?.page === 'number' ? io.checkpoint.page : 0;
    if (page >= PAGES) page = 0; // an incremental run reads the three pages again
    for (; page < PAGES; page++) {
      await io.get('/rest/v1/leads.json?filterType=id&filterValues=1');
      await gates.pass(page);
      const records = Array.from({ length: PER_PAGE }, (_, i) => ({
        id: `${page}-${i}`,
        page,
        seen: io.now().toISOString(),
      }));
      await io.save({ upserts: { GatedThing: records }, checkpoint: { page: page + 1 } });
    }
    await gates.pass(PAGES); // after the last page, before the run ends
  },
};

let receiver: Receiver;
let t: TestTether;
let scheduler: SyncScheduler;
let logs: string[];
const ended: Ended[] = [];

function useScheduler(): SyncScheduler {
  scheduler = startSyncScheduler(t.tether.deps, {
    enabled: true,
    tickMs: 20,
    heartbeatMs: 100,
    staleAfterMs: 2_000,
    registry: { marketo: [gated] },
    onRunEnd: (o) => ended.push(o),
  });
  t.tether.deps.syncs = scheduler;
  return scheduler;
}

beforeAll(async () => {
  receiver = await startReceiver();
  t = await startTetherWithReceiver(receiver);
  logs = captureLogs(t);
  useScheduler();
});
afterEach(async () => {
  gates.openAll();
  await scheduler.idle();
  gates.closed = true;
  expect(logs.filter((l) => /"level":(50|60)/.test(l))).toEqual([]);
});
afterAll(async () => {
  gates.openAll();
  await scheduler?.close();
  await t?.close();
  await receiver?.close();
});

const until = <T>(what: string, fn: () => T | undefined | Promise<T | undefined>) =>
  waitFor(what, fn, 10_000, 10);

async function pkOf(connectionId: string): Promise<number> {
  const row = await t.tether.deps.store.ctx.db
    .selectFrom('connections')
    .select('id')
    .where('connection_id', '=', connectionId)
    .executeTakeFirstOrThrow();
  return row.id;
}

async function syncOf(connectionPk: number) {
  return syncsDb(t.tether.deps.store.ctx)
    .selectFrom('syncs')
    .selectAll()
    .where('connection_pk', '=', connectionPk)
    .executeTakeFirstOrThrow();
}

const endOf = (syncId: number, after: number) =>
  until(`the end of a run of sync ${syncId}`, () =>
    ended.slice(after).find((e) => e.syncId === syncId && e.end !== 'LOST'),
  );

/** A new connection whose initial run waits at its first gate. */
async function connectAndReachFirstGate(): Promise<{ connectionId: string; pk: number; syncId: number }> {
  const reached = gates.reached();
  const connectionId = await connectNew(t);
  expect(await reached).toBe(0);
  const pk = await pkOf(connectionId);
  return { connectionId, pk, syncId: (await syncOf(pk)).id };
}

const api = (method: string, path: string, json?: unknown) =>
  t.api(path, { method, ...(json !== undefined ? { json } : {}) });

describe('a run racing deletes', () => {
  it('a connection deleted mid-run: the run is CANCELLED, writes nothing more, sends no webhook, is not resumed', async () => {
    const { connectionId, pk, syncId } = await connectAndReachFirstGate();
    gates.open(); // page 0 saved
    expect(await gates.reached()).toBe(1);
    expect(await countRecords(t.tether.deps.store.ctx, { connectionPk: pk, model: 'GatedThing' })).toBe(5);
    const del = await api('DELETE', `/connections/${connectionId}?provider_config_key=marketo`);
    expect(del.status).toBe(200);
    const hooksBefore = receiver.hooks.length;
    const mark = ended.length;
    gates.openAll();
    const end = await endOf(syncId, mark);
    expect(end.end).toBe('CANCELLED');
    expect(await countRecords(t.tether.deps.store.ctx, { connectionPk: pk, model: 'GatedThing' })).toBe(5);
    const runs = await listRuns(t.tether.deps.store.ctx, { syncIds: [syncId], limit: 10 });
    expect(runs.map((r) => [r.status, r.error?.type])).toEqual([['CANCELLED', 'connection_deleted']]);
    const sync = (await getSync(t.tether.deps.store.ctx, syncId))!;
    expect(sync.currentRunId).toBeNull();
    expect(sync.leaseOwner).toBeNull();
    // No sync webhook for the deleted connection (a failure one neither).
    await scheduler.idle();
    expect(receiver.hooks.slice(hooksBefore).filter((h) => h.json.type === 'sync')).toEqual([]);
    // The scheduler does not resurrect it: a trigger is refused, nothing runs.
    const trig = await api('POST', '/sync/trigger', {
      syncs: ['gated'],
      provider_config_key: 'marketo',
      connection_id: connectionId,
    });
    expect(trig.status).toBe(400);
    expect(((await trig.json()) as { error: { code: string } }).error.code).toBe('unknown_connection');
    scheduler.wake();
    await scheduler.idle();
    expect(ended.slice(mark).filter((e) => e.syncId === syncId)).toHaveLength(1);
  });

  it('a connection deleted after the last page: CANCELLED, no success webhook', async () => {
    const { connectionId, pk, syncId } = await connectAndReachFirstGate();
    for (let page = 0; page < PAGES; page++) {
      expect(await gates.reached()).toBe(page);
      gates.open();
    }
    expect(await gates.reached()).toBe(PAGES);
    const del = await api('DELETE', `/connections/${connectionId}?provider_config_key=marketo`);
    expect(del.status).toBe(200);
    const hooksBefore = receiver.hooks.length;
    const mark = ended.length;
    gates.openAll();
    expect((await endOf(syncId, mark)).end).toBe('CANCELLED');
    expect(await countRecords(t.tether.deps.store.ctx, { connectionPk: pk, model: 'GatedThing' })).toBe(15);
    await scheduler.idle();
    expect(receiver.hooks.slice(hooksBefore).filter((h) => h.json.type === 'sync')).toEqual([]);
  });

  it('an integration deleted mid-run: the run is CANCELLED and writes nothing more', async () => {
    const key = 'marketo-doomed';
    const created = await api('POST', '/integrations', { unique_key: key, provider: 'marketo' });
    expect(created.status).toBe(200);
    const reached = gates.reached();
    const token = await t.session({ end_user: { id: 'user-x' }, allowed_integrations: [key] });
    const res = await t.connect(token, {}, key);
    expect(res.status).toBe(200);
    const connectionId = ((await res.json()) as { connectionId: string }).connectionId;
    expect(await reached).toBe(0);
    const pk = await pkOf(connectionId);
    const syncId = (await syncOf(pk)).id;
    const del = await api('DELETE', `/integrations/${key}`);
    expect(del.status).toBe(200);
    const mark = ended.length;
    gates.openAll();
    expect((await endOf(syncId, mark)).end).toBe('CANCELLED');
    expect(await countRecords(t.tether.deps.store.ctx, { connectionPk: pk, model: 'GatedThing' })).toBe(0);
  });
});

describe('a run racing schedule changes', () => {
  it('two triggers at once during a run: exactly one more run after it', async () => {
    const { connectionId, syncId } = await connectAndReachFirstGate();
    const body = { syncs: ['gated'], provider_config_key: 'marketo', connection_id: connectionId };
    const [a, b] = await Promise.all([
      api('POST', '/sync/trigger', body),
      api('POST', '/sync/trigger', body),
    ]);
    expect([a.status, b.status]).toEqual([200, 200]);
    const mark = ended.length;
    const before = started;
    gates.openAll();
    await endOf(syncId, mark);
    await until('the triggered run', () => ended.slice(mark).filter((e) => e.syncId === syncId)[1]);
    await scheduler.idle();
    expect(started - before).toBe(1);
    const runs = await listRuns(t.tether.deps.store.ctx, { syncIds: [syncId], limit: 10 });
    expect(runs.map((r) => [r.reason, r.status])).toEqual([
      ['trigger', 'SUCCESS'],
      ['schedule', 'SUCCESS'],
    ]);
  });

  it('triggers at once on an idle paused sync: one run, or one more if a trigger came after it started', async () => {
    const { connectionId, syncId } = await connectAndReachFirstGate();
    const sel = { syncs: ['gated'], provider_config_key: 'marketo', connection_id: connectionId };
    expect((await api('POST', '/sync/pause', sel)).status).toBe(200);
    let mark = ended.length;
    gates.openAll();
    await endOf(syncId, mark);
    await scheduler.idle();
    gates.closed = true;
    mark = ended.length;
    const reached = gates.reached();
    const triggers = await Promise.all(Array.from({ length: 10 }, () => api('POST', '/sync/trigger', sel)));
    expect(triggers.map((r) => r.status)).toEqual(Array(10).fill(200));
    await reached;
    gates.openAll();
    await endOf(syncId, mark);
    await scheduler.idle();
    // Triggers before the claim coalesce; those after it ask for one more run (the data may have changed
    // after the run began): never one run per trigger.
    const runsAfter = ended.slice(mark).filter((e) => e.syncId === syncId);
    expect(runsAfter.length).toBeGreaterThanOrEqual(1);
    expect(runsAfter.length).toBeLessThanOrEqual(2);
    const sync = await syncOf(await pkOf(connectionId));
    expect(sync.schedule_status).toBe('PAUSED');
    expect(sync.pending_mode).toBeNull();
  });

  it('pause/start storms during a run: no 5xx, one run at a time, the last word wins', async () => {
    const { connectionId, syncId } = await connectAndReachFirstGate();
    const sel = { syncs: ['gated'], provider_config_key: 'marketo', connection_id: connectionId };
    const storm = await Promise.all(
      Array.from({ length: 20 }, (_, i) => api('POST', i % 2 ? '/sync/start' : '/sync/pause', sel)),
    );
    expect(storm.map((r) => r.status)).toEqual(Array(20).fill(200));
    expect((await api('POST', '/sync/pause', sel)).status).toBe(200);
    const mark = ended.length;
    gates.openAll();
    expect((await endOf(syncId, mark)).end).toBe('SUCCESS');
    await scheduler.idle();
    const sync = await syncOf(await pkOf(connectionId));
    expect(sync.schedule_status).toBe('PAUSED');
    expect(sync.current_run_id).toBeNull();
    expect(ended.slice(mark).filter((e) => e.syncId === syncId)).toHaveLength(1);
    // Started again: due at once, one run.
    const m2 = ended.length;
    expect((await api('POST', '/sync/start', sel)).status).toBe(200);
    await endOf(syncId, m2);
    await scheduler.idle();
    expect(ended.slice(m2).filter((e) => e.syncId === syncId)).toHaveLength(1);
  });

  it('the frequency changed mid-run applies to the next run', async () => {
    const { connectionId, syncId } = await connectAndReachFirstGate();
    const r = await api('PUT', '/sync/update-connection-frequency', {
      sync_name: 'gated',
      provider_config_key: 'marketo',
      connection_id: connectionId,
      frequency: 'every 2h',
    });
    expect(r.status).toBe(200);
    const mark = ended.length;
    gates.openAll();
    await endOf(syncId, mark);
    const sync = (await getSync(t.tether.deps.store.ctx, syncId))!;
    const last = (await listRuns(t.tether.deps.store.ctx, { syncIds: [syncId], limit: 1 }))[0]!;
    expect(Date.parse(sync.nextRunAt!) - Date.parse(last.endedAt!)).toBe(2 * 3600 * 1000);
  });

  it('hostile options while a run uses them: 4xx for what is not an object; the run keeps its copy', async () => {
    const { connectionId, syncId } = await connectAndReachFirstGate();
    const put = (options: unknown) =>
      api('PUT', '/sync/options', {
        sync_name: 'gated',
        provider_config_key: 'marketo',
        connection_id: connectionId,
        options,
      });
    for (const bad of [null, [], 'x', 1, { ['k'.repeat(101)]: 1 }, { '': 1 }, { big: 'x'.repeat(17_000) }]) {
      const res = await put(bad);
      expect(res.status, JSON.stringify(bad).slice(0, 40)).toBe(400);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('invalid_body');
    }
    const deep = (await put(JSON.parse(`${'{"a":'.repeat(500)}1${'}'.repeat(500)}`))).status;
    expect(deep).toBeLessThan(500);
    expect((await put({ __proto__: 1, constructor: 'x', activityTypeIds: 'all' })).status).toBe(200);
    const mark = ended.length;
    gates.openAll();
    expect((await endOf(syncId, mark)).end).toBe('SUCCESS');
  });
});

describe('the scheduler closed mid-run', () => {
  it('the run stays RUNNING with its checkpoint and resumes from it, no record lost or doubled', async () => {
    const { pk, syncId } = await connectAndReachFirstGate();
    gates.open(); // page 0 saved
    expect(await gates.reached()).toBe(1);
    const closing = scheduler.close();
    gates.open(); // page 1 is saved, then the run stops
    await closing;
    const sync = (await getSync(t.tether.deps.store.ctx, syncId))!;
    expect(sync.checkpoint).toEqual({ page: 2 });
    expect(sync.leaseOwner).toBeNull();
    expect(sync.currentRunId).not.toBeNull();
    gates.closed = false;
    const mark = ended.length;
    useScheduler();
    expect((await endOf(syncId, mark)).end).toBe('SUCCESS');
    expect(await countRecords(t.tether.deps.store.ctx, { connectionPk: pk, model: 'GatedThing' })).toBe(
      PAGES * PER_PAGE,
    );
    const runs = await listRuns(t.tether.deps.store.ctx, { syncIds: [syncId], limit: 10 });
    expect(runs.map((r) => [r.status, r.resumes, r.added, r.pages])).toEqual([['SUCCESS', 1, 15, 3]]);
  });
});
