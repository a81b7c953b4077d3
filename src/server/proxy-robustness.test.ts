/**
 * The proxy (`/proxy/*`) against hostile callers and a hostile upstream, on a real Tether and a real
 * sandbox. Between Tether and the sandbox sits a loopback relay (allowlisted like the sandbox) that passes
 * calls through or, when a test says so, answers garbage, stalls or drops: the connection is made through
 * the relay by the real connect flow. Whatever happens: Tether's own errors are 4xx/502/504 with the error
 * shape, nothing crashes or hangs, nothing is logged as a server error, and every traffic permit taken is
 * given back (the instance's in-flight count returns to 0).
 */
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { connect as netConnect, type AddressInfo, type Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startTestTether, type TestTether } from './testing.ts';
import { captureLogs } from './routes/connections/test-helpers.ts';
import { TRAFFIC_PROFILES } from '../providers/traffic.ts';
import { waitFor } from '../testing/wait.ts';

/** Answers instead of the sandbox when it returns true (identity and the connect test always pass). */
type Mode = (req: IncomingMessage, res: ServerResponse) => boolean;

let t: TestTether;
let logs: string[];
let mode: Mode | undefined;
const held: Socket[] = [];
let connectionId = '';
let instanceKey = '';

const relay = createServer((req, res) => {
  const path = req.url ?? '';
  if (mode && !path.includes('/identity/') && !path.includes('describe') && mode(req, res)) return;
  const u = new URL(t.sandbox.endpoint);
  const out = httpRequest(
    { host: u.hostname, port: u.port, path, method: req.method, headers: req.headers },
    (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    },
  );
  out.on('error', () => res.destroy());
  req.pipe(out);
});

beforeAll(async () => {
  await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
  const port = (relay.address() as AddressInfo).port;
  t = await startTestTether({ env: { TETHER_ALLOWED_HOSTS: `127.0.0.1:${port}` } });
  logs = captureLogs(t);
  const m = t.sandbox.munchkinId;
  const res = await t.connect(await t.session(), {
    endpointURL: `http://127.0.0.1:${port}/${m}/rest`,
    identityURL: `http://127.0.0.1:${port}/${m}/identity`,
  });
  const text = await res.text();
  expect(res.status, text).toBe(200);
  connectionId = (JSON.parse(text) as { connectionId: string }).connectionId;
  const got = await t.api(`/connections/${connectionId}?provider_config_key=marketo`);
  const conn = (await got.json()) as { connection_config: { endpointURL: string } };
  instanceKey = TRAFFIC_PROFILES.marketo!.instanceKey({ endpointURL: conn.connection_config.endpointURL });
});

afterEach(() => {
  logs.length = 0; // each test judges its own log lines
  mode = undefined;
  for (const s of held.splice(0)) s.destroy();
});

afterAll(async () => {
  relay.closeAllConnections();
  relay.close();
  await t?.close();
});

const LEAD = '/proxy/rest/v1/leads.json?filterType=id&filterValues=1';
const inFlight = () => t.tether.deps.traffic.get('marketo')!.status(instanceKey).inFlight;

/** Waits until `pred()` holds (`false` means not yet). */
const until = (pred: () => boolean | Promise<boolean>, what: string, timeoutMs = 5000) =>
  waitFor(what, async () => ((await pred()) ? true : undefined), timeoutMs, 10);

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

/** A raw HTTP call (no fetch: it would decode bodies and refuse some headers); repeated names allowed. */
function call(
  method: string,
  path: string,
  headers: [string, string][],
  body?: string | Buffer,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const u = new URL(t.url + path);
    const all: Record<string, string | string[]> = {};
    for (const [k, v] of [['authorization', `Bearer ${t.secretKey}`], ...headers] as [string, string][]) {
      const prev = all[k];
      all[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
    }
    if (body !== undefined) all['content-length'] = String(Buffer.byteLength(body));
    const req = httpRequest(
      { host: u.hostname, port: u.port, path: u.pathname + u.search, method, headers: all, timeout: 10_000 },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            text: Buffer.concat(chunks).toString(),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('no answer within 10 s')));
    req.end(body);
  });
}

const ids = (): [string, string][] => [
  ['connection-id', connectionId],
  ['provider-config-key', 'marketo'],
];

function expectTetherError(a: Answer, status: number, code: string): void {
  const label = `${a.status} ${a.text.slice(0, 300)}`;
  expect(a.status, label).toBe(status);
  const body = JSON.parse(a.text) as { error: { code: string; message: string } };
  expect(body.error.code, label).toBe(code);
  expect(body.error.message.length, label).toBeGreaterThan(0);
}

const serverErrors = () => logs.filter((l) => /"level":(50|60)/.test(l));

describe('proxy: hostile caller headers', () => {
  it('answers each bad header with a clear 4xx and the error shape; never a 5xx', async () => {
    const cases: { name: string; headers: [string, string][]; status: number; code: string }[] = [
      {
        name: 'no Connection-Id',
        headers: [['provider-config-key', 'marketo']],
        status: 400,
        code: 'invalid_headers',
      },
      {
        name: 'overlong Connection-Id',
        headers: [
          ['connection-id', 'c'.repeat(256)],
          ['provider-config-key', 'marketo'],
        ],
        status: 400,
        code: 'invalid_headers',
      },
      {
        name: 'control character in Connection-Id',
        headers: [
          ['connection-id', 'a\tb'],
          ['provider-config-key', 'marketo'],
        ],
        status: 400,
        code: 'invalid_headers',
      },
      {
        name: 'duplicate Connection-Id (joined by the parser)',
        headers: [...ids(), ['connection-id', connectionId]],
        status: 400,
        code: 'server_error', // Nango's answer for an unknown connection
      },
      {
        name: 'duplicate Provider-Config-Key',
        headers: [...ids(), ['provider-config-key', 'marketo']],
        status: 400,
        code: 'invalid_headers',
      },
      {
        name: 'unknown Provider-Config-Key',
        headers: [
          ['connection-id', connectionId],
          ['provider-config-key', 'nope'],
        ],
        status: 404,
        code: 'unknown_provider_config',
      },
      {
        name: 'unknown connection',
        headers: [
          ['connection-id', 'nope'],
          ['provider-config-key', 'marketo'],
        ],
        status: 400,
        code: 'server_error',
      },
      ...[
        'file:///etc/passwd',
        'http://169.254.169.254/latest/meta-data',
        'http://10.0.0.1/',
        'http://127.0.0.1:1/',
      ].map((url) => ({
        name: `Base-Url-Override ${url}`,
        headers: [...ids(), ['base-url-override', url]] as [string, string][],
        status: 400,
        code: 'base_url_override_disabled',
      })),
      ...['-1', '100', '99999999999999999999', '1e3', 'abc', ''].map((v) => ({
        name: `Retries ${JSON.stringify(v)}`,
        headers: [...ids(), ['retries', v]] as [string, string][],
        status: 400,
        code: 'invalid_headers',
      })),
      {
        name: 'Retry-On with spaces',
        headers: [...ids(), ['retry-on', '500, 502']],
        status: 400,
        code: 'invalid_headers',
      },
      {
        name: 'Tether-Max-Wait-Ms too large',
        headers: [...ids(), ['tether-max-wait-ms', '999999999']],
        status: 400,
        code: 'invalid_headers',
      },
      // Was 502 upstream_network_error after a read's retries: the HTTP client refused the empty name.
      {
        name: 'Nango-Proxy- without a name',
        headers: [...ids(), ['nango-proxy-', 'x']],
        status: 400,
        code: 'invalid_headers',
      },
    ];
    for (const c of cases) {
      const a = await call('GET', LEAD, c.headers);
      expect(a.status, c.name).toBeLessThan(500);
      expectTetherError(a, c.status, c.code);
    }
    expect(inFlight()).toBe(0);
    expect(serverErrors()).toEqual([]);
  });

  it('forwards odd but valid Nango-Proxy-* headers; drops the ones the HTTP client owns', async () => {
    const seen: Record<string, string | string[] | undefined>[] = [];
    mode = (req) => {
      seen.push(req.headers);
      return false;
    };
    const forwarded: [string, string][] = [
      // Was 502 upstream_network_error (UND_ERR_NOT_SUPPORTED): Expect is now dropped like other framing headers.
      ['nango-proxy-expect', '100-continue'],
      ['nango-proxy-host', 'evil.example'],
      ['nango-proxy-authorization', 'Bearer stolen'],
      ['nango-proxy-content-length', '5'],
      ['nango-proxy-transfer-encoding', 'chunked'],
      ['nango-proxy-connection', 'upgrade'],
      ['nango-proxy-x-latin', 'caf\u00e9'],
      ['nango-proxy-x-long', 'v'.repeat(6000)],
    ];
    const a = await call('GET', LEAD, [...ids(), ...forwarded]);
    expect(a.status, a.text).toBe(200);
    expect((JSON.parse(a.text) as { success: boolean }).success).toBe(true);
    const h = seen.at(-1)!;
    expect(h.expect).toBeUndefined();
    expect(h.host).not.toBe('evil.example');
    expect(h.authorization).not.toBe('Bearer stolen');
    expect(h['x-long']).toBe('v'.repeat(6000));
    expect(inFlight()).toBe(0);
  });

  it('every method: Tether never answers 5xx itself; a write without a body says Content-Length: 0', async () => {
    for (const method of ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'PROPFIND', 'SEARCH', 'PURGE']) {
      const a = await call(method, LEAD, [...ids(), ['content-type', 'application/json']]);
      // The sandbox answers an unsupported method with Marketo's 605 envelope (HTTP 200).
      expect(a.status, `${method} ${a.text.slice(0, 200)}`).toBe(200);
    }
    expect(inFlight()).toBe(0);
    expect(serverErrors()).toEqual([]);
  });
});

describe('proxy: uploads and callers that go away', () => {
  it('a 9 MiB upload passes whole; 10 MiB + 1 is refused with 413 and the connection closes', async () => {
    let received = -1;
    mode = (req, res) => {
      let n = 0;
      req.on('data', (c: Buffer) => (n += c.length));
      req.on('end', () => {
        received = n;
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"success":true,"result":[]}');
      });
      return true;
    };
    const big = Buffer.alloc(9 * 1024 * 1024, 97);
    const ok = await call(
      'POST',
      '/proxy/rest/v1/leads.json',
      [...ids(), ['content-type', 'text/plain']],
      big,
    );
    expect(ok.status, ok.text).toBe(200);
    expect(received).toBe(big.length);
    const tooBig = Buffer.alloc(10 * 1024 * 1024 + 1, 97);
    const refused = await call('POST', '/proxy/rest/v1/leads.json', ids(), tooBig).catch((err: Error) => err);
    // The 413 may race the upload: either the answer or a reset, never a hang or a 5xx.
    if (!(refused instanceof Error)) {
      expectTetherError(refused, 413, 'payload_too_large');
      expect(refused.headers.connection).toBe('close');
    }
    expect(inFlight()).toBe(0);
  });

  it('a caller that goes away mid-upload is no server error (it was logged as an unhandled error)', async () => {
    const port = Number(new URL(t.url).port);
    const s = netConnect(port, '127.0.0.1');
    await new Promise((r) => s.once('connect', r));
    // Expect: 100-continue makes Node's server say "100 Continue" when the request reaches the handler:
    // the positive signal that the handler runs and waits for the body.
    const continued = new Promise<void>((resolve) =>
      s.on('data', (c: Buffer) => {
        if (c.toString().includes('100 Continue')) resolve();
      }),
    );
    s.write(
      `POST /proxy/rest/v1/leads.json HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${t.secretKey}\r\n` +
        `connection-id: ${connectionId}\r\nprovider-config-key: marketo\r\ncontent-type: application/json\r\n` +
        `expect: 100-continue\r\ncontent-length: 5000000\r\n\r\n`,
    );
    await continued;
    await new Promise<void>((r) => s.write('a'.repeat(100_000), () => r()));
    s.destroy();
    await new Promise((r) => s.once('close', r));
    // The server handled the close before it answers a later request on another connection.
    const health = await call('GET', '/health', []);
    expect(health.status).toBe(200);
    await new Promise((r) => setImmediate(r));
    expect(serverErrors()).toEqual([]);
    expect(inFlight()).toBe(0);
  });

  it('callers going away while the upstream stalls (no answer, half a JSON body, half a file) free their permits', async () => {
    const stalls: Mode[] = [
      (req) => (held.push(req.socket), true),
      (req, res) => {
        held.push(req.socket);
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write('{"success":tr');
        return true;
      },
      (req, res) => {
        held.push(req.socket);
        res.writeHead(200, { 'content-type': 'text/csv' });
        res.write('id,email\n'.repeat(10_000));
        return true;
      },
    ];
    for (const [i, stall] of stalls.entries()) {
      mode = stall;
      const ac = new AbortController();
      const pending = fetch(t.url + LEAD, {
        headers: {
          authorization: `Bearer ${t.secretKey}`,
          'connection-id': connectionId,
          'provider-config-key': 'marketo',
        },
        signal: ac.signal,
      }).then(
        async (r) => {
          // Headers came (the file): read a little, then go away mid-response.
          const reader = r.body!.getReader();
          await reader.read();
          ac.abort();
          await reader.read().catch(() => undefined);
        },
        () => undefined,
      );
      // The relay has the call (the file's caller may already be gone again: no in-flight check for it).
      await until(() => held.length > 0, 'the call at the upstream');
      if (i < 2) expect(inFlight()).toBe(1);
      // No headers reach the caller while Tether waits (or reads a JSON body whole): it goes away now.
      if (i < 2) ac.abort();
      await pending;
      await until(() => inFlight() === 0, 'the permit released');
      for (const s of held.splice(0)) s.destroy();
    }
    mode = undefined;
    const after = await call('GET', LEAD, ids());
    expect(after.status).toBe(200);
    expect(serverErrors()).toEqual([]);
  });
});

describe('proxy: hostile upstream', () => {
  it('garbage, truncated bodies, dropped connections, huge headers: 502 with the error shape; permits back', async () => {
    const modes: Record<string, Mode> = {
      'not HTTP': (req) => (req.socket.end('HELLO GARBAGE\r\n\r\n'), true),
      'dropped without an answer': (req) => (req.socket.destroy(), true),
      'body shorter than its Content-Length': (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' });
        res.write('{"a":1');
        setImmediate(() => res.socket?.destroy());
        return true;
      },
      'only a 100 Continue': (req) => (req.socket.end('HTTP/1.1 100 Continue\r\n\r\n'), true),
      'bare CR in a header': (req) => (
        req.socket.end(
          'HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nx-a: b\rc\r\ncontent-length: 2\r\n\r\nok',
        ),
        true
      ),
      // Was passed through as is: a status HTTP does not define is no answer a caller can read.
      'status 999': (req) => (
        req.socket.end('HTTP/1.1 999 Odd\r\ncontent-type: text/plain\r\ncontent-length: 2\r\n\r\nok'),
        true
      ),
      'header of 200 KB': (req) => (
        req.socket.end(`HTTP/1.1 200 OK\r\nx-a: ${'a'.repeat(200_000)}\r\ncontent-length: 2\r\n\r\nok`),
        true
      ),
    };
    for (const [name, m] of Object.entries(modes)) {
      mode = m;
      // A write without Retries is not retried: one attempt, the upstream's failure as Tether's 502.
      const a = await call(
        'POST',
        '/proxy/rest/v1/leads.json',
        [...ids(), ['content-type', 'application/json']],
        '{}',
      );
      expect(a.status, `${name}: ${a.text}`).toBe(502);
      expectTetherError(a, 502, JSON.parse(a.text).error.code as string);
      expect(JSON.parse(a.text).error.code, name).toMatch(/^upstream_[a-z_]+$/);
      expect(a.text).not.toContain(t.sandbox.clientSecret);
      expect(inFlight(), name).toBe(0);
    }
    // Bodies that are not what they claim pass through as bytes (the caller sees what Marketo sent).
    mode = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' });
      res.end('not gzip at all');
      return true;
    };
    const bad = await call('GET', LEAD, ids());
    expect(bad.status).toBe(200);
    expect(bad.headers['content-encoding']).toBe('gzip');
    expect(bad.text).toBe('not gzip at all');
    mode = (_req, res) => {
      res.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data' });
      res.end();
      return true;
    };
    const redirect = await call('GET', LEAD, ids());
    expect(redirect.status).toBe(302); // passed on, never followed, no Location given out
    expect(redirect.headers.location).toBeUndefined();
    expect(inFlight()).toBe(0);
    expect(serverErrors()).toEqual([]);
  });
});
