import { afterEach, describe, expect, it } from 'vitest';
import { unlimited } from '../index.ts';
import { startTestSandbox, type MarketoBody, type TestSandbox } from '../testing.ts';
import { DAY_MS, iso, parseDelimited } from '../bulk/test-helpers.ts';
import { waitFor } from '../../testing/wait.ts';

type Row = Record<string, unknown>;
interface Body extends MarketoBody {
  result?: Row[];
}

const N = 300;
const AS_OF = Date.UTC(2026, 0, 15, 12, 0, 0);
const BASE = '/bulk/v1/customobjects/car_c/export';

let sb: TestSandbox | undefined;
afterEach(async () => {
  await sb?.close();
  sb = undefined;
});

async function start(): Promise<TestSandbox> {
  sb = await startTestSandbox({ seed: { leads: N, seed: 4, asOf: AS_OF }, limits: unlimited() });
  return sb;
}

function post(s: TestSandbox, path: string, json?: unknown): Promise<Body> {
  return s.apiJson<Body>(path, { method: 'POST', json });
}

async function created(s: TestSandbox, path: string, body: unknown): Promise<string> {
  const res = await post(s, path, body);
  expect(res.success, JSON.stringify(res.errors)).toBe(true);
  return res.result![0]!.exportId as string;
}

async function statusOf(s: TestSandbox, base: string, id: string): Promise<string> {
  const body = await s.apiJson<Body>(`${base}/${id}/status.json`);
  expect(body.success, JSON.stringify(body.errors)).toBe(true);
  return body.result![0]!.status as string;
}

/** Create, enqueue, wait for completion and read the file of a car_c export. */
async function exportRows(s: TestSandbox, body: unknown): Promise<string[][]> {
  const id = await created(s, `${BASE}/create.json`, body);
  expect((await post(s, `${BASE}/${id}/enqueue.json`)).success).toBe(true);
  await waitFor(`export ${id} completed`, async () =>
    (await statusOf(s, BASE, id)) === 'Completed' ? true : undefined,
  );
  const res = await s.api(`${BASE}/${id}/file.json`);
  expect(res.status).toBe(200);
  return parseDelimited(await res.text());
}

/** Every car over REST: query by leadId for all leads. */
async function allCars(s: TestSandbox): Promise<Row[]> {
  const ids = Array.from({ length: N }, (_, i) => i + 1).join(',');
  const out: Row[] = [];
  let token: string | undefined;
  do {
    const q = token === undefined ? '' : `&nextPageToken=${token}`;
    const body = await s.apiJson<Body>(
      `/rest/v1/customobjects/car_c.json?filterType=leadId&filterValues=${ids}&fields=vin,leadId,year${q}`,
    );
    expect(body.success, JSON.stringify(body.errors)).toBe(true);
    out.push(...body.result!);
    token = body.nextPageToken;
  } while (token !== undefined);
  return out;
}

describe('bulk custom object extract', () => {
  it('exports the records updated in a window, as REST shows them, with column headers', async () => {
    const s = await start();
    const cars = await allCars(s);
    // About 0.3 cars per lead.
    expect(cars.length).toBeGreaterThan(N * 0.15);
    expect(cars.length).toBeLessThan(N * 0.5);
    const from = AS_OF - 31 * DAY_MS;
    const expected = cars.filter((c) => {
      const at = Date.parse(c.updatedAt as string);
      return at >= from && at < AS_OF;
    });
    expect(expected.length).toBeGreaterThan(0);
    const rows = await exportRows(s, {
      fields: ['marketoGUID', 'vin', 'leadId', 'year', 'updatedAt'],
      columnHeaderNames: { vin: 'VIN' },
      filter: { updatedAt: { startAt: iso(from), endAt: iso(AS_OF) } },
    });
    expect(rows[0]).toEqual(['marketoGUID', 'VIN', 'leadId', 'year', 'updatedAt']);
    const sortKey = (r: string[]) => r[0]!;
    expect(rows.slice(1).sort((a, b) => sortKey(a).localeCompare(sortKey(b)))).toEqual(
      expected
        .map((c) => [c.marketoGUID, c.vin, String(c.leadId), String(c.year), c.updatedAt] as string[])
        .sort((a, b) => sortKey(a).localeCompare(sortKey(b))),
    );
  });

  it('includes API writes in the window of their update and leaves deleted records out', async () => {
    const s = await start();
    const [first, second] = await allCars(s);
    const now = Date.parse((await s.control<{ now: string }>('GET', `/instances/${s.munchkinId}`)).body.now);
    await post(s, '/rest/v1/customobjects/car_c.json', {
      input: [
        { vin: 'APIVIN00000000001', leadId: 3, year: 2020 },
        { vin: first!.vin, year: 1999 },
      ],
    });
    await post(s, '/rest/v1/customobjects/car_c/delete.json', { input: [{ vin: second!.vin }] });
    const rows = await exportRows(s, {
      fields: ['vin', 'year'],
      filter: { updatedAt: { startAt: iso(now - DAY_MS), endAt: iso(now + DAY_MS) } },
    });
    expect(rows.slice(1).sort()).toEqual(
      [
        [first!.vin as string, '1999'],
        ['APIVIN00000000001', '2020'],
      ].sort(),
    );
  });

  it('exports the records of a static list members', async () => {
    const s = await start();
    const lists = await s.apiJson<Body>('/rest/v1/lists.json');
    const listId = lists.result![0]!.id as number;
    const members = await s.apiJson<Body>(`/rest/v1/lists/${listId}/leads.json?fields=id&batchSize=300`);
    const memberIds = new Set(members.result!.map((m) => m.id as number));
    const cars = (await allCars(s)).filter((c) => memberIds.has(c.leadId as number));
    expect(cars.length).toBeGreaterThan(0);
    const rows = await exportRows(s, { fields: ['marketoGUID'], filter: { staticListId: listId } });
    expect(
      rows
        .slice(1)
        .map((r) => r[0])
        .sort(),
    ).toEqual(cars.map((c) => c.marketoGUID as string).sort());
  });

  it('validates the create body', async () => {
    const s = await start();
    const window = { startAt: iso(AS_OF - DAY_MS), endAt: iso(AS_OF) };
    const cases: [unknown, string][] = [
      [{ filter: { updatedAt: window } }, '1003'],
      [{ fields: ['color'], filter: { updatedAt: window } }, '1003'],
      [{ fields: ['vin'] }, '1003'],
      [{ fields: ['vin'], filter: { updatedAt: window, staticListId: 1 } }, '1003'],
      [{ fields: ['vin'], filter: { createdAt: window } }, '1003'],
      [
        { fields: ['vin'], filter: { updatedAt: { startAt: iso(AS_OF - 32 * DAY_MS), endAt: iso(AS_OF) } } },
        '1003',
      ],
      [{ fields: ['vin'], filter: { staticListId: 999_999 } }, '1003'],
    ];
    for (const [body, code] of cases) {
      const res = await post(s, `${BASE}/create.json`, body);
      expect(res.success, JSON.stringify(body)).toBe(false);
      expect(res.errors![0]!.code, JSON.stringify(body)).toBe(code);
    }
    const unknown = await post(s, '/bulk/v1/customobjects/boat_c/export/create.json', {
      fields: ['vin'],
      filter: { updatedAt: window },
    });
    expect(unknown.errors![0]!.code).toBe('1013');
  });

  it('shares the queue and processing slots with lead and activity exports', async () => {
    const s = await start();
    await s.control('PATCH', `/instances/${s.munchkinId}`, { settings: { bulkProcessingMs: 60_000 } });
    const end = Date.now() + 60_000;
    const window = { startAt: iso(end - 30 * DAY_MS), endAt: iso(end) };
    const lead = await created(s, '/bulk/v1/leads/export/create.json', {
      fields: ['id'],
      filter: { createdAt: window },
    });
    const activity = await created(s, '/bulk/v1/activities/export/create.json', {
      filter: { createdAt: window },
    });
    const car = await created(s, `${BASE}/create.json`, { fields: ['vin'], filter: { updatedAt: window } });
    expect((await post(s, `/bulk/v1/leads/export/${lead}/enqueue.json`)).success).toBe(true);
    expect((await post(s, `/bulk/v1/activities/export/${activity}/enqueue.json`)).success).toBe(true);
    expect((await post(s, `${BASE}/${car}/enqueue.json`)).success).toBe(true);
    expect(await statusOf(s, '/bulk/v1/leads/export', lead)).toBe('Processing');
    expect(await statusOf(s, '/bulk/v1/activities/export', activity)).toBe('Processing');
    expect(await statusOf(s, BASE, car)).toBe('Queued');

    // The job exists under its own type's path only.
    const other = await s.apiJson<Body>(`/bulk/v1/customobjects/subscription_c/export/${car}/status.json`);
    expect(other.errors![0]!.code).toBe('1003');
    const listed = await s.apiJson<Body>(`${BASE}.json?status=Queued`);
    expect(listed.result!.map((j) => j.exportId)).toEqual([car]);
    expect((await s.apiJson<Body>('/bulk/v1/customobjects/subscription_c/export.json')).result).toEqual([]);

    // Cancelling a lead job frees a slot for the custom object job.
    expect((await post(s, `/bulk/v1/leads/export/${lead}/cancel.json`)).result![0]!.status).toBe('Cancelled');
    expect(await statusOf(s, BASE, car)).toBe('Processing');
    expect((await post(s, `${BASE}/${car}/cancel.json`)).result![0]!.status).toBe('Cancelled');
  });
});
