/**
 * Outgoing webhooks against hostile receivers: one that never answers, closes the socket, answers 500,
 * redirects to a private address or answers a huge body; Tether closing with retries pending; the
 * signature on every retry; no secret in a webhook body or log. Real loopback receivers, the real
 * WebhookSender and OutboundClient, and a real Tether + sandbox for the end-to-end cases.
 */
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHmac } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { OutboundClient } from './outbound.ts';
import { rmSync } from 'node:fs';
import type { RunningTether } from '../server/start.ts';
import { startTestTether } from '../server/testing.ts';
import { WebhookSender, type WebhookResult } from './webhooks.ts';
import {
  advanceClocks,
  captureLogs,
  connectNew,
  getConn,
  startReceiver,
  startSecondTether,
  startTetherWithReceiver,
} from '../server/routes/connections/test-helpers.ts';

interface Hit {
  body: string;
  headers: IncomingHttpHeaders;
}

/** A receiver whose answer to hit n (0-based) is `answer(n, res)`; `hit` resolves on each arrival. */
async function hostile(answer: (n: number, res: ServerResponse) => void) {
  const hits: Hit[] = [];
  const waiters: (() => void)[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      hits.push({ body: Buffer.concat(chunks).toString('utf8'), headers: req.headers });
      for (const w of waiters.splice(0)) w();
      answer(hits.length - 1, res);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  const close = () =>
    new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  cleanups.push(close);
  return {
    url: `http://${host}/hook`,
    host,
    hits,
    /** Resolves once `n` hits arrived. */
    until: (n: number) =>
      new Promise<void>((resolve) => {
        const check = () => (hits.length >= n ? resolve() : waiters.push(check));
        check();
      }),
    close,
  };
}

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function senderFor(
  host: string,
  opts: { backoffMs?: number; timeoutMs?: number; drainGraceMs?: number } = {},
) {
  const results: WebhookResult[] = [];
  const client = new OutboundClient({ allowedHosts: host, allowedSuffixes: [''] });
  cleanups.push(async () => client.close());
  const sender = new WebhookSender({
    client,
    backoffMs: () => opts.backoffMs ?? 10,
    ...(opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {}),
    ...(opts.drainGraceMs ? { drainGraceMs: opts.drainGraceMs } : {}),
    onResult: (r) => results.push(r),
  });
  return { sender, results };
}

describe('hostile receivers', () => {
  it('a receiver that closes the socket is retried, with the same body and valid signatures each time', async () => {
    const r = await hostile((n, res) => (n < 2 ? res.socket?.destroy() : res.end('ok')));
    const { sender, results } = senderFor(r.host);
    sender.send({ url: r.url, signingKey: 'sk-1', payload: { type: 'auth', b: [1, 2], a: 'x' } });
    await sender.drain();
    expect(r.hits).toHaveLength(3);
    for (const h of r.hits) {
      expect(h.body).toBe(r.hits[0]!.body);
      expect(h.headers['x-nango-hmac-sha256']).toBe(
        createHmac('sha256', 'sk-1').update(h.body).digest('hex'),
      );
      expect(h.headers['x-nango-signature']).toBe(r.hits[0]!.headers['x-nango-signature']);
    }
    expect(results).toEqual([{ url: r.url, ok: true, attempts: 3, status: 200 }]);
  });

  it('a redirect (to a cloud metadata address) is neither followed nor retried', async () => {
    const r = await hostile((_n, res) => {
      res.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data/' });
      res.end();
    });
    const { sender, results } = senderFor(r.host);
    sender.send({ url: r.url, signingKey: 'k', payload: { n: 1 } });
    await sender.drain();
    expect(r.hits).toHaveLength(1);
    expect(results).toEqual([{ url: r.url, ok: false, attempts: 1, status: 302 }]);
  });

  it('a huge answer (20 MB) is not read: delivered once, no retry', async () => {
    const chunk = Buffer.alloc(1024 * 1024, 'a');
    const r = await hostile((_n, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      let sent = 0;
      const more = () => {
        while (sent < 20 && res.write(chunk)) sent++;
        if (sent >= 20) res.end();
        else res.once('drain', () => (sent++, more()));
      };
      more();
    });
    const { sender, results } = senderFor(r.host);
    sender.send({ url: r.url, signingKey: 'k', payload: { n: 1 } });
    await sender.drain();
    expect(r.hits).toHaveLength(1);
    expect(results[0]).toMatchObject({ ok: true, attempts: 1, status: 200 });
  });

  it('a receiver that never answers times out and is retried, then reported failed', async () => {
    const r = await hostile(() => undefined);
    const { sender, results } = senderFor(r.host, { timeoutMs: 200 });
    sender.send({ url: r.url, signingKey: 'k', payload: { n: 1 } });
    await sender.drain();
    expect(r.hits).toHaveLength(3);
    expect(results).toEqual([{ url: r.url, ok: false, attempts: 3, error: 'timeout' }]);
  });
});

describe('shutdown with deliveries pending', () => {
  it('drain gives up after its grace on a receiver that never answers (it used to wait 20 s per try)', async () => {
    const r = await hostile(() => undefined);
    const { sender, results } = senderFor(r.host, { drainGraceMs: 300 });
    sender.send({ url: r.url, signingKey: 'k', payload: { n: 1 } });
    await r.until(1);
    const started = Date.now();
    await sender.drain();
    expect(Date.now() - started).toBeLessThan(3000);
    expect(r.hits).toHaveLength(1);
    expect(results).toEqual([{ url: r.url, ok: false, attempts: 1, error: 'aborted' }]);
    // The sender still works after a drain gave up.
    const ok = await hostile((_n, res) => res.end('ok'));
    const again = senderFor(ok.host);
    again.sender.send({ url: ok.url, signingKey: 'k', payload: {} });
    await again.sender.drain();
    expect(again.results[0]).toMatchObject({ ok: true });
  });

  it('drain drops retries still waiting their back-off (3 s, 6 s) instead of waiting for them', async () => {
    const r = await hostile((_n, res) => {
      res.statusCode = 500;
      res.end();
    });
    const { sender, results } = senderFor(r.host, { backoffMs: 60_000, drainGraceMs: 300 });
    sender.send({ url: r.url, signingKey: 'k', payload: { n: 1 } });
    await r.until(1);
    const started = Date.now();
    await sender.drain();
    expect(Date.now() - started).toBeLessThan(3000);
    expect(results).toEqual([{ url: r.url, ok: false, attempts: 1, status: 500, error: 'aborted' }]);
  });

  it('Tether closes quickly with a retry pending at a receiver that never answers, and never crashes', async () => {
    const r = await hostile(() => undefined);
    // The real sender of a running Tether, with its defaults (20 s per try, retries after 3 s and 6 s).
    const t = await startTestTether({ env: { TETHER_ALLOWED_HOSTS: r.host } });
    t.tether.deps.webhooks.send({ url: r.url, signingKey: 'k', payload: { n: 1 } });
    await r.until(1);
    const started = Date.now();
    await t.close();
    expect(Date.now() - started).toBeLessThan(8000);
  });
});

describe('deliveries outlive a restart (the outbox)', () => {
  it('a delivery Tether could not make before it stopped is made by the next start, signed the same', async () => {
    // The first attempt never gets an answer; later ones are taken.
    const r = await hostile((n, res) => {
      if (n > 0) res.end('ok');
    });
    const t = await startTestTether({ env: { TETHER_ALLOWED_HOSTS: r.host } });
    const restarted: { tether?: RunningTether } = {};
    cleanups.push(async () => {
      await restarted.tether?.close();
      await t.sandbox.close();
      rmSync(t.dataDir, { recursive: true, force: true });
    });
    t.tether.deps.webhooks.send({ url: r.url, signingKey: 'k', payload: { n: 1 } });
    await r.until(1);
    // Stops within the drain's grace, the delivery not made.
    await t.tether.close();
    expect(r.hits).toHaveLength(1);
    restarted.tether = await startSecondTether(t, [r.host]);
    await r.until(2);
    expect(r.hits[1]!.body).toBe('{"n":1}');
    expect(r.hits[1]!.headers['x-nango-hmac-sha256']).toBe(
      createHmac('sha256', 'k').update('{"n":1}').digest('hex'),
    );
  });
});

describe('secrets', () => {
  it('a refresh failure webhook and the logs carry neither the client secret nor the token', async () => {
    const receiver = await startReceiver();
    cleanups.push(() => receiver.close());
    const t = await startTetherWithReceiver(receiver);
    cleanups.push(() => t.close());
    const logs = captureLogs(t);
    const id = await connectNew(t);
    const first = await getConn(t, id);
    const token = (first.body.credentials as { token: string }).token;
    await t.sandbox.control(
      'POST',
      `/instances/${t.sandbox.munchkinId}/services/${t.sandbox.clientId}/rotate-secret`,
      {},
    );
    await advanceClocks(t, 3700);
    const r = await getConn(t, id);
    expect(r.status).toBe(400);
    const hook = await receiver.waitFor((h) => h.json.operation === 'refresh' && h.json.connectionId === id);
    expect(hook.json.success).toBe(false);
    for (const text of [hook.body, JSON.stringify(r.body), logs.join('')]) {
      expect(text).not.toContain(t.sandbox.clientSecret);
      expect(text).not.toContain(token);
    }
  });
});
