/**
 * Hostile ids on the sync routes, on a real Tether (and PostgreSQL in the `postgres` project, whose row ids
 * are 4-byte integers): a run id or cursor beyond any row id is a clear 404 / empty page, never a 5xx.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nowOf } from '../../../db/context.ts';
import { claimSync, listSyncs } from '../../../db/syncs.ts';
import { startTestTether, type TestTether } from '../../testing.ts';
import { captureLogs, connectNew } from '../connections/test-helpers.ts';

let t: TestTether;
let logs: string[];
let connectionId: string;

beforeAll(async () => {
  t = await startTestTether();
  logs = captureLogs(t);
  connectionId = await connectNew(t);
});
afterAll(() => t?.close());

const q = () => `provider_config_key=marketo&connection_id=${connectionId}`;

describe('sync routes with ids beyond any row', () => {
  it('GET /sync/runs/:runId/logs: 404 unknown_sync_run', async () => {
    for (const id of ['2147483647', '2147483648', '9999999999999999']) {
      const res = await t.api(`/sync/runs/${id}/logs?${q()}`);
      expect(res.status, id).toBe(404);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('unknown_sync_run');
    }
    expect(logs.filter((l) => /"level":(50|60)/.test(l))).toEqual([]);
  });

  it('GET /sync/runs?cursor=…: a page (empty here), never a 5xx', async () => {
    for (const id of ['2147483648', '9999999999999999']) {
      const res = await t.api(`/sync/runs?${q()}&cursor=${id}`);
      expect(res.status, id).toBe(200);
      expect(((await res.json()) as { runs: unknown[] }).runs).toEqual([]);
    }
    expect(logs.filter((l) => /"level":(50|60)/.test(l))).toEqual([]);
  });

  it('GET /sync/runs/:runId/logs?cursor=…: an empty page, never a 5xx', async () => {
    // A run of the connection (syncs are off in this Tether: the test plays the runner).
    const ctx = t.tether.deps.store.ctx;
    const env = (await ctx.db.selectFrom('environments').select('id').executeTakeFirstOrThrow()).id;
    const sync = (
      await listSyncs(ctx, { environmentId: env, providerConfigKey: 'marketo', connectionId })
    )[0]!;
    const claim = await claimSync(ctx, {
      syncId: sync.id,
      owner: 'test',
      now: nowOf(ctx),
      staleBefore: new Date(0),
      models: [],
    });
    for (const id of ['2147483648', '9999999999999999']) {
      const res = await t.api(`/sync/runs/${claim!.run.id}/logs?${q()}&cursor=${id}`);
      expect(res.status, id).toBe(200);
      expect(((await res.json()) as { logs: unknown[] }).logs).toEqual([]);
    }
    expect(logs.filter((l) => /"level":(50|60)/.test(l))).toEqual([]);
  });
});
