import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHash, createHmac } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { OutboundClient } from './outbound.ts';
import { stableStringify, WebhookSender, type WebhookResult } from './webhooks.ts';

interface Received {
  body: string;
  headers: Record<string, string | string[] | undefined>;
}

/** A loopback receiver that answers with the given statuses in turn (the last one repeats). */
async function receiver(
  statuses: number[],
): Promise<{ server: Server; url: string; host: string; got: Received[] }> {
  const got: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      got.push({ body: Buffer.concat(chunks).toString('utf8'), headers: req.headers });
      res.statusCode = statuses[Math.min(got.length - 1, statuses.length - 1)]!;
      res.end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { server, url: `http://${host}/hook`, host, got };
}

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

function sender(host: string, results: WebhookResult[]) {
  return new WebhookSender({
    client: new OutboundClient({ allowedHosts: host, allowedSuffixes: [''] }),
    backoffMs: () => 10,
    onResult: (r) => results.push(r),
  });
}

describe('stableStringify', () => {
  it('sorts keys at every level, drops undefined, keeps arrays in order', () => {
    expect(stableStringify({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: undefined } })).toBe(
      '{"a":{"d":[3,{"y":2,"z":1}]},"b":1}',
    );
  });
});

describe('WebhookSender', () => {
  it('signs the exact body it sends with both Nango signatures', async () => {
    const r = await receiver([200]);
    servers.push(r.server);
    const results: WebhookResult[] = [];
    const s = sender(r.host, results);
    s.send({ url: r.url, signingKey: 'key-1', payload: { type: 'auth', success: true, connectionId: 'c1' } });
    await s.drain();
    expect(r.got).toHaveLength(1);
    const { body, headers } = r.got[0]!;
    expect(body).toBe('{"connectionId":"c1","success":true,"type":"auth"}');
    expect(headers['x-nango-signature']).toBe(createHash('sha256').update(`key-1${body}`).digest('hex'));
    expect(headers['x-nango-hmac-sha256']).toBe(createHmac('sha256', 'key-1').update(body).digest('hex'));
    expect(results).toEqual([{ url: r.url, ok: true, attempts: 1, status: 200 }]);
  });

  it('retries a 5xx answer, then stops at the first success', async () => {
    const r = await receiver([503, 500, 200]);
    servers.push(r.server);
    const results: WebhookResult[] = [];
    const s = sender(r.host, results);
    s.send({ url: r.url, signingKey: 'k', payload: { n: 1 } });
    await s.drain();
    expect(r.got).toHaveLength(3);
    expect(results[0]).toMatchObject({ ok: true, attempts: 3, status: 200 });
  });

  it('does not retry a 4xx answer, and gives up after the retries on 5xx', async () => {
    const bad = await receiver([404]);
    const down = await receiver([502]);
    servers.push(bad.server, down.server);
    const results: WebhookResult[] = [];
    const s = new WebhookSender({
      client: new OutboundClient({ allowedHosts: [bad.host, down.host], allowedSuffixes: [''] }),
      backoffMs: () => 10,
      onResult: (x) => results.push(x),
    });
    s.send({ url: bad.url, signingKey: 'k', payload: {} });
    s.send({ url: down.url, signingKey: 'k', payload: {} });
    await s.drain();
    expect(bad.got).toHaveLength(1);
    expect(down.got).toHaveLength(3);
    expect(results.find((x) => x.url === bad.url)).toMatchObject({ ok: false, attempts: 1, status: 404 });
    expect(results.find((x) => x.url === down.url)).toMatchObject({ ok: false, attempts: 3, status: 502 });
  });

  it('refuses a private address without retrying, and never throws to the caller', async () => {
    const results: WebhookResult[] = [];
    const s = new WebhookSender({
      client: new OutboundClient({ allowedHosts: '', allowedSuffixes: [''] }),
      backoffMs: () => 10,
      onResult: (x) => results.push(x),
    });
    expect(() => s.send({ url: 'http://127.0.0.1:9/hook', signingKey: 'k', payload: {} })).not.toThrow();
    await s.drain();
    expect(results[0]).toMatchObject({ ok: false, attempts: 1 });
    expect(['private_address', 'host_not_allowed']).toContain(results[0]!.error);
  });
});
