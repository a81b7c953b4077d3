import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestSandbox, type TestSandbox } from '../../sandbox/testing.ts';
import { MARKETO_SYNCS } from '../../marketo/models/index.ts';
import { waitFor } from '../../testing/wait.ts';
import { tetherApi } from '../../server/testing.ts';

/**
 * The real crash: a Tether process (`node --import tsx src/main.ts`) is killed with SIGKILL while its
 * syncs run, then started again on the same data directory. The runs left RUNNING are taken over
 * (their leases are stale) and resumed from their checkpoints; the final cache must equal the cache of
 * an uninterrupted process synced against the same Marketo sandbox.
 */

const ROOT = resolve(import.meta.dirname, '../../..');
const MODELS = [...new Set(MARKETO_SYNCS.flatMap((s) => s.models))].sort();

interface Proc {
  child: ChildProcess;
  url: string;
  secretKey: string;
  output: string[];
}

const until = <T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 30_000) =>
  waitFor(what, fn, timeoutMs);

function startTether(dataDir: string, sandbox: TestSandbox): Promise<Proc> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: ROOT,
    env: {
      ...process.env,
      VITEST: '',
      TETHER_DATA_DIR: dataDir,
      TETHER_PORT: '0',
      TETHER_SANDBOX: 'off',
      TETHER_LOG_LEVEL: 'warn',
      TETHER_ALLOWED_HOSTS: new URL(sandbox.endpoint).host,
      TETHER_SYNCS: 'on',
      TETHER_SYNC_TICK_MS: '20',
      TETHER_SYNC_HEARTBEAT_MS: '100',
      TETHER_SYNC_STALE_MS: '500',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  return new Promise((resolvePromise, reject) => {
    let text = '';
    const timer = setTimeout(() => reject(new Error(`Tether did not start:\n${text}`)), 30_000);
    const onData = (chunk: Buffer) => {
      text += chunk.toString('utf8');
      output.push(chunk.toString('utf8'));
      const url = /Tether is running at (\S+)/.exec(text)?.[1];
      const secretKey = /Secret key\s+(\S+)/.exec(text)?.[1];
      if (url && secretKey) {
        clearTimeout(timer);
        resolvePromise({ child, url, secretKey, output });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`Tether exited (${code}):\n${text}`));
    });
  });
}

function api(p: Proc, path: string, init: RequestInit & { json?: unknown } = {}): Promise<Response> {
  return tetherApi(p)(path, init);
}

async function connect(p: Proc, sandbox: TestSandbox): Promise<string> {
  const s = await api(p, '/connect/sessions', {
    method: 'POST',
    json: { end_user: { id: 'crash' }, allowed_integrations: ['marketo'] },
  });
  const token = ((await s.json()) as { data: { token: string } }).data.token;
  const q = new URLSearchParams({
    connect_session_token: token,
    'params[endpointURL]': sandbox.endpoint,
    'params[identityURL]': sandbox.identity,
  });
  const res = await fetch(`${p.url}/oauth2/auth/marketo?${q}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ client_id: sandbox.clientId, client_secret: sandbox.clientSecret }),
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { connectionId: string }).connectionId;
}

interface Status {
  name: string;
  status: string;
  finishedAt: string | null;
  checkpoint: Record<string, unknown> | null;
  latestExecutionStatus: string | null;
}

async function statuses(p: Proc, connectionId: string): Promise<Status[]> {
  const res = await api(p, `/sync/status?syncs=*&provider_config_key=marketo&connection_id=${connectionId}`);
  return ((await res.json()) as { syncs: Status[] }).syncs;
}

function allDone(list: Status[]): boolean {
  return (
    list.length === MARKETO_SYNCS.length &&
    list.every((s) => s.status === 'SUCCESS' && s.latestExecutionStatus === 'SUCCESS')
  );
}

/** Every record of every model: `model/id` → payload and whether it is deleted. */
async function cache(p: Proc, connectionId: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const model of MODELS) {
    let cursor: string | null = null;
    do {
      const res = await api(p, `/records?model=${model}&limit=10000${cursor ? `&cursor=${cursor}` : ''}`, {
        headers: { 'connection-id': connectionId, 'provider-config-key': 'marketo' },
      });
      const body = (await res.json()) as {
        records: ({ id: string; _nango_metadata: { last_action: string } } & Record<string, unknown>)[];
        next_cursor: string | null;
      };
      for (const { _nango_metadata: meta, ...rest } of body.records) {
        out.set(`${model}/${rest.id}`, JSON.stringify({ ...rest, deleted: meta.last_action === 'DELETED' }));
      }
      cursor = body.next_cursor;
    } while (cursor);
  }
  return out;
}

function kill(p: Proc | undefined, signal: NodeJS.Signals): Promise<void> {
  if (!p || p.child.exitCode !== null || p.child.signalCode !== null) return Promise.resolve();
  return new Promise((r) => {
    p.child.once('exit', () => r());
    p.child.kill(signal);
  });
}

describe('kill -9 during syncs', () => {
  let sandbox: TestSandbox;
  const dirs: string[] = [];
  const procs: Proc[] = [];

  beforeAll(async () => {
    sandbox = await startTestSandbox({ seed: { leads: 2_000, seed: 3, spanDays: 90 } });
  });
  afterAll(async () => {
    for (const p of procs) await kill(p, 'SIGKILL');
    await sandbox?.close();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('a restarted process resumes the interrupted runs and ends with the cache of an uninterrupted one', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'tether-crash-'));
    dirs.push(dataDir);
    // Slow Marketo down so that the runs are still going when the process dies.
    await sandbox.control('POST', `/instances/${sandbox.munchkinId}/faults`, {
      kind: 'slow',
      delayMs: 60,
      probability: 1,
      path: '/rest/',
    });
    const first = await startTether(dataDir, sandbox);
    procs.push(first);
    const connectionId = await connect(first, sandbox);
    // Kill it once a run has saved a page of a sweep (mid-run) and others are still running.
    const seen = await until('a run in the middle of a sweep', async () => {
      const list = await statuses(first, connectionId);
      return list.find((s) => s.status === 'RUNNING' && typeof s.checkpoint?.sweepId === 'string');
    });
    await kill(first, 'SIGKILL');
    expect(first.child.signalCode).toBe('SIGKILL');

    const second = await startTether(dataDir, sandbox);
    procs.push(second);
    await sandbox.control('DELETE', `/instances/${sandbox.munchkinId}/faults`);
    await until('the resumed runs', async () =>
      allDone(await statuses(second, connectionId)) ? true : undefined,
    );
    const runsRes = await api(
      second,
      `/sync/runs?provider_config_key=marketo&connection_id=${connectionId}&syncs=${seen.name}`,
    );
    const runs = ((await runsRes.json()) as { runs: { status: string; resumes: number; type: string }[] })
      .runs;
    // The interrupted run was continued (same run, resumed once), not started over.
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({ status: 'SUCCESS', resumes: 1, type: 'INITIAL' });
    const afterCrash = await cache(second, connectionId);
    await kill(second, 'SIGTERM');

    // The same Marketo, synced by a process that was never interrupted.
    const cleanDir = mkdtempSync(join(tmpdir(), 'tether-clean-'));
    dirs.push(cleanDir);
    const clean = await startTether(cleanDir, sandbox);
    procs.push(clean);
    const cleanId = await connect(clean, sandbox);
    await until('the uninterrupted runs', async () =>
      allDone(await statuses(clean, cleanId)) ? true : undefined,
    );
    const expected = await cache(clean, cleanId);
    await kill(clean, 'SIGTERM');

    expect(afterCrash.size).toBeGreaterThan(1_000);
    expect([...afterCrash.keys()].sort()).toEqual([...expected.keys()].sort());
    const differing = [...expected].filter(([k, v]) => afterCrash.get(k) !== v).map(([k]) => k);
    expect(differing).toEqual([]);
  }, 60_000);
});
