import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startTestSandbox, tokenOfNewUser, type MarketoBody, type TestSandbox } from '../testing.ts';
import { unlimited } from '../index.ts';
import { createJob, DAY_MS, download, iso, parseDelimited, runJob } from '../bulk/test-helpers.ts';

/**
 * Lead field schema (spec 5.1 "Field schema"): browse, get, create and update fields over HTTP, and a
 * created field as a real lead field of its instance only: describe, reads, Sync Leads, filters and
 * bulk exports see it; another instance and a reseeded one do not.
 */

type Row = Record<string, unknown>;
interface Body extends MarketoBody {
  result?: Row[];
}

const N = 200;
const FIELDS = '/rest/v1/leads/schema/fields.json';
const ITEM_KEYS = [
  'displayName',
  'name',
  'description',
  'dataType',
  'length',
  'isHidden',
  'isHtmlEncodingInEmail',
  'isSensitive',
  'isCustom',
];

let sb: TestSandbox;
beforeEach(async () => {
  // Leads created over the last 90 days: a 30-day export window holds the newest third of them.
  sb = await startTestSandbox({ seed: { leads: N, seed: 17, spanDays: 90 }, limits: unlimited() });
});
afterEach(() => sb.close());

const post = (path: string, json?: unknown, headers?: Record<string, string>) =>
  sb.apiJson<Body>(
    path,
    json === undefined ? { method: 'POST', headers } : { method: 'POST', json, headers },
  );
const get = (path: string, headers?: Record<string, string>) => sb.apiJson<Body>(path, { headers });
const createFields = (input: unknown[]) => post(FIELDS, { input });

function errorCode(body: MarketoBody): string | undefined {
  expect(body.success).toBe(false);
  expect(body.result).toBeUndefined();
  return body.errors?.[0]?.code;
}

async function describeNames(path = '/rest/v1/leads/describe.json'): Promise<string[]> {
  return (await get(path)).result!.map((f) => (f.rest as { name: string }).name);
}

/** Every field through the browse endpoint, `batchSize` a page. */
async function browseAll(batchSize: number, headers?: Record<string, string>): Promise<Body[]> {
  const pages: Body[] = [];
  let token: string | undefined;
  for (;;) {
    const q = `batchSize=${batchSize}${token ? `&nextPageToken=${encodeURIComponent(token)}` : ''}`;
    const page = await get(`${FIELDS}?${q}`, headers);
    expect(page.success).toBe(true);
    pages.push(page);
    token = page.nextPageToken;
    if (!page.moreResult) return pages;
  }
}

/** A bearer header for a new API user whose role has exactly `permissions`. */
async function authWith(permissions: string[]): Promise<Record<string, string>> {
  return { authorization: `Bearer ${await tokenOfNewUser(sb, permissions)}` };
}

describe('browse and get', () => {
  it('pages through every field in describe order with moreResult and nextPageToken', async () => {
    const names = await describeNames();
    const all = await get(FIELDS);
    expect(all).toMatchObject({ success: true, moreResult: false });
    expect(all.nextPageToken).toBeUndefined();
    expect(all.result!.map((f) => f.name)).toEqual(names);

    const pages = await browseAll(20);
    expect(pages.length).toBe(Math.ceil(names.length / 20));
    expect(pages.slice(0, -1).every((p) => p.result!.length === 20 && p.moreResult === true)).toBe(true);
    expect(pages.slice(0, -1).every((p) => /^[A-Z2-7]+=*$/.test(p.nextPageToken!))).toBe(true);
    expect(pages.at(-1)!.nextPageToken).toBeUndefined();
    expect(pages.flatMap((p) => p.result!.map((f) => f.name))).toEqual(names);
  });

  it('shows the schema attributes of standard and custom fields', async () => {
    const all = (await get(FIELDS)).result!;
    const email = all.find((f) => f.name === 'email')!;
    expect(Object.keys(email)).toEqual(ITEM_KEYS);
    expect(email).toEqual({
      displayName: 'Email Address',
      name: 'email',
      description: null,
      dataType: 'email',
      length: 255,
      isHidden: false,
      isHtmlEncodingInEmail: true,
      isSensitive: true,
      isCustom: false,
    });
    // Length only for string types; custom fields flagged.
    const tier = all.find((f) => f.name === 'accountTier')!;
    expect(tier).toMatchObject({ dataType: 'integer', isCustom: true, isHtmlEncodingInEmail: false });
    expect('length' in tier).toBe(false);

    const one = await get('/rest/v1/leads/schema/fields/email.json');
    expect(one).toMatchObject({ success: true, result: [email] });
  });

  it('answers Marketo errors for an unknown field, a bad batchSize and a foreign token', async () => {
    const res = await sb.api('/rest/v1/leads/schema/fields/noSuchField.json');
    expect(res.status).toBe(200);
    const unknown = (await res.json()) as Body;
    expect(errorCode(unknown)).toBe('1006');
    expect(unknown.errors![0]!.message).toBe("Field 'noSuchField' not found");
    // Names are case-sensitive, as in every other lead call.
    expect(errorCode(await get('/rest/v1/leads/schema/fields/Email.json'))).toBe('1006');
    expect(errorCode(await get(`${FIELDS}?batchSize=301`))).toBe('1003');
    expect(errorCode(await get(`${FIELDS}?batchSize=0`))).toBe('1003');
    expect(errorCode(await get(`${FIELDS}?batchSize=ten`))).toBe('1003');
    const filterPage = await get('/rest/v1/leads.json?filterType=id&filterValues=1,2,3&batchSize=1');
    expect(errorCode(await get(`${FIELDS}?nextPageToken=${filterPage.nextPageToken!}`))).toBe('1003');
    expect(errorCode(await get(`${FIELDS}?nextPageToken=NOT-A-TOKEN`))).toBe('1003');
  });
});

describe('create', () => {
  it('creates custom fields with ids after the existing custom ids, skipping bad items with reasons', async () => {
    const body = await createFields([
      { displayName: 'Acme Access Code', name: 'acmeAccessCode', dataType: 'string', description: 'Acme' },
      { displayName: 'Seats', name: 'seats', dataType: 'integer', isSensitive: true },
      { displayName: 'Email Again', name: 'email', dataType: 'string' },
      { displayName: 'Shouty', name: 'ACMEACCESSCODE', dataType: 'string' },
      { displayName: 'Company Name', name: 'companyName2', dataType: 'string' },
      { displayName: 'Weird', name: 'weird', dataType: 'blob' },
      { displayName: 'No Name', dataType: 'string' },
      { name: 'noDisplayName', dataType: 'string' },
      { displayName: 'No Type', name: 'noType' },
      { displayName: 'Bad Name', name: '1stField', dataType: 'string' },
      { displayName: 'Bad Length', name: 'badLength', dataType: 'string', length: 1000 },
      { displayName: 'Bad Flag', name: 'badFlag', dataType: 'boolean', isHidden: 'yes' },
      { displayName: 'Seats Again', name: 'seats', dataType: 'integer' },
      'not an object',
      { displayName: 'Renewed On', name: 'renewedOn', dataType: 'date', isHidden: true },
    ]);
    expect(body.success).toBe(true);
    const skipped = (code: string) => ({
      status: 'skipped',
      reasons: [{ code, message: expect.any(String) }],
    });
    expect(body.result).toEqual([
      { name: 'acmeAccessCode', status: 'created' },
      { name: 'seats', status: 'created' },
      { name: 'email', ...skipped('1017') },
      { name: 'ACMEACCESSCODE', ...skipped('1036') },
      { name: 'companyName2', ...skipped('1017') },
      { name: 'weird', ...skipped('1003') },
      skipped('1002'),
      { name: 'noDisplayName', ...skipped('1002') },
      { name: 'noType', ...skipped('1002') },
      { name: '1stField', ...skipped('1003') },
      { name: 'badLength', ...skipped('1003') },
      { name: 'badFlag', ...skipped('1003') },
      { name: 'seats', ...skipped('1036') },
      skipped('1003'),
      { name: 'renewedOn', status: 'created' },
    ]);
    const reasons = body.result!.map((r) => (r.reasons as { message: string }[] | undefined)?.[0]?.message);
    expect(reasons[2]).toBe("Field 'email' already exists");
    expect(reasons[5]).toBe("Invalid dataType 'blob'");
    expect(reasons[6]).toBe("Missing value for the required parameter 'name'");
    expect(reasons[7]).toBe("Missing value for the required parameter 'displayName'");

    // The next call: existing names (any case) are skipped as existing, not as duplicates of the input.
    const again = await createFields([{ displayName: 'Other', name: 'Seats', dataType: 'string' }]);
    expect(again.result).toEqual([{ name: 'Seats', ...skipped('1017') }]);

    const describe = (await get('/rest/v1/leads/describe.json')).result!;
    const customIds = describe.filter((f) => (f.id as number) >= 3000).map((f) => f.id);
    expect(customIds).toEqual([3001, 3002, 3003, 3004, 3005, 3006, 3007, 3008, 3009, 3010, 3011]);
    expect(describe.slice(-3).map((f) => (f.rest as { name: string }).name)).toEqual([
      'acmeAccessCode',
      'seats',
      'renewedOn',
    ]);

    const acme = await get('/rest/v1/leads/schema/fields/acmeAccessCode.json');
    expect(acme.result).toEqual([
      {
        displayName: 'Acme Access Code',
        name: 'acmeAccessCode',
        description: 'Acme',
        dataType: 'string',
        length: 255,
        isHidden: false,
        isHtmlEncodingInEmail: true,
        isSensitive: false,
        isCustom: true,
      },
    ]);
    expect((await get('/rest/v1/leads/schema/fields/seats.json')).result![0]).toMatchObject({
      dataType: 'integer',
      isSensitive: true,
      isCustom: true,
    });
    expect((await get('/rest/v1/leads/schema/fields/renewedOn.json')).result![0]).toMatchObject({
      isHidden: true,
      dataType: 'date',
    });
    // Created fields page like the others: they come last.
    const pages = await browseAll(50);
    expect(pages.flatMap((p) => p.result!.map((f) => f.name)).slice(-3)).toEqual([
      'acmeAccessCode',
      'seats',
      'renewedOn',
    ]);
  });

  it('refuses the whole call past 100 fields, without input, or not as JSON', async () => {
    const input = Array.from({ length: 101 }, (_, i) => ({
      displayName: `Field ${i}`,
      name: `field${i}`,
      dataType: 'string',
    }));
    const tooMany = await createFields(input);
    expect(errorCode(tooMany)).toBe('1003');
    expect(tooMany.errors![0]!.message).toBe('Input size 101 exceeds the maximum of 100');
    expect(await describeNames()).not.toContain('field0');
    // Exactly 100 is fine.
    const hundred = await createFields(input.slice(0, 100));
    expect(hundred.result!.filter((r) => r.status === 'created').length).toBe(100);

    expect(errorCode(await post(FIELDS))).toBe('701');
    expect(errorCode(await post(FIELDS, {}))).toBe('701');
    expect(errorCode(await post(FIELDS, { input: {} }))).toBe('1003');
    expect(errorCode(await post(FIELDS, { input: [] }))).toBe('1003');
    const form = await sb.apiJson<Body>(FIELDS, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'input=x',
    });
    expect(errorCode(form)).toBe('612');
    const badJson = await sb.apiJson<Body>(FIELDS, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"input":[',
    });
    expect(errorCode(badJson)).toBe('609');
  });
});

describe('update', () => {
  it('updates a custom field; what may not change is skipped; fields are never deleted', async () => {
    await createFields([{ displayName: 'Partner Tier', name: 'partnerTier', dataType: 'string' }]);
    const path = '/rest/v1/leads/schema/fields/partnerTier.json';
    const body = await post(path, {
      input: { displayName: 'Partner Level', description: 'From the partner portal', isHidden: true },
    });
    expect(body).toMatchObject({ success: true, result: [{ name: 'partnerTier', status: 'updated' }] });
    expect((await get(path)).result![0]).toMatchObject({
      displayName: 'Partner Level',
      description: 'From the partner portal',
      isHidden: true,
      dataType: 'string',
    });
    // Adobe's examples send the one field as a one-element list: also accepted.
    const listed = await post(path, { input: [{ isHtmlEncodingInEmail: false }] });
    expect(listed.result![0]!.status).toBe('updated');
    expect((await get(path)).result![0]!.isHtmlEncodingInEmail).toBe(false);
    // describe shows the new display name; the hidden field is still a lead field.
    const d = (await get('/rest/v1/leads/describe.json')).result!;
    expect(d.find((f) => (f.rest as { name: string }).name === 'partnerTier')!.displayName).toBe(
      'Partner Level',
    );

    const typeChange = await post(path, { input: { dataType: 'integer' } });
    expect(typeChange.result).toEqual([
      {
        name: 'partnerTier',
        status: 'skipped',
        reasons: [{ code: '1003', message: "Attribute 'dataType' of field 'partnerTier' cannot be updated" }],
      },
    ]);
    const taken = await post(path, { input: { displayName: 'Email Address' } });
    expect(taken.result![0]).toMatchObject({ status: 'skipped', reasons: [{ code: '1017' }] });
    const badFlag = await post(path, { input: { isHidden: 'no' } });
    expect(badFlag.result![0]).toMatchObject({ status: 'skipped', reasons: [{ code: '1003' }] });
    // Unchanged after the skipped updates.
    expect((await get(path)).result![0]).toMatchObject({ displayName: 'Partner Level', dataType: 'string' });

    // No delete: the only ways in are GET and POST.
    const del = await sb.apiJson<Body>(path, { method: 'DELETE' });
    expect(errorCode(del)).toBe('605');
  });

  it("a standard field's type, name and label stay; its description and flags change", async () => {
    const path = '/rest/v1/leads/schema/fields/email.json';
    const type = await post(path, { input: { dataType: 'string' } });
    expect(type.result![0]).toMatchObject({
      name: 'email',
      status: 'skipped',
      reasons: [{ code: '1003', message: "Attribute 'dataType' of field 'email' cannot be updated" }],
    });
    const label = await post(path, { input: { displayName: 'E-mail' } });
    expect(label.result![0]).toMatchObject({ status: 'skipped', reasons: [{ code: '1003' }] });
    // Sending the current value of a fixed attribute is not a change.
    const same = await post(path, { input: { dataType: 'email', description: 'Primary address' } });
    expect(same.result![0]).toMatchObject({ status: 'updated' });
    expect((await get(path)).result![0]).toMatchObject({
      dataType: 'email',
      displayName: 'Email Address',
      description: 'Primary address',
    });
    // Another instance's stock table is untouched by the change (fields are shared objects in memory).
    const other = await startTestSandbox({ seed: { leads: 5, seed: 1 } });
    try {
      const theirs = await other.apiJson<Body>(path);
      expect(theirs.result![0]!.description).toBeNull();
    } finally {
      await other.close();
    }
  });

  it('answers 1006 for an unknown field and 701/1003 for a bad input', async () => {
    expect(errorCode(await post('/rest/v1/leads/schema/fields/nope.json', { input: {} }))).toBe('1006');
    const path = '/rest/v1/leads/schema/fields/salesRegion.json';
    expect(errorCode(await post(path))).toBe('701');
    expect(errorCode(await post(path, { input: 'x' }))).toBe('1003');
    expect(errorCode(await post(path, { input: [{}, {}] }))).toBe('1003');
  });
});

describe('a created field is a lead field of its instance', () => {
  const create = () =>
    createFields([
      { displayName: 'Loyalty Code', name: 'loyaltyCode', dataType: 'string', length: 40 },
      { displayName: 'Loyalty Points', name: 'loyaltyPoints', dataType: 'integer' },
      { displayName: 'VIP', name: 'vip', dataType: 'boolean' },
    ]);

  it('appears in describe and describe2, searchable when its type is string, email or integer', async () => {
    await create();
    const d = (await get('/rest/v1/leads/describe.json')).result!;
    expect(d.slice(-3)).toEqual([
      {
        id: 3009,
        displayName: 'Loyalty Code',
        dataType: 'string',
        length: 40,
        rest: { name: 'loyaltyCode', readOnly: false },
        soap: { name: 'loyaltyCode', readOnly: false },
      },
      {
        id: 3010,
        displayName: 'Loyalty Points',
        dataType: 'integer',
        rest: { name: 'loyaltyPoints', readOnly: false },
        soap: { name: 'loyaltyPoints', readOnly: false },
      },
      {
        id: 3011,
        displayName: 'VIP',
        dataType: 'boolean',
        rest: { name: 'vip', readOnly: false },
        soap: { name: 'vip', readOnly: false },
      },
    ]);
    const d2 = (await get('/rest/v1/leads/describe2.json')).result![0]!;
    const searchable = (d2.searchableFields as string[][]).map((k) => k[0]);
    expect(searchable).toEqual(expect.arrayContaining(['loyaltyCode', 'loyaltyPoints']));
    expect(searchable).not.toContain('vip');
    expect((d2.fields as Row[]).slice(-3)).toEqual([
      {
        name: 'loyaltyCode',
        displayName: 'Loyalty Code',
        dataType: 'string',
        length: 40,
        updateable: true,
        crmManaged: false,
      },
      {
        name: 'loyaltyPoints',
        displayName: 'Loyalty Points',
        dataType: 'integer',
        updateable: true,
        crmManaged: false,
      },
      { name: 'vip', displayName: 'VIP', dataType: 'boolean', updateable: true, crmManaged: false },
    ]);
  });

  it('is read, written by Sync Leads and usable as a filterType', async () => {
    // Unknown before it exists, as any field.
    expect(errorCode(await get('/rest/v1/lead/1.json?fields=loyaltyCode'))).toBe('1006');
    const before = await post('/rest/v1/leads.json', {
      input: [{ email: 'x@example.com', loyaltyCode: 'A' }],
    });
    expect(before.result![0]).toMatchObject({ status: 'skipped', reasons: [{ code: '1006' }] });

    await create();
    const sync = await post('/rest/v1/leads.json', {
      action: 'updateOnly',
      lookupField: 'id',
      input: [
        { id: 3, loyaltyCode: 'GOLD-3', loyaltyPoints: '120', vip: true },
        { id: 4, loyaltyPoints: 'many' },
      ],
    });
    expect(sync.result).toEqual([
      { id: 3, status: 'updated' },
      {
        status: 'skipped',
        reasons: [{ code: '1001', message: "Invalid value 'many'. Required of type 'integer'" }],
      },
    ]);
    const created = await post('/rest/v1/leads.json', {
      action: 'createOnly',
      input: [{ email: 'loyal@example.com', firstName: 'Loyal', loyaltyCode: 'SILVER-NEW' }],
    });
    expect(created.result![0]!.status).toBe('created');
    const newId = created.result![0]!.id as number;

    const read = await get(
      `/rest/v1/leads.json?filterType=id&filterValues=3,4,${newId}&fields=email,loyaltyCode,loyaltyPoints,vip`,
    );
    expect(read.result!.map(({ email: _e, ...rest }) => rest)).toEqual([
      { id: 3, loyaltyCode: 'GOLD-3', loyaltyPoints: 120, vip: true },
      { id: 4, loyaltyCode: null, loyaltyPoints: null, vip: null },
      { id: newId, loyaltyCode: 'SILVER-NEW', loyaltyPoints: null, vip: null },
    ]);
    expect((await get('/rest/v1/lead/3.json?fields=loyaltyCode,vip')).result).toEqual([
      { id: 3, loyaltyCode: 'GOLD-3', vip: true },
    ]);
    expect((await get('/rest/v1/lead/5.json?fields=loyaltyCode')).result).toEqual([
      { id: 5, loyaltyCode: null },
    ]);

    // Filters (case-insensitive for strings, as other fields), and a lookup field of Sync Leads.
    const byCode = await get(
      '/rest/v1/leads.json?filterType=loyaltyCode&filterValues=gold-3,silver-new&fields=id',
    );
    expect(byCode.result!.map((r) => r.id)).toEqual([3, newId]);
    const byPoints = await get('/rest/v1/leads.json?filterType=loyaltyPoints&filterValues=120');
    expect(byPoints.result!.map((r) => r.id)).toEqual([3]);
    expect(errorCode(await get('/rest/v1/leads.json?filterType=vip&filterValues=true'))).toBe('1011');
    const byLookup = await post('/rest/v1/leads.json', {
      action: 'updateOnly',
      lookupField: 'loyaltyCode',
      input: [{ loyaltyCode: 'GOLD-3', firstName: 'Goldie' }],
    });
    expect(byLookup.result).toEqual([{ id: 3, status: 'updated' }]);

    // The change is a Change Data Value of the new field, as for any field.
    const changes = await get(
      `/rest/v1/activities/leadchanges.json?fields=loyaltyCode&nextPageToken=${encodeURIComponent(
        (
          await get(
            `/rest/v1/activities/pagingtoken.json?sinceDatetime=${encodeURIComponent(new Date(Date.now() - 60_000).toISOString())}`,
          )
        ).nextPageToken!,
      )}`,
    );
    const change = changes.result!.find((a) => a.leadId === 3 && a.activityTypeId === 13)!;
    expect(change.fields).toEqual([{ id: 3009, name: 'loyaltyCode', newValue: 'GOLD-3', oldValue: null }]);
  });

  it('is exported: the value where the API set it, an empty (null) cell on generated leads', async () => {
    await create();
    const end = Date.now() + 60_000;
    const window = { createdAt: { startAt: iso(end - 30 * DAY_MS), endAt: iso(end) } };
    await post('/rest/v1/leads.json', {
      action: 'updateOnly',
      lookupField: 'id',
      input: [
        { id: N, loyaltyCode: 'has "quotes", and a comma', loyaltyPoints: 7 },
        { id: N - 1, vip: false },
      ],
    });
    const created = await post('/rest/v1/leads.json', {
      input: [{ email: 'export.me@example.com', loyaltyCode: 'NEW-1', vip: true }],
    });
    const newId = created.result![0]!.id as number;

    const fields = ['id', 'email', 'loyaltyCode', 'loyaltyPoints', 'vip', 'firstName'];
    const { id, status } = await runJob(sb, 'leads', { fields, filter: window });
    const rows = parseDelimited((await download(sb, 'leads', id)).toString('utf8'));
    expect(rows[0]).toEqual(fields);
    const byId = new Map(rows.slice(1).map((r) => [Number(r[0]), r]));
    expect(byId.size).toBe(status.numberOfRecords);
    expect(byId.get(N)!.slice(2, 5)).toEqual(['has "quotes", and a comma', '7', 'null']);
    expect(byId.get(N - 1)!.slice(2, 5)).toEqual(['null', 'null', 'false']);
    expect(byId.get(newId)!.slice(1, 5)).toEqual(['export.me@example.com', 'NEW-1', 'null', 'true']);
    // Generated leads the API never touched: the new columns are empty, written as Marketo writes
    // empty values (the literal null), and the stock columns are still filled in.
    const untouched = [...byId.entries()].filter(([k]) => k !== N && k !== N - 1 && k !== newId);
    expect(untouched.length).toBeGreaterThan(30);
    for (const [, row] of untouched) {
      expect(row.slice(2, 5)).toEqual(['null', 'null', 'null']);
      expect(row[1]).toMatch(/@/);
      expect(row[5]).not.toBe('null');
    }
    // The same leads through REST, in id order (the export and the API agree).
    const rest = await get(
      `/rest/v1/leads.json?filterType=id&filterValues=${[N, N - 1, newId].join(',')}&fields=loyaltyCode,loyaltyPoints,vip`,
    );
    expect(rest.result!.map((r) => [r.loyaltyCode, r.loyaltyPoints, r.vip])).toEqual([
      [null, null, false],
      ['has "quotes", and a comma', 7, null],
      ['NEW-1', null, true],
    ]);

    // A column order with the new field first and in TSV: the same values.
    const tsv = await runJob(sb, 'leads', { fields: ['vip', 'id'], format: 'TSV', filter: window });
    const tsvRows = parseDelimited((await download(sb, 'leads', tsv.id)).toString('utf8'), '\t');
    expect(tsvRows.slice(1).find((r) => r[1] === String(N - 1))![0]).toBe('false');
    expect(tsvRows.slice(1).find((r) => r[1] === String(N - 2))![0]).toBe('null');

    // A field the instance does not have still fails the export at creation.
    const bad = await createJob(sb, 'leads', { fields: ['id', 'loyaltyColour'], filter: window });
    expect(errorCode(bad)).toBe('1003');
    expect(bad.errors![0]!.message).toContain("field 'loyaltyColour' not found");
  });

  it('belongs to its instance only, and a reseed goes back to the stock schema', async () => {
    const stock = await describeNames();
    await create();
    await post('/rest/v1/leads.json', {
      action: 'updateOnly',
      lookupField: 'id',
      input: [{ id: 2, vip: true }],
    });

    // A second instance behind the same sandbox.
    const r = await sb.control<{
      endpoint: string;
      identity: string;
      clientId: string;
      clientSecret: string;
    }>('POST', '/instances', { seed: { leads: 10, seed: 17 } });
    expect(r.status).toBe(201);
    const q = `grant_type=client_credentials&client_id=${r.body.clientId}&client_secret=${r.body.clientSecret}`;
    const token = (
      (await (await fetch(`${r.body.identity}/oauth/token?${q}`)).json()) as { access_token: string }
    ).access_token;
    const other = async (path: string) =>
      (await (
        await fetch(`${r.body.endpoint}${path}`, { headers: { authorization: `Bearer ${token}` } })
      ).json()) as Body;
    expect(
      (await other('/v1/leads/describe.json')).result!.map((f) => (f.rest as { name: string }).name),
    ).toEqual(stock);
    expect(errorCode(await other('/v1/leads/schema/fields/vip.json'))).toBe('1006');
    expect(errorCode(await other('/v1/lead/2.json?fields=vip'))).toBe('1006');

    // Reseed (control API): the runtime fields are gone, and can be created again with the same ids.
    const seeded = await sb.control('POST', `/instances/${sb.munchkinId}/seed`, {
      leads: N,
      seed: 17,
      spanDays: 90,
    });
    expect(seeded.status).toBe(200);
    expect(await describeNames()).toEqual(stock);
    expect(errorCode(await get('/rest/v1/leads/schema/fields/vip.json'))).toBe('1006');
    expect(errorCode(await get('/rest/v1/lead/2.json?fields=vip'))).toBe('1006');
    const end = Date.now() + 60_000;
    const job = await createJob(sb, 'leads', {
      fields: ['id', 'vip'],
      filter: { createdAt: { startAt: iso(end - 30 * DAY_MS), endAt: iso(end) } },
    });
    expect(errorCode(job)).toBe('1003');
    const again = await createFields([{ displayName: 'VIP', name: 'vip', dataType: 'boolean' }]);
    expect(again.result).toEqual([{ name: 'vip', status: 'created' }]);
    const d = (await get('/rest/v1/leads/describe.json')).result!;
    expect(d.at(-1)).toMatchObject({ id: 3009, rest: { name: 'vip' } });
    // The old value did not survive the reseed either.
    expect((await get('/rest/v1/lead/2.json?fields=vip')).result).toEqual([{ id: 2, vip: null }]);
  });
});

describe('permissions', () => {
  it('needs a schema permission; each covers its kind of field', async () => {
    const leadOnly = await authWith(['readWriteLead']);
    expect(errorCode(await get(FIELDS, leadOnly))).toBe('603');
    expect(errorCode(await get('/rest/v1/leads/schema/fields/email.json', leadOnly))).toBe('603');
    const denied = await post(
      FIELDS,
      { input: [{ displayName: 'X', name: 'x', dataType: 'string' }] },
      leadOnly,
    );
    expect(errorCode(denied)).toBe('603');

    const standard = await authWith(['readWriteSchemaStandardField']);
    const standardNames = (await browseAll(300, standard)).flatMap((p) => p.result!.map((f) => f));
    expect(standardNames.length).toBeGreaterThan(50);
    expect(standardNames.every((f) => f.isCustom === false)).toBe(true);
    expect((await get('/rest/v1/leads/schema/fields/email.json', standard)).success).toBe(true);
    expect(errorCode(await get('/rest/v1/leads/schema/fields/salesRegion.json', standard))).toBe('603');
    const noCreate = await post(
      FIELDS,
      { input: [{ displayName: 'X', name: 'x', dataType: 'string' }] },
      standard,
    );
    expect(errorCode(noCreate)).toBe('603');
    const noUpdate = await post(
      '/rest/v1/leads/schema/fields/salesRegion.json',
      { input: { description: 'x' } },
      standard,
    );
    expect(errorCode(noUpdate)).toBe('603');

    const custom = await authWith(['readWriteSchemaCustomField']);
    const created = await post(
      FIELDS,
      { input: [{ displayName: 'X', name: 'x', dataType: 'string' }] },
      custom,
    );
    expect(created.result).toEqual([{ name: 'x', status: 'created' }]);
    const customNames = (await browseAll(2, custom)).flatMap((p) => p.result!.map((f) => f.name));
    expect(customNames).toEqual([
      'salesRegion',
      'accountTier',
      'productInterest',
      'isCustomer',
      'renewalDate',
      'contractValue',
      'lastWebinarAt',
      'partnerEmail',
      'x',
    ]);
    expect(errorCode(await get('/rest/v1/leads/schema/fields/email.json', custom))).toBe('603');
  });
});
