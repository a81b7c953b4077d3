import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestSandbox, type MarketoBody, type TestSandbox } from '../testing.ts';
import { unlimited } from '../index.ts';

type Lead = Record<string, string | number | boolean | null> & { id: number };
interface Body extends MarketoBody {
  result?: Lead[];
}

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;
const AS_OF = Date.parse('2026-03-01T12:00:00Z');

function ids(from: number, to: number): string {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i).join(',');
}

describe('lead reads', () => {
  let sb: TestSandbox;
  beforeAll(async () => {
    sb = await startTestSandbox({ seed: { leads: 50, seed: 7, asOf: AS_OF }, limits: unlimited() });
  });
  afterAll(() => sb.close());

  it('describes every field with rest and (when it has one) soap names', async () => {
    const body = await sb.apiJson<MarketoBody>('/rest/v1/leads/describe.json');
    expect(body.success).toBe(true);
    const byName = new Map(body.result!.map((f) => [(f.rest as { name: string }).name, f]));
    expect(byName.get('email')).toEqual({
      id: 51,
      displayName: 'Email Address',
      dataType: 'email',
      length: 255,
      rest: { name: 'email', readOnly: false },
      soap: { name: 'Email', readOnly: false },
    });
    expect(byName.get('id')).toMatchObject({ dataType: 'integer', rest: { name: 'id', readOnly: true } });
    expect(byName.get('updatedAt')).toMatchObject({ dataType: 'datetime', rest: { readOnly: true } });
    expect(byName.get('cookies')!.soap).toBeUndefined();
    expect(byName.get('numberOfEmployees')!.length).toBeUndefined();
    for (const name of ['firstName', 'lastName', 'company', 'leadScore', 'sfdcLeadId', 'salesRegion']) {
      expect(byName.has(name)).toBe(true);
    }
    for (const f of body.result!) {
      expect(typeof f.id).toBe('number');
      expect(typeof f.displayName).toBe('string');
    }
  });

  it('describe2 lists the searchable fields and updateable flags', async () => {
    const body = await sb.apiJson<MarketoBody>('/rest/v1/leads/describe2.json');
    expect(body.success).toBe(true);
    expect(body.result).toHaveLength(1);
    const api = body.result![0]! as { name: string; searchableFields: string[][]; fields: Lead[] };
    expect(api.name).toBe('API Lead');
    const searchable = api.searchableFields.map((s) => s.join('+'));
    for (const s of [
      'email',
      'id',
      'cookies',
      'sfdcLeadId',
      'leadPartitionId',
      'salesRegion',
      'accountTier',
    ]) {
      expect(searchable).toContain(s);
    }
    for (const s of ['firstName', 'createdAt', 'isCustomer', 'renewalDate'])
      expect(searchable).not.toContain(s);
    const email = api.fields.find((f) => f.name === 'email');
    expect(email).toEqual({
      name: 'email',
      displayName: 'Email Address',
      dataType: 'email',
      length: 255,
      updateable: true,
      crmManaged: false,
    });
    expect(api.fields.find((f) => f.name === 'sfdcLeadId')).toMatchObject({
      updateable: false,
      crmManaged: true,
    });
  });

  it('gets a lead by id with the default fields', async () => {
    const body = await sb.apiJson<Body>('/rest/v1/lead/3.json');
    expect(body.success).toBe(true);
    expect(body.requestId).toMatch(/^[0-9a-f]+#[0-9a-f]+$/);
    const lead = body.result![0]!;
    expect(Object.keys(lead)).toEqual(['id', 'email', 'updatedAt', 'createdAt', 'firstName', 'lastName']);
    expect(lead.id).toBe(3);
    expect(lead.email).toMatch(/^[a-z]+\.[a-z]+\.3@[a-z.]+$/);
    expect(lead.createdAt).toMatch(ISO);
    expect(lead.updatedAt).toMatch(ISO);
    expect(Date.parse(lead.updatedAt as string)).toBeGreaterThanOrEqual(Date.parse(lead.createdAt as string));
    expect(Date.parse(lead.updatedAt as string)).toBeLessThanOrEqual(AS_OF);
  });

  it('returns requested fields, empty ones as null, id always first', async () => {
    const body = await sb.apiJson<Body>('/rest/v1/lead/4.json?fields=company,anonymousIP,leadPartitionId');
    expect(body.result).toEqual([
      { id: 4, company: expect.any(String), anonymousIP: null, leadPartitionId: 1 },
    ]);
  });

  it('answers an unknown id with an empty result and an unknown field with 1006', async () => {
    expect(await sb.apiJson<Body>('/rest/v1/lead/51.json')).toMatchObject({ success: true, result: [] });
    const bad = await sb.apiJson<Body>('/rest/v1/lead/3.json?fields=email,bogusField');
    expect(bad.success).toBe(false);
    expect(bad.errors).toEqual([{ code: '1006', message: "Field 'bogusField' not found" }]);
  });

  it('spreads createdAt over two years before asOf, ascending with id', async () => {
    const body = await sb.apiJson<Body>(
      `/rest/v1/leads.json?filterType=id&filterValues=${ids(1, 50)}&fields=createdAt`,
    );
    const created = body.result!.map((l) => Date.parse(l.createdAt as string));
    expect(body.result!.map((l) => l.id)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(created[0]).toBe(Math.floor((AS_OF - 730 * 86_400_000) / 1000) * 1000);
    for (let i = 1; i < created.length; i++) expect(created[i]!).toBeGreaterThanOrEqual(created[i - 1]!);
    expect(created[49]!).toBeLessThan(AS_OF);
  });

  it('filters by email, case-insensitively', async () => {
    const lead = (await sb.apiJson<Body>('/rest/v1/lead/3.json')).result![0]!;
    const email = (lead.email as string).toUpperCase();
    const body = await sb.apiJson<Body>(
      `/rest/v1/leads.json?filterType=email&filterValues=${encodeURIComponent(email)}`,
    );
    expect(body.success).toBe(true);
    expect(body.result).toEqual([lead]);
    expect(body.nextPageToken).toBeUndefined();
  });

  it('filters by several ids, ascending, skipping unknown ones', async () => {
    const body = await sb.apiJson<Body>(
      '/rest/v1/leads.json?filterType=id&filterValues=9,2,999,5&fields=email',
    );
    expect(body.result!.map((l) => l.id)).toEqual([2, 5, 9]);
    const none = await sb.apiJson<Body>(
      '/rest/v1/leads.json?filterType=email&filterValues=nobody@nowhere.example',
    );
    expect(none).toMatchObject({ success: true, result: [] });
  });

  it('filters by custom string and integer fields: exactly the leads holding the value', async () => {
    const all = (
      await sb.apiJson<Body>(
        `/rest/v1/leads.json?filterType=id&filterValues=${ids(1, 50)}&fields=salesRegion,accountTier`,
      )
    ).result!;
    const region = all[2]!.salesRegion as string;
    const byRegion = await sb.apiJson<Body>(
      `/rest/v1/leads.json?filterType=salesRegion&filterValues=${encodeURIComponent(region)}&fields=salesRegion`,
    );
    expect(byRegion.result!.map((l) => l.id)).toEqual(
      all.filter((l) => l.salesRegion === region).map((l) => l.id),
    );
    expect(byRegion.result!.length).toBeGreaterThan(1);

    const tier = all.find((l) => l.accountTier !== null)!.accountTier as number;
    const byTier = await sb.apiJson<Body>(`/rest/v1/leads.json?filterType=accountTier&filterValues=${tier}`);
    expect(byTier.result!.map((l) => l.id)).toEqual(
      all.filter((l) => l.accountTier === tier).map((l) => l.id),
    );
  });

  it('accepts the long-query form POST ?_method=GET with a form body', async () => {
    const lead = (await sb.apiJson<Body>('/rest/v1/lead/7.json')).result![0]!;
    const body = await sb.apiJson<Body>('/rest/v1/leads.json?_method=GET', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `filterType=email&filterValues=${encodeURIComponent(lead.email as string)}&fields=firstName`,
    });
    expect(body.result).toEqual([{ id: 7, firstName: lead.firstName }]);
  });

  it('refuses unsupported filters and bad parameters', async () => {
    const err = async (q: string) => (await sb.apiJson<Body>(`/rest/v1/leads.json?${q}`)).errors?.[0];
    expect(await err('filterType=firstName&filterValues=Mary')).toEqual({
      code: '1011',
      message: "Field 'firstName' not supported",
    });
    expect((await err('filterType=createdAt&filterValues=x'))?.code).toBe('1011');
    expect((await err('filterType=nope&filterValues=x'))?.code).toBe('1006');
    expect((await err('filterValues=1'))?.code).toBe('701');
    expect((await err('filterType=id'))?.code).toBe('701');
    expect((await err(`filterType=id&filterValues=${ids(1, 301)}`))?.code).toBe('1003');
    expect((await err('filterType=id&filterValues=1&batchSize=301'))?.code).toBe('1003');
    expect((await err('filterType=id&filterValues=1&nextPageToken=NOTATOKEN'))?.code).toBe('1003');
    expect((await err('filterType=id&filterValues=1&fields=email,nope'))?.code).toBe('1006');
    // Exactly 300 values is allowed.
    expect(
      (await sb.apiJson<Body>(`/rest/v1/leads.json?filterType=id&filterValues=${ids(1, 300)}`)).success,
    ).toBe(true);
  });
});

describe('filter paging and the 1000-match cap', () => {
  let sb: TestSandbox;
  beforeAll(async () => {
    sb = await startTestSandbox({ seed: { leads: 2000, seed: 3 }, limits: unlimited() });
  });
  afterAll(() => sb.close());

  it('fails with 1003 when more than 1000 leads match', async () => {
    const body = await sb.apiJson<Body>('/rest/v1/leads.json?filterType=leadPartitionId&filterValues=1');
    expect(body.success).toBe(false);
    expect(body.errors).toEqual([{ code: '1003', message: 'Too many results match the filter' }]);
  });

  it('pages through every match exactly once with position tokens', async () => {
    const created: number[] = [];
    for (let batch = 0; batch < 3; batch++) {
      const input = Array.from({ length: batch < 2 ? 300 : 50 }, (_, i) => ({
        email: `paging.${batch}.${i}@example.com`,
        productInterest: 'Widget Pro',
      }));
      const res = await sb.apiJson<Body>('/rest/v1/leads.json', {
        method: 'POST',
        json: { action: 'createOnly', input },
      });
      expect(res.result!.every((r) => r.status === 'created')).toBe(true);
      created.push(...res.result!.map((r) => r.id));
    }
    const seen: number[] = [];
    const sizes: number[] = [];
    let token: string | undefined;
    do {
      const page = await sb.apiJson<Body>(
        `/rest/v1/leads.json?filterType=productInterest&filterValues=widget%20pro&batchSize=200&fields=productInterest` +
          (token ? `&nextPageToken=${encodeURIComponent(token)}` : ''),
      );
      expect(page.success).toBe(true);
      sizes.push(page.result!.length);
      seen.push(...page.result!.map((l) => l.id));
      token = page.nextPageToken;
      if (token) expect(token).toMatch(/^[A-Z2-7]+=*$/);
    } while (token);
    expect(sizes).toEqual([200, 200, 200, 50]);
    expect(seen).toEqual([...created].sort((a, b) => a - b));
    expect(new Set(seen).size).toBe(650);
  });

  it('ends without a token when the matches fit one page', async () => {
    const body = await sb.apiJson<Body>(
      `/rest/v1/leads.json?filterType=id&filterValues=${ids(1, 10)}&batchSize=10`,
    );
    expect(body.result).toHaveLength(10);
    expect(body.nextPageToken).toBeUndefined();
  });
});

describe('determinism', () => {
  it('gives identical leads for the same seed and different ones for another seed', async () => {
    const fields = (await startAndRead(11)).fields;
    const a = await startAndRead(11, fields);
    const b = await startAndRead(11, fields);
    const c = await startAndRead(12, fields);
    expect(a.leads).toEqual(b.leads);
    expect(a.leads).not.toEqual(c.leads);
    expect(a.leads).toHaveLength(200);
    // The generated data looks like people at companies, with some fields left empty.
    const emails = new Set(a.leads.map((l) => l.email));
    expect(emails.size).toBe(200);
    expect(a.leads.some((l) => l.middleName === null)).toBe(true);
    expect(new Set(a.leads.map((l) => l.country)).size).toBeGreaterThan(3);
  });
});

async function startAndRead(seed: number, names?: string[]): Promise<{ fields: string[]; leads: Lead[] }> {
  const sb = await startTestSandbox({ seed: { leads: 200, seed, asOf: AS_OF }, limits: unlimited() });
  try {
    const fields =
      names ??
      (await sb.apiJson<MarketoBody>('/rest/v1/leads/describe.json')).result!.map(
        (f) => (f.rest as { name: string }).name,
      );
    const leads: Lead[] = [];
    for (const range of [ids(1, 100), ids(101, 200)]) {
      const body = await sb.apiJson<Body>('/rest/v1/leads.json?_method=GET', {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: `filterType=id&filterValues=${range}&fields=${fields.join(',')}`,
      });
      leads.push(...body.result!);
    }
    return { fields, leads };
  } finally {
    await sb.close();
  }
}
