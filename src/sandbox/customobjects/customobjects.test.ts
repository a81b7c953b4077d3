import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { unlimited } from '../index.ts';
import { startTestSandbox, tokenOfNewUser, type MarketoBody, type TestSandbox } from '../testing.ts';

type Row = Record<string, unknown>;
interface Body extends MarketoBody {
  result?: Row[];
}

const N = 300;
const AS_OF = Date.UTC(2026, 0, 15, 12, 0, 0);

let sb: TestSandbox;
beforeEach(async () => {
  sb = await startTestSandbox({ seed: { leads: N, seed: 9, asOf: AS_OF }, limits: unlimited() });
});
afterEach(() => sb.close());

function get(path: string): Promise<Body> {
  return sb.apiJson<Body>(path);
}
function post(path: string, json: unknown): Promise<Body> {
  return sb.apiJson<Body>(path, { method: 'POST', json });
}

/** Cars of the first leads that have one, through query by leadId. */
async function someCars(): Promise<Row[]> {
  const ids = Array.from({ length: 60 }, (_, i) => i + 1).join(',');
  const body = await get(
    `/rest/v1/customobjects/car_c.json?filterType=leadId&filterValues=${ids}&fields=vin,make,model,year,price,leadId`,
  );
  expect(body.success, JSON.stringify(body.errors)).toBe(true);
  expect(body.result!.length).toBeGreaterThan(5);
  return body.result!;
}

/** A token for a fresh role with `permissions`. */
const tokenWith = (permissions: string[]): Promise<string> =>
  tokenOfNewUser(sb, permissions, `r${permissions.length}-${permissions.join('-')}`);

describe('custom object metadata', () => {
  it('lists the two seeded types and describes their fields', async () => {
    const list = await get('/rest/v1/customobjects.json');
    expect(list.success).toBe(true);
    expect(list.result!.map((t) => t.name)).toEqual(['car_c', 'subscription_c']);
    expect(list.result![0]).toMatchObject({
      name: 'car_c',
      displayName: 'Car',
      idField: 'marketoGUID',
      dedupeFields: ['vin'],
      searchableFields: [['vin'], ['marketoGUID'], ['leadId']],
      relationships: [{ field: 'leadId', type: 'parent', relatedTo: { name: 'Lead', field: 'id' } }],
    });
    expect(list.result![0]!.createdAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(
      (await get('/rest/v1/customobjects.json?names=subscription_c')).result!.map((t) => t.name),
    ).toEqual(['subscription_c']);

    const d = await get('/rest/v1/customobjects/subscription_c/describe.json');
    expect(d.result![0]).toMatchObject({ name: 'subscription_c', dedupeFields: ['subscriptionId'] });
    const fields = d.result![0]!.fields as Row[];
    expect(fields.map((f) => [f.name, f.dataType])).toEqual([
      ['marketoGUID', 'string'],
      ['subscriptionId', 'string'],
      ['plan', 'string'],
      ['seats', 'integer'],
      ['active', 'boolean'],
      ['renewsAt', 'date'],
      ['leadId', 'link'],
      ['createdAt', 'datetime'],
      ['updatedAt', 'datetime'],
    ]);
    expect(fields.find((f) => f.name === 'plan')).toMatchObject({ updateable: true, length: 255 });
  });

  it('answers 1013 for an unknown apiName on every endpoint', async () => {
    const paths: [string, unknown?][] = [
      ['/rest/v1/customobjects/boat_c/describe.json'],
      ['/rest/v1/customobjects/boat_c.json?filterType=vin&filterValues=x'],
      ['/rest/v1/customobjects/boat_c.json', { input: [{ vin: 'x' }] }],
      ['/rest/v1/customobjects/boat_c/delete.json', { input: [{ vin: 'x' }] }],
    ];
    for (const [path, json] of paths) {
      const body = json === undefined ? await get(path) : await post(path, json);
      expect(body.success).toBe(false);
      expect(body.errors![0]!.code).toBe('1013');
    }
  });
});

describe('query custom objects', () => {
  it('finds generated records by vin (any case), by marketoGUID and by leadId, consistently', async () => {
    const cars = await someCars();
    const car = cars[0]!;
    expect(car).toMatchObject({
      seq: expect.any(Number),
      marketoGUID: expect.stringMatching(/^[0-9a-f-]{36}$/),
    });
    expect(typeof car.year).toBe('number');
    expect(typeof car.price).toBe('number');

    const byVin = await get(
      `/rest/v1/customobjects/car_c.json?filterType=vin&filterValues=${(car.vin as string).toLowerCase()},NOPE&fields=vin,leadId,make`,
    );
    expect(byVin.result).toEqual([
      {
        seq: 0,
        marketoGUID: car.marketoGUID,
        vin: car.vin,
        leadId: car.leadId,
        make: car.make,
        createdAt: car.createdAt,
        updatedAt: car.updatedAt,
      },
    ]);
    const byGuid = await get(
      `/rest/v1/customobjects/car_c.json?filterType=idField&filterValues=x,${car.marketoGUID as string}`,
    );
    expect(byGuid.result).toEqual([
      {
        seq: 1,
        marketoGUID: car.marketoGUID,
        vin: car.vin,
        createdAt: car.createdAt,
        updatedAt: car.updatedAt,
      },
    ]);
    // createdAt within the lead's lifetime.
    const lead = (await get(`/rest/v1/lead/${car.leadId as number}.json?fields=createdAt`)).result![0]!;
    expect(Date.parse(car.createdAt as string)).toBeGreaterThanOrEqual(
      Date.parse(lead.createdAt as string) - 1000,
    );
    expect(Date.parse(car.updatedAt as string)).toBeGreaterThanOrEqual(Date.parse(car.createdAt as string));

    // POST _method=GET with compound keys.
    const posted = await sb.apiJson<Body>('/rest/v1/customobjects/car_c.json?_method=GET', {
      method: 'POST',
      json: { filterType: 'dedupeFields', fields: ['model'], input: [{ vin: car.vin }] },
    });
    expect(posted.result).toEqual([
      {
        seq: 0,
        marketoGUID: car.marketoGUID,
        model: car.model,
        createdAt: car.createdAt,
        updatedAt: car.updatedAt,
      },
    ]);
  });

  it('pages with nextPageToken', async () => {
    const all = await someCars();
    const ids = Array.from({ length: 60 }, (_, i) => i + 1).join(',');
    const seen: Row[] = [];
    let token: string | undefined;
    for (let i = 0; i < 50; i++) {
      const q = token === undefined ? '' : `&nextPageToken=${token}`;
      const body = await get(
        `/rest/v1/customobjects/car_c.json?filterType=leadId&filterValues=${ids}&batchSize=2${q}`,
      );
      expect(body.success).toBe(true);
      seen.push(...body.result!);
      token = body.nextPageToken;
      if (token === undefined) break;
    }
    expect(seen.map((r) => r.marketoGUID)).toEqual(all.map((r) => r.marketoGUID));
    const bad = await get(
      `/rest/v1/customobjects/car_c.json?filterType=leadId&filterValues=1&nextPageToken=zz`,
    );
    expect(bad.errors![0]!.code).toBe('1003');
  });

  it('checks filterType, fields, filterValues and batchSize', async () => {
    const cases: [string, string][] = [
      ['filterValues=1', '701'],
      ['filterType=make&filterValues=Ford', '1003'],
      ['filterType=vin', '701'],
      ['filterType=vin&filterValues=a&fields=color', '1006'],
      ['filterType=vin&filterValues=a&batchSize=301', '1003'],
      [`filterType=vin&filterValues=${Array.from({ length: 301 }, (_, i) => `v${i}`).join(',')}`, '1003'],
    ];
    for (const [q, code] of cases) {
      const body = await get(`/rest/v1/customobjects/car_c.json?${q}`);
      expect(body.success, q).toBe(false);
      expect(body.errors![0]!.code, q).toBe(code);
    }
  });
});

describe('sync and delete custom objects', () => {
  it('createOrUpdate / createOnly / updateOnly statuses and reasons', async () => {
    const [car] = await someCars();
    const res = await post('/rest/v1/customobjects/car_c.json', {
      input: [
        { vin: 'NEWVIN00000000001', make: 'Kia', model: 'Niro', year: '2024', price: 31000.5, leadId: 5 },
        { vin: car!.vin, make: 'Changed' },
        { vin: 'NEWVIN00000000002', leadId: N + 50 },
        { vin: 'NEWVIN00000000003', leadId: 6, color: 'red' },
        { vin: 'NEWVIN00000000004', leadId: 6, year: 'old' },
        { make: 'NoKey', leadId: 6 },
        'not an object',
      ],
    });
    expect(res.success).toBe(true);
    const r = res.result!;
    expect(r[0]).toMatchObject({ seq: 0, status: 'created', marketoGUID: expect.any(String) });
    expect(r[1]).toEqual({ seq: 1, status: 'updated', marketoGUID: car!.marketoGUID });
    for (const [i, code] of [
      [2, '1003'],
      [3, '1006'],
      [4, '1003'],
      [5, '1003'],
      [6, '1003'],
    ] as const) {
      expect(r[i], String(i)).toMatchObject({
        seq: i,
        status: 'skipped',
        reasons: [{ code, message: expect.any(String) }],
      });
    }

    const created = (
      await get(
        `/rest/v1/customobjects/car_c.json?filterType=vin&filterValues=newvin00000000001&fields=make,year,price,leadId`,
      )
    ).result![0]!;
    expect(created).toMatchObject({
      marketoGUID: r[0]!.marketoGUID,
      make: 'Kia',
      year: 2024,
      price: 31000.5,
      leadId: 5,
    });
    const changed = (
      await get(
        `/rest/v1/customobjects/car_c.json?filterType=idField&filterValues=${car!.marketoGUID as string}&fields=make,model`,
      )
    ).result![0]!;
    expect(changed).toMatchObject({ make: 'Changed', model: car!.model });
    expect(changed.updatedAt).not.toBe(car!.updatedAt);

    const only = await post('/rest/v1/customobjects/car_c.json', {
      action: 'createOnly',
      input: [{ vin: car!.vin, leadId: 1 }],
    });
    expect(only.result).toEqual([
      { seq: 0, status: 'skipped', reasons: [{ code: '1005', message: expect.any(String) }] },
    ]);
    const upd = await post('/rest/v1/customobjects/car_c.json', {
      action: 'updateOnly',
      input: [
        { vin: 'MISSING', make: 'x' },
        { vin: 'NEWVIN00000000001', model: 'EV6' },
      ],
    });
    expect(upd.result).toEqual([
      { seq: 0, status: 'skipped', reasons: [{ code: '1004', message: expect.any(String) }] },
      { seq: 1, status: 'updated', marketoGUID: r[0]!.marketoGUID },
    ]);
    const byId = await post('/rest/v1/customobjects/car_c.json', {
      dedupeBy: 'idField',
      input: [{ marketoGUID: r[0]!.marketoGUID, leadId: 7 }, { marketoGUID: 'nope' }],
    });
    expect(byId.result![0]).toEqual({ seq: 0, status: 'updated', marketoGUID: r[0]!.marketoGUID });
    expect(byId.result![1]).toMatchObject({ status: 'skipped', reasons: [{ code: '1004' }] });
    const lead7 = await get('/rest/v1/customobjects/car_c.json?filterType=leadId&filterValues=7');
    expect(lead7.result!.map((x) => x.marketoGUID)).toContain(r[0]!.marketoGUID);
    const lead5 = await get('/rest/v1/customobjects/car_c.json?filterType=leadId&filterValues=5');
    expect(lead5.result!.map((x) => x.marketoGUID)).not.toContain(r[0]!.marketoGUID);

    const badAction = await post('/rest/v1/customobjects/car_c.json', {
      action: 'merge',
      input: [{ vin: 'a' }],
    });
    expect(badAction.errors![0]!.code).toBe('1003');
  });

  it('deletes by dedupe fields and by idField; 1013 for a missing record', async () => {
    const [a, b] = await someCars();
    const res = await post('/rest/v1/customobjects/car_c/delete.json', {
      input: [{ vin: a!.vin }, { vin: 'NOPE' }],
    });
    expect(res.result).toEqual([
      { seq: 0, status: 'deleted', marketoGUID: a!.marketoGUID },
      { seq: 1, status: 'skipped', reasons: [{ code: '1013', message: 'Record not found' }] },
    ]);
    const byId = await post('/rest/v1/customobjects/car_c/delete.json', {
      deleteBy: 'idField',
      input: [{ marketoGUID: b!.marketoGUID }, { marketoGUID: a!.marketoGUID }],
    });
    expect(byId.result!.map((x) => x.status)).toEqual(['deleted', 'skipped']);
    const gone = await get(
      `/rest/v1/customobjects/car_c.json?filterType=vin&filterValues=${a!.vin as string},${b!.vin as string}`,
    );
    expect(gone.result).toEqual([]);
  });

  it('refuses more than 300 records per call', async () => {
    const input = Array.from({ length: 301 }, (_, i) => ({ vin: `V${i}`, leadId: 1 }));
    for (const path of ['/rest/v1/customobjects/car_c.json', '/rest/v1/customobjects/car_c/delete.json']) {
      const body = await post(path, { input });
      expect(body.success).toBe(false);
      expect(body.errors![0]!.code).toBe('1003');
    }
  });

  it('records no lead activity and leaves the lead untouched', async () => {
    const [car] = await someCars();
    const leadId = car!.leadId as number;
    const before = (await get(`/rest/v1/lead/${leadId}.json?fields=updatedAt`)).result![0]!;
    const since = await get(
      `/rest/v1/activities/pagingtoken.json?sinceDatetime=${new Date(AS_OF - 60_000).toISOString()}`,
    );
    await post('/rest/v1/customobjects/car_c.json', {
      input: [
        { vin: car!.vin, model: 'Other' },
        { vin: 'ZZZ1', leadId },
      ],
    });
    await post('/rest/v1/customobjects/car_c/delete.json', { input: [{ vin: 'ZZZ1' }] });
    const acts = await get(
      `/rest/v1/activities.json?activityTypeIds=12,13,37&nextPageToken=${since.nextPageToken!}&leadIds=${leadId}`,
    );
    expect(acts.success, JSON.stringify(acts.errors)).toBe(true);
    expect(acts.result ?? []).toEqual([]);
    expect((await get(`/rest/v1/lead/${leadId}.json?fields=updatedAt`)).result![0]).toEqual(before);
  });

  it('hides the records of a deleted lead', async () => {
    const [car] = await someCars();
    await post('/rest/v1/leads/delete.json', { input: [{ id: car!.leadId }] });
    const q = await get(
      `/rest/v1/customobjects/car_c.json?filterType=vin&filterValues=${car!.vin as string}`,
    );
    expect(q.result).toEqual([]);
  });
});

describe('custom object permissions', () => {
  it('answers 603 without a custom object permission; read-only cannot write', async () => {
    const none = await tokenWith(['readOnlyLead']);
    const ro = await tokenWith(['readOnlyCustomObject']);
    const call = (token: string, path: string, json?: unknown) =>
      sb.apiJson<Body>(path, {
        method: json === undefined ? 'GET' : 'POST',
        headers: { authorization: `Bearer ${token}` },
        json,
      });
    expect((await call(none, '/rest/v1/customobjects.json')).errors![0]!.code).toBe('603');
    expect((await call(none, '/rest/v1/customobjects/car_c/describe.json')).errors![0]!.code).toBe('603');
    expect((await call(ro, '/rest/v1/customobjects/car_c/describe.json')).success).toBe(true);
    const write = await call(ro, '/rest/v1/customobjects/car_c.json', { input: [{ vin: 'X', leadId: 1 }] });
    expect(write.errors![0]!.code).toBe('603');
    const instance = await sb.control<{ roles: { name: string; permissions: string[] }[] }>(
      'GET',
      `/instances/${sb.munchkinId}`,
    );
    const roles = new Map(instance.body.roles.map((r) => [r.name, r.permissions]));
    expect(roles.get('Read-Write Custom Object')).toEqual(['readWriteCustomObject']);
    expect(roles.get('API Full Access')).toEqual(
      expect.arrayContaining(['readOnlyCustomObject', 'readWriteCustomObject']),
    );
  });
});
