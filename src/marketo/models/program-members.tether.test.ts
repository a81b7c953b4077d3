import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Nango } from '@nangohq/node';
import { startTestTether, type TestTether } from '../../server/testing.ts';
import { connectNew } from '../../server/routes/connections/test-helpers.ts';
import { SyncScheduler } from '../../engine/sync/scheduler.ts';
import type { RunOutcome } from '../../engine/sync/runner.ts';
import { rest } from '../../sandbox/testing.ts';
import { waitFor } from '../../testing/wait.ts';
import { programMembersSync } from './program-members.ts';
import { QUICK_SCHEDULER } from '../../engine/sync/testing.ts';

/**
 * The `program-members` sync end to end over real HTTP: a real Tether (scheduler, runner, records cache,
 * sync routes, read through @nangohq/node) against a real sandbox. The cache must equal the sandbox's
 * own Get Leads by Program answers member by member, field by field; a lead deleted through the REST
 * API loses its memberships (DELETED) after the next run; the run log names programs and counts.
 * The scheduler runs this sync alone (its own registry): other syncs would only add calls.
 */

type Json = Record<string, unknown>;
type Ended = RunOutcome & { syncId: number; syncName: string };

describe('program-members over HTTP against the sandbox', () => {
  let t: TestTether;
  let scheduler: SyncScheduler;
  const ended: Ended[] = [];
  let connectionId: string;

  /** The sandbox's memberships, from its REST reads, as ProgramMember records. */
  async function sandboxMembers(): Promise<Map<string, Json>> {
    const out = new Map<string, Json>();
    const programIds: number[] = [];
    for (let offset = 0; ; offset += 200) {
      const body = await rest<{ result?: Json[] }>(
        t.sandbox,
        `/rest/asset/v1/programs.json?maxReturn=200&offset=${offset}`,
      );
      if (!body.result) break;
      programIds.push(...body.result.map((p) => p.id as number));
    }
    for (const programId of programIds) {
      let token: string | undefined;
      do {
        const body = await rest<{ result?: Json[]; nextPageToken?: string }>(
          t.sandbox,
          `/rest/v1/leads/programs/${programId}.json?fields=email&batchSize=300` +
            (token ? `&nextPageToken=${encodeURIComponent(token)}` : ''),
        );
        for (const lead of body.result ?? []) {
          const { id: _programId, ...membership } = lead.membership as Json;
          const id = `${programId}:${lead.id}`;
          out.set(id, { id, programId, leadId: lead.id, email: lead.email ?? null, ...membership });
        }
        token = body.nextPageToken;
      } while (token);
    }
    return out;
  }

  /** Every ProgramMember record of the cache, split into live and deleted. */
  async function cached(): Promise<{ live: Map<string, Json>; deleted: Set<string> }> {
    const nango = new Nango({ host: t.tether.url, secretKey: t.tether.secretKey });
    const live = new Map<string, Json>();
    const deleted = new Set<string>();
    let cursor: string | null | undefined;
    do {
      const page = await nango.listRecords<Json>({
        providerConfigKey: 'marketo',
        connectionId,
        model: 'ProgramMember',
        limit: 1000,
        ...(cursor ? { cursor } : {}),
      });
      for (const r of page.records) {
        const { _nango_metadata: meta, ...rec } = r as Json & { _nango_metadata: { last_action: string } };
        if (meta.last_action === 'DELETED') deleted.add(String(rec.id));
        else live.set(String(rec.id), rec);
      }
      cursor = page.next_cursor;
    } while (cursor);
    return { live, deleted };
  }

  const byId = (m: Map<string, Json>) =>
    [...m.values()].sort((a, b) => String(a.id).localeCompare(String(b.id)));

  beforeAll(async () => {
    t = await startTestTether({ sandbox: { seed: { leads: 300, seed: 5 } } });
    await t.sandbox.control('PATCH', `/instances/${t.sandbox.munchkinId}`, {
      limits: { rate: { max: 300 } },
    });
    await t.tether.deps.syncs?.close();
    scheduler = new SyncScheduler(t.tether.deps, {
      ...QUICK_SCHEDULER,
      registry: { marketo: [programMembersSync] },
      onRunEnd: (o) => ended.push(o),
    });
    t.tether.deps.syncs = scheduler;
    connectionId = await connectNew(t);
    scheduler.start();
  });
  afterAll(async () => {
    await scheduler?.close();
    await t?.close();
  });

  it('the initial run equals the sandbox member by member; a deleted lead loses its memberships', async () => {
    const first = await waitFor('the initial run', async () => ended[0], 30_000, 25);
    expect(first.end).toBe('SUCCESS');
    const expected = await sandboxMembers();
    expect(expected.size).toBeGreaterThan(100);
    const initial = await cached();
    expect(initial.live.size).toBe(expected.size);
    expect(byId(initial.live)).toEqual(byId(expected));

    // The run log names the programs and the counts.
    const runsRes = await t.api(
      `/sync/runs?provider_config_key=marketo&connection_id=${connectionId}&syncs=program-members&limit=1`,
    );
    const run = ((await runsRes.json()) as { runs: { id: number; added: number }[] }).runs[0]!;
    expect(run.added).toBe(expected.size);
    const logsRes = await t.api(
      `/sync/runs/${run.id}/logs?provider_config_key=marketo&connection_id=${connectionId}&limit=500`,
    );
    const logs = ((await logsRes.json()) as { logs: { message: string }[] }).logs.map((l) => l.message);
    expect(logs.some((m) => /^program 1 of \d+$/.test(m))).toBe(true);
    expect(logs).toContain('program members read');

    // A lead deleted through the REST API: its memberships are DELETED after the next run.
    const leadId = [...initial.live.values()][0]!.leadId as number;
    const gone = [...initial.live.keys()].filter((k) => k.endsWith(`:${leadId}`));
    await rest(t.sandbox, '/rest/v1/leads/delete.json', { input: [{ id: leadId }] });
    const from = ended.length;
    const res = await t.api('/sync/trigger', {
      method: 'POST',
      json: { syncs: ['program-members'], provider_config_key: 'marketo', connection_id: connectionId },
    });
    expect(res.status).toBe(200);
    const second = await waitFor(
      'the next run',
      async () => ended.slice(from).find((e) => e.end !== 'LOST'),
      30_000,
      25,
    );
    expect(second.end).toBe('SUCCESS');
    const after = await cached();
    expect([...after.deleted].sort()).toEqual(gone.sort());
    expect(byId(after.live)).toEqual(byId(await sandboxMembers()));
  });
});
