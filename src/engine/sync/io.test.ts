import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestTether, type TestTether } from '../../server/testing.ts';
import { advanceTetherClock, captureLogs, connectNew } from '../../server/routes/connections/test-helpers.ts';
import { nowOf } from '../../db/context.ts';
import { instanceRoot } from '../../marketo/urls.ts';
import type { SyncIO, SyncModelDef, SyncRecord } from '../../marketo/models/types.ts';
import { DAY_MS, iso, parseDelimited, runJob } from '../../sandbox/bulk/test-helpers.ts';
import { startSyncScheduler, type SyncScheduler } from './scheduler.ts';
import type { RunOutcome } from './runner.ts';
import { waitFor } from '../../testing/wait.ts';
import { QUICK_SCHEDULER } from './testing.ts';

/**
 * The SyncIO the runner builds, end to end over real HTTP against the sandbox, with a probe sync in the
 * scheduler's registry (so the test does not depend on a particular Marketo model): a bulk export made
 * with `post`/`get`, polled with `sleep`, streamed with `download` (calls counted, permits freed), the
 * shared `instanceKey`, `pause` ending the run PAUSED until the reset and the scheduler resuming it,
 * `sleep` cut short when the scheduler closes, and downloads left open cancelled at the end of the run.
 */

type Ended = RunOutcome & { syncId: number; syncName: string };
type Json = Record<string, unknown>;
interface ProbeOptions {
  mode?: 'export' | 'pause' | 'sleep' | 'leave-open' | 'pages';
  pollMs?: number;
  resetAt?: number;
  exportId?: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Reads a streamed CSV body into rows (the files here are small and simple). */
async function csvRows(body: AsyncIterable<Uint8Array>): Promise<string[][]> {
  const decoder = new TextDecoder();
  let text = '';
  for await (const chunk of body) text += decoder.decode(chunk, { stream: true });
  return parseDelimited(text + decoder.decode());
}

const probe: SyncModelDef = {
  name: 'probe',
  models: ['Probe'],
  mode: 'incremental',
  defaultFrequencySeconds: 3600,
  description: 'Test probe of the SyncIO.',
  async run(io: SyncIO) {
    const o = io.options as ProbeOptions;
    io.log('probe run', { mode: o.mode ?? 'none' });
    const base = { instanceKey: io.instanceKey, mode: o.mode ?? 'none' };
    switch (o.mode) {
      case 'export': {
        const end = io.now().getTime();
        const created = (await io.post!('/bulk/v1/leads/export/create.json', {
          fields: ['id', 'email'],
          filter: { createdAt: { startAt: iso(end - 20 * DAY_MS), endAt: iso(end) } },
        })) as { result: { exportId: string }[] };
        const id = created.result[0]!.exportId;
        await io.post!(`/bulk/v1/leads/export/${id}/enqueue.json`, {});
        let polls = 0;
        for (;;) {
          const s = (await io.get(`/bulk/v1/leads/export/${id}/status.json`)) as {
            result: { status: string }[];
          };
          if (s.result[0]!.status === 'Completed') break;
          polls++;
          await io.sleep(o.pollMs ?? 50);
        }
        const file = await io.download(`/bulk/v1/leads/export/${id}/file.json`);
        if (file.status !== 200) throw new Error(`file: ${file.status}`);
        const [header, ...rows] = await csvRows(file.body);
        const records: SyncRecord[] = rows.map((r) => ({
          id: r[header!.indexOf('id')]!,
          email: r[header!.indexOf('email')]!,
        }));
        for (let i = 0; i < records.length; i += 500) {
          await io.save({
            upserts: { Probe: records.slice(i, i + 500) },
            checkpoint: { ...base, exportId: id, polls },
          });
        }
        return;
      }
      case 'pause':
        if (io.checkpoint?.paused !== true) {
          await io.save({ checkpoint: { ...base, paused: true } });
          io.pause(o.resetAt!, 'export_quota_exhausted', 'The daily export volume is spent (probe).');
        }
        await io.save({ checkpoint: { ...base, resumed: true } });
        return;
      case 'sleep':
        await io.sleep(60_000);
        return;
      case 'pages': {
        // Pages saved back to back, as a sync does when its next page is already parsed: how many turns
        // of the event loop (other requests, timers) came between them.
        let turns = 0;
        let counting = true;
        const turn = (): void => {
          turns++;
          if (counting) setImmediate(turn);
        };
        setImmediate(turn);
        const seen: number[] = [];
        for (let p = 0; p < 12; p++) {
          const records: SyncRecord[] = [];
          for (let i = 0; i < 200; i++) records.push({ id: String(p * 200 + i), n: p });
          await io.save({ upserts: { Probe: records }, checkpoint: { ...base, page: p } });
          seen.push(turns);
        }
        counting = false;
        await io.save({ checkpoint: { ...base, turns: seen } });
        return;
      }
      case 'leave-open':
        // A model that forgets its download: the run's end must free the permit.
        await io.download(`/bulk/v1/leads/export/${o.exportId!}/file.json`);
        await io.save({ checkpoint: base });
        return;
      default:
        await io.save({ checkpoint: base });
    }
  },
};

describe('the SyncIO of a run, over HTTP against the sandbox', () => {
  let t: TestTether;
  let scheduler: SyncScheduler;
  const ended: Ended[] = [];
  let logs: string[];
  let connectionId: string;

  function useScheduler(): void {
    scheduler = startSyncScheduler(t.tether.deps, {
      ...QUICK_SCHEDULER,
      closeTimeoutMs: 5_000,
      registry: { marketo: [probe] },
      onRunEnd: (o) => ended.push(o),
    });
    t.tether.deps.syncs = scheduler;
  }

  const until = <T>(what: string, fn: () => T | undefined, timeoutMs = 15_000) =>
    waitFor(what, fn, timeoutMs, 20);

  async function setOptions(options: ProbeOptions, id = connectionId): Promise<void> {
    const res = await t.api('/sync/options', {
      method: 'PUT',
      json: { sync_name: 'probe', provider_config_key: 'marketo', connection_id: id, options },
    });
    expect(res.status).toBe(200);
  }

  /** Runs of the probe sync of a connection that ended after index `from` of `ended`. */
  async function endsOf(id: string, from: number): Promise<() => Ended[]> {
    const syncId = Number((await status(id)).id);
    return () => ended.slice(from).filter((e) => e.syncId === syncId && e.end !== 'LOST');
  }

  /** Triggers a run and waits for its end (the first end of that sync after the trigger). */
  async function run(id = connectionId): Promise<Ended> {
    const ends = await endsOf(id, ended.length);
    const res = await t.api('/sync/trigger', {
      method: 'POST',
      json: { syncs: ['probe'], provider_config_key: 'marketo', connection_id: id },
    });
    expect(res.status).toBe(200);
    return until('the run', () => ends()[0]);
  }

  async function status(id = connectionId): Promise<Json> {
    const res = await t.api(`/sync/status?syncs=probe&provider_config_key=marketo&connection_id=${id}`);
    expect(res.status).toBe(200);
    return ((await res.json()) as { syncs: Json[] }).syncs[0]!;
  }

  async function lastRun(): Promise<Json> {
    const res = await t.api(
      `/sync/runs?provider_config_key=marketo&connection_id=${connectionId}&syncs=probe&limit=1`,
    );
    return ((await res.json()) as { runs: Json[] }).runs[0]!;
  }

  const inFlight = () => {
    const key = instanceRoot({ endpointURL: t.sandbox.endpoint }).toLowerCase();
    return t.tether.deps.traffic.get('marketo')!.status(key).inFlight;
  };

  beforeAll(async () => {
    t = await startTestTether({
      sandbox: { seed: { leads: 3_000, seed: 7 }, settings: { bulkProcessingMs: 300 } },
    });
    await t.tether.deps.syncs?.close();
    logs = captureLogs(t);
    useScheduler();
    connectionId = await connectNew(t);
    await until('the initial run', () => ended.find((e) => e.syncName === 'probe'));
  });
  afterAll(async () => {
    await scheduler?.close();
    await t?.close();
  });

  it('exports, polls with sleep, streams the file and saves it; every call counted, no permit left', async () => {
    await setOptions({ mode: 'export', pollMs: 50 });
    const e = await run();
    expect(e.end).toBe('SUCCESS');
    const s = await status();
    const checkpoint = s.checkpoint as Json;
    // The job took 300 ms to process: the run polled and slept in between.
    expect(checkpoint.polls).toBeGreaterThan(0);
    // The same file read directly from the sandbox.
    const direct = await t.sandbox.api(`/bulk/v1/leads/export/${checkpoint.exportId as string}/file.json`);
    const [header, ...rows] = parseDelimited(await direct.text());
    const expected = rows.map((r) => ({
      id: r[header!.indexOf('id')]!,
      email: r[header!.indexOf('email')]!,
    }));
    expect(expected.length).toBeGreaterThan(50);
    const res = await t.api('/records?model=Probe&limit=1000', {
      headers: { 'connection-id': connectionId, 'provider-config-key': 'marketo' },
    });
    const got = ((await res.json()) as { records: Json[] }).records.map((r) => ({
      id: r.id,
      email: r.email,
    }));
    expect(got.sort((a, b) => Number(a.id) - Number(b.id))).toEqual(
      expected.sort((a, b) => Number(a.id) - Number(b.id)),
    );
    // create + enqueue + one status per poll and the last one + the download.
    const polls = checkpoint.polls as number;
    expect((await lastRun()).api_calls).toBe(2 + polls + 1 + 1);
    expect(e.apiCalls).toBe(2 + polls + 1 + 1);
    expect(inFlight()).toBe(0);
  });

  it('a run leaves the event loop to other work between two pages, even with the next page at hand', async () => {
    await setOptions({ mode: 'pages' });
    const e = await run();
    expect(e.end).toBe('SUCCESS');
    const turns = ((await status()).checkpoint as Json).turns as number[];
    expect(turns).toHaveLength(12);
    for (let p = 1; p < turns.length; p++) expect(turns[p]).toBeGreaterThan(turns[p - 1]!);
  });

  it('instanceKey names the Marketo instance: two connections to one Munchkin ID share it', async () => {
    const other = await connectNew(t, { end_user: { id: 'user-2' }, allowed_integrations: ['marketo'] });
    expect(other).not.toBe(connectionId);
    const a = (await status()).checkpoint as Json;
    const e = await run(other);
    expect(e.end).toBe('SUCCESS');
    const second = (await status(other)).checkpoint as Json;
    expect(second.instanceKey).toBe(a.instanceKey);
    expect(a.instanceKey).toBe(instanceRoot({ endpointURL: t.sandbox.endpoint }).toLowerCase());
  });

  it('io.pause ends the run PAUSED until the reset (logged); the scheduler resumes it from its checkpoint', async () => {
    const resetAt = nowOf(t.tether.deps.store.ctx).getTime() + 3 * 3600_000;
    await setOptions({ mode: 'pause', resetAt });
    const ends = await endsOf(connectionId, ended.length);
    const e = await run();
    expect(e.end).toBe('PAUSED');
    expect(e.error).toEqual({
      type: 'export_quota_exhausted',
      message: 'The daily export volume is spent (probe).',
    });
    const s = await status();
    expect(s).toMatchObject({
      status: 'PAUSED',
      pausedUntil: new Date(resetAt).toISOString(),
      lastError: { type: 'export_quota_exhausted', message: 'The daily export volume is spent (probe).' },
      checkpoint: { paused: true },
    });
    expect(await lastRun()).toMatchObject({
      status: 'PAUSED',
      paused_until: new Date(resetAt).toISOString(),
    });
    // The run's log says so, with the run's id.
    const line = logs
      .map((l) => JSON.parse(l) as Json)
      .find((l) => String(l.msg).startsWith('run paused until ') && l.runId === e.runId);
    expect(line).toMatchObject({
      reason: 'export_quota_exhausted',
      sync: 'probe',
      pausedUntil: new Date(resetAt).toISOString(),
    });
    expect(logs.some((l) => l.includes('"msg":"probe run"') && l.includes(`"runId":${e.runId}`))).toBe(true);
    // Not before the reset…
    await sleep(200);
    expect(ends()).toHaveLength(1);
    // …and after it by itself.
    advanceTetherClock(t, resetAt + 1_000 - nowOf(t.tether.deps.store.ctx).getTime());
    const resumed = await until('the resumed run', () => ends()[1]);
    expect(resumed.end).toBe('SUCCESS');
    expect(await status()).toMatchObject({ status: 'SUCCESS', checkpoint: { resumed: true } });
  });

  it('a download the model leaves open is cancelled when the run ends', async () => {
    const end = Date.now();
    const job = await runJob(t.sandbox, 'leads', {
      fields: ['id', 'email'],
      filter: { createdAt: { startAt: iso(end - 30 * DAY_MS), endAt: iso(end) } },
    });
    await setOptions({ mode: 'leave-open', exportId: job.id });
    const e = await run();
    expect(e.end).toBe('SUCCESS');
    expect(inFlight()).toBe(0);
  });

  it('io.sleep is cut short when the scheduler closes: the run stops at once and resumes later', async () => {
    await setOptions({ mode: 'sleep' });
    const ends = await endsOf(connectionId, ended.length);
    const res = await t.api('/sync/trigger', {
      method: 'POST',
      json: { syncs: ['probe'], provider_config_key: 'marketo', connection_id: connectionId },
    });
    expect(res.status).toBe(200);
    await until('the sleeping run', () => (scheduler.runningCount > 0 ? true : undefined));
    await sleep(100);
    const started = Date.now();
    await scheduler.close();
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(ends().map((e) => e.end)).toEqual(['STOPPED']);
    expect((await status()).status).toBe('RUNNING');
    // The next scheduler takes the run over (from its checkpoint) and, once it may sleep no more, ends it.
    await setOptions({});
    useScheduler();
    const done = await until('the resumed run', () => ends()[1]);
    expect(done.end).toBe('SUCCESS');
  });
});
