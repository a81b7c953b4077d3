import { createHash } from 'node:crypto';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Nango } from '@nangohq/node';
import { startTestTether, type TestTether } from '../server/testing.ts';
import { advanceTetherClock } from '../server/routes/connections/test-helpers.ts';
import { nowOf } from '../db/context.ts';
import { TRAFFIC_PROFILES } from '../providers/traffic.ts';
import { nextChicagoMidnight } from '../marketo/limits.ts';
import type { InstanceLimits } from './traffic.ts';
import type { OutboundRequestOptions, OutboundResponse } from './outbound.ts';
import { waitFor } from '../testing/wait.ts';

/**
 * The proxy over real HTTP: a real Tether in front of a real Marketo sandbox, each scenario on its
 * own sandbox instance (own Munchkin ID, limits, counters) reached through a connection made by the
 * real connect flow. Faults come from the sandbox's fault injection; every test checks what the
 * caller saw AND what reached the sandbox (its counters), so nothing is lost or doubled.
 *
 * The tests that move Tether's clock (revoked credentials: +31 s; daily quota: to the next midnight
 * America/Chicago) run last.
 */

interface Counters {
  apiCalls: number;
  identityCalls: number;
  tokensIssued: number;
  byEndpoint: Record<string, number>;
  errorsByCode: Record<string, number>;
  peakConcurrency: number;
  inFlight: number;
  callsToday: number;
  droppedConnections: number;
}

interface SandboxInstance {
  munchkinId: string;
  endpoint: string;
  identity: string;
  clientId: string;
  clientSecret: string;
  quotaResetAt: string;
}

interface Conn {
  inst: SandboxInstance;
  connectionId: string;
  /** Tether's traffic key of the instance. */
  instanceKey: string;
  /** The two Nango proxy headers for this connection. */
  headers: Record<string, string>;
  counters(): Promise<Counters>;
  resetCounters(): Promise<void>;
  control<T = Record<string, unknown>>(
    method: string,
    path: string,
    body?: unknown,
  ): Promise<{ status: number; body: T }>;
  fault(spec: Record<string, unknown>): Promise<void>;
  /** Tether's traffic limits for this instance (merged over Marketo's). */
  configure(limits: Partial<InstanceLimits>): void;
}

interface Envelope {
  success: boolean;
  result?: Record<string, unknown>[];
  errors?: { code: string; message: string }[];
}

interface ErrorBody {
  error: { code: string; message: string; reset_at?: string; retry_after?: number };
}

let t: TestTether;

beforeAll(async () => {
  t = await startTestTether();
});
afterAll(async () => {
  await t?.close();
});

/** A new sandbox instance and a Tether connection to it, counters reset after the connect. */
async function newConnection(
  opts: { leads?: number; asOf?: number; limits?: Record<string, unknown> } = {},
): Promise<Conn> {
  const created = await t.sandbox.control<SandboxInstance>('POST', '/instances', {
    seed: {
      leads: opts.leads ?? 500,
      seed: 7,
      ...(opts.asOf !== undefined ? { asOf: new Date(opts.asOf).toISOString() } : {}),
    },
    ...(opts.limits ? { limits: opts.limits } : {}),
  });
  expect(created.status).toBe(201);
  const inst = created.body;
  const res = await t.connect(await t.session(), {
    clientId: inst.clientId,
    clientSecret: inst.clientSecret,
    endpointURL: inst.endpoint,
    identityURL: inst.identity,
  });
  const text = await res.text();
  expect(res.status, text).toBe(200);
  const connectionId = (JSON.parse(text) as { connectionId: string }).connectionId;
  const got = await t.api(`/connections/${connectionId}?provider_config_key=marketo`);
  const conn = (await got.json()) as { connection_config: { endpointURL: string } };
  const instanceKey = TRAFFIC_PROFILES.marketo!.instanceKey({
    endpointURL: conn.connection_config.endpointURL,
  });
  const control = <T = Record<string, unknown>>(method: string, path: string, body?: unknown) =>
    t.sandbox.control<T>(method, `/instances/${inst.munchkinId}${path}`, body);
  await control('DELETE', '/counters');
  return {
    inst,
    connectionId,
    instanceKey,
    headers: { 'connection-id': connectionId, 'provider-config-key': 'marketo' },
    control,
    counters: async () => (await control<Counters>('GET', '/counters')).body,
    resetCounters: async () => {
      await control('DELETE', '/counters');
    },
    fault: async (spec) => {
      const r = await control('POST', '/faults', spec);
      expect(r.status, JSON.stringify(r.body)).toBe(201);
    },
    configure: (limits) => t.tether.deps.traffic.get('marketo')!.configure(instanceKey, limits),
  };
}

/** A call through Tether's proxy for `conn`. */
function proxy(
  conn: Conn | undefined,
  path: string,
  init: { method?: string; headers?: Record<string, string>; json?: unknown; body?: string } = {},
): Promise<Response> {
  return t.api(`/proxy${path}`, {
    method: init.method ?? 'GET',
    headers: { ...(conn?.headers ?? {}), ...init.headers },
    ...(init.json !== undefined ? { json: init.json } : {}),
    ...(init.body !== undefined ? { body: init.body } : {}),
  });
}

async function proxyJson<T = Envelope>(
  conn: Conn,
  path: string,
  init: Parameters<typeof proxy>[2] = {},
): Promise<{ status: number; headers: Headers; body: T }> {
  const res = await proxy(conn, path, init);
  const text = await res.text();
  let body: T;
  try {
    body = JSON.parse(text) as T;
  } catch {
    throw new Error(`not JSON (${res.status}): ${text.slice(0, 200)}`);
  }
  return { status: res.status, headers: res.headers, body };
}

const leadPath = (id: number) => `/rest/v1/leads.json?filterType=id&filterValues=${id}&fields=id,email`;
const LEADS = 'GET /rest/v1/leads.json';
const SYNC = 'POST /rest/v1/leads.json';

/** Record Tether's outbound calls (and their response headers) while `fn` runs. Observes, does not mock. */
async function watchOutbound<T>(
  fn: () => Promise<T>,
): Promise<{ value: T; calls: { opts: OutboundRequestOptions; headers?: Record<string, unknown> }[] }> {
  const client = t.tether.deps.outbound;
  const original = client.request.bind(client);
  const calls: { opts: OutboundRequestOptions; headers?: Record<string, unknown> }[] = [];
  client.request = (opts: OutboundRequestOptions): Promise<OutboundResponse> => {
    const entry: (typeof calls)[number] = { opts };
    calls.push(entry);
    return original(opts).then((r) => {
      entry.headers = r.headers;
      return r;
    });
  };
  try {
    return { value: await fn(), calls };
  } finally {
    delete (client as { request?: unknown }).request; // back to the prototype's method
  }
}

/** A token for the instance straight from its identity endpoint (for direct calls). */
async function directToken(inst: SandboxInstance): Promise<string> {
  const q = new URLSearchParams({
    grant_type: 'client_credentials',
    client_id: inst.clientId,
    client_secret: inst.clientSecret,
  });
  const res = await fetch(`${inst.identity}/oauth/token?${q}`);
  return ((await res.json()) as { access_token: string }).access_token;
}

/** Poll a bulk export job through the proxy until it is Completed. */
function waitCompleted(conn: Conn, id: string): Promise<Record<string, unknown>> {
  return waitFor(
    `export ${id} to complete`,
    async () => {
      const st = await proxyJson(conn, `/bulk/v1/leads/export/${id}/status.json`);
      expect(st.status).toBe(200);
      const job = st.body.result![0]!;
      if (job.status === 'Completed') return job;
      expect(['Created', 'Queued', 'Processing']).toContain(job.status);
      return undefined;
    },
    20_000,
    25,
  );
}

const isoSeconds = (ms: number) => new Date(ms).toISOString().slice(0, 19) + 'Z';

/** Create and enqueue a lead export through the proxy; returns its id. */
async function startExport(conn: Conn, fields: string[], from: number, to: number): Promise<string> {
  const created = await proxyJson(conn, '/bulk/v1/leads/export/create.json', {
    method: 'POST',
    json: {
      fields,
      format: 'CSV',
      filter: { createdAt: { startAt: isoSeconds(from), endAt: isoSeconds(to) } },
    },
  });
  expect(created.status).toBe(200);
  expect(created.body.success, JSON.stringify(created.body.errors)).toBe(true);
  const id = created.body.result![0]!.exportId as string;
  const queued = await proxyJson(conn, `/bulk/v1/leads/export/${id}/enqueue.json`, { method: 'POST' });
  expect(queued.body.success, JSON.stringify(queued.body.errors)).toBe(true);
  return id;
}

/**
 * GET through Tether over a plain socket reading into one reused buffer, hashing as bytes arrive:
 * the client allocates nothing per chunk, so memory measured around it is Tether's (and the
 * sandbox's, which shares the process).
 */
function rawGet(
  path: string,
  headers: Record<string, string>,
): Promise<{ status: number; head: string; size: number; sha256: string }> {
  const url = new URL(t.url + path);
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    const buf = Buffer.allocUnsafe(256 * 1024);
    let head = '';
    let headDone = '';
    let status = 0;
    let remaining = -1;
    let size = 0;
    let done = false;
    const finish = (err?: Error) => {
      if (done) return;
      done = true;
      socket.destroy();
      if (err) reject(err);
      else resolve({ status, head: headDone, size, sha256: hash.digest('hex') });
    };
    const socket = connect({
      host: url.hostname,
      port: Number(url.port),
      onread: {
        buffer: buf,
        callback: (n) => {
          let from = 0;
          if (remaining < 0) {
            const before = head.length;
            head += buf.toString('latin1', 0, n);
            const end = head.indexOf('\r\n\r\n');
            if (end === -1) return true;
            headDone = head.slice(0, end);
            status = Number(/^HTTP\/1\.1 (\d{3})/.exec(headDone)?.[1]);
            remaining = Number(/\r\ncontent-length: *(\d+)/i.exec(headDone)?.[1] ?? 0);
            from = end + 4 - before;
            head = '';
          }
          const body = buf.subarray(from, n);
          hash.update(body);
          size += body.length;
          remaining -= body.length;
          if (remaining <= 0) finish();
          return true;
        },
      },
    });
    const lines = Object.entries(headers)
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join('');
    socket.on('connect', () =>
      socket.write(`GET ${url.pathname} HTTP/1.1\r\nHost: ${url.host}\r\n${lines}Connection: close\r\n\r\n`),
    );
    socket.on('error', (err) => finish(err));
    socket.on('close', () => finish(remaining > 0 ? new Error('connection closed early') : undefined));
  });
}

// ---------------------------------------------------------------------------------------------------

describe('proxy: headers, pass-through, long GETs', () => {
  let c: Conn;
  beforeAll(async () => {
    c = await newConnection();
  });

  it('passes a read through: upstream status, body and content type; /v1 means /rest/v1', async () => {
    const res = await proxyJson(c, '/rest/v1/leads.json?filterType=id&filterValues=1,2&fields=id,email');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json;charset=UTF-8');
    expect(res.body.success).toBe(true);
    expect(res.body.result!.map((l) => l.id)).toEqual([1, 2]);
    const short = await proxyJson(c, '/v1/leads.json?filterType=id&filterValues=3');
    expect(short.body.result!.map((l) => l.id)).toEqual([3]);
    // A Marketo error envelope is the caller's business: passed as is (HTTP 200, success false).
    const bad = await proxyJson(c, '/rest/v1/leads.json?filterType=nope&filterValues=1');
    expect(bad.status).toBe(200);
    expect(bad.body.success).toBe(false);
    const ctr = await c.counters();
    expect(ctr.byEndpoint[LEADS]).toBe(3);
  });

  it('refuses bad proxy headers the way Nango does', async () => {
    await c.resetCounters();
    const codeOf = async (res: Response) => ({
      status: res.status,
      code: ((await res.json()) as ErrorBody).error.code,
    });
    expect(
      await codeOf(await proxy(undefined, leadPath(1), { headers: { 'provider-config-key': 'marketo' } })),
    ).toEqual({
      status: 400,
      code: 'invalid_headers',
    });
    expect(
      await codeOf(await proxy(undefined, leadPath(1), { headers: { 'connection-id': c.connectionId } })),
    ).toEqual({
      status: 400,
      code: 'invalid_headers',
    });
    expect(await codeOf(await proxy(c, leadPath(1), { headers: { retries: 'many' } }))).toEqual({
      status: 400,
      code: 'invalid_headers',
    });
    expect(await codeOf(await proxy(c, leadPath(1), { headers: { 'retry-on': '5xx' } }))).toEqual({
      status: 400,
      code: 'invalid_headers',
    });
    expect(
      await codeOf(await proxy(c, leadPath(1), { headers: { 'base-url-override': 'https://evil.example' } })),
    ).toEqual({ status: 400, code: 'base_url_override_disabled' });
    expect(
      await codeOf(await proxy(c, leadPath(1), { headers: { 'connection-id': 'no-such-connection' } })),
    ).toEqual({ status: 400, code: 'server_error' });
    expect(
      await codeOf(
        await proxy(c, leadPath(1), { headers: { 'provider-config-key': 'no-such-integration' } }),
      ),
    ).toEqual({ status: 404, code: 'unknown_provider_config' });
    expect(
      await codeOf(
        await proxy(c, leadPath(1), { headers: { authorization: `Bearer ${crypto.randomUUID()}` } }),
      ),
    ).toMatchObject({ status: 401 });
    // An empty Base-Url-Override (what the SDK always sends) is fine.
    expect((await proxy(c, leadPath(1), { headers: { 'base-url-override': '' } })).status).toBe(200);
    // None of the refused calls reached the sandbox.
    expect((await c.counters()).byEndpoint[LEADS]).toBe(1);
  });

  it('forwards Nango-Proxy-* headers without the prefix; never the caller’s Authorization', async () => {
    const { value: res, calls } = await watchOutbound(() =>
      proxy(c, leadPath(1), {
        headers: {
          'nango-proxy-x-custom': 'hello',
          'nango-proxy-authorization': 'Bearer stolen',
          'nango-proxy-content-length': '999',
        },
      }),
    );
    expect(res.status).toBe(200);
    const sent = calls.filter((x) => x.opts.url.includes('/rest/v1/leads.json'));
    expect(sent).toHaveLength(1);
    const h = sent[0]!.opts.headers as Record<string, string>;
    expect(h['x-custom']).toBe('hello');
    expect(h.authorization).toMatch(/^Bearer [0-9a-f-]{36}:sb$/);
    expect(Object.keys(h).map((k) => k.toLowerCase())).not.toContain('content-length');
  });

  it('gzip asked upstream (Nango-Proxy-Accept-Encoding) is decoded for classification and passed decoded', async () => {
    const ids = Array.from({ length: 60 }, (_, i) => i + 1).join(',');
    const { value: res, calls } = await watchOutbound(() =>
      proxyJson(c, `/rest/v1/leads.json?filterType=id&filterValues=${ids}`, {
        headers: { 'nango-proxy-accept-encoding': 'gzip' },
      }),
    );
    expect(calls[0]!.headers!['content-encoding']).toBe('gzip'); // the sandbox did compress
    expect(res.status).toBe(200);
    expect(res.headers.get('content-encoding')).toBeNull();
    expect(res.body.result).toHaveLength(60);
  });

  it('sends a GET longer than 8 KB as POST ?_method=GET with a form body, transparently', async () => {
    const known = await proxyJson(c, '/rest/v1/leads.json?filterType=id&filterValues=1,2,3&fields=email');
    const emails = known.body.result!.map((l) => l.email as string);
    const padding = Array.from({ length: 290 }, (_, i) => `nobody-${i}-padding-padding@nowhere.example`);
    const path = `/rest/v1/leads.json?filterType=email&fields=id,email&filterValues=${[...emails, ...padding].join(',')}`;
    expect(Buffer.byteLength(path)).toBeGreaterThan(12_000);
    // Sent as is, the sandbox (like Marketo) refuses it.
    const direct = await fetch(c.inst.endpoint.replace(/\/rest$/, '') + path, {
      headers: { authorization: `Bearer ${await directToken(c.inst)}` },
    });
    expect(direct.status).toBe(414);
    await c.resetCounters();

    const { value: res, calls } = await watchOutbound(() => proxyJson(c, path));
    expect(res.status).toBe(200);
    expect(res.body.success).toBe(true);
    expect(res.body.result!.map((l) => l.id).sort()).toEqual([1, 2, 3]);
    const sent = calls.filter((x) => x.opts.url.includes('/rest/v1/leads.json'));
    expect(sent).toHaveLength(1);
    expect(sent[0]!.opts.method).toBe('POST');
    expect(sent[0]!.opts.url).toMatch(/\/rest\/v1\/leads\.json\?_method=GET$/);
    const ctr = await c.counters();
    expect(ctr.byEndpoint).toEqual({ [LEADS]: 1 }); // served as the GET it stands for
    expect(ctr.errorsByCode['414']).toBeUndefined();
  });

  it('an asset API GET longer than 8 KB is sent as the GET it is (the asset API dropped _method; 65 KiB limit)', async () => {
    const path = `/rest/asset/v1/programs.json?maxReturn=1&offset=0&tag=${'x'.repeat(20_000)}`;
    const { value: res, calls } = await watchOutbound(() => proxyJson(c, path));
    expect(res.status).toBe(200);
    const sent = calls.filter((x) => x.opts.url.includes('/rest/asset/v1/programs.json'));
    expect(sent).toHaveLength(1);
    expect(sent[0]!.opts.method).toBe('GET');
    expect(sent[0]!.opts.url).not.toContain('_method');
    expect(Buffer.byteLength(sent[0]!.opts.url)).toBeGreaterThan(20_000);
  });
});

describe('proxy: tokens', () => {
  it('token expiry in the middle of a burst: every caller gets its data, one new token, nothing lost or doubled', async () => {
    const c = await newConnection();
    // The first 10 calls (Tether's 10 in flight) are held 300 ms by the sandbox after their token was
    // accepted; the tokens expire while they are held, so the 20 queued calls meet 602/601.
    await c.fault({ kind: 'slow', delayMs: 300, count: 10, path: '/leads.json' });
    const calls = Array.from({ length: 30 }, (_, i) => proxyJson(c, leadPath(i + 1)));
    // No deadline of its own (Infinity): the test's timeout bounds the wait.
    await waitFor(
      '10 calls in flight',
      async () => ((await c.counters()).inFlight >= 10 ? true : undefined),
      Infinity,
      5,
    );
    const expired = await c.control<{ expired: number }>('POST', '/tokens/expire', {});
    expect(expired.body.expired).toBe(1);
    const results = await Promise.all(calls);

    results.forEach((r, i) => {
      expect(r.status).toBe(200);
      expect(r.body.success, JSON.stringify(r.body.errors)).toBe(true);
      expect(r.body.result!.map((l) => l.id)).toEqual([i + 1]);
    });
    const ctr = await c.counters();
    expect(ctr.tokensIssued).toBe(1);
    expect(ctr.identityCalls).toBe(1);
    expect(ctr.errorsByCode['602']).toBe(1);
    // Each call the sandbox served once; refused ones (602/601, not counted as served) were replayed.
    expect(ctr.byEndpoint[LEADS]).toBe(30);
    const refused = (ctr.errorsByCode['602'] ?? 0) + (ctr.errorsByCode['601'] ?? 0);
    expect(refused).toBeGreaterThanOrEqual(1);
    expect(refused).toBeLessThanOrEqual(20);
  });
});

describe('proxy: traffic control', () => {
  it('606 and 615 storms: callers still get 200, none of them sees 606/615, each call served once', async () => {
    const c = await newConnection();
    // A short window keeps the rate pause (until our oldest call in the window ages out) short.
    c.configure({ rateWindowMs: 1_000, windowSkewMs: 100 });
    await c.fault({ kind: 'error', code: '606', count: 3, path: '/leads.json' });
    const first = await Promise.all(Array.from({ length: 10 }, (_, i) => proxyJson(c, leadPath(i + 1))));
    await c.fault({ kind: 'error', code: '615', count: 3, path: '/leads.json' });
    const second = await Promise.all(Array.from({ length: 10 }, (_, i) => proxyJson(c, leadPath(i + 11))));
    [...first, ...second].forEach((r, i) => {
      expect(r.status).toBe(200);
      expect(r.body.success, JSON.stringify(r.body.errors)).toBe(true);
      expect(r.body.result!.map((l) => l.id)).toEqual([i + 1]);
    });
    const ctr = await c.counters();
    expect(ctr.errorsByCode).toEqual({ '606': 3, '615': 3 });
    expect(ctr.byEndpoint[LEADS]).toBe(20);
  }, 40_000);

  it('a burst of 40 against small limits queues instead of failing: no 606/615 anywhere', async () => {
    const c = await newConnection({
      limits: { rate: { max: 10, windowMs: 1_000 }, concurrency: { max: 3 } },
    });
    c.configure({
      rateMax: 10,
      rateWindowMs: 1_000,
      windowSkewMs: 250,
      maxInFlight: 3,
      reservedForInteractive: 0,
    });
    // The connect flow's test call (describe) does not go through traffic control: let it leave the
    // sandbox's window, or the sandbox sees 11 calls in a second.
    // No deadline of its own (Infinity): the test's timeout bounds the wait.
    await waitFor(
      'an empty sandbox window',
      async () =>
        (await c.control<{ callsInWindow: number }>('GET', '/counters')).body.callsInWindow > 0
          ? undefined
          : true,
      Infinity,
      50,
    );
    // Each call takes 100 ms at the sandbox, so calls overlap and the concurrency limit matters.
    await c.fault({ kind: 'slow', delayMs: 100, count: 40, path: '/leads.json' });
    const started = Date.now();
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => proxyJson(c, leadPath(i + 1))));
    const elapsed = Date.now() - started;
    results.forEach((r, i) => {
      expect(r.status).toBe(200);
      expect(r.body.success, JSON.stringify(r.body.errors)).toBe(true);
      expect(r.body.result!.map((l) => l.id)).toEqual([i + 1]);
    });
    const ctr = await c.counters();
    expect(ctr.errorsByCode).toEqual({});
    expect(ctr.byEndpoint[LEADS]).toBe(40);
    expect(ctr.peakConcurrency).toBe(3); // used to the full, never beyond
    // 40 calls at 10 per (1 s + skew): at least three full windows.
    expect(elapsed).toBeGreaterThanOrEqual(3 * 1_000);
    expect(t.tether.deps.traffic.get('marketo')!.status(c.instanceKey).inFlight).toBe(0);
  }, 30_000);

  it('5xx: reads retried with backoff; a write without Retries gets the 502 as is; with Retries it succeeds once', async () => {
    const c = await newConnection();
    await c.fault({ kind: 'http', status: 502, count: 2, path: '/leads.json' });
    const read = await proxyJson(c, leadPath(5));
    expect(read.status).toBe(200);
    expect(read.body.result!.map((l) => l.id)).toEqual([5]);
    let ctr = await c.counters();
    expect(ctr.errorsByCode['502']).toBe(2);
    expect(ctr.byEndpoint[LEADS]).toBe(1);

    const email = `retry-${Date.now()}@example.com`;
    const write = {
      method: 'POST',
      json: { action: 'createOrUpdate', lookupField: 'email', input: [{ email, firstName: 'Retry' }] },
    };
    await c.fault({ kind: 'http', status: 502, count: 1, path: '/leads.json' });
    const refused = await proxy(c, '/rest/v1/leads.json', write);
    expect(refused.status).toBe(502);
    expect(refused.headers.get('content-type')).toBe('text/html');
    expect(await refused.text()).toContain('502 Bad Gateway');
    ctr = await c.counters();
    expect(ctr.errorsByCode['502']).toBe(3);
    expect(ctr.byEndpoint[SYNC]).toBeUndefined();

    await c.fault({ kind: 'http', status: 502, count: 2, path: '/leads.json' });
    const retried = await proxyJson(c, '/rest/v1/leads.json', { ...write, headers: { retries: '3' } });
    expect(retried.status).toBe(200);
    expect(retried.body.result![0]!.status).toBe('created');
    ctr = await c.counters();
    expect(ctr.errorsByCode['502']).toBe(5);
    expect(ctr.byEndpoint[SYNC]).toBe(1);
    const found = await proxyJson(c, `/rest/v1/leads.json?filterType=email&filterValues=${email}`);
    expect(found.body.result).toHaveLength(1);
  }, 20_000);

  it('Retry-On makes a status worth retrying (with Retries for a write, always for a read)', async () => {
    const c = await newConnection();
    const missing = '/bulk/v1/leads/export/00000000-0000-4000-8000-000000000000/file.json';
    const plain = await proxy(c, missing);
    expect(plain.status).toBe(404);
    expect(plain.headers.get('content-type')).toMatch(/^text\/plain/);
    await plain.text();
    expect((await c.counters()).byEndpoint['GET /bulk/v1/leads/export/:exportId/file.json']).toBe(1);
    const again = await proxy(c, missing, { headers: { 'retry-on': '404', retries: '1' } });
    expect(again.status).toBe(404);
    await again.text();
    // 1 + max(3 reads retries by default, 1 asked) = 4 more calls.
    expect((await c.counters()).byEndpoint['GET /bulk/v1/leads/export/:exportId/file.json']).toBe(5);
  }, 20_000);

  it('slow upstream: the call waits and succeeds; a caller bounding its wait gets 429 + Retry-After', async () => {
    const c = await newConnection();
    await c.fault({ kind: 'slow', delayMs: 500, count: 1, path: '/leads.json' });
    let started = Date.now();
    const slow = await proxyJson(c, leadPath(1));
    expect(slow.status).toBe(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(490);

    c.configure({ maxInFlight: 1, reservedForInteractive: 0 });
    await c.fault({ kind: 'slow', delayMs: 1_500, count: 1, path: '/leads.json' });
    const held = proxyJson(c, leadPath(2));
    const traffic = t.tether.deps.traffic.get('marketo')!;
    // No deadline of its own (Infinity): the test's timeout bounds the wait.
    await waitFor(
      'the held call in flight',
      () => (traffic.status(c.instanceKey).inFlight >= 1 ? true : undefined),
      Infinity,
      5,
    );
    started = Date.now();
    const bounded = await proxyJson<ErrorBody>(c, leadPath(3), { headers: { 'tether-max-wait-ms': '200' } });
    expect(Date.now() - started).toBeLessThan(1_200);
    expect(bounded.status).toBe(429);
    expect(bounded.body.error.code).toBe('too_many_requests');
    expect(Number(bounded.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(bounded.body.error.retry_after).toBe(Number(bounded.headers.get('retry-after')));
    expect((await held).status).toBe(200);
    const bad = await proxyJson<ErrorBody>(c, leadPath(3), { headers: { 'tether-max-wait-ms': 'soon' } });
    expect(bad.status).toBe(400);
    // The bounded call never reached the sandbox.
    expect((await c.counters()).byEndpoint[LEADS]).toBe(2);
  });

  it('dropped connection: a read is retried; a write without Retries gets 502 with a clear body', async () => {
    const c = await newConnection();
    await c.fault({ kind: 'drop', count: 1, path: '/leads.json' });
    const read = await proxyJson(c, leadPath(4));
    expect(read.status).toBe(200);
    expect(read.body.result!.map((l) => l.id)).toEqual([4]);
    let ctr = await c.counters();
    expect(ctr.droppedConnections).toBe(1);
    expect(ctr.byEndpoint[LEADS]).toBe(1);

    await c.fault({ kind: 'drop', count: 1, path: '/leads.json' });
    const write = await proxyJson<ErrorBody>(c, '/rest/v1/leads.json', {
      method: 'POST',
      json: { action: 'createOnly', input: [{ email: `drop-${Date.now()}@example.com` }] },
    });
    expect(write.status).toBe(502);
    expect(write.body.error.code).toBe('upstream_network_error');
    expect(write.body.error.message).toMatch(/^The call to Marketo failed: /);
    ctr = await c.counters();
    expect(ctr.droppedConnections).toBe(2);
    expect(ctr.byEndpoint[SYNC]).toBeUndefined();
  });
});

describe('proxy: bulk extract files', () => {
  it('creates, enqueues and polls an export; the file passes whole and by Range, byte for byte', async () => {
    const asOf = Math.floor(Date.now() / 1000) * 1000;
    const c = await newConnection({ leads: 20_000, asOf });
    const id = await startExport(
      c,
      ['id', 'email', 'firstName', 'lastName', 'company'],
      asOf - 200 * 86_400_000,
      asOf - 170 * 86_400_000,
    );
    const job = await waitCompleted(c, id);
    const size = job.fileSize as number;
    expect(size).toBeGreaterThan(10_000);
    const filePath = `/bulk/v1/leads/export/${id}/file.json`;
    const direct = Buffer.from(
      await (
        await fetch(c.inst.endpoint.replace(/\/rest$/, '') + filePath, {
          headers: { authorization: `Bearer ${await directToken(c.inst)}` },
        })
      ).arrayBuffer(),
    );
    expect(direct.length).toBe(size);

    const whole = await proxy(c, filePath);
    expect(whole.status).toBe(200);
    expect(whole.headers.get('content-length')).toBe(String(size));
    expect(whole.headers.get('accept-ranges')).toBe('bytes');
    const body = Buffer.from(await whole.arrayBuffer());
    expect(body.equals(direct)).toBe(true);
    expect(`sha256:${createHash('sha256').update(body).digest('hex')}`).toBe(job.fileChecksum);

    const probe = await proxy(c, filePath, { headers: { range: 'bytes=0-0' } });
    expect(probe.status).toBe(206);
    expect(probe.headers.get('content-range')).toBe(`bytes 0-0/${size}`);
    expect(Buffer.from(await probe.arrayBuffer()).equals(direct.subarray(0, 1))).toBe(true);

    const from = Math.floor(size / 3);
    const part = await proxy(c, filePath, { headers: { range: `bytes=${from}-${from + 999}` } });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe(`bytes ${from}-${from + 999}/${size}`);
    expect(part.headers.get('content-length')).toBe('1000');
    expect(Buffer.from(await part.arrayBuffer()).equals(direct.subarray(from, from + 1000))).toBe(true);
  });

  it('streams a file of more than 100 MB without holding it: Tether’s memory stays flat', async () => {
    const asOf = Math.floor(Date.now() / 1000) * 1000;
    // 25 M generated leads over 730 days: a 31-day window holds ~1.06 M of them (~115 MB of CSV).
    const c = await newConnection({
      leads: 25_000_000,
      asOf,
      limits: { bulk: { dailyBytes: 2_000_000_000 } },
    });
    const id = await startExport(
      c,
      ['id', 'email', 'firstName', 'lastName', 'company', 'createdAt'],
      asOf - 100 * 86_400_000,
      asOf - 69 * 86_400_000,
    );
    const job = await waitCompleted(c, id);
    const size = job.fileSize as number;
    expect(size).toBeGreaterThan(100 * 1024 * 1024);
    const headers = {
      authorization: `Bearer ${t.secretKey}`,
      'connection-id': c.connectionId,
      'provider-config-key': 'marketo',
    };
    const filePath = `/proxy/bulk/v1/leads/export/${id}/file.json`;
    // Warm-up over the same path (buffers, JIT), then measure the whole file.
    const warm = await rawGet(filePath, { ...headers, range: 'bytes=0-16777215' });
    expect(warm.status).toBe(206);
    const rssBefore = process.memoryUsage.rss();
    let rssPeak = rssBefore;
    const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, process.memoryUsage.rss())), 10);
    let file;
    try {
      file = await rawGet(filePath, headers);
    } finally {
      clearInterval(sampler);
    }
    expect(file.status).toBe(200);
    expect(file.size).toBe(size);
    expect(`sha256:${file.sha256}`).toBe(job.fileChecksum);
    expect(rssPeak - rssBefore).toBeLessThan(50 * 1024 * 1024);
    expect(t.tether.deps.traffic.get('marketo')!.status(c.instanceKey).inFlight).toBe(0);
  }, 40_000);
});

describe('proxy: @nangohq/node 0.71 proxy(), get(), post()', () => {
  it('works against /proxy, errors included', async () => {
    const c = await newConnection();
    const nango = new Nango({ host: t.url, secretKey: t.secretKey });
    const base = { connectionId: c.connectionId, providerConfigKey: 'marketo' };
    const got = await nango.get<Envelope>({
      ...base,
      endpoint: '/rest/v1/leads.json',
      params: { filterType: 'id', filterValues: '1,2', fields: 'id,email' },
    });
    expect(got.status).toBe(200);
    expect(got.data.result!.map((l) => l.id)).toEqual([1, 2]);

    await c.fault({ kind: 'http', status: 502, count: 1, path: '/leads.json' });
    const email = `sdk-${Date.now()}@example.com`;
    const posted = await nango.post<Envelope>({
      ...base,
      endpoint: '/rest/v1/leads.json',
      data: { action: 'createOnly', input: [{ email, firstName: 'Sdk' }] },
      retries: 2,
    });
    expect(posted.data.result![0]!.status).toBe('created');

    const proxied = await nango.proxy<Envelope>({
      ...base,
      method: 'GET',
      endpoint: '/v1/leads.json',
      params: { filterType: 'email', filterValues: email },
      headers: { 'X-Custom': 'sdk' },
    });
    expect(proxied.data.result).toHaveLength(1);
    const ctr = await c.counters();
    expect(ctr.byEndpoint[SYNC]).toBe(1);

    const failure = await nango
      .get({ ...base, connectionId: 'nobody', endpoint: '/rest/v1/leads.json' })
      .then(() => undefined)
      .catch((err: { response?: { status: number; data: ErrorBody } }) => err.response);
    expect(failure?.status).toBe(400);
    expect(failure?.data.error.code).toBe('server_error');
  });
});

// Tests that move Tether's clock forward: last.

describe('proxy: credentials and the daily quota (moving the clock)', () => {
  it('revoked credentials: one identity call, a clear 400, backoff without identity calls, then recovery', async () => {
    const c = await newConnection();
    expect((await proxy(c, leadPath(1))).status).toBe(200);
    await c.resetCounters();
    await c.control('POST', `/services/${c.inst.clientId}/revoke`);

    const burst = await Promise.all(Array.from({ length: 5 }, () => proxyJson<ErrorBody>(c, leadPath(1))));
    for (const r of burst) {
      expect([400, 424]).toContain(r.status);
      expect(['invalid_credentials', 'connection_refresh_backoff']).toContain(r.body.error.code);
    }
    const first = burst.find((r) => r.status === 400)!;
    expect(first.body.error.message).toMatch(/refused to issue a token \(HTTP 401/);
    let ctr = await c.counters();
    expect(ctr.identityCalls).toBe(1);
    expect(ctr.apiCalls).toBe(0);

    const listed = await t.api(`/connections?connectionId=${c.connectionId}`);
    const item = ((await listed.json()) as { connections: { errors: { type: string }[] }[] }).connections[0]!;
    expect(item.errors).toEqual([expect.objectContaining({ type: 'auth' })]);

    // Within 30 s: 424 without asking the identity endpoint again, even once restored.
    const again = await proxyJson<ErrorBody>(c, leadPath(1));
    expect(again.status).toBe(424);
    expect(again.body.error.code).toBe('connection_refresh_backoff');
    await c.control('POST', `/services/${c.inst.clientId}/restore`);
    expect((await proxyJson<ErrorBody>(c, leadPath(1))).body.error.code).toBe('connection_refresh_backoff');
    ctr = await c.counters();
    expect(ctr.identityCalls).toBe(1);

    // After the backoff the proxy renews the token by itself and the call goes through.
    advanceTetherClock(t, 31_000);
    const recovered = await proxyJson(c, leadPath(1));
    expect(recovered.status).toBe(200);
    expect(recovered.body.result!.map((l) => l.id)).toEqual([1]);
    ctr = await c.counters();
    expect(ctr.identityCalls).toBe(2);
    expect(ctr.tokensIssued).toBe(1);
    expect(ctr.byEndpoint[LEADS]).toBe(1);
    const after = await t.api(`/connections?connectionId=${c.connectionId}`);
    expect(((await after.json()) as { connections: { errors: unknown[] }[] }).connections[0]!.errors).toEqual(
      [],
    );
  });

  it('607: 429 marketo_daily_quota_exhausted until midnight America/Chicago, without calling the instance', async () => {
    const c = await newConnection();
    const other = await newConnection();
    const today = (await c.counters()).callsToday;
    await c.control('PATCH', '', { limits: { daily: { quota: today + 2 } } });
    expect((await proxy(c, leadPath(1))).status).toBe(200);
    expect((await proxy(c, leadPath(2))).status).toBe(200);

    const spent = await proxyJson<ErrorBody>(c, leadPath(3));
    const resetAt = nextChicagoMidnight(nowOf(t.tether.deps.store.ctx).getTime());
    expect(spent.status).toBe(429);
    expect(spent.body.error.code).toBe('marketo_daily_quota_exhausted');
    expect(spent.body.error.reset_at).toBe(new Date(resetAt).toISOString());
    const sandboxReset = (await c.control<{ quotaResetAt: string }>('GET', '')).body.quotaResetAt;
    expect(Math.abs(Date.parse(sandboxReset) - resetAt)).toBeLessThan(2_000);
    expect(Number(spent.headers.get('retry-after'))).toBeGreaterThan(0);
    let ctr = await c.counters();
    expect(ctr.errorsByCode['607']).toBe(1);
    const served = ctr.apiCalls;

    // Later calls, reads and writes, stop at Tether.
    const later = await Promise.all([
      proxyJson<ErrorBody>(c, leadPath(4)),
      proxyJson<ErrorBody>(c, '/rest/v1/leads.json', {
        method: 'POST',
        json: { action: 'createOnly', input: [{ email: 'quota@example.com' }] },
      }),
      proxyJson<ErrorBody>(c, '/bulk/v1/leads/export.json'),
    ]);
    for (const r of later) {
      expect(r.status).toBe(429);
      expect(r.body.error.code).toBe('marketo_daily_quota_exhausted');
      expect(r.body.error.reset_at).toBe(new Date(resetAt).toISOString());
      expect(Number(r.headers.get('retry-after'))).toBe(r.body.error.retry_after);
    }
    ctr = await c.counters();
    expect(ctr.errorsByCode['607']).toBe(1);
    expect(ctr.apiCalls).toBe(served);
    // Another instance is not blocked.
    expect((await proxy(other, leadPath(1))).status).toBe(200);

    // Past midnight Central (both clocks), the instance is called again.
    await c.control('POST', '/clock', { toNextMidnight: true });
    advanceTetherClock(t, resetAt + 1_000 - nowOf(t.tether.deps.store.ctx).getTime());
    const next = await proxyJson(c, leadPath(5));
    expect(next.status).toBe(200);
    expect(next.body.result!.map((l) => l.id)).toEqual([5]);
  });
});
