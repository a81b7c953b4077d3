import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningTether } from '../../server/start.ts';
import { startTestTether, type TestTether } from '../../server/testing.ts';
import { connectNew } from '../../server/routes/connections/test-helpers.ts';
import { leadsSync } from '../../marketo/models/leads.ts';
import { waitFor } from '../../testing/wait.ts';
import { SyncScheduler } from './scheduler.ts';
import type { RunOutcome } from './runner.ts';
import type { SyncRegistry } from './registry.ts';
import { QUICK_SCHEDULER } from './testing.ts';

/**
 * Marketo's bulk export queue is the instance's, whatever runs there: two Tether processes on one
 * database (the test's server, and a second one in an OS process of its own on the same data dir and
 * database: export-queue-processes.child.ts; in one Node process the two would share the in-process
 * bookkeeping, and a SQLite write lock held across an await by one would block the other's event loop),
 * each running the leads sync of its own connection to the same sandbox instance at the same time, with
 * at most 2 export jobs queued or processing (`maxQueuedExports`). Each process alone would keep 2, together 4; the slots shared through
 * the database keep them at 2 together, which the sandbox tells from its side (the most jobs it ever
 * had queued or processing, and no 1029 "Too many jobs in queue"), and both syncs load every lead.
 */

type Ended = RunOutcome & { syncId: number; syncName: string };

const LEADS = 600;
const CAP = 2;
const REGISTRY: SyncRegistry = { marketo: [leadsSync] };

interface Counters {
  errorsByCode: Record<string, number>;
  bulk: { jobs: Record<string, number>; peakQueuedOrProcessing: number };
}

/** A scheduler with the leads sync alone, one run at a time: each process runs one connection's sync. */
function leadsScheduler(tether: RunningTether, ended: Ended[]): SyncScheduler {
  const scheduler = new SyncScheduler(tether.deps, {
    ...QUICK_SCHEDULER,
    maxConcurrentRuns: 1,
    registry: REGISTRY,
    onRunEnd: (o) => ended.push(o),
  });
  tether.deps.syncs = scheduler;
  return scheduler;
}

const ROOT = resolve(import.meta.dirname, '../../..');

interface Child {
  proc: ChildProcess;
  ended: Ended[];
  output: string[];
}

/** The second Tether process (export-queue-processes.child.ts) on the test's data dir and database. */
function startChild(t: TestTether): Promise<Child> {
  const proc = spawn(
    process.execPath,
    ['--import', 'tsx', 'src/engine/sync/export-queue-processes.child.ts'],
    {
      cwd: ROOT,
      env: {
        ...process.env,
        VITEST: '',
        TETHER_DATA_DIR: t.dataDir,
        ...(t.databaseUrl ? { TETHER_DATABASE_URL: t.databaseUrl } : {}),
        TETHER_PORT: '0',
        TETHER_SANDBOX: 'off',
        TETHER_SYNCS: 'off',
        TETHER_LOG_LEVEL: 'silent',
        TETHER_ALLOWED_HOSTS: new URL(t.sandbox.endpoint).host,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const child: Child = { proc, ended: [], output: [] };
  return new Promise((resolvePromise, reject) => {
    let pending = '';
    const timer = setTimeout(
      () => reject(new Error(`the second Tether did not start:\n${child.output.join('')}`)),
      25_000,
    );
    proc.stderr!.on('data', (chunk: Buffer) => child.output.push(chunk.toString('utf8')));
    proc.stdout!.on('data', (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      child.output.push(text);
      pending += text;
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        let msg: { url?: string; ended?: Ended };
        try {
          msg = JSON.parse(line) as typeof msg;
        } catch {
          continue;
        }
        if (msg.ended) child.ended.push(msg.ended);
        if (msg.url) {
          clearTimeout(timer);
          resolvePromise(child);
        }
      }
    });
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the second Tether exited (${code}):\n${child.output.join('')}`));
    });
  });
}

/** Stops the child cleanly (SIGTERM), or kills it after 10 s. */
async function stopChild(child: Child | undefined): Promise<void> {
  if (!child || child.proc.exitCode !== null) return;
  const exited = new Promise<void>((r) => child.proc.once('exit', () => r()));
  child.proc.kill('SIGTERM');
  const timer = setTimeout(() => child.proc.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

describe("Marketo's bulk export queue shared by two Tether processes on one database", () => {
  let t: TestTether;
  let scheduler: SyncScheduler | undefined;
  let child: Child | undefined;
  const endedA: Ended[] = [];
  const connections: string[] = [];

  beforeAll(async () => {
    t = await startTestTether({
      // Jobs stay processing a little while, so that both syncs' jobs are at Marketo at once.
      sandbox: { seed: { leads: LEADS, seed: 15 }, settings: { bulkProcessingMs: 100 } },
    });
    // Room for both syncs' polls at the sandbox and in Tether's traffic control (split by 2 processes):
    // the cap on export jobs is this test's subject, not the rate.
    await t.sandbox.control('PATCH', `/instances/${t.sandbox.munchkinId}`, {
      limits: { rate: { max: 5000 } },
    });
    await t.tether.deps.syncs?.close();
    scheduler = leadsScheduler(t.tether, endedA);
    // Two connections to the same instance: the leads sync alone is created for each.
    connections.push(await connectNew(t), await connectNew(t));
    const res = await t.api(`/connections/${connections[0]}/limits?provider_config_key=marketo`, {
      method: 'PATCH',
      json: { instance: { rate_max: 5000 } },
    });
    expect(res.status).toBe(200);
    for (const connectionId of connections) {
      const put = await t.api('/sync/options', {
        method: 'PUT',
        json: {
          sync_name: 'leads',
          provider_config_key: 'marketo',
          connection_id: connectionId,
          options: { exportPollMs: 50, maxQueuedExports: CAP },
        },
      });
      expect(put.status).toBe(200);
    }
  }, 30_000);
  afterAll(async () => {
    await scheduler?.close();
    await stopChild(child);
    await t?.close();
  });

  it('keeps the two processes together within the cap, and both syncs load every lead', async () => {
    // The child applies the stored limits at its start, and claims one of the two syncs at once (one
    // run at a time); this process's scheduler takes the other.
    child = await startChild(t);
    scheduler!.start();
    const c = child;
    const [a, b] = await waitFor(
      'both leads runs ended',
      () => (endedA.length > 0 && c.ended.length > 0 ? [endedA[0]!, c.ended[0]!] : undefined),
      30_000,
    );
    // One run in each process (each runs one at a time), both successful.
    expect(a.end).toBe('SUCCESS');
    expect(b.end).toBe('SUCCESS');
    expect(a.syncId).not.toBe(b.syncId);

    const counters = (await t.sandbox.control<Counters>('GET', `/instances/${t.sandbox.munchkinId}/counters`))
      .body;
    // Marketo's side: never more than the cap queued or processing, never "Too many jobs in queue".
    expect(counters.bulk.peakQueuedOrProcessing).toBeGreaterThanOrEqual(1);
    expect(counters.bulk.peakQueuedOrProcessing).toBeLessThanOrEqual(CAP);
    expect(counters.errorsByCode['1029'] ?? 0).toBe(0);
    expect(counters.bulk.jobs).toMatchObject({ Queued: 0, Processing: 0, Failed: 0, Cancelled: 0 });

    // Either process answers from the shared database.
    for (const connectionId of connections) {
      const res = await t.api(
        `/sync/runs?provider_config_key=marketo&connection_id=${connectionId}&syncs=leads&limit=1`,
      );
      expect(res.status).toBe(200);
      const run = ((await res.json()) as { runs: { status: string; added: number }[] }).runs[0];
      expect(run).toMatchObject({ status: 'SUCCESS', added: LEADS });
    }

    // The processes did meet: at least one run waited for slots the other process held.
    const messages: string[] = [];
    for (const runId of [a.runId, b.runId]) {
      for (const connectionId of connections) {
        const res = await t.api(
          `/sync/runs/${runId}/logs?provider_config_key=marketo&connection_id=${connectionId}&limit=500`,
        );
        if (res.status !== 200) continue;
        const body = (await res.json()) as { logs: { message: string }[] };
        messages.push(...body.logs.map((l) => l.message));
      }
    }
    expect(messages.some((m) => m.includes('held by other Tether processes'))).toBe(true);

    // Every slot was given back once the runs ended.
    const left = await sql<{ n: number | string }>`select count(*) as n from shared_slots`.execute(
      t.tether.deps.store.ctx.db,
    );
    expect(Number(left.rows[0]!.n)).toBe(0);
  });
});
