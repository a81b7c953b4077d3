import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestSandbox, type MarketoBody, type TestSandbox } from '../testing.ts';
import { unlimited } from '../index.ts';

type Row = Record<string, unknown> & { id: number };
interface Body extends MarketoBody {
  result?: Row[];
}

const AS_OF = Date.parse('2026-01-01T00:00:00Z');

async function activitiesSince(sb: TestSandbox, since: string, types: string): Promise<Row[]> {
  const t = await sb.apiJson<Body>(
    `/rest/v1/activities/pagingtoken.json?sinceDatetime=${encodeURIComponent(since)}`,
  );
  const out: Row[] = [];
  let token = t.nextPageToken!;
  for (;;) {
    const page = await sb.apiJson<Body>(
      `/rest/v1/activities.json?activityTypeIds=${types}&nextPageToken=${encodeURIComponent(token)}`,
    );
    out.push(...(page.result ?? []));
    token = page.nextPageToken!;
    if (!page.moreResult) return out;
  }
}

async function allMembers(
  sb: TestSandbox,
  listId: number,
  batchSize: number,
  prefix = 'lists',
): Promise<Row[]> {
  const out: Row[] = [];
  let token: string | undefined;
  for (;;) {
    const q = `batchSize=${batchSize}${token ? `&nextPageToken=${encodeURIComponent(token)}` : ''}`;
    const page = await sb.apiJson<Body>(`/rest/v1/${prefix}/${listId}/leads.json?${q}`);
    expect(page.success).toBe(true);
    out.push(...page.result!);
    token = page.nextPageToken;
    if (!token) return out;
  }
}

describe('static lists', () => {
  let sb: TestSandbox;
  beforeAll(async () => {
    sb = await startTestSandbox({ seed: { leads: 500, seed: 4, asOf: AS_OF }, limits: unlimited() });
  });
  afterAll(async () => sb.close());

  it('browses lists with filters and paging', async () => {
    const all = await sb.apiJson<Body>('/rest/v1/lists.json');
    expect(all.result!.length).toBe(5);
    const first = all.result![0]!;
    expect(first).toMatchObject({ id: 1001, name: 'Newsletter Subscribers', workspaceName: 'Default' });
    expect(first.createdAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(all.nextPageToken).toBeUndefined();

    const p1 = await sb.apiJson<Body>('/rest/v1/lists.json?batchSize=2');
    expect(p1.result!.map((l) => l.id)).toEqual([1001, 1002]);
    const p2 = await sb.apiJson<Body>(`/rest/v1/lists.json?batchSize=2&nextPageToken=${p1.nextPageToken}`);
    expect(p2.result!.map((l) => l.id)).toEqual([1003, 1004]);
    const p3 = await sb.apiJson<Body>(`/rest/v1/lists.json?batchSize=2&nextPageToken=${p2.nextPageToken}`);
    expect(p3.result!.map((l) => l.id)).toEqual([1005]);
    expect(p3.nextPageToken).toBeUndefined();

    const byName = await sb.apiJson<Body>('/rest/v1/lists.json?name=Key%20Accounts');
    expect(byName.result!.map((l) => l.id)).toEqual([1004]);
    expect(byName.result![0]!.programName).toBeUndefined();
    const byProgram = await sb.apiJson<Body>('/rest/v1/lists.json?programName=Trade%20Show%202025');
    expect(byProgram.result!.map((l) => l.id)).toEqual([1003]);
    const byIds = await sb.apiJson<Body>('/rest/v1/lists.json?id=1002&id=1005');
    expect(byIds.result!.map((l) => l.id)).toEqual([1002, 1005]);
    // A token of another reader (here a member page's) is refused.
    const members = await sb.apiJson<Body>('/rest/v1/lists/1001/leads.json?batchSize=1');
    const foreign = await sb.apiJson<Body>(`/rest/v1/lists.json?nextPageToken=${members.nextPageToken}`);
    expect(foreign.errors![0]!.code).toBe('1003');
    const garbage = await sb.apiJson<Body>('/rest/v1/lists/1001/leads.json?nextPageToken=NOT-A-TOKEN');
    expect(garbage.errors![0]!.code).toBe('1003');
    const none = await sb.apiJson<Body>('/rest/v1/lists.json?workspaceName=Elsewhere');
    expect(none).toMatchObject({ success: true, result: [] });
  });

  it('gets a list by id; unknown ids answer 1013', async () => {
    const one = await sb.apiJson<Body>('/rest/v1/lists/1002.json');
    expect(one.result).toEqual([expect.objectContaining({ id: 1002, programName: 'Q1 Product Webinar' })]);
    for (const path of [
      '/rest/v1/lists/999.json',
      '/rest/v1/lists/abc.json',
      '/rest/v1/lists/999/leads.json',
    ]) {
      const body = await sb.apiJson<Body>(path);
      expect(body).toMatchObject({ success: false, errors: [{ code: '1013', message: 'Object not found' }] });
    }
    const add = await sb.apiJson<Body>('/rest/v1/lists/999/leads.json?id=1', { method: 'POST' });
    expect(add.errors![0]!.code).toBe('1013');
  });

  it('reads members in pages with the requested fields, the same through /list/ and /lists/', async () => {
    const members = await allMembers(sb, 1002, 7);
    const ids = members.map((m) => m.id);
    expect(ids.length).toBeGreaterThan(10);
    expect([...ids].sort((a, b) => a - b)).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
    expect(Object.keys(members[0]!).sort()).toEqual([
      'createdAt',
      'email',
      'firstName',
      'id',
      'lastName',
      'updatedAt',
    ]);
    const again = await allMembers(sb, 1002, 300, 'list');
    expect(again.map((m) => m.id)).toEqual(ids);

    const fields = await sb.apiJson<Body>('/rest/v1/lists/1002/leads.json?fields=email,company&batchSize=3');
    expect(Object.keys(fields.result![0]!).sort()).toEqual(['company', 'email', 'id']);
    const bad = await sb.apiJson<Body>('/rest/v1/lists/1002/leads.json?fields=notAField');
    expect(bad.errors![0]!.code).toBe('1006');

    const check = await sb.apiJson<Body>(`/rest/v1/lists/1002/leads/ismember.json?id=${ids[0]},${ids[1]}`);
    expect(check.result!.map((r) => r.status)).toEqual(['memberof', 'memberof']);
  });

  it('adds, checks and removes members, recording Add to List / Remove from List once each', async () => {
    const since = new Date(Date.now() - 1000).toISOString();
    const before = (await allMembers(sb, 1005, 300)).map((m) => m.id);
    const outsider = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10].find((id) => !before.includes(id))!;

    const isBefore = await sb.apiJson<Body>(
      `/rest/v1/lists/1005/leads/ismember.json?id=${outsider}&id=99999`,
    );
    expect(isBefore.result).toEqual([
      { id: outsider, status: 'notmemberof' },
      { id: 99999, status: 'skipped', reasons: [{ code: '1004', message: 'Lead not found' }] },
    ]);

    const add = await sb.apiJson<Body>('/rest/v1/lists/1005/leads.json', {
      method: 'POST',
      json: { input: [{ id: outsider }, { id: 99999 }, { id: outsider }] },
    });
    expect(add.result).toEqual([
      { id: outsider, status: 'added' },
      { id: 99999, status: 'skipped', reasons: [{ code: '1004', message: 'Lead not found' }] },
      { id: outsider, status: 'added' },
    ]);
    const readd = await sb.apiJson<Body>(`/rest/v1/lists/1005/leads.json?id=${outsider}`, { method: 'POST' });
    expect(readd.result).toEqual([{ id: outsider, status: 'added' }]);

    const isAfter = await sb.apiJson<Body>(`/rest/v1/lists/1005/leads/ismember.json?id=${outsider}`);
    expect(isAfter.result![0]!.status).toBe('memberof');
    const after = (await allMembers(sb, 1005, 300)).map((m) => m.id);
    expect(after).toEqual([...before, outsider].sort((a, b) => a - b));

    const remove = await sb.apiJson<Body>(`/rest/v1/lists/1005/leads.json?id=${outsider}&id=99999`, {
      method: 'DELETE',
    });
    expect(remove.result).toEqual([
      { id: outsider, status: 'removed' },
      { id: 99999, status: 'skipped', reasons: [{ code: '1004', message: 'Lead not found' }] },
    ]);
    const removeAgain = await sb.apiJson<Body>(`/rest/v1/lists/1005/leads.json?id=${outsider}`, {
      method: 'DELETE',
    });
    expect(removeAgain.result![0]).toMatchObject({ status: 'skipped', reasons: [{ code: '1015' }] });
    expect((await allMembers(sb, 1005, 300)).map((m) => m.id)).toEqual(before);

    // A generated member can be removed too, and comes back when re-added.
    if (before.length > 0) {
      const gen = before[0]!;
      const r = await sb.apiJson<Body>(`/rest/v1/lists/1005/leads.json?_method=DELETE`, {
        method: 'POST',
        json: { input: [{ id: gen }] },
      });
      expect(r.result![0]).toEqual({ id: gen, status: 'removed' });
      const back = await sb.apiJson<Body>(`/rest/v1/lists/1005/leads.json?id=${gen}`, { method: 'POST' });
      expect(back.result![0]).toEqual({ id: gen, status: 'added' });
    }

    const acts = await activitiesSince(sb, since, '24,25');
    const mine = acts.filter((a) => a.leadId === outsider);
    expect(mine.map((a) => a.activityTypeId)).toEqual([24, 25]);
    expect(mine[0]).toMatchObject({
      primaryAttributeValueId: 1005,
      primaryAttributeValue: 'Suppression - Competitors',
    });
    expect(mine[0]!.attributes).toEqual(
      expect.arrayContaining([{ name: 'Source', value: 'Web service API' }]),
    );
  });

  it('validates membership input', async () => {
    const none = await sb.apiJson<Body>('/rest/v1/lists/1001/leads.json', { method: 'POST' });
    expect(none.errors![0]!.code).toBe('701');
    const ids = Array.from({ length: 301 }, (_, i) => ({ id: i + 1 }));
    const tooMany = await sb.apiJson<Body>('/rest/v1/lists/1001/leads.json', {
      method: 'POST',
      json: { input: ids },
    });
    expect(tooMany.errors![0]!.code).toBe('1003');
  });

  it('checks permissions: reads need lead read, changes need lead write', async () => {
    const m = sb.munchkinId;
    await sb.control('POST', `/instances/${m}/users`, { email: 'ro@x.dev', role: 'Read-Only Lead' });
    const svc = await sb.control<{ clientId: string; clientSecret: string }>(
      'POST',
      `/instances/${m}/services`,
      {
        name: 'ro',
        user: 'ro@x.dev',
      },
    );
    const res = await fetch(
      `${sb.identity}/oauth/token?grant_type=client_credentials&client_id=${svc.body.clientId}&client_secret=${svc.body.clientSecret}`,
    );
    const auth = { authorization: `Bearer ${((await res.json()) as { access_token: string }).access_token}` };
    expect((await sb.apiJson<Body>('/rest/v1/lists.json', { headers: auth })).success).toBe(true);
    const add = await sb.apiJson<Body>('/rest/v1/lists/1001/leads.json?id=1', {
      method: 'POST',
      headers: auth,
    });
    expect(add.errors![0]!.code).toBe('603');
  });
});

describe('static list membership at scale', () => {
  it('is deterministic and cheap on a 1,000,000-lead instance', async () => {
    const opts = { seed: { leads: 1_000_000, seed: 8, asOf: AS_OF }, limits: unlimited() };
    const a = await startTestSandbox(opts);
    const b = await startTestSandbox(opts);
    try {
      const t0 = performance.now();
      const pa = await a.apiJson<Body>('/rest/v1/lists/1005/leads.json?fields=id');
      expect(performance.now() - t0).toBeLessThan(1000);
      const pb = await b.apiJson<Body>('/rest/v1/lists/1005/leads.json?fields=id');
      expect(pa.result!.length).toBe(300);
      expect(pa.result).toEqual(pb.result);
      const next = await a.apiJson<Body>(
        `/rest/v1/lists/1005/leads.json?fields=id&nextPageToken=${pa.nextPageToken}`,
      );
      expect(next.result![0]!.id).toBeGreaterThan(pa.result!.at(-1)!.id);
    } finally {
      await a.close();
      await b.close();
    }
  });
});

describe("a lead's list membership", () => {
  let sb: TestSandbox;
  beforeAll(async () => {
    sb = await startTestSandbox({ seed: { leads: 300, seed: 9, asOf: AS_OF }, limits: unlimited() });
  });
  afterAll(async () => sb.close());

  /** Lists of `leadId` through listMembership, `batchSize` a page. */
  async function membership(leadId: number, batchSize = 300): Promise<number[]> {
    const out: number[] = [];
    let token: string | undefined;
    for (;;) {
      const q = `batchSize=${batchSize}${token ? `&nextPageToken=${encodeURIComponent(token)}` : ''}`;
      const page = await sb.apiJson<Body>(`/rest/v1/leads/${leadId}/listMembership.json?${q}`);
      expect(page.success).toBe(true);
      out.push(...page.result!.map((l) => l.id));
      token = page.nextPageToken;
      if (!token) return out;
    }
  }

  it('answers the lists ismember says the lead is in, pages, and follows adds and removes', async () => {
    const lists = (await sb.apiJson<Body>('/rest/v1/lists.json')).result!.map((l) => l.id);
    // A member of each list, and a few other leads.
    const leads = new Set([1, 2, 150]);
    for (const listId of lists) {
      const first = await sb.apiJson<Body>(`/rest/v1/lists/${listId}/leads.json?batchSize=1`);
      if (first.result![0]) leads.add(first.result![0].id);
    }
    let seen = 0;
    for (const leadId of leads) {
      const expected: number[] = [];
      for (const listId of lists) {
        const r = await sb.apiJson<Body>(`/rest/v1/lists/${listId}/leads/ismember.json?id=${leadId}`);
        if (r.result![0]!.status === 'memberof') expected.push(listId);
      }
      expect(await membership(leadId)).toEqual(expected);
      expect(await membership(leadId, 1)).toEqual(expected);
      seen += expected.length;
    }
    expect(seen).toBeGreaterThan(0);
    const target = lists[0]!;
    const before = await membership(7);
    const add = await sb.apiJson<Body>(`/rest/v1/lists/${target}/leads.json`, {
      method: 'POST',
      json: { input: [{ id: 7 }] },
    });
    expect(add.success).toBe(true);
    expect(await membership(7)).toContain(target);
    const page = await sb.apiJson<Body>('/rest/v1/leads/7/listMembership.json');
    expect(page.result!.find((l) => l.id === target)).toMatchObject({
      name: expect.any(String),
      workspaceName: expect.any(String),
      createdAt: expect.stringMatching(/Z$/),
    });
    await sb.apiJson<Body>(`/rest/v1/lists/${target}/leads.json?_method=DELETE`, {
      method: 'POST',
      json: { input: [{ id: 7 }] },
    });
    expect(await membership(7)).toEqual(before.filter((id) => id !== target));
  });

  it('refuses an unknown lead (1004) and a bad id (1003)', async () => {
    expect(await sb.apiJson<Body>('/rest/v1/leads/99999/listMembership.json')).toMatchObject({
      success: false,
      errors: [{ code: '1004' }],
    });
    expect(await sb.apiJson<Body>('/rest/v1/leads/abc/listMembership.json')).toMatchObject({
      success: false,
      errors: [{ code: '1003' }],
    });
  });
});
