/**
 * Bad input on the Marketo surface never crashes the sandbox and always gets an answer of the
 * kind Marketo gives (an envelope error or a plain gateway status).
 */
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestSandbox, type MarketoBody, type TestSandbox } from '../testing.ts';
import { unlimited } from '../index.ts';

let sb: TestSandbox;

beforeAll(async () => {
  sb = await startTestSandbox({ seed: { leads: 10, seed: 1 }, limits: unlimited() });
});
afterAll(async () => {
  await sb.close();
});

async function alive(): Promise<void> {
  const body = await sb.apiJson('/rest/v1/stats/usage.json');
  expect(body.success).toBe(true);
}

async function triggerPath(): Promise<string> {
  const list = await sb.apiJson('/rest/v1/campaigns.json?isTriggerable=true');
  return `/rest/v1/campaigns/${(list.result![0] as { id: number }).id}/trigger.json`;
}

const codeOf = (b: MarketoBody) => (b.success ? 'ok' : b.errors![0]!.code);

/** Write raw bytes on a socket and return what came back (for requests fetch will not send). */
function rawExchange(text: string): Promise<string> {
  const url = new URL(sb.base);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(url.port), url.hostname, () => socket.end(text));
    let out = '';
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => (out += d));
    socket.on('close', () => resolve(out));
    socket.on('error', reject);
  });
}

describe('bad input on the Marketo surface', () => {
  it('answers broken, deeply nested and binary JSON bodies with 609', async () => {
    const path = await triggerPath();
    const bodies = ['{"input":', '['.repeat(500_000), '\u0000\u0001\u0002', 'null null', '{"a":1}}'];
    for (const body of bodies) {
      const res = await sb.api(path, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
      });
      expect(res.status).toBe(200);
      expect(codeOf((await res.json()) as MarketoBody)).toBe('609');
    }
    await alive();
  });

  it('refuses absurd numbers with an error code, not a crash', async () => {
    const cases: [string, string][] = [
      ['/rest/v1/campaigns.json?batchSize=1e30', '1003'],
      ['/rest/v1/campaigns.json?batchSize=99999999999999999999999', '1003'],
      ['/rest/v1/campaigns.json?batchSize=-1', '1003'],
      ['/rest/asset/v1/programs.json?maxReturn=99999999999999999999', '1003'],
      ['/rest/asset/v1/programs.json?maxReturn=NaN', '1003'],
      ['/rest/v1/campaigns.json?id=%00', '1003'],
      [`/rest/v1/campaigns.json?nextPageToken=${'A'.repeat(4_000)}`, '1003'],
    ];
    for (const [path, code] of cases) {
      const body = await sb.apiJson(path);
      expect({ path, code: codeOf(body) }).toEqual({ path, code });
    }
    const far = await sb.apiJson('/rest/asset/v1/programs.json?offset=99999999999999999999');
    expect(far.success).toBe(true);
    expect(far.result).toBeUndefined();
    await alive();
  });

  it('answers a wrong method with 605 and an unknown path with 610, whatever the method', async () => {
    for (const method of ['PUT', 'DELETE', 'PATCH']) {
      expect(codeOf(await sb.apiJson('/rest/v1/stats/usage.json', { method }))).toBe('605');
      expect(codeOf(await sb.apiJson('/rest/v1/nowhere.json', { method }))).toBe('610');
    }
    expect(codeOf(await sb.apiJson('/rest/v1/stats/usage.json/extra'))).toBe('610');
    expect(codeOf(await sb.apiJson('/rest/v1//stats/usage.json'))).toBe('610');
  });

  it('answers very long or odd tokens with 601', async () => {
    for (const token of ['x'.repeat(7_000), 'ä-ö-ü', '"quoted"', ':sb']) {
      const res = await fetch(`${sb.base}/rest/v1/stats/usage.json`, {
        headers: { authorization: `Bearer ${encodeURI(token)}` },
      });
      expect(codeOf((await res.json()) as MarketoBody)).toBe('601');
    }
  });

  it('answers 404 text for an unknown instance or a path without one', async () => {
    const unknown = await fetch(`${sb.base.replace(sb.munchkinId, '999-ZZZ-999')}/rest/v1/stats/usage.json`);
    expect(unknown.status).toBe(404);
    expect(await unknown.text()).toBe('Unknown Marketo instance');
    const none = await fetch(`${new URL(sb.base).origin}/rest/v1/stats/usage.json`);
    expect(none.status).toBe(404);
    await none.text();
  });

  it('answers 413 at once for a declared body over the limit', async () => {
    const url = new URL(sb.base);
    const token = await sb.token();
    const reply = await rawExchange(
      `POST ${url.pathname}/rest/v1/campaigns/1001/trigger.json HTTP/1.1\r\nHost: ${url.host}\r\n` +
        `Authorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: 999999999999\r\n` +
        `Connection: close\r\n\r\n{}`,
    );
    expect(reply.startsWith('HTTP/1.1 413')).toBe(true);
    await alive();
  });

  it('survives malformed HTTP', async () => {
    const reply = await rawExchange('THIS IS NOT HTTP\r\n\r\n');
    expect(reply.startsWith('HTTP/1.1 400')).toBe(true);
    await alive();
  });

  it('answers a malformed percent-encoding in a path segment with 610, not a retryable 611', async () => {
    for (const path of ['/rest/v1/campaigns/%E0%A4%A.json', '/rest/asset/v1/program/%ZZ.json']) {
      const body = await sb.apiJson(path);
      expect({ path, code: codeOf(body) }).toEqual({ path, code: '610' });
    }
    await alive();
  });
});
