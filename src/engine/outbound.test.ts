import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import type { LookupAddress } from 'node:dns';
import {
  blockedAddressReason,
  Cancellation,
  CoarseTimers,
  guardedLookup,
  OutboundClient,
  OutboundError,
  OutboundPolicy,
  parseAllowedHosts,
  readResponseBody,
  requestJson,
  type OutboundErrorCode,
  type UpstreamBody,
} from './outbound.ts';

async function expectCode(p: Promise<unknown>, code: OutboundErrorCode): Promise<OutboundError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(OutboundError);
    expect((err as OutboundError).code).toBe(code);
    return err as OutboundError;
  }
  throw new Error(`expected ${code}, got success`);
}

async function listen(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<Server> {
  const server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return server;
}

const portOf = (s: Server) => (s.address() as AddressInfo).port;

let server: Server;
let port: number;
let base: string;
let client: OutboundClient;
const hits: Record<string, number> = {};
const remotePorts: number[] = [];
let connections = 0;

beforeAll(async () => {
  server = await listen((req, res) => {
    const path = req.url ?? '/';
    hits[path] = (hits[path] ?? 0) + 1;
    remotePorts.push(req.socket.remotePort ?? 0);
    if (path === '/hello') {
      res.writeHead(200, { 'content-type': 'text/plain', 'x-test': 'yes' });
      res.end('hello');
    } else if (path === '/echo') {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({
            method: req.method,
            body: Buffer.concat(chunks).toString(),
            ct: req.headers['content-type'],
          }),
        );
      });
    } else if (path === '/redirect') {
      res.writeHead(302, { location: `http://127.0.0.1:${portOf(server)}/target` });
      res.end();
    } else if (path === '/gzip') {
      res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' });
      res.end(gzipSync(JSON.stringify({ success: true, big: 'x'.repeat(5000) })));
    } else if (path === '/html') {
      res.writeHead(404, { 'content-type': 'text/html' });
      res.end('<html>nope</html>');
    } else if (path === '/stall-body') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('partial');
      // never ends
    } else if (path === '/big') {
      // 8 MiB in 64 KiB writes, honouring backpressure.
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(8 << 20) });
      const chunk = Buffer.alloc(64 << 10, 120);
      let left = 128;
      const pump = () => {
        while (left > 0) {
          left--;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
        res.end();
      };
      pump();
    } else if (path === '/hang') {
      // never answers
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  server.on('connection', () => connections++);
  port = portOf(server);
  base = `http://127.0.0.1:${port}`;
  client = new OutboundClient({ allowedHosts: [`127.0.0.1:${port}`] });
});

afterAll(async () => {
  client.close();
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

describe('allowlisted host', () => {
  it('makes a plain-HTTP call and streams the body', async () => {
    const res = await client.request({ url: `${base}/hello` });
    expect(res.status).toBe(200);
    expect(res.headers['x-test']).toBe('yes');
    expect((await readResponseBody(res)).toString()).toBe('hello');
  });

  it('sends a body', async () => {
    const r = await requestJson(client.request.bind(client), {
      method: 'POST',
      url: `${base}/echo`,
      json: { a: 1 },
    });
    expect(r.json).toEqual({ method: 'POST', body: '{"a":1}', ct: 'application/json' });
  });

  it('reuses the connection (keep-alive agent per origin)', async () => {
    const before = connections;
    for (let i = 0; i < 3; i++) await readResponseBody(await client.request({ url: `${base}/hello` }));
    expect(connections - before).toBeLessThanOrEqual(1);
  });

  it('never follows a redirect', async () => {
    const res = await client.request({ url: `${base}/redirect` });
    expect(res.status).toBe(302);
    expect(res.headers.location).toBe(`${base}/target`);
    await readResponseBody(res);
    expect(hits['/target']).toBeUndefined();
  });

  it('decompresses gzip and parses JSON; non-JSON comes back as text', async () => {
    const r = await requestJson<{ success: boolean; big: string }>(client.request.bind(client), {
      url: `${base}/gzip`,
    });
    expect(r.json?.success).toBe(true);
    expect(r.json?.big.length).toBe(5000);
    const h = await requestJson(client.request.bind(client), { url: `${base}/html` });
    expect(h).toMatchObject({ status: 404, json: undefined, text: '<html>nope</html>' });
  });

  it('limits the size of a body read whole', async () => {
    await expectCode(
      readResponseBody(await client.request({ url: `${base}/gzip` }), 100),
      'response_too_large',
    );
  });

  it('times out when the server never answers', async () => {
    const started = Date.now();
    const err = await expectCode(client.request({ url: `${base}/hang`, timeoutMs: 200 }), 'timeout');
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(err.retryable).toBe(true);
  });

  it('times out while the body is still coming', async () => {
    const res = await client.request({ url: `${base}/stall-body`, timeoutMs: 300 });
    expect(res.status).toBe(200);
    await expectCode(readResponseBody(res), 'timeout');
  });

  it('an unread body that times out does not crash the process', async () => {
    const res = await client.request({ url: `${base}/stall-body`, timeoutMs: 100 });
    await new Promise((r) => setTimeout(r, 250));
    expect(res.body.destroyed).toBe(true);
  });

  it('is aborted by a signal', async () => {
    const ac = new AbortController();
    const p = client.request({ url: `${base}/hang`, signal: ac.signal });
    setTimeout(() => ac.abort(), 50);
    await expectCode(p, 'aborted');
    await expectCode(client.request({ url: `${base}/hello`, signal: AbortSignal.abort() }), 'aborted');
  });

  it('reports a refused connection', async () => {
    const tmp = await listen(() => {});
    const freePort = portOf(tmp);
    await new Promise((r) => tmp.close(r));
    const c = new OutboundClient({ allowedHosts: [`127.0.0.1:${freePort}`] });
    await expectCode(c.request({ url: `http://127.0.0.1:${freePort}/` }), 'connection_refused');
    c.close();
  });

  it('reports a TLS failure (HTTPS to a plain-HTTP server)', async () => {
    await expectCode(
      client.request({ url: `https://127.0.0.1:${port}/hello`, timeoutMs: 2_000 }),
      'tls_error',
    );
  });
});

describe('response bodies', () => {
  it('marks a body complete and counts the bytes received', async () => {
    const res = await client.request({ url: `${base}/hello` });
    const body = res.body as UpstreamBody;
    expect((await readResponseBody(res)).toString()).toBe('hello');
    expect(body.complete).toBe(true);
    expect(body.bytesRead).toBe(5);
  });

  it('stops reading upstream while the body is not read (backpressure), and resumes when it is', async () => {
    const res = await client.request({ url: `${base}/big` });
    const body = res.body as UpstreamBody;
    await new Promise((r) => setTimeout(r, 200));
    const held = body.bytesRead;
    expect(held).toBeLessThan(4 << 20); // not the whole 8 MiB: the socket stopped reading
    await new Promise((r) => setTimeout(r, 100));
    expect(body.bytesRead).toBe(held); // and stays stopped
    expect((await readResponseBody(res, 16 << 20)).length).toBe(8 << 20);
    expect(body.complete).toBe(true);
  });

  it('a body destroyed half-way closes its connection; the next call works', async () => {
    const res = await client.request({ url: `${base}/big` });
    const body = res.body as UpstreamBody;
    await new Promise<void>((r) => body.once('data', () => r()));
    body.destroy();
    expect(body.complete).toBe(false);
    const next = await client.request({ url: `${base}/hello` });
    expect((await readResponseBody(next)).toString()).toBe('hello');
  });
});

describe('bodies that arrive with their headers', () => {
  /** Until the body arrived whole (a small body comes in the same socket read, but give it time). */
  async function whole(res: { takeComplete?(max: number): Buffer | undefined }, max = 1 << 20) {
    for (let i = 0; i < 100; i++) {
      const b = res.takeComplete!(max);
      if (b !== undefined) return b;
      await new Promise((r) => setTimeout(r, 5));
    }
    throw new Error('the body never came whole');
  }

  it('hands a small complete body over whole, without a stream; a stream asked for later is empty', async () => {
    const res = await client.request({ url: `${base}/hello` });
    expect((await whole(res)).toString()).toBe('hello');
    expect(res.takeComplete!(1 << 20)).toBeUndefined(); // taken once
    const body = res.body as UpstreamBody;
    expect(body.complete).toBe(true);
    expect((await readResponseBody(res)).length).toBe(0);
    // the connection went back to the pool and serves the next call
    expect((await readResponseBody(await client.request({ url: `${base}/hello` }))).toString()).toBe('hello');
  });

  it('leaves a body above the limit to the stream, with every byte', async () => {
    const res = await client.request({ url: `${base}/hello` });
    await new Promise((r) => setTimeout(r, 50)); // arrived whole meanwhile
    expect(res.takeComplete!(4)).toBeUndefined();
    const body = res.body as UpstreamBody;
    expect((await readResponseBody(res)).toString()).toBe('hello');
    expect(body.bytesRead).toBe(5);
  });

  it('a body still coming is streamed, chunks that came before the stream included', async () => {
    const res = await client.request({ url: `${base}/big` });
    expect(res.takeComplete!(16 << 20)).toBeUndefined();
    await new Promise((r) => setTimeout(r, 50));
    expect(res.takeComplete!(16 << 20)).toBeUndefined(); // past the early bytes a stream took over
    expect((await readResponseBody(res, 16 << 20)).length).toBe(8 << 20);
  });

  it('a body cut before anyone asked for it fails when asked for', async () => {
    const res = await client.request({ url: `${base}/stall-body`, timeoutMs: 100 });
    await new Promise((r) => setTimeout(r, 250));
    expect(res.takeComplete!(1 << 20)).toBeUndefined();
    await expectCode(readResponseBody(res), 'timeout');
  });
});

describe('request line and cancellation', () => {
  it('sends the path new URL() would, whether the URL takes the fast path or not', async () => {
    const cases: [string, string][] = [
      [`${base}/seen/a.json?x=1&y=a:b,c`, '/seen/a.json?x=1&y=a:b,c'], // fast path, as is
      [`${base}/seen/./b/../c?q='v'`, '/seen/c?q=%27v%27'], // dot segments, quote: new URL()
      [`${base}/seen/d e`, '/seen/d%20e'],
      [`${base}/seen/e?`, '/seen/e'],
    ];
    for (const [url, line] of cases) {
      await readResponseBody(await client.request({ url }));
      expect(hits[line], url).toBe(1);
    }
  });

  it('a Cancellation aborts a call like an AbortSignal, and runs each listener once', async () => {
    const c = new Cancellation();
    const p = client.request({ url: `${base}/hang`, signal: c });
    const seen: string[] = [];
    c.addEventListener('abort', () => seen.push('fn'));
    c.addEventListener('abort', { handleEvent: () => seen.push('object') });
    const removed = () => seen.push('removed');
    c.addEventListener('abort', removed);
    c.removeEventListener('abort', removed);
    setTimeout(() => c.abort(), 20);
    await expectCode(p, 'aborted');
    c.abort();
    expect(seen).toEqual(['fn', 'object']);
    expect(c.aborted).toBe(true);
    await expectCode(client.request({ url: `${base}/hello`, signal: c }), 'aborted');
  });

  it('coarse timers expire what is due on their sweep, and nothing that was deleted', async () => {
    const timers = new CoarseTimers(10);
    const fired: string[] = [];
    const due = { expiresAt: Date.now() + 5, expire: () => fired.push('due') };
    const later = { expiresAt: Date.now() + 60_000, expire: () => fired.push('later') };
    const gone = { expiresAt: Date.now() + 5, expire: () => fired.push('gone') };
    timers.add(due);
    timers.add(later);
    timers.add(gone);
    timers.delete(gone);
    await new Promise((r) => setTimeout(r, 80));
    expect(fired).toEqual(['due']);
    expect(timers.size).toBe(1);
    timers.delete(later);
  });
});

describe('refused before connecting', () => {
  const cases: [string, OutboundErrorCode][] = [
    ['https://example.com/', 'host_not_allowed'],
    ['https://mktorest.com/', 'host_not_allowed'],
    ['https://evilmktorest.com/', 'host_not_allowed'],
    ['https://123-abc-456.mktorest.com.evil.com/', 'host_not_allowed'],
    ['http://123-abc-456.mktorest.com/rest', 'host_not_allowed'],
    ['https://123-abc-456.mktorest.com:8443/rest', 'host_not_allowed'],
    ['https://8.8.8.8/', 'host_not_allowed'],
    ['https://[2606:4700:4700::1111]/', 'host_not_allowed'],
    ['https://127.0.0.1/', 'private_address'],
    ['http://127.0.0.1:1/', 'private_address'],
    ['https://10.1.2.3/', 'private_address'],
    ['https://192.168.0.1/', 'private_address'],
    ['https://172.16.5.5/', 'private_address'],
    ['https://100.64.0.1/', 'private_address'],
    ['http://169.254.169.254/latest/meta-data/', 'private_address'],
    ['https://0.0.0.0/', 'private_address'],
    ['https://[::1]/', 'private_address'],
    ['https://[::]/', 'private_address'],
    ['https://[fd00:ec2::254]/', 'private_address'],
    ['https://[fe80::1]/', 'private_address'],
    ['https://[::ffff:127.0.0.1]/', 'private_address'],
    ['https://2130706433/', 'private_address'],
    ['https://0x7f.1/', 'private_address'],
    ['https://localhost/', 'private_address'],
    ['http://localhost:4010/', 'private_address'],
    ['https://api.localhost/', 'private_address'],
    ['http://metadata.google.internal/', 'private_address'],
    ['ftp://123-abc-456.mktorest.com/', 'invalid_url'],
    ['not a url', 'invalid_url'],
    ['https://user:pw@123-abc-456.mktorest.com/', 'invalid_url'],
  ];
  for (const [url, code] of cases) {
    it(`${url} → ${code}`, async () => {
      const c = new OutboundClient({ allowedHosts: [`127.0.0.1:${port}`] });
      await expectCode(c.request({ url }), code);
      c.close();
    });
  }

  it('only the exact allowlisted port is allowed', async () => {
    await expectCode(client.request({ url: `http://127.0.0.1:${port + 1}/` }), 'private_address');
  });
});

describe('checks the resolved address at connect time', () => {
  const fakeDns = (table: Record<string, string[]>, calls: string[] = []) => {
    return async (hostname: string): Promise<LookupAddress[]> => {
      calls.push(hostname);
      const list = table[hostname];
      if (!list) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
      return list.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
    };
  };

  it('refuses a Marketo-looking name that resolves to loopback (DNS rebinding)', async () => {
    const calls: string[] = [];
    const c = new OutboundClient({
      resolve: fakeDns({ 'rebind.mktorest.com': ['127.0.0.1'] }, calls),
    });
    const before = connections;
    // The guard runs for every new socket: the policy check alone passes, the connection does not.
    expect(c.policy.check('https://rebind.mktorest.com/rest').allowlisted).toBe(false);
    await expectCode(c.request({ url: 'https://rebind.mktorest.com/rest' }), 'private_address');
    await expectCode(c.request({ url: 'https://rebind.mktorest.com/rest' }), 'private_address');
    expect(calls).toEqual(['rebind.mktorest.com', 'rebind.mktorest.com']);
    expect(connections).toBe(before);
    c.close();
  });

  it.each([
    ['10.0.0.8'],
    ['169.254.169.254'],
    ['100.100.100.200'],
    ['::1'],
    ['fd12::1'],
    ['fe80::abcd'],
    ['::ffff:10.0.0.1'],
    ['64:ff9b::a9fe:a9fe'],
  ])('refuses a name resolving to %s', async (address) => {
    const c = new OutboundClient({ resolve: fakeDns({ 'x.mktorest.com': [address] }) });
    await expectCode(c.request({ url: 'https://x.mktorest.com/rest' }), 'private_address');
    c.close();
  });

  it('refuses when any of the addresses is private', async () => {
    const c = new OutboundClient({
      resolve: fakeDns({ 'x.mktorest.com': ['93.184.216.34', '192.168.1.1'] }),
    });
    await expectCode(c.request({ url: 'https://x.mktorest.com/rest' }), 'private_address');
    c.close();
  });

  it('reports an unknown name as dns_not_found', async () => {
    const c = new OutboundClient({ resolve: fakeDns({}) });
    await expectCode(c.request({ url: 'https://999-zzz-999.mktorest.com/rest' }), 'dns_not_found');
    c.close();
  });

  it('counts DNS in the connect timeout', async () => {
    const c = new OutboundClient({ resolve: () => new Promise<LookupAddress[]>(() => {}) });
    const started = Date.now();
    await expectCode(c.request({ url: 'https://slow.mktorest.com/rest', connectTimeoutMs: 100 }), 'timeout');
    expect(Date.now() - started).toBeLessThan(2_000);
    c.close();
  });

  it('guardedLookup with the system resolver refuses localhost', async () => {
    const lookup = guardedLookup();
    const err = await new Promise<unknown>((resolve) =>
      lookup('localhost', { all: true }, (e, addresses) => resolve(e ?? addresses)),
    );
    expect(err).toBeInstanceOf(OutboundError);
    expect((err as OutboundError).code).toBe('private_address');
  });

  it('guardedLookup answers in both callback styles for public addresses', async () => {
    const lookup = guardedLookup(fakeDns({ 'ok.mktorest.com': ['93.184.216.34', '2606:2800:220:1::1'] }));
    const all = await new Promise<unknown>((r) => lookup('ok.mktorest.com', { all: true }, (_e, a) => r(a)));
    expect(all).toEqual([
      { address: '93.184.216.34', family: 4 },
      { address: '2606:2800:220:1::1', family: 6 },
    ]);
    const one = await new Promise<unknown[]>((r) => lookup('ok.mktorest.com', {}, (_e, a, f) => r([a, f])));
    expect(one).toEqual(['93.184.216.34', 4]);
  });
});

describe('address rules', () => {
  it.each([
    '127.0.0.1',
    '127.8.9.10',
    '10.255.255.255',
    '172.31.0.1',
    '192.168.10.10',
    '100.64.0.0',
    '100.127.255.255',
    '169.254.0.1',
    '0.0.0.0',
    '224.0.0.1',
    '255.255.255.255',
    '::',
    '::1',
    '[::1]',
    'fc00::1',
    'fdff:ffff::1',
    'fe80::1%eth0',
    'febf::1',
    'ff02::1',
    '::ffff:127.0.0.1',
    '::ffff:7f00:1',
    '::ffff:192.168.0.1',
    '64:ff9b::7f00:1',
    '2002:c0a8:0101::1',
  ])('%s is blocked', (ip) => {
    expect(blockedAddressReason(ip)).not.toBeNull();
  });

  it.each([
    '8.8.8.8',
    '93.184.216.34',
    '172.32.0.1',
    '100.128.0.1',
    '2606:4700:4700::1111',
    '2a00:1450::1',
    '::ffff:8.8.8.8',
  ])('%s is public', (ip) => {
    expect(blockedAddressReason(ip)).toBeNull();
  });

  it('parses TETHER_ALLOWED_HOSTS', () => {
    expect(parseAllowedHosts(' 127.0.0.1:4010, sandbox.example:443 [::1]:4010\nhttp://Foo:1/x ')).toEqual([
      '127.0.0.1:4010',
      'sandbox.example:443',
      '[::1]:4010',
      'foo:1',
    ]);
    expect(parseAllowedHosts(undefined)).toEqual([]);
  });

  it('an allowlist entry without port allows any port', () => {
    const p = new OutboundPolicy({ allowedHosts: 'sandbox.test, 127.0.0.1:4010' });
    expect(p.check('http://sandbox.test:1234/').allowlisted).toBe(true);
    expect(p.check('https://sandbox.test/').allowlisted).toBe(true);
    expect(p.check('http://127.0.0.1:4010/').allowlisted).toBe(true);
    expect(p.isAllowlisted('127.0.0.1:4011')).toBe(false);
    expect(p.check('https://123-abc-456.mktorest.com/rest')).toMatchObject({
      allowlisted: false,
      target: '123-abc-456.mktorest.com:443',
    });
    expect(() => new OutboundPolicy({ allowedHosts: ['a:b:c'] })).toThrow(/invalid allowed host/);
  });
});
