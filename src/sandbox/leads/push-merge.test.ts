import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startTestSandbox, type MarketoBody, type TestSandbox } from '../testing.ts';
import { unlimited } from '../index.ts';

/** Push Lead, Submit Form, Merge Leads, Associate Web Activity and the partitions list (spec 5.2, 5.3, 3.2). */

type Row = Record<string, unknown>;
interface Body extends MarketoBody {
  result?: Row[];
}

const N = 30;
let sb: TestSandbox;
let since: string;
beforeEach(async () => {
  sb = await startTestSandbox({ seed: { leads: N, seed: 11 }, limits: unlimited() });
  since = (
    await sb.apiJson<Body>(
      `/rest/v1/activities/pagingtoken.json?sinceDatetime=${encodeURIComponent(new Date(Date.now() - 60_000).toISOString())}`,
    )
  ).nextPageToken!;
});
afterEach(() => sb.close());

const post = (path: string, json?: unknown) =>
  sb.apiJson<Body>(path, json === undefined ? { method: 'POST' } : { method: 'POST', json });
const lead = async (id: number, fields = 'id,email,firstName,lastName,cookies') =>
  (await sb.apiJson<Body>(`/rest/v1/lead/${id}.json?fields=${fields}`)).result![0];
/** Activities of `types` recorded since the test began (API writes land after the seeded history). */
async function activities(types: string): Promise<Row[]> {
  const out: Row[] = [];
  let token = since;
  for (;;) {
    const body = await sb.apiJson<Body>(
      `/rest/v1/activities.json?activityTypeIds=${types}&nextPageToken=${encodeURIComponent(token)}`,
    );
    out.push(...(body.result ?? []));
    token = body.nextPageToken!;
    if (!body.moreResult) return out;
  }
}
async function deletedLeads(): Promise<number[]> {
  const body = await sb.apiJson<Body>(
    `/rest/v1/activities/deletedleads.json?nextPageToken=${encodeURIComponent(since)}`,
  );
  return (body.result ?? []).map((r) => r.leadId as number);
}
async function programName(): Promise<{ id: number; name: string }> {
  const body = await sb.apiJson<Body>('/rest/asset/v1/programs.json?maxReturn=1');
  const p = body.result![0]!;
  return { id: p.id as number, name: p.name as string };
}

describe('partitions', () => {
  it('lists the one initial partition every lead belongs to', async () => {
    const body = await sb.apiJson<Body>('/rest/v1/leads/partitions.json');
    expect(body).toMatchObject({
      success: true,
      result: [{ id: 1, name: 'Default', description: expect.any(String) }],
    });
    expect((await lead(1, 'leadPartitionId'))!.leadPartitionId).toBe(1);
  });
});

describe('push leads', () => {
  it('creates or updates by email, with a Push Lead to Marketo activity naming the program', async () => {
    const program = await programName();
    const existing = (await lead(3))!.email as string;
    const body = await post('/rest/v1/leads/push.json', {
      programName: program.name,
      source: 'Partner portal',
      reason: 'Signed up',
      input: [
        { email: existing, firstName: 'Pushed' },
        { email: 'pushed.new@example.com', firstName: 'New' },
        { email: 'not-an-email', firstName: 'Bad' },
      ],
    });
    expect(body).toMatchObject({
      success: true,
      result: [
        { id: 3, status: 'updated' },
        { id: N + 1, status: 'created' },
        { status: 'skipped', reasons: [{ code: '1001' }] },
      ],
    });
    expect((await lead(3))!.firstName).toBe('Pushed');
    expect((await lead(N + 1))!.email).toBe('pushed.new@example.com');
    const pushes = await activities('145');
    expect(pushes.map((a) => a.leadId).sort()).toEqual([3, N + 1]);
    expect(pushes[0]).toMatchObject({
      primaryAttributeValueId: program.id,
      primaryAttributeValue: program.name,
      attributes: expect.arrayContaining([
        { name: 'Source', value: 'Partner portal' },
        { name: 'Reason', value: 'Signed up' },
      ]),
    });
    // The writes themselves are recorded as any API write.
    expect((await activities('12')).map((a) => a.leadId)).toEqual([N + 1]);
  });

  it('needs an existing program, and refuses another action', async () => {
    const input = [{ email: 'x@example.com' }];
    expect(await post('/rest/v1/leads/push.json', { input })).toMatchObject({
      success: false,
      errors: [{ code: '1002' }],
    });
    expect(await post('/rest/v1/leads/push.json', { programName: 'No Such Program', input })).toMatchObject({
      success: false,
      errors: [{ code: '1013' }],
    });
    const { name } = await programName();
    expect(
      await post('/rest/v1/leads/push.json', { programName: name, action: 'createOnly', input }),
    ).toMatchObject({ success: false, errors: [{ code: '1003' }] });
    expect(await post('/rest/v1/leads/push.json', { programName: name })).toMatchObject({
      success: false,
      errors: [{ code: '701' }],
    });
    expect(await activities('145')).toEqual([]);
  });
});

describe('merge leads', () => {
  it('keeps the winner, fills its empty fields from the losers, deletes the losers', async () => {
    // The winner loses its last name, so the merge has a field to fill.
    await post('/rest/v1/leads.json', {
      action: 'updateOnly',
      lookupField: 'id',
      input: [{ id: 5, lastName: null }],
    });
    const loser = (await lead(6))!;
    const body = await post('/rest/v1/leads/5/merge.json?leadIds=6,7&mergeInCRM=false');
    expect(body).toMatchObject({ success: true });
    expect(body.result).toBeUndefined();
    const winner = (await lead(5))!;
    expect(winner.lastName).toBe(loser.lastName);
    expect(await lead(6)).toBeUndefined();
    expect(await lead(7)).toBeUndefined();
    expect((await deletedLeads()).sort()).toEqual([6, 7]);
    const merges = await activities('32');
    expect(merges).toHaveLength(1);
    expect(merges[0]).toMatchObject({
      leadId: 5,
      attributes: expect.arrayContaining([
        { name: 'Merge IDs', value: '6,7' },
        { name: 'Master Updated', value: true },
      ]),
    });
    // The losers' unique email can be looked up again: it no longer finds them.
    const byEmail = await sb.apiJson<Body>(
      `/rest/v1/leads.json?filterType=email&filterValues=${encodeURIComponent(loser.email as string)}`,
    );
    expect(byEmail.result).toEqual([]);
  });

  it('refuses unknown leads, a lead merged into itself and a missing leadId; skips more than 25', async () => {
    const fail = async (path: string, code: string) =>
      expect(await post(path)).toMatchObject({ success: false, errors: [{ code }] });
    await fail('/rest/v1/leads/999/merge.json?leadId=6', '1004');
    await fail('/rest/v1/leads/5/merge.json?leadId=999', '1004');
    await fail('/rest/v1/leads/5/merge.json?leadId=5', '1003');
    await fail('/rest/v1/leads/5/merge.json', '1002');
    await fail('/rest/v1/leads/5/merge.json?leadId=abc', '1003');
    const many = Array.from({ length: 27 }, (_, i) => i + 1).filter((i) => i !== 5);
    expect(many.length).toBeGreaterThan(25);
    expect(await post(`/rest/v1/leads/5/merge.json?leadIds=${many.join(',')}`)).toMatchObject({
      success: true,
      result: [{ id: 5, status: 'skipped', reasons: [{ code: '1080' }] }],
    });
    // Nothing changed.
    expect(await lead(6)).toBeDefined();
    expect(await deletedLeads()).toEqual([]);
  });
});

describe('associate web activity', () => {
  const cookie = 'id:123-ABC-456&token:_mch-example.com-1700000000000-12345';

  it('adds the Munchkin cookie to the lead once', async () => {
    const before = (await lead(4))!.cookies as string | null;
    expect(await post(`/rest/v1/leads/4/associate.json?cookie=${encodeURIComponent(cookie)}`)).toMatchObject({
      success: true,
    });
    await post(`/rest/v1/leads/4/associate.json?cookie=${encodeURIComponent(cookie)}`);
    const after = ((await lead(4))!.cookies as string).split(',');
    expect(after.filter((c) => c === cookie)).toHaveLength(1);
    if (before) expect(after).toContain(before.split(',')[0]);
    // Sync Leads cannot set it.
    const sync = await post('/rest/v1/leads.json', {
      action: 'updateOnly',
      lookupField: 'id',
      input: [{ id: 4, cookies: 'id:999-ZZZ-999&token:_mch-x.com-1-1' }],
    });
    expect(sync.success).toBe(true);
    expect((await lead(4))!.cookies).toBe(after.join(','));
  });

  it('refuses a value that is not a Munchkin cookie, an unknown lead and a missing cookie', async () => {
    expect(await post('/rest/v1/leads/4/associate.json?cookie=hello')).toMatchObject({
      success: false,
      errors: [{ code: '1012' }],
    });
    expect(
      await post(`/rest/v1/leads/999/associate.json?cookie=${encodeURIComponent(cookie)}`),
    ).toMatchObject({
      success: false,
      errors: [{ code: '1004' }],
    });
    expect(await post('/rest/v1/leads/4/associate.json')).toMatchObject({
      success: false,
      errors: [{ code: '1002' }],
    });
  });
});

describe('submit form', () => {
  const cookie = 'id:123-ABC-456&token:_mch-example.com-1700000000000-777';

  it('creates or updates the lead by email, records Fill Out Form with the page, associates the cookie', async () => {
    const existing = (await lead(8))!.email as string;
    const body = await post('/rest/v1/leads/submitForm.json', {
      formId: 1029,
      input: [
        {
          leadFormFields: { email: existing, firstName: 'Formed' },
          visitorData: {
            pageURL: 'https://www.example.com/contact',
            queryString: 'utm_source=ads',
            leadClientIpAddress: '203.0.113.9',
            userAgentString: 'Mozilla/5.0',
          },
          cookie,
        },
      ],
    });
    expect(body).toMatchObject({ success: true, result: [{ id: 8, status: 'updated' }] });
    expect(await lead(8)).toMatchObject({ firstName: 'Formed', cookies: expect.stringContaining(cookie) });
    const created = await post('/rest/v1/leads/submitForm.json', {
      formId: 1029,
      input: [{ leadFormFields: { email: 'form.new@example.com', lastName: 'Visitor' } }],
    });
    expect(created).toMatchObject({ success: true, result: [{ id: N + 1, status: 'created' }] });
    const fills = await activities('2');
    expect(fills.map((a) => a.leadId)).toEqual([8, N + 1]);
    expect(fills[0]).toMatchObject({
      primaryAttributeValueId: 1029,
      attributes: expect.arrayContaining([
        { name: 'Referrer URL', value: 'https://www.example.com/contact' },
        { name: 'Client IP Address', value: '203.0.113.9' },
        { name: 'Form Fields', value: JSON.stringify({ email: existing, firstName: 'Formed' }) },
      ]),
    });
  });

  it('refuses a missing or bad formId, several inputs, a bad cookie, an unknown program; skips without email', async () => {
    const one = [{ leadFormFields: { email: 'a@example.com' } }];
    const fail = async (json: unknown, code: string) =>
      expect(await post('/rest/v1/leads/submitForm.json', json)).toMatchObject({
        success: false,
        errors: [{ code }],
      });
    await fail({ input: one }, '1002');
    await fail({ formId: 'x', input: one }, '1003');
    await fail({ formId: 5, input: [...one, ...one] }, '1003');
    await fail({ formId: 5, input: [{ ...one[0], cookie: 'nope' }] }, '1012');
    await fail({ formId: 5, programId: 987654, input: one }, '1013');
    await fail({ formId: 5 }, '701');
    expect(
      await post('/rest/v1/leads/submitForm.json', {
        formId: 5,
        input: [{ leadFormFields: { firstName: 'X' } }],
      }),
    ).toMatchObject({ success: true, result: [{ status: 'skipped', reasons: [{ code: '1003' }] }] });
    expect(await activities('2')).toEqual([]);
  });
});
