import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestTether, type TestTether } from '../server/testing.ts';
import {
  connectNew,
  freePort,
  getConn,
  type Credentials,
} from '../server/routes/connections/test-helpers.ts';
import { startSyncScheduler } from '../engine/sync/scheduler.ts';
import { marketoSync } from '../marketo/models/index.ts';
import { waitFor } from '../testing/wait.ts';
import { runCli } from './run.ts';
import type { Output } from './commands.ts';
import { QUICK_SCHEDULER } from '../engine/sync/testing.ts';

/**
 * The command line against a real Tether and sandbox on loopback. bin/tether.mjs runs as a child process
 * (as an operator runs it) for the main flows, several at once to bound the time tsx's start-up costs; the
 * rest runs the same code in-process through runCli with captured streams. A scheduler with the
 * `lead-fields` sync alone keeps the sync part small.
 */

const BIN = resolve(import.meta.dirname, '../../bin/tether.mjs');

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

describe('tether command line', () => {
  let t: TestTether;
  let connectionId: string;
  let dir: string;
  let secrets: string[];

  function cli(args: string[], env: Record<string, string> = {}): Promise<Result> {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { ...process.env, TETHER_URL: t.url, TETHER_SECRET_KEY: t.secretKey, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    return new Promise((done) => child.on('close', (code) => done({ code, stdout, stderr })));
  }

  /** runCli in this process, streams captured. */
  async function inProcess(args: string[], env: Record<string, string | undefined> = {}): Promise<Result> {
    let stdout = '';
    let stderr = '';
    const io: Output = {
      out: async (c) => void (stdout += typeof c === 'string' ? c : Buffer.from(c).toString('utf8')),
      err: async (s) => void (stderr += s),
      stdoutIsTty: false,
      readStdin: async () => new Uint8Array(),
    };
    const code = await runCli(args, { TETHER_URL: t.url, TETHER_SECRET_KEY: t.secretKey, ...env }, io);
    return { code, stdout, stderr };
  }

  const sel = () => ['--connection', connectionId, '--integration', 'marketo'];

  function expectNoSecret(...results: Result[]): void {
    for (const r of results) {
      for (const s of secrets) {
        expect(r.stdout).not.toContain(s);
        expect(r.stderr).not.toContain(s);
      }
    }
  }

  async function runsOf(): Promise<{ id: number; reason: string; status: string }[]> {
    const res = await t.api(`/sync/runs?provider_config_key=marketo&connection_id=${connectionId}`);
    return ((await res.json()) as { runs: { id: number; reason: string; status: string }[] }).runs;
  }

  beforeAll(async () => {
    t = await startTestTether({ sandbox: { seed: { leads: 20, seed: 5 } } });
    t.tether.deps.syncs = startSyncScheduler(t.tether.deps, {
      ...QUICK_SCHEDULER,
      closeTimeoutMs: 5_000,
      registry: { marketo: [marketoSync('lead-fields')!] },
    });
    connectionId = await connectNew(t);
    // The connection's initial run, so that a trigger below is the only run in flight.
    await waitFor('the initial run', async () => {
      const runs = await runsOf();
      return runs.length > 0 && runs.every((r) => r.status === 'SUCCESS') ? true : undefined;
    });
    const { body } = await getConn(t, connectionId);
    const creds = body.credentials as unknown as Credentials;
    secrets = [t.secretKey, t.sandbox.clientSecret, creds.token];
    dir = mkdtempSync(join(tmpdir(), 'tether-cli-'));
  });

  afterAll(async () => {
    await t?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('runs as a child process: health, lists, show, connect-link, proxy, and clear errors', async () => {
    const down = await freePort();
    const [health, list, show, showJson, link, proxy, wrongKey, noServer, unknown] = await Promise.all([
      cli(['health']),
      cli(['connections', 'list', '--search', connectionId.slice(0, 8)]),
      cli(['connections', 'show', connectionId, '--integration', 'marketo']),
      cli(['connections', 'show', connectionId, '--integration', 'marketo', '--json']),
      cli(['connect-link', '--integration', 'marketo', '--end-user', 'u-9', '--email', 'u9@example.com']),
      cli(['proxy', 'GET', '/rest/v1/leads/describe.json', ...sel()]),
      cli(['connections', 'list'], { TETHER_SECRET_KEY: crypto.randomUUID() }),
      cli(['health'], { TETHER_URL: `http://127.0.0.1:${down}` }),
      cli(['connectoins', 'list']),
    ]);

    expect(health).toMatchObject({ code: 0, stderr: '' });
    expect(health.stdout).toContain(`ok: Tether at ${t.url}`);

    expect(list.code).toBe(0);
    const lines = list.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^CONNECTION ID\s+INTEGRATION\s+END USER\s+ERRORS\s+CREATED$/);
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatch(new RegExp(`^${connectionId}\\s+marketo\\s+user-1\\s+-\\s+\\d{4}-`));

    expect(show.code).toBe(0);
    expect(show.stdout).toMatch(new RegExp(`^connection_id\\s+${connectionId}$`, 'm'));
    expect(show.stdout).toMatch(/^credentials\s+\{"type":"OAUTH2_CC","expires_at":"\d{4}-/m);
    const shown = JSON.parse(showJson.stdout) as {
      connection_id: string;
      credentials?: unknown;
      credentials_status: Record<string, unknown>;
    };
    expect(shown.connection_id).toBe(connectionId);
    // No credentials at all, only their status: nothing to mask, nothing to leak.
    expect(shown.credentials).toBeUndefined();
    expect(shown.credentials_status).toMatchObject({ type: 'OAUTH2_CC', expired: false });
    for (const out of [show.stdout, showJson.stdout]) for (const s of secrets) expect(out).not.toContain(s);

    expect(link.code).toBe(0);
    const linkUrl = /^connect_link\s+(\S+)$/m.exec(link.stdout)?.[1];
    expect(linkUrl).toMatch(new RegExp(`^${t.url}/connect/\\?session_token=`));
    expect(link.stdout).toMatch(/^expires_at\s+\d{4}-\d\d-\d\dT/m);
    // The link works: its session token opens the session.
    const token = new URL(linkUrl!).searchParams.get('session_token')!;
    const session = await fetch(`${t.url}/connect/session`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(session.status).toBe(200);

    expect(proxy.code).toBe(0);
    const describeBody = JSON.parse(proxy.stdout) as { success: boolean; result: { id: number }[] };
    expect(describeBody.success).toBe(true);
    expect(describeBody.result.length).toBeGreaterThan(10);

    expect(wrongKey).toMatchObject({ code: 1, stdout: '' });
    expect(wrongKey.stderr).toMatch(/^error unknown_account: [^\n]+\n$/);

    expect(noServer).toMatchObject({ code: 1, stdout: '' });
    expect(noServer.stderr).toMatch(
      new RegExp(
        `^error connection_refused: cannot connect to Tether at http://127.0.0.1:${down} [^\\n]+\\n$`,
      ),
    );

    expect(unknown).toMatchObject({ code: 2, stdout: '' });
    expect(unknown.stderr).toMatch(/^error usage: unknown command 'connectoins'\n/);

    expectNoSecret(health, list, show, showJson, link, proxy, wrongKey, noServer, unknown);
  });

  it('triggers a sync, shows its status, and streams every record as NDJSON', async () => {
    const trigger = await cli(['syncs', 'trigger', 'lead-fields', ...sel()]);
    expect(trigger).toMatchObject({ code: 0, stderr: '' });
    expect(trigger.stdout).toBe(`triggered sync lead-fields of connection ${connectionId}\n`);
    await waitFor('the triggered run', async () => {
      const run = (await runsOf()).find((r) => r.reason === 'trigger');
      return run?.status === 'SUCCESS' ? run : undefined;
    });

    // The record count as the API pages it, to compare with the CLI's lines.
    let apiCount = 0;
    let cursor: string | null = null;
    do {
      const res = await t.api(`/records?model=LeadField&limit=10000${cursor ? `&cursor=${cursor}` : ''}`, {
        headers: { 'connection-id': connectionId, 'provider-config-key': 'marketo' },
      });
      const page = (await res.json()) as { records: unknown[]; next_cursor: string | null };
      apiCount += page.records.length;
      cursor = page.next_cursor;
    } while (cursor);
    expect(apiCount).toBeGreaterThan(20);

    const [status, records] = await Promise.all([
      cli(['syncs', 'status', ...sel()]),
      // A small page size: the CLI follows next_cursor over many pages.
      cli(['records', 'LeadField', ...sel(), '--all', '--limit', '7']),
    ]);
    expect(status.code).toBe(0);
    const statusLines = status.stdout.trimEnd().split('\n');
    expect(statusLines[0]).toMatch(
      /^SYNC\s+VARIANT\s+STATUS\s+LAST RUN\s+FINISHED\s+NEXT RUN\s+RECORDS\s+ERROR$/,
    );
    expect(statusLines[1]).toMatch(
      new RegExp(`^lead-fields\\s+base\\s+SUCCESS\\s+SUCCESS\\s+\\S+\\s+\\S+\\s+${apiCount}\\s+-$`),
    );

    expect(records).toMatchObject({ code: 0, stderr: '' });
    const lines = records.stdout.split('\n');
    expect(lines.pop()).toBe('');
    expect(lines).toHaveLength(apiCount);
    const ids = lines.map((l) => (JSON.parse(l) as { id: unknown }).id);
    expect(new Set(ids).size).toBe(apiCount);
    expectNoSecret(trigger, status, records);
  });

  it('runs a Marketo action, now and queued, and reads the queued one’s result', async () => {
    const input = JSON.stringify({ listId: 1001, leadIds: [1, 2] });
    const now = await inProcess(['actions', 'run', 'add-to-list', ...sel(), '--input', input]);
    expect(now.code).toBe(0);
    const output = JSON.parse(now.stdout) as { results: { id: number; status: string }[] };
    expect(output.results.map((r) => r.id)).toEqual([1, 2]);

    const queued = await inProcess(['actions', 'run', 'add-to-list', ...sel(), '--input', input, '--async']);
    expect(queued.code).toBe(0);
    const { id, statusUrl } = JSON.parse(queued.stdout) as { id: string; statusUrl: string };
    expect(statusUrl).toBe(`/action/${id}`);
    const result = await waitFor('the queued action', async () => {
      const r = await inProcess(['actions', 'result', id, '--json']);
      return r.code === 0 ? r : undefined;
    });
    expect((JSON.parse(result.stdout) as { results: unknown[] }).results).toHaveLength(2);

    const bad = await inProcess(['actions', 'run', 'add-to-list', ...sel(), '--input', '{"listId":1001}']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^error invalid_action_input: /);
    const notJson = await inProcess(['actions', 'run', 'add-to-list', ...sel(), '--input', '{']);
    expect(notJson).toMatchObject({ code: 2, stderr: expect.stringContaining('not JSON') as unknown });
    const unknown = await inProcess(['actions', 'result', 'no-such-run']);
    expect(unknown).toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/^error not_found: /) as unknown,
    });
  });

  it('in process: runs, logs, pause/start, one page of records, key file, verbose, errors, delete', async () => {
    const runs = await inProcess(['syncs', 'runs', ...sel(), '--limit', '1']);
    expect(runs.code).toBe(0);
    const runId = /^(\d+)\s+lead-fields\s+base\s+(?:INITIAL|INCREMENTAL)\s+trigger\s+SUCCESS/m.exec(
      runs.stdout,
    )?.[1];
    expect(runId).toBeDefined();
    expect(runs.stderr).toContain('older runs exist');

    const logs = await inProcess(['syncs', 'logs', runId!, ...sel(), '--json']);
    expect(logs.code).toBe(0);
    const logLines = logs.stdout
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as { level: string });
    expect(logLines.length).toBeGreaterThan(0);
    const badRun = await inProcess(['syncs', 'logs', '999999', ...sel()]);
    expect(badRun).toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/^error unknown_sync_run: /) as unknown,
    });

    expect((await inProcess(['syncs', 'pause', 'lead-fields', ...sel()])).stdout).toBe(
      `paused sync lead-fields of connection ${connectionId}\n`,
    );
    const paused = await inProcess(['syncs', 'status', ...sel(), '--sync', 'lead-fields', '--json']);
    expect((JSON.parse(paused.stdout) as { syncs: { status: string }[] }).syncs[0]!.status).toBe('PAUSED');
    expect((await inProcess(['syncs', 'start', 'lead-fields', ...sel()])).code).toBe(0);
    const unknownSync = await inProcess(['syncs', 'trigger', 'nope', ...sel()]);
    expect(unknownSync).toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/^error unknown_sync: /) as unknown,
    });

    const page = await inProcess(['records', 'LeadField', ...sel(), '--limit', '3']);
    expect(page.stdout.trimEnd().split('\n')).toHaveLength(3);
    const next = /^next_cursor: (\S+) /.exec(page.stderr)?.[1];
    expect(next).toBeDefined();
    const page2 = await inProcess(['records', 'LeadField', ...sel(), '--limit', '3', '--cursor', next!]);
    expect(page2.stdout).not.toBe(page.stdout);
    const badModel = await inProcess(['records', 'Nope', ...sel()]);
    expect(badModel).toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/^error unknown_model: /) as unknown,
    });

    // The key from a file (the env var is then ignored), and --verbose never shows it.
    const keyFile = join(dir, 'key');
    writeFileSync(keyFile, `${t.secretKey}\n`);
    const fromFile = await inProcess(['integrations', 'list', '--secret-key-file', keyFile, '--verbose'], {
      TETHER_SECRET_KEY: undefined,
    });
    expect(fromFile.code).toBe(0);
    expect(fromFile.stdout).toMatch(/^INTEGRATION\s+PROVIDER\s+DISPLAY NAME\s+CREATED\nmarketo\s+marketo\s/);
    expect(fromFile.stderr).toMatch(new RegExp(`^> GET ${t.url}/integrations\\n< 200 `));
    const noKey = await inProcess(['integrations', 'list'], { TETHER_SECRET_KEY: undefined });
    expect(noKey).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/^error missing_secret_key: /) as unknown,
    });
    const missingFile = await inProcess(['integrations', 'list', '--secret-key-file', join(dir, 'none')]);
    expect(missingFile.stderr).toMatch(/^error secret_key_file_unreadable: .*ENOENT/);
    const badUrl = await inProcess(['health', '--url', 'localhost:3003']);
    expect(badUrl).toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/^error invalid_url: /) as unknown,
    });

    // Tether's own proxy errors are error lines (an unknown connection is Nango's 400 `server_error`).
    const proxyUnknown = await inProcess([
      'proxy',
      'GET',
      '/rest/v1/leads/describe.json',
      '--connection',
      'nope',
      '--integration',
      'marketo',
    ]);
    expect(proxyUnknown).toMatchObject({ code: 1, stdout: '' });
    expect(proxyUnknown.stderr).toBe('error server_error: Failed to get connection\n');

    const missing = await inProcess(['connections', 'show', 'nope', '--integration', 'marketo']);
    expect(missing).toMatchObject({ code: 1, stderr: 'error not_found: Failed to find connection\n' });
    const deleted = await inProcess(['connections', 'delete', connectionId, '--integration', 'marketo']);
    expect(deleted).toMatchObject({
      code: 0,
      stdout: `deleted connection ${connectionId} of integration marketo\n`,
    });
    const again = await inProcess(['connections', 'delete', connectionId, '--integration', 'marketo']);
    expect(again).toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/^error unknown_connection: /) as unknown,
    });
    expectNoSecret(runs, logs, page, fromFile, proxyUnknown, missing, deleted);
  });

  it('functions: list, disable and enable with --auto-start, clear errors', async () => {
    const disabled = await inProcess([
      'functions',
      'disable',
      'marketo',
      'lead-fields',
      '--auto-start',
      'off',
    ]);
    expect(disabled).toMatchObject({
      code: 0,
      stdout: 'sync lead-fields of marketo: disabled, auto start off\n',
    });
    const list = await inProcess(['functions', 'list', 'marketo']);
    expect(list.code).toBe(0);
    const lines = list.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^NAME\s+TYPE\s+ENABLED\s+AUTO START\s+RUNS$/);
    expect(lines.find((l) => l.startsWith('lead-fields '))).toMatch(
      /^lead-fields\s+sync\s+false\s+false\s+every /,
    );
    expect(lines.find((l) => l.startsWith('merge-leads '))).toMatch(/^merge-leads\s+action\s+true\s+-/);
    const json = await inProcess(['functions', 'list', 'marketo', '--json']);
    const fns = (JSON.parse(json.stdout) as { data: { name: string; enabled: boolean }[] }).data;
    expect(fns.find((f) => f.name === 'lead-fields')).toMatchObject({ enabled: false, auto_start: false });

    const enabled = await inProcess(['functions', 'enable', 'marketo', 'lead-fields', '--auto-start', 'on']);
    expect(enabled.stdout).toBe('sync lead-fields of marketo: enabled, auto start on\n');
    const action = await inProcess(['functions', 'enable', 'marketo', 'merge-leads']);
    expect(action.stdout).toBe('action merge-leads of marketo: enabled\n');

    const badFlag = await inProcess([
      'functions',
      'enable',
      'marketo',
      'lead-fields',
      '--auto-start',
      'maybe',
    ]);
    expect(badFlag).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/^error invalid_input: /) as unknown,
    });
    const onAction = await inProcess([
      'functions',
      'disable',
      'marketo',
      'merge-leads',
      '--auto-start',
      'off',
    ]);
    expect(onAction).toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/^error invalid_body: /) as unknown,
    });
    const unknown = await inProcess(['functions', 'disable', 'marketo', 'nope']);
    expect(unknown).toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/^error not_found: /) as unknown,
    });
    const missing = await inProcess(['functions', 'enable', 'marketo']);
    expect(missing.code).toBe(2);
    expectNoSecret(disabled, list, json, enabled, action, badFlag, onAction, unknown, missing);
  });
});
