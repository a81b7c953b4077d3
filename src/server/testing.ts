import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { loadConfig } from '../config.ts';
import { freshPostgresSchema } from '../db/testing.ts';
import { startTether, type RunningTether } from './start.ts';
import { startTestSandbox, type TestSandbox } from '../sandbox/testing.ts';
import type { StartOptions } from '../sandbox/index.ts';
import type { WebhookOutboxOptions } from '../engine/webhooks.ts';

/**
 * Integration-test harness: a real Tether server (port 0, temp data dir, SQLite) next to a real
 * Marketo sandbox (port 0) that Tether is allowed to reach. Nothing is mocked.
 */
export interface TestTether {
  tether: RunningTether;
  sandbox: TestSandbox;
  url: string;
  secretKey: string;
  dataDir: string;
  /** The PostgreSQL database (a schema of its own) when the tests run on PostgreSQL; else undefined. */
  databaseUrl: string | undefined;
  /** Call Tether with the secret key (override `authorization` to test auth). */
  api(path: string, init?: RequestInit & { json?: unknown }): Promise<Response>;
  /** Create a connect session and return its token. */
  session(body?: Record<string, unknown>): Promise<string>;
  /**
   * Run the Connect UI's auth call for the sandbox's default service (through integration
   * `providerConfigKey`, default `marketo`); returns the response.
   */
  connect(
    token: string,
    creds?: { clientId?: string; clientSecret?: string; endpointURL?: string; identityURL?: string },
    providerConfigKey?: string,
  ): Promise<Response>;
  close(): Promise<void>;
}

/**
 * Calls a running Tether with its secret key (unless the caller sets `authorization`), `json` sent as a
 * JSON body: what `TestTether.api` does, for a Tether a test started itself (a restart, a second process).
 */
export function tetherApi(tether: { url: string; secretKey: string }) {
  return (path: string, init: RequestInit & { json?: unknown } = {}): Promise<Response> => {
    const headers = new Headers(init.headers);
    if (!headers.has('authorization')) headers.set('authorization', `Bearer ${tether.secretKey}`);
    let body = init.body;
    if (init.json !== undefined) {
      body = JSON.stringify(init.json);
      if (!headers.has('content-type')) headers.set('content-type', 'application/json');
    }
    return fetch(tether.url + path, { ...init, headers, body });
  };
}

export async function startTestTether(
  opts: {
    sandbox?: StartOptions;
    env?: Record<string, string>;
    webhookBackoffMs?: (n: number) => number;
    webhookOutbox?: Omit<WebhookOutboxOptions, 'ctx' | 'onError'>;
    presence?: NonNullable<Parameters<typeof startTether>[1]>['presence'];
  } = {},
): Promise<TestTether> {
  const sandbox = await startTestSandbox(opts.sandbox);
  const dataDir = mkdtempSync(join(tmpdir(), 'tether-test-'));
  // With TETHER_TEST_POSTGRES_URL set (the `postgres` test project), each server gets a fresh schema in
  // that PostgreSQL database unless the test chose its own database.
  const pgUrl = process.env.TETHER_TEST_POSTGRES_URL;
  const schema =
    pgUrl && opts.env?.TETHER_DATABASE_URL === undefined ? await freshPostgresSchema(pgUrl) : undefined;
  const config = loadConfig({
    ...(schema ? { TETHER_DATABASE_URL: schema.url } : {}),
    TETHER_PORT: '0',
    TETHER_DATA_DIR: dataDir,
    TETHER_SANDBOX: 'off',
    TETHER_LOG_LEVEL: 'silent',
    // Background syncs would add calls to tests that count them; sync tests turn them on.
    TETHER_SYNCS: 'off',
    ...opts.env,
    // Extra hosts add to the sandbox, never replace it.
    TETHER_ALLOWED_HOSTS: [new URL(sandbox.endpoint).host, opts.env?.TETHER_ALLOWED_HOSTS]
      .filter((h): h is string => Boolean(h))
      .join(','),
  });
  const tether = await startTether(config, {
    logger: pino({ level: 'silent' }),
    ...(opts.webhookBackoffMs ? { webhookBackoffMs: opts.webhookBackoffMs } : {}),
    ...(opts.webhookOutbox ? { webhookOutbox: opts.webhookOutbox } : {}),
    ...(opts.presence ? { presence: opts.presence } : {}),
  });
  // Port 0 was resolved on listen: links must point at the real port.
  tether.deps.config.publicUrl = tether.url;
  const api = tetherApi(tether);
  return {
    tether,
    sandbox,
    url: tether.url,
    secretKey: tether.secretKey,
    dataDir,
    databaseUrl: schema?.url,
    api,
    session: async (body = { end_user: { id: 'user-1' }, allowed_integrations: ['marketo'] }) => {
      const res = await api('/connect/sessions', { method: 'POST', json: body });
      if (res.status !== 201) throw new Error(`session: ${res.status} ${await res.text()}`);
      return ((await res.json()) as { data: { token: string } }).data.token;
    },
    connect: (token, creds = {}, providerConfigKey = 'marketo') => {
      const q = new URLSearchParams();
      q.set('connect_session_token', token);
      q.set('params[endpointURL]', creds.endpointURL ?? sandbox.endpoint);
      q.set('params[identityURL]', creds.identityURL ?? sandbox.identity);
      return fetch(`${tether.url}/oauth2/auth/${encodeURIComponent(providerConfigKey)}?${q}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          client_id: creds.clientId ?? sandbox.clientId,
          client_secret: creds.clientSecret ?? sandbox.clientSecret,
        }),
      });
    },
    close: async () => {
      await tether.close();
      await sandbox.close();
      await schema?.drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
