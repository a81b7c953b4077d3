import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { startTestSandbox, type MarketoBody, type TestSandbox } from '../testing.ts';
import { unlimited } from '../index.ts';
import type { NewActivity } from '../activities/log.ts';

type Row = Record<string, unknown>;
interface Body extends MarketoBody {
  result?: Row[];
}

const N = 40;

let sb: TestSandbox;
beforeEach(async () => {
  sb = await startTestSandbox({ seed: { leads: N, seed: 5 }, limits: unlimited() });
});
afterEach(() => sb.close());

function sync(json: unknown): Promise<Body> {
  return sb.apiJson<Body>('/rest/v1/leads.json', { method: 'POST', json });
}

async function lead(
  id: number,
  fields = 'id,email,firstName,lastName,updatedAt,createdAt',
): Promise<Row | undefined> {
  return (await sb.apiJson<Body>(`/rest/v1/lead/${id}.json?fields=${fields}`)).result![0];
}

async function byEmail(email: string): Promise<number[]> {
  const body = await sb.apiJson<Body>(
    `/rest/v1/leads.json?filterType=email&filterValues=${encodeURIComponent(email)}`,
  );
  return body.result!.map((l) => l.id as number);
}

async function advanceClock(seconds: number): Promise<void> {
  const res = await sb.control('POST', `/instances/${sb.munchkinId}/clock`, { advanceSeconds: seconds });
  expect(res.status).toBe(200);
}

function skipped(code: string, message?: string) {
  return {
    status: 'skipped',
    reasons: [message ? { code, message } : { code, message: expect.any(String) }],
  };
}

describe('sync leads', () => {
  it('creates with createOnly, then refuses the same email with 1005', async () => {
    const first = await sync({
      action: 'createOnly',
      input: [{ email: 'new.person@example.com', firstName: 'Ada' }],
    });
    expect(first).toMatchObject({ success: true, result: [{ id: N + 1, status: 'created' }] });
    expect(await lead(N + 1, 'email,firstName,leadPartitionId,unsubscribed')).toEqual({
      id: N + 1,
      email: 'new.person@example.com',
      firstName: 'Ada',
      leadPartitionId: 1,
      unsubscribed: false,
    });
    const again = await sync({ action: 'createOnly', input: [{ email: 'NEW.person@example.com' }] });
    expect(again.result).toEqual([skipped('1005', 'Lead already exists')]);
  });

  it('createOrUpdate updates a generated lead found by email (any case) and creates unknown ones', async () => {
    const existing = (await lead(7))!;
    const res = await sync({
      input: [
        { email: (existing.email as string).toUpperCase(), title: 'Chief Tester' },
        { email: 'brand.new@example.com', lastName: 'New' },
      ],
    });
    expect(res.result).toEqual([
      { id: 7, status: 'updated' },
      { id: N + 1, status: 'created' },
    ]);
    expect((await lead(7, 'title,email'))!).toEqual({ id: 7, title: 'Chief Tester', email: existing.email });
  });

  it('updateOnly misses with 1004 and can look up by id', async () => {
    const res = await sync({ action: 'updateOnly', input: [{ email: 'ghost@example.com', firstName: 'X' }] });
    expect(res.result).toEqual([skipped('1004', 'Lead not found')]);
    const byId = await sync({
      action: 'updateOnly',
      lookupField: 'id',
      input: [
        { id: 12, firstName: 'Renamed' },
        { id: 9999, firstName: 'Nobody' },
      ],
    });
    expect(byId.result).toEqual([{ id: 12, status: 'updated' }, skipped('1004')]);
    expect((await lead(12))!.firstName).toBe('Renamed');
  });

  it('looks up by another searchable field and refuses unsupported or unknown lookup fields', async () => {
    const res = await sync({
      lookupField: 'partnerEmail',
      input: [{ partnerEmail: 'rep@channel.example', city: 'Oslo' }],
    });
    expect(res.result).toEqual([{ id: N + 1, status: 'created' }]);
    const again = await sync({
      lookupField: 'partnerEmail',
      input: [{ partnerEmail: 'REP@channel.example', city: 'Bergen' }],
    });
    expect(again.result).toEqual([{ id: N + 1, status: 'updated' }]);

    const unsupported = await sync({ lookupField: 'firstName', input: [{ firstName: 'A' }] });
    expect(unsupported).toMatchObject({
      success: false,
      errors: [{ code: '1011', message: "Lookup field 'firstName' not supported" }],
    });
    const unknown = await sync({ lookupField: 'userId', input: [{ email: 'a@b.example' }] });
    expect(unknown.errors).toEqual([{ code: '1006', message: "Lookup field 'userId' not found" }]);
    const idWithCreate = await sync({ lookupField: 'id', input: [{ id: 3 }] });
    expect(idWithCreate.errors?.[0]?.code).toBe('1003');
  });

  it('skips bad records with reasons, in input order, and still processes the others', async () => {
    const res = await sync({
      input: [
        { email: 'ok.one@example.com' },
        { email: 'bad.field@example.com', shoeSize: 42 },
        { email: 'bad.int@example.com', leadScore: 'abc' },
        { email: 'bad.bool@example.com', unsubscribed: 'maybe' },
        { email: 'not-an-email' },
        { email: 'bad.date@example.com', renewalDate: 'next week' },
        'not an object',
        { email: 'ok.two@example.com', leadScore: '42', numberOfEmployees: 12, contractValue: '1500.50' },
      ],
    });
    expect(res.result).toEqual([
      { id: N + 1, status: 'created' },
      skipped('1006', "Field 'shoeSize' not found"),
      skipped('1001', "Invalid value 'abc'. Required of type 'integer'"),
      skipped('1001', "Invalid value 'maybe'. Required of type 'boolean'"),
      skipped('1001', "Invalid value 'not-an-email'. Required of type 'email'"),
      skipped('1001', "Invalid value 'next week'. Required of type 'date'"),
      skipped('1003'),
      { id: N + 2, status: 'created' },
    ]);
    expect(await lead(N + 2, 'leadScore,numberOfEmployees,contractValue')).toEqual({
      id: N + 2,
      leadScore: 42,
      numberOfEmployees: 12,
      contractValue: 1500.5,
    });
  });

  it('refuses id with createOnly and ignores read-only fields', async () => {
    const res = await sync({ action: 'createOnly', input: [{ id: 5, email: 'with.id@example.com' }] });
    expect(res.result).toEqual([skipped('1003')]);
    const before = (await lead(5, 'createdAt,leadPartitionId'))!;
    const upd = await sync({
      action: 'updateOnly',
      lookupField: 'id',
      input: [{ id: 5, createdAt: '2001-01-01T00:00:00Z', leadPartitionId: 9, firstName: 'Kept' }],
    });
    expect(upd.result).toEqual([{ id: 5, status: 'updated' }]);
    expect(await lead(5, 'createdAt,leadPartitionId,firstName')).toEqual({ ...before, firstName: 'Kept' });
  });

  it('creates duplicates with createDuplicate, and then refuses an ambiguous update with 1007', async () => {
    const dup = await sync({
      action: 'createDuplicate',
      input: [{ email: 'twin@example.com' }, { email: 'twin@example.com' }],
    });
    expect(dup.result).toEqual([
      { id: N + 1, status: 'created' },
      { id: N + 2, status: 'created' },
    ]);
    expect(await byEmail('twin@example.com')).toEqual([N + 1, N + 2]);
    const upd = await sync({ input: [{ email: 'twin@example.com', firstName: 'Which' }] });
    expect(upd.result).toEqual([skipped('1007', 'Multiple leads match the lookup criteria')]);
  });

  it('moves updatedAt only when a value really changes', async () => {
    const before = (await lead(8))!;
    await advanceClock(120);
    const same = await sync({
      input: [{ email: before.email, firstName: before.firstName, lastName: before.lastName }],
    });
    expect(same.result).toEqual([{ id: 8, status: 'updated' }]);
    expect((await lead(8))!.updatedAt).toBe(before.updatedAt);

    const changed = await sync({ input: [{ email: before.email, firstName: 'Different' }] });
    expect(changed.result).toEqual([{ id: 8, status: 'updated' }]);
    const after = (await lead(8))!;
    expect(after.firstName).toBe('Different');
    expect(Date.parse(after.updatedAt as string)).toBeGreaterThan(Date.parse(before.updatedAt as string));
    expect(after.createdAt).toBe(before.createdAt);

    await advanceClock(120);
    await sync({ input: [{ email: before.email, firstName: 'Different' }] });
    expect((await lead(8))!.updatedAt).toBe(after.updatedAt);
  });

  it('follows email changes in lookups', async () => {
    const old = (await lead(6))!.email as string;
    const res = await sync({
      action: 'updateOnly',
      lookupField: 'id',
      input: [{ id: 6, email: 'moved@example.com' }],
    });
    expect(res.result).toEqual([{ id: 6, status: 'updated' }]);
    expect(await byEmail(old)).toEqual([]);
    expect(await byEmail('MOVED@example.com')).toEqual([6]);
    // The old address is free again: createOrUpdate makes a new lead for it.
    expect((await sync({ input: [{ email: old }] })).result).toEqual([{ id: N + 1, status: 'created' }]);
    // Clearing the email removes it from lookups.
    await sync({ action: 'updateOnly', lookupField: 'id', input: [{ id: 6, email: null }] });
    expect(await byEmail('moved@example.com')).toEqual([]);
    expect((await lead(6))!.email).toBeNull();
  });

  it('validates the request as a whole', async () => {
    const code = async (json: unknown) => (await sync(json)).errors?.[0]?.code;
    expect(await code({})).toBe('701');
    expect(await code({ input: [] })).toBe('1003');
    expect(await code({ input: 'x' })).toBe('1003');
    expect(await code({ action: 'upsert', input: [{ email: 'a@b.example' }] })).toBe('1003');
    const tooMany = Array.from({ length: 301 }, (_, i) => ({ email: `n${i}@example.com` }));
    expect(await code({ input: tooMany })).toBe('1003');
    // Unknown top-level keys are ignored.
    expect(
      (await sync({ input: [{ email: 'fine@example.com' }], asyncProcessing: false, extra: 1 })).success,
    ).toBe(true);
    const form = await sb.apiJson<Body>('/rest/v1/leads.json', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'input=x',
    });
    expect(form.errors?.[0]?.code).toBe('612');
  });
});

describe('delete leads', () => {
  it('deletes by JSON body and by ?id=, skipping unknown ids with 1004', async () => {
    const email = (await lead(3))!.email as string;
    const res = await sb.apiJson<Body>('/rest/v1/leads/delete.json', {
      method: 'POST',
      json: { input: [{ id: 3 }, { id: 99999 }] },
    });
    expect(res.result).toEqual([
      { id: 3, status: 'deleted' },
      { id: 99999, status: 'skipped', reasons: [{ code: '1004', message: 'Lead not found' }] },
    ]);
    expect(await lead(3)).toBeUndefined();
    expect(await byEmail(email)).toEqual([]);

    const byQuery = await sb.apiJson<Body>('/rest/v1/leads/delete.json?id=4,5', { method: 'POST' });
    expect(byQuery.result).toEqual([
      { id: 4, status: 'deleted' },
      { id: 5, status: 'deleted' },
    ]);
    const again = await sb.apiJson<Body>('/rest/v1/leads/delete.json?id=4', { method: 'POST' });
    expect(again.result).toEqual([
      { id: 4, status: 'skipped', reasons: [{ code: '1004', message: 'Lead not found' }] },
    ]);
    const remaining = await sb.apiJson<Body>(`/rest/v1/leads.json?filterType=id&filterValues=1,2,3,4,5,6`);
    expect(remaining.result!.map((l) => l.id)).toEqual([1, 2, 6]);
    // A deleted lead is gone for sync too: its email now creates a new lead.
    expect((await sync({ input: [{ email }] })).result).toEqual([{ id: N + 1, status: 'created' }]);
    const blank = await sb.apiJson<Body>('/rest/v1/leads/delete.json', {
      method: 'POST',
      json: { input: [] },
    });
    expect(blank.success).toBe(false);
  });

  it('deletes leads created through the API', async () => {
    await sync({ input: [{ email: 'short.lived@example.com' }] });
    const res = await sb.apiJson<Body>('/rest/v1/leads/delete.json', {
      method: 'POST',
      json: { input: [{ id: N + 1 }] },
    });
    expect(res.result).toEqual([{ id: N + 1, status: 'deleted' }]);
    expect(await lead(N + 1)).toBeUndefined();
    expect(await byEmail('short.lived@example.com')).toEqual([]);
  });
});

describe('activities recorded by writes', () => {
  it('records New Lead, one Change Data Value per changed field, and Delete Lead', async () => {
    const inst = sb.sandbox.instances.get(sb.munchkinId)!;
    const recorded: NewActivity[] = [];
    const original = inst.activities.record.bind(inst.activities);
    vi.spyOn(inst.activities, 'record').mockImplementation((a) => {
      recorded.push(a);
      return original(a);
    });
    const target = (await lead(9, 'email,firstName,lastName,title'))!;

    await sync({ input: [{ email: 'fresh@example.com', firstName: 'Fresh' }] });
    expect(recorded).toHaveLength(1);
    expect(recorded[0]).toMatchObject({ leadId: N + 1, activityTypeId: 12, fields: [] });
    expect(recorded[0]!.attributes).toContainEqual({ name: 'Source Type', value: 'Web service API' });

    recorded.length = 0;
    await sync({
      input: [{ email: target.email, firstName: 'Changed', lastName: target.lastName, title: 'CEO' }],
    });
    const changes = recorded.filter((a) => a.activityTypeId === 13);
    expect(recorded).toHaveLength(target.title === 'CEO' ? 1 : 2);
    expect(changes[0]).toMatchObject({
      leadId: 9,
      primaryAttributeValue: 'First Name',
      primaryAttributeValueId: 48,
      fields: [{ id: 48, name: 'firstName', newValue: 'Changed', oldValue: target.firstName }],
    });
    expect(changes[0]!.attributes!.map((a) => a.name)).toEqual([
      'New Value',
      'Old Value',
      'Reason',
      'Source',
    ]);
    expect(changes[0]!.attributes![0]).toEqual({ name: 'New Value', value: 'Changed' });

    recorded.length = 0;
    await sync({ input: [{ email: target.email, firstName: 'Changed' }] });
    expect(recorded).toEqual([]);

    await sb.apiJson<Body>('/rest/v1/leads/delete.json?id=9', { method: 'POST' });
    expect(recorded).toEqual([
      expect.objectContaining({
        leadId: 9,
        activityTypeId: 37,
        primaryAttributeValue: `Changed ${target.lastName}`,
      }),
    ]);
  });
});
