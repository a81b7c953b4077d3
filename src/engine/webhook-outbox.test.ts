/**
 * The webhook outbox: deliveries kept in the database until a receiver takes them. Real loopback
 * receivers, the real WebhookSender and OutboundClient, a real database (SQLite, and PostgreSQL in the
 * `postgres` project); a "restart" is a new sender on the same database (nothing kept in memory), and a
 * real Tether restarted on its data dir for the end-to-end case.
 */
import { createHmac } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { enqueueWebhook, listWebhookOutbox, resignPendingWebhooks } from '../db/webhook-outbox.ts';
import { openTestDb, type TestDb } from '../db/testing.ts';
import { OutboundClient } from './outbound.ts';
import { signatures, WebhookSender, type WebhookOutboxOptions, type WebhookResult } from './webhooks.ts';
import { waitFor } from '../testing/wait.ts';

interface Hit {
  body: string;
  headers: IncomingHttpHeaders;
}

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until `ok()` holds. */
async function until(what: string, ok: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  await waitFor(what, async () => ((await ok()) ? true : undefined), timeoutMs);
}

/** A receiver whose answer to hit n (0-based) is `answer(n, res)`; `answer` may be swapped later. */
async function receiver(answer: (n: number, res: ServerResponse) => void) {
  const hits: Hit[] = [];
  const state = { answer };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      hits.push({ body: Buffer.concat(chunks).toString('utf8'), headers: req.headers });
      state.answer(hits.length - 1, res);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  cleanups.push(
    () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  );
  return { url: `http://${host}/hook`, host, hits, state };
}

const fail500 = (_n: number, res: ServerResponse) => {
  res.statusCode = 500;
  res.end();
};
const ok200 = (_n: number, res: ServerResponse) => res.end('ok');

async function db(): Promise<TestDb> {
  const t = await openTestDb();
  cleanups.push(() => t.cleanup());
  return t;
}

/** A sender with an outbox on `t` and fast timings (retries 10 ms apart, the outbox's every 50 ms). */
function sender(
  t: TestDb,
  host: string,
  over: Partial<Omit<WebhookOutboxOptions, 'ctx'>> & {
    drainGraceMs?: number;
    timeoutMs?: number;
    backoffMs?: number;
  } = {},
) {
  const { drainGraceMs, timeoutMs, backoffMs, ...outbox } = over;
  const results: WebhookResult[] = [];
  const client = new OutboundClient({ allowedHosts: host, allowedSuffixes: [''] });
  const s = new WebhookSender({
    client,
    backoffMs: () => backoffMs ?? 10,
    ...(drainGraceMs ? { drainGraceMs } : {}),
    ...(timeoutMs ? { timeoutMs } : {}),
    onResult: (r) => results.push(r),
    outbox: { ctx: t.ctx, pollMs: 25, laterMs: () => 50, ...outbox },
  });
  cleanups.push(async () => {
    await s.close();
    client.close();
  });
  return { s, results };
}

const KEY = 'signing-key-7f3a';

function expectSigned(hit: Hit, body: string): void {
  expect(hit.body).toBe(body);
  expect(hit.headers['x-nango-hmac-sha256']).toBe(createHmac('sha256', KEY).update(body).digest('hex'));
}

describe('webhook outbox', () => {
  it('a delivery that fails its first round is attempted again later, then removed once delivered', async () => {
    const t = await db();
    // Down for the first round (3 attempts) and the outbox's first attempt, then up.
    const r = await receiver((n, res) => (n < 4 ? fail500(n, res) : ok200(n, res)));
    const { s, results } = sender(t, r.host);
    s.send({ url: r.url, signingKey: KEY, payload: { b: 2, a: 1 } });
    await until('delivery', () => results.some((x) => x.ok));
    expect(r.hits).toHaveLength(5);
    for (const hit of r.hits) expectSigned(hit, '{"a":1,"b":2}');
    expect(results.map((x) => [x.attempts, x.ok])).toEqual([
      [3, false],
      [4, false],
      [5, true],
    ]);
    await until('the row removed', async () => (await listWebhookOutbox(t.ctx)).length === 0);
  });

  it('keeps what a retry needs, never the signing key', async () => {
    const t = await db();
    const r = await receiver(fail500);
    const { s } = sender(t, r.host, { laterMs: () => 3_600_000 });
    s.send({ url: r.url, signingKey: KEY, payload: { event: 'x' } });
    await until('the first round', async () => (await listWebhookOutbox(t.ctx))[0]?.attempts === 3);
    const [row] = await listWebhookOutbox(t.ctx);
    expect(row).toMatchObject({ url: r.url, body: '{"event":"x"}', status: 'pending', last_status: 500 });
    expect(JSON.stringify(row)).not.toContain(KEY);
    // Not before its time.
    await sleep(150);
    expect(r.hits).toHaveLength(3);
  });

  it('a delivery cut short by a shutdown is made by the next process, same body and signatures', async () => {
    const t = await db();
    // Never answers: the first process's attempt is still waiting when it closes.
    const r = await receiver(() => undefined);
    const first = sender(t, r.host, { drainGraceMs: 200 });
    first.s.send({ url: r.url, signingKey: KEY, payload: { n: 1 } });
    await until('the first attempt', () => r.hits.length === 1);
    await first.s.close();
    expect(first.results).toMatchObject([{ ok: false, error: 'aborted' }]);
    expect(await listWebhookOutbox(t.ctx)).toMatchObject([{ status: 'pending', claimed_until: null }]);
    // The next process (nothing in memory) delivers it once the receiver answers.
    r.state.answer = ok200;
    const next = sender(t, r.host);
    await until('the delivery', () => next.results.some((x) => x.ok));
    expect(r.hits).toHaveLength(2);
    expectSigned(r.hits[1]!, '{"n":1}');
    await until('the row removed', async () => (await listWebhookOutbox(t.ctx)).length === 0);
  });

  it('a crashed process’s delivery waits for its claim to lapse, then goes once (two processes polling)', async () => {
    const t = await db();
    const r = await receiver(() => undefined);
    // A process that crashed: its claim (lease 300 ms) is still on the row, nothing in memory.
    const crashed = sender(t, r.host, { leaseMs: 300, drainGraceMs: 50, pollMs: 3_600_000 });
    crashed.s.send({ url: r.url, signingKey: KEY, payload: { n: 2 } });
    await until('the first attempt', () => r.hits.length === 1);
    // It never settles the row (its attempt hangs) and does not poll: as good as gone.
    const rows = await listWebhookOutbox(t.ctx);
    expect(rows[0]!.claimed_until).not.toBeNull();
    r.state.answer = ok200;
    const a = sender(t, r.host, { leaseMs: 300 });
    const b = sender(t, r.host, { leaseMs: 300 });
    await sleep(100);
    // Still claimed by the crashed process: nobody else sends it yet.
    expect(r.hits).toHaveLength(1);
    await until('the delivery', () => [...a.results, ...b.results].some((x) => x.ok));
    await sleep(200);
    expect(r.hits).toHaveLength(2);
    expectSigned(r.hits[1]!, '{"n":2}');
  });

  it('a failing receiver does not hold back the others; its other deliveries wait with it, no attempt counted', async () => {
    const t = await db();
    const failingAt: number[] = [];
    const slow500 = await receiver((_n, res) => {
      setTimeout(() => {
        failingAt.push(Date.now());
        res.statusCode = 500;
        res.end();
      }, 300);
    });
    const fine = await receiver(ok200);
    // Deliveries an earlier process left, all due: three to the failing receiver, then one elsewhere.
    const past = new Date(Date.now() - 1_000);
    const queue = (url: string, n: number) =>
      enqueueWebhook(t.ctx, { url, body: `{"n":${n}}`, headers: {}, now: past, claimedUntil: past });
    const a = [await queue(slow500.url, 1), await queue(slow500.url, 2), await queue(slow500.url, 3)];
    await queue(fine.url, 4);
    sender(t, `${slow500.host},${fine.host}`, { laterMs: () => 3_600_000 });
    await until('the other receiver served', () => fine.hits.length === 1);
    // Not behind the slow failing one.
    expect(failingAt).toHaveLength(0);
    await until('the failing attempt settled', async () =>
      (await listWebhookOutbox(t.ctx)).some((r) => r.attempts === 1),
    );
    await sleep(400);
    expect(slow500.hits.map((h) => h.body)).toEqual(['{"n":1}']);
    const rows = await listWebhookOutbox(t.ctx);
    const row = (id: number) => rows.find((r) => r.id === id)!;
    expect(rows.map((r) => r.id).sort()).toEqual([...a].sort());
    expect(row(a[0]!)).toMatchObject({ attempts: 1, last_status: 500, status: 'pending' });
    for (const id of a.slice(1)) {
      expect(row(id)).toMatchObject({ attempts: 0, status: 'pending', claimed_until: null });
      expect(row(id).next_attempt_at).toBe(row(a[0]!).next_attempt_at);
    }
    expect(Date.parse(row(a[0]!).next_attempt_at)).toBeGreaterThan(Date.now() + 3_000_000);
  });

  it('a retry of the first round is signed as the outbox row is now (a key rotation in between)', async () => {
    const t = await db();
    const r = await receiver((n, res) => (n === 0 ? fail500(n, res) : ok200(n, res)));
    const { s, results } = sender(t, r.host, { backoffMs: 400 });
    s.send({ url: r.url, signingKey: KEY, payload: { n: 5 }, environmentId: t.environmentId });
    await until('the first attempt', () => r.hits.length === 1);
    expectSigned(r.hits[0]!, '{"n":5}');
    // The environment's key is rotated while the retry waits its back-off.
    const next = 'rotated-key-91c2';
    expect(await resignPendingWebhooks(t.ctx, t.environmentId, (b) => signatures(next, b))).toBe(1);
    await until('the retry', () => results.some((x) => x.ok));
    expect(r.hits[1]!.headers['x-nango-hmac-sha256']).toBe(
      createHmac('sha256', next).update('{"n":5}').digest('hex'),
    );
  });

  it('a 4xx answer is final: kept as failed, not attempted again, dropped after a week', async () => {
    const t = await db();
    const r = await receiver((_n, res) => {
      res.statusCode = 410;
      res.end();
    });
    let now = Date.now();
    const { s } = sender(t, r.host, { now: () => now });
    s.send({ url: r.url, signingKey: KEY, payload: { n: 3 } });
    await until('failed', async () => (await listWebhookOutbox(t.ctx))[0]?.status === 'failed');
    expect(await listWebhookOutbox(t.ctx)).toMatchObject([{ attempts: 1, last_status: 410 }]);
    await sleep(150);
    expect(r.hits).toHaveLength(1);
    now += 8 * 86_400_000;
    await until('pruned', async () => (await listWebhookOutbox(t.ctx)).length === 0);
  });

  it('gives up after maxAttempts in all', async () => {
    const t = await db();
    const r = await receiver(fail500);
    const { s, results } = sender(t, r.host, { maxAttempts: 5 });
    s.send({ url: r.url, signingKey: KEY, payload: { n: 4 } });
    await until('given up', async () => (await listWebhookOutbox(t.ctx))[0]?.status === 'failed');
    expect(r.hits).toHaveLength(5);
    expect(results.at(-1)).toMatchObject({ ok: false, attempts: 5, status: 500 });
    await sleep(150);
    expect(r.hits).toHaveLength(5);
  });
});
