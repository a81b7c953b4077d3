/**
 * The token manager (tokens.ts) under load and against a hostile identity endpoint, on a real Tether and
 * sandbox: many callers while a token expires, a token in its last minute (Marketo answers the same
 * token with the remaining lifetime), garbage and secret-echoing identity answers, a rotated secret.
 * A loopback "identity" server relays to the sandbox's identity endpoint until a test makes it answer
 * something else. Expected: one identity call per need, clear 4xx errors without secrets, never a 5xx.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestTether, type TestTether } from '../server/testing.ts';
import {
  advanceClocks,
  captureLogs,
  connectNew,
  counters,
  getConn,
  type Credentials,
} from '../server/routes/connections/test-helpers.ts';

type Answer = { status: number; body: string; type?: string } | 'relay';

let t: TestTether;
let logs: string[];
let identity: { server: Server; port: number; calls: number; answer: Answer };

beforeAll(async () => {
  identity = { server: createServer(), port: 0, calls: 0, answer: 'relay' };
  // Relays GETs to the sandbox (REST too: the connect flow wants the Domain and Identity URLs on the same
  // host); counts identity calls; answers `answer` to identity calls when it is not 'relay'.
  identity.server.on('request', (req, res) => {
    if (req.url?.includes('/identity/')) identity.calls++;
    const a = identity.answer;
    if (a === 'relay' || !req.url?.includes('/identity/')) {
      const auth = req.headers.authorization;
      void fetch(new URL(req.url ?? '/', t.sandbox.identity).toString(), {
        headers: auth ? { authorization: auth } : {},
      })
        .then(async (r) => {
          res.writeHead(r.status, { 'content-type': 'application/json' });
          res.end(await r.text());
        })
        .catch(() => res.destroy());
      return;
    }
    res.writeHead(a.status, { 'content-type': a.type ?? 'application/json' });
    res.end(a.body);
  });
  await new Promise<void>((r) => identity.server.listen(0, '127.0.0.1', r));
  identity.port = (identity.server.address() as AddressInfo).port;
  t = await startTestTether({ env: { TETHER_ALLOWED_HOSTS: `127.0.0.1:${identity.port}` } });
  logs = captureLogs(t);
});
afterAll(async () => {
  await t?.close();
  identity.server.closeAllConnections();
  await new Promise((r) => identity.server.close(r));
});

const tokenOf = (b: Record<string, unknown>) => (b.credentials as Credentials).token;
const serverErrors = () => logs.filter((l) => /"level":(50|60)/.test(l));

/** A connection whose identity calls go through the loopback identity server. */
async function connectViaRelay(): Promise<string> {
  identity.answer = 'relay';
  const token = await t.session();
  const relay = (u: string) => `http://127.0.0.1:${identity.port}${new URL(u).pathname}`;
  const res = await t.connect(token, {
    endpointURL: relay(t.sandbox.endpoint),
    identityURL: `http://127.0.0.1:${identity.port}${new URL(t.sandbox.identity).pathname}`,
  });
  const text = await res.text();
  expect(res.status, text).toBe(200);
  return (JSON.parse(text) as { connectionId: string }).connectionId;
}

describe('token expiry under load', () => {
  it('a token in its last minute is used until it expires, not renewed by every caller', async () => {
    const id = await connectNew(t);
    const first = tokenOf((await getConn(t, id)).body);
    await advanceClocks(t, 3600 - 30); // 30 s left on both clocks: inside the renewal margin
    const before = (await counters(t)).identityCalls;
    for (let i = 0; i < 5; i++) {
      const r = await getConn(t, id);
      expect(r.status).toBe(200);
      expect(tokenOf(r.body)).toBe(first); // Marketo answers the same token until it expires
    }
    // Before the fix: 5 identity calls (each caller renewed, got the same token with < 60 s left).
    expect((await counters(t)).identityCalls - before).toBe(1);
    await advanceClocks(t, 40); // now expired: a new token, one call
    const r = await getConn(t, id);
    expect(r.status).toBe(200);
    expect(tokenOf(r.body)).not.toBe(first);
    expect((await counters(t)).identityCalls - before).toBe(2);
  });

  it('30 concurrent callers of an expired token share one identity call', async () => {
    const id = await connectNew(t);
    await advanceClocks(t, 3700);
    const before = (await counters(t)).identityCalls;
    const all = await Promise.all(Array.from({ length: 30 }, () => getConn(t, id)));
    expect(all.map((r) => r.status)).toEqual(Array(30).fill(200));
    expect(new Set(all.map((r) => tokenOf(r.body))).size).toBe(1);
    expect((await counters(t)).identityCalls - before).toBe(1);
  });
});

describe('a hostile identity endpoint', () => {
  it('garbage (HTML 200) is a clear 400, then callers back off without calling it again', async () => {
    const id = await connectViaRelay();
    await advanceClocks(t, 3700);
    identity.answer = { status: 200, type: 'text/html', body: '<html>maintenance</html>' };
    const calls = identity.calls;
    const r = await getConn(t, id);
    expect(r.status).toBe(400);
    expect(r.body.error?.code).toBe('invalid_credentials');
    expect(String(r.body.error?.message)).toMatch(/without a usable token/);
    const again = await Promise.all(Array.from({ length: 10 }, () => getConn(t, id)));
    expect(again.map((x) => x.body.error?.code)).toEqual(Array(10).fill('connection_refresh_backoff'));
    expect(identity.calls - calls).toBe(1);
    identity.answer = 'relay';
  });

  it('an error that echoes the client secret never shows it (answer, logs)', async () => {
    const id = await connectViaRelay();
    const secret = t.sandbox.clientSecret;
    identity.answer = {
      status: 401,
      body: JSON.stringify({ error: 'invalid_client', error_description: `bad secret ${secret}` }),
    };
    const r = await getConn(t, id, { force: true });
    expect(r.status).toBe(400);
    expect(JSON.stringify(r.body)).not.toContain(secret);
    expect(String(r.body.error?.message)).toContain('[redacted]');
    expect(logs.join('')).not.toContain(secret);
    identity.answer = 'relay';
  });

  it('an absurd expires_in does not break the refresh (it used to answer 500)', async () => {
    const id = await connectViaRelay();
    for (const expires_in of [1e300, -50]) {
      identity.answer = { status: 200, body: JSON.stringify({ access_token: 'tok-odd', expires_in }) };
      const r = await getConn(t, id, { force: true });
      expect(r.status).toBe(200);
      expect(tokenOf(r.body)).toBe('tok-odd');
      const exp = Date.parse((r.body.credentials as Credentials).expires_at);
      expect(Number.isFinite(exp)).toBe(true);
    }
    identity.answer = 'relay';
    expect(serverErrors()).toEqual([]);
  });
});

describe('credentials rotated in Marketo', () => {
  it('a rotated Client Secret gives a clear 400 on the next renewal, without either secret', async () => {
    const sb = await startTestTether();
    try {
      const id = await connectNew(sb);
      const old = sb.sandbox.clientSecret;
      const rot = await sb.sandbox.control<{ clientSecret: string }>(
        'POST',
        `/instances/${sb.sandbox.munchkinId}/services/${sb.sandbox.clientId}/rotate-secret`,
        {},
      );
      expect(rot.status).toBe(200);
      // The current token stays usable until it expires (Marketo does not revoke it).
      expect((await getConn(sb, id)).status).toBe(200);
      await advanceClocks(sb, 3700);
      const r = await getConn(sb, id);
      expect(r.status).toBe(400);
      expect(r.body.error?.code).toBe('invalid_credentials');
      const text = JSON.stringify(r.body);
      expect(text).not.toContain(old);
      expect(text).not.toContain(rot.body.clientSecret);
    } finally {
      await sb.close();
    }
  });
});
