import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import pino from 'pino';
import { loadConfig } from '../../../config.ts';
import { startTether, type RunningTether } from '../../start.ts';
import { startTestTether, type TestTether } from '../../testing.ts';
import type { StartOptions } from '../../../sandbox/index.ts';

/**
 * Helpers for the integration tests of the public API (connections, integrations, SDK compatibility):
 * a loopback webhook receiver, a Tether that may call it, connections made through the real connect
 * flow, Tether's clock, and a log capture. Nothing here mocks Tether or the sandbox.
 */

export interface ReceivedHook {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  json: Record<string, unknown>;
  at: number;
}

export interface Receiver {
  url: string;
  port: number;
  hooks: ReceivedHook[];
  /** Wait until a hook matching `pred` arrived (default 10 s). */
  waitFor(pred: (h: ReceivedHook) => boolean, timeoutMs?: number): Promise<ReceivedHook>;
  close(): Promise<void>;
}

/** An HTTP server on 127.0.0.1 that records every POST and answers 200 after `delayMs`. */
export async function startReceiver(opts: { delayMs?: number } = {}): Promise<Receiver> {
  const hooks: ReceivedHook[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      let json: Record<string, unknown> = {};
      try {
        json = JSON.parse(body) as Record<string, unknown>;
      } catch {
        // recorded as is
      }
      hooks.push({ path: req.url ?? '', headers: req.headers, body, json, at: Date.now() });
      setTimeout(() => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{}');
      }, opts.delayMs ?? 0);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    port,
    hooks,
    waitFor: async (pred, timeoutMs = 10_000) => {
      const until = Date.now() + timeoutMs;
      while (Date.now() < until) {
        const found = hooks.find(pred);
        if (found) return found;
        await new Promise((r) => setTimeout(r, 20));
      }
      throw new Error(`no matching webhook within ${timeoutMs} ms (got ${hooks.length})`);
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A free TCP port on 127.0.0.1 (for a sandbox whose address must be known before it starts). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * A test Tether whose environment webhook URL is `receiver` (TETHER_WEBHOOK_URL), with both the
 * sandbox and the receiver allowlisted. The harness sets TETHER_ALLOWED_HOSTS to the sandbox alone, so
 * the sandbox gets a port chosen here to build the full list.
 */
export async function startTetherWithReceiver(
  receiver: Receiver,
  opts: { sandbox?: StartOptions; env?: Record<string, string> } = {},
): Promise<TestTether> {
  const port = await freePort();
  return startTestTether({
    sandbox: { ...opts.sandbox, port },
    webhookBackoffMs: () => 10,
    env: {
      TETHER_ALLOWED_HOSTS: `127.0.0.1:${port},127.0.0.1:${receiver.port}`,
      TETHER_WEBHOOK_URL: receiver.url,
      ...opts.env,
    },
  });
}

/** Connect the sandbox's default service through the real flow; returns the connection id. */
export async function connectNew(
  t: TestTether,
  session: Record<string, unknown> = { end_user: { id: 'user-1' }, allowed_integrations: ['marketo'] },
): Promise<string> {
  const token = await t.session(session);
  const res = await t.connect(token);
  const text = await res.text();
  if (res.status !== 200) throw new Error(`connect: ${res.status} ${text}`);
  return (JSON.parse(text) as { connectionId: string }).connectionId;
}

/** `GET /connections/{id}` with the four keys the SDK sends; returns status and parsed body. */
export async function getConn(
  t: TestTether,
  connectionId: string,
  opts: { force?: boolean; key?: string } = {},
): Promise<{ status: number; body: Record<string, unknown> & { error?: Record<string, unknown> } }> {
  const q = new URLSearchParams({
    provider_config_key: opts.key ?? 'marketo',
    force_refresh: String(opts.force ?? false),
    refresh_token: 'false',
    refresh_github_app_jwt_token: 'false',
  });
  const res = await t.api(`/connections/${encodeURIComponent(connectionId)}?${q}`);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

export interface Credentials {
  type: string;
  token: string;
  expires_at: string;
  client_id: string;
  client_secret: string;
  raw: Record<string, unknown>;
}

/** Move Tether's clock (its store context) forward; the sandbox has its own clock API. */
const offsets = new WeakMap<TestTether, number>();
export function advanceTetherClock(t: TestTether, ms: number): void {
  const offset = (offsets.get(t) ?? 0) + ms;
  offsets.set(t, offset);
  t.tether.deps.store.ctx.now = () => new Date(Date.now() + offset);
}

/** Move both clocks (Tether's and the sandbox instance's) forward by `seconds`. */
export async function advanceClocks(t: TestTether, seconds: number): Promise<void> {
  const r = await t.sandbox.control('POST', `/instances/${t.sandbox.munchkinId}/clock`, {
    advanceSeconds: seconds,
  });
  if (r.status !== 200) throw new Error(`sandbox clock: ${r.status}`);
  advanceTetherClock(t, seconds * 1000);
}

export async function counters(t: TestTether): Promise<{ identityCalls: number; tokensIssued: number }> {
  const r = await t.sandbox.control<{ identityCalls: number; tokensIssued: number }>(
    'GET',
    `/instances/${t.sandbox.munchkinId}/counters`,
  );
  return r.body;
}

/** Replace Tether's logger with one that writes every line (no redaction) into `lines`. */
export function captureLogs(t: TestTether): string[] {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(chunk.toString('utf8'));
      cb();
    },
  });
  t.tether.deps.log = pino({ level: 'trace' }, stream);
  return lines;
}

/** Call a sandbox REST path with a bearer token; returns Marketo's envelope. */
export async function marketoGet(
  t: TestTether,
  path: string,
  token: string,
): Promise<{ success: boolean; errors?: { code: string }[] }> {
  const res = await fetch(`${t.sandbox.base}${path}`, { headers: { authorization: `Bearer ${token}` } });
  return (await res.json()) as { success: boolean; errors?: { code: string }[] };
}

/** The 401 answers of auth.ts for a secret-key route, whatever the route. */
export async function authFailures(
  t: TestTether,
  method: string,
  path: string,
): Promise<{ header: string | null; status: number; code: unknown }[]> {
  const cases: (string | null)[] = [
    null,
    `Basic ${Buffer.from('a:b').toString('base64')}`,
    'Bearer not-a-uuid',
    `Bearer ${crypto.randomUUID()}`,
  ];
  const out = [];
  for (const header of cases) {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (header !== null) headers.authorization = header;
    const res = await fetch(t.url + path, {
      method,
      headers,
      ...(method === 'GET' || method === 'DELETE' ? {} : { body: '{}' }),
    });
    const body = (await res.json()) as { error?: { code?: unknown } };
    out.push({ header, status: res.status, code: body.error?.code });
  }
  return out;
}

export const AUTH_CODES = [
  'missing_auth_header',
  'malformed_auth_header',
  'invalid_secret_key_format',
  'unknown_account',
];

/**
 * A second Tether on `t`'s data directory and database (a restart: close `t.tether` first; or a second process
 * beside it), calling `t`'s sandbox
 * (and `extraHosts`, e.g. a webhook receiver), background syncs off (they would spend calls of their own), silent.
 */
export function startSecondTether(
  t: TestTether,
  extraHosts: string[] = [],
  opts: Omit<NonNullable<Parameters<typeof startTether>[1]>, 'logger'> = {},
): Promise<RunningTether> {
  return startTether(
    loadConfig({
      TETHER_PORT: '0',
      TETHER_DATA_DIR: t.dataDir,
      TETHER_SANDBOX: 'off',
      TETHER_LOG_LEVEL: 'silent',
      TETHER_SYNCS: 'off',
      TETHER_ALLOWED_HOSTS: [new URL(t.sandbox.endpoint).host, ...extraHosts].join(','),
      ...(t.databaseUrl ? { TETHER_DATABASE_URL: t.databaseUrl } : {}),
    }),
    { logger: pino({ level: 'silent' }), ...opts },
  );
}
