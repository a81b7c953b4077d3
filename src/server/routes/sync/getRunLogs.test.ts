import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nowOf } from '../../../db/context.ts';
import { claimSync } from '../../../db/syncs.ts';
import { RunLog } from '../../../engine/sync/run-log.ts';
import { startTestTether, type TestTether } from '../../testing.ts';
import { connectNew } from '../connections/test-helpers.ts';

/**
 * `GET /sync/runs/:runId/logs` over real HTTP: a run's lines, paged, only through the connection the run
 * belongs to, and clear errors otherwise. (What real runs write there is asserted by the sync tests, e.g.
 * src/engine/sync/bulk-leads.test.ts: the 1035 fallback, a pause.)
 */
describe('GET /sync/runs/:runId/logs', () => {
  let t: TestTether;
  let mine: string;
  let other: string;
  let runId: number;

  async function syncIdOf(connectionId: string): Promise<number> {
    const res = await t.api(
      `/sync/status?syncs=leads&provider_config_key=marketo&connection_id=${connectionId}`,
    );
    expect(res.status).toBe(200);
    return Number(((await res.json()) as { syncs: { id: number }[] }).syncs[0]!.id);
  }

  beforeAll(async () => {
    t = await startTestTether();
    mine = await connectNew(t, { end_user: { id: 'user-1' }, allowed_integrations: ['marketo'] });
    other = await connectNew(t, { end_user: { id: 'user-2' }, allowed_integrations: ['marketo'] });
    // A run of `mine`'s leads sync (syncs are off in this Tether: the test plays the runner).
    const ctx = t.tether.deps.store.ctx;
    const claim = await claimSync(ctx, {
      syncId: await syncIdOf(mine),
      owner: 'test',
      now: nowOf(ctx),
      staleBefore: new Date(0),
      models: ['Lead'],
    });
    runId = claim!.run.id;
    const log = new RunLog(ctx, runId, pino({ level: 'silent' }), () => nowOf(ctx));
    for (let i = 1; i <= 5; i++) log.model(`line ${i}`, { i });
    await log.flush();
  });
  afterAll(async () => {
    await t.close();
  });

  it('answers the lines in order, paged by cursor', async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res = await t.api(
        `/sync/runs/${runId}/logs?provider_config_key=marketo&connection_id=${mine}&limit=2` +
          (cursor ? `&cursor=${cursor}` : ''),
      );
      expect(res.status).toBe(200);
      const body = (await res.json()) as {
        logs: { id: number; at: string; level: string; message: string; data: unknown }[];
        next_cursor: string | null;
      };
      expect(body.logs.length).toBeLessThanOrEqual(2);
      for (const l of body.logs) {
        expect(l.level).toBe('info');
        expect(Number.isNaN(Date.parse(l.at))).toBe(false);
        expect(l.data).toEqual({ i: Number(l.message.slice(5)) });
      }
      seen.push(...body.logs.map((l) => l.message));
      cursor = body.next_cursor;
      pages++;
    } while (cursor);
    expect(seen).toEqual(['line 1', 'line 2', 'line 3', 'line 4', 'line 5']);
    expect(pages).toBe(3);
  });

  it("is not readable through another connection's id, and bad input gets a clear error", async () => {
    const q = `provider_config_key=marketo&connection_id=${mine}`;
    const cases: [string, number, string][] = [
      [
        `/sync/runs/${runId}/logs?provider_config_key=marketo&connection_id=${other}`,
        404,
        'unknown_sync_run',
      ],
      [`/sync/runs/999999/logs?${q}`, 404, 'unknown_sync_run'],
      [`/sync/runs/abc/logs?${q}`, 400, 'invalid_uri_params'],
      [`/sync/runs/0/logs?${q}`, 400, 'invalid_uri_params'],
      [`/sync/runs/${runId}/logs?provider_config_key=marketo`, 400, 'invalid_query_params'],
      [`/sync/runs/${runId}/logs?${q}&limit=0`, 400, 'invalid_query_params'],
      [`/sync/runs/${runId}/logs?${q}&cursor=x`, 400, 'invalid_query_params'],
      [`/sync/runs/${runId}/logs?${q}&extra=1`, 400, 'invalid_query_params'],
      [
        `/sync/runs/${runId}/logs?provider_config_key=marketo&connection_id=nobody`,
        400,
        'unknown_connection',
      ],
      [
        `/sync/runs/${runId}/logs?provider_config_key=nope&connection_id=${mine}`,
        400,
        'unknown_provider_config',
      ],
    ];
    for (const [path, status, code] of cases) {
      const res = await t.api(path);
      expect(res.status, path).toBe(status);
      const body = (await res.json()) as { error: { code: string; message: string } };
      expect(body.error.code, path).toBe(code);
      expect(body.error.message.length, path).toBeGreaterThan(0);
    }
    const anonymous = await fetch(`${t.tether.url}/sync/runs/${runId}/logs?${q}`);
    expect(anonymous.status).toBe(401);
  });
});
