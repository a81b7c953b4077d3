/**
 * Custom activity types and Add Custom Activities (spec 5.5 bullet, 3.2 codes 1027/1028), over HTTP:
 * the draft → approve → add → read → delete lifecycle, the documented limits and the permissions.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startTestSandbox, tokenOfNewUser, type MarketoBody, type TestSandbox } from '../testing.ts';
import { unlimited } from '../index.ts';
import { DAY_MS, download, iso, parseDelimited, runJob } from '../bulk/test-helpers.ts';

type Row = Record<string, unknown>;
interface Body extends MarketoBody {
  result?: Row[];
}

/** The custom type every seeded instance has (activities/types.ts). */
const SEEDED_CUSTOM = { id: 100001, apiName: 'watchWebinarRecording_c' };

let sb: TestSandbox | undefined;
afterEach(async () => {
  await sb?.close();
  sb = undefined;
});

async function start(): Promise<TestSandbox> {
  sb = await startTestSandbox({ seed: { leads: 200, seed: 9 }, limits: unlimited() });
  return sb;
}

function errorOf(body: MarketoBody): { code: string; message: string } | undefined {
  return body.success ? undefined : body.errors?.[0];
}

function typeBody(apiName: string, extra: Row = {}): Row {
  return {
    apiName,
    name: `Attend ${apiName}`,
    description: 'Attended an event',
    triggerName: `Attends ${apiName}`,
    filterName: `Attended ${apiName}`,
    primaryAttribute: { apiName: 'eventName', name: 'Event Name', description: 'Name of the event' },
    ...extra,
  };
}

function post(s: TestSandbox, path: string, json?: unknown, headers?: Record<string, string>): Promise<Body> {
  return s.apiJson<Body>(path, { method: 'POST', json: json ?? {}, headers });
}

const T = '/rest/v1/activities/external/type';

async function activitiesOfType(s: TestSandbox, typeId: number, since: string): Promise<Row[]> {
  const t = await s.apiJson<Body>(
    `/rest/v1/activities/pagingtoken.json?sinceDatetime=${encodeURIComponent(since)}`,
  );
  let token = t.nextPageToken!;
  const out: Row[] = [];
  for (;;) {
    const page = await s.apiJson<Body>(
      `/rest/v1/activities.json?activityTypeIds=${typeId}&nextPageToken=${encodeURIComponent(token)}`,
    );
    expect(page.success).toBe(true);
    out.push(...(page.result ?? []));
    token = page.nextPageToken!;
    if (!page.moreResult) return out;
  }
}

async function tokenFor(
  s: TestSandbox,
  role: string,
  permissions: string[],
): Promise<Record<string, string>> {
  return { authorization: `Bearer ${await tokenOfNewUser(s, permissions, role)}` };
}

describe('custom activity type lifecycle', () => {
  it('creates a draft, approves it, adds activities, reads them back (REST and bulk), deletes it', async () => {
    const s = await start();
    const seededList = await s.apiJson<Body>('/rest/v1/activities/external/types.json');
    expect(seededList.result!.map((t) => t.apiName)).toEqual([SEEDED_CUSTOM.apiName]);
    expect(seededList.result![0]).toMatchObject({ id: SEEDED_CUSTOM.id, status: 'approved' });

    // Create: a draft with its primary attribute (string by default).
    const created = await post(s, `${T}.json`, typeBody('attendConference'));
    expect(created.success).toBe(true);
    const draft = created.result![0]!;
    expect(draft).toMatchObject({
      apiName: 'attendConference',
      name: 'Attend attendConference',
      status: 'draft',
      primaryAttribute: { apiName: 'eventName', name: 'Event Name', dataType: 'string' },
      attributes: [],
    });
    const typeId = draft.id as number;
    expect(typeId).toBeGreaterThan(SEEDED_CUSTOM.id);

    const attrs = await post(s, `${T}/attendConference/attributes/create.json`, {
      attributes: [
        { apiName: 'seats', name: 'Seats', dataType: 'integer' },
        { apiName: 'track', name: 'Track', dataType: 'string', description: 'Conference track' },
      ],
    });
    expect(attrs.result![0]!.attributes).toEqual([
      { apiName: 'seats', name: 'Seats', dataType: 'integer' },
      { apiName: 'track', name: 'Track', description: 'Conference track', dataType: 'string' },
    ]);

    // Listed as a draft among custom types, but not an activity type yet.
    const listed = await s.apiJson<Body>('/rest/v1/activities/external/types.json');
    expect(listed.result!.find((t) => t.apiName === 'attendConference')).toMatchObject({ status: 'draft' });
    const typesBefore = await s.apiJson<Body>('/rest/v1/activities/types.json');
    expect(typesBefore.result!.map((t) => t.id)).not.toContain(typeId);

    const now = Date.now();
    const when = iso(now - 2 * 3_600_000);
    const record = (leadId: number, extra: Row = {}) => ({
      leadId,
      activityDate: when,
      apiName: 'attendConference',
      primaryAttributeValue: 'Summit 2026',
      attributes: [
        { apiName: 'seats', value: 2 },
        { apiName: 'track', value: 'Data' },
      ],
      ...extra,
    });
    // A draft type takes no activities.
    const early = await post(s, '/rest/v1/activities/external.json', { input: [record(1)] });
    expect(early.result![0]).toMatchObject({ status: 'skipped' });
    expect((early.result![0]!.reasons as Row[])[0]!.code).toBe('1003');

    const approved = await post(s, `${T}/attendConference/approve.json`);
    expect(approved.result![0]).toMatchObject({ id: typeId, status: 'approved' });
    expect(errorOf(await post(s, `${T}/attendConference/approve.json`))?.code).toBe('709');

    const types = await s.apiJson<Body>('/rest/v1/activities/types.json');
    const def = types.result!.find((t) => t.id === typeId);
    expect(def).toEqual({
      id: typeId,
      name: 'Attend attendConference',
      description: 'Attended an event',
      apiName: 'attendConference',
      primaryAttribute: { name: 'Event Name', dataType: 'string' },
      attributes: [
        { name: 'Seats', dataType: 'integer' },
        { name: 'Track', dataType: 'string' },
      ],
    });
    const describe = await s.apiJson<Body>(`${T}/attendConference/describe.json`);
    expect(describe.result![0]).toMatchObject({ id: typeId, status: 'approved' });

    // Add: by apiName or by activityTypeId (Marketo's docs), per-record results in input order.
    const added = await post(s, '/rest/v1/activities/external.json', {
      input: [
        record(5),
        record(6, { apiName: undefined, activityTypeId: typeId }),
        record(999999),
        record(7, { attributes: [{ apiName: 'nope', value: 1 }] }),
        record(8, { activityDate: 'yesterday' }),
        record(9, { primaryAttributeValue: undefined }),
        record(10, { attributes: [{ name: 'Seats', value: 4 }] }),
      ],
    });
    expect(added.success).toBe(true);
    const r = added.result!;
    expect(r.map((x) => x.status)).toEqual([
      'added',
      'added',
      'skipped',
      'skipped',
      'skipped',
      'skipped',
      'added',
    ]);
    expect(r[0]).toEqual({ id: r[0]!.id, marketoGUID: String(r[0]!.id), status: 'added' });
    const codes = r.filter((x) => x.status === 'skipped').map((x) => (x.reasons as Row[])[0]!.code);
    expect(codes).toEqual(['1004', '1006', '1001', '1002']);

    // Read back through Get Lead Activities with the type's id.
    const items = await activitiesOfType(s, typeId, iso(now - DAY_MS));
    expect(items.map((i) => i.leadId)).toEqual([5, 6, 10]);
    expect(items[0]).toMatchObject({
      id: r[0]!.id,
      activityTypeId: typeId,
      activityDate: when,
      primaryAttributeValue: 'Summit 2026',
      attributes: [
        { name: 'Seats', value: 2, apiName: 'seats' },
        { name: 'Track', value: 'Data', apiName: 'track' },
      ],
    });

    // ...and through a bulk activity export filtered on the type.
    const { id: exportId } = await runJob(s, 'activities', {
      filter: {
        createdAt: { startAt: iso(now - DAY_MS), endAt: iso(now + 60_000) },
        activityTypeIds: [typeId],
      },
    });
    const rows = parseDelimited((await download(s, 'activities', exportId)).toString('utf8'));
    const header = rows[0]!;
    const body = rows.slice(1).filter((row) => row.length > 1);
    expect(body.map((row) => row[header.indexOf('leadId')])).toEqual(['5', '6', '10']);
    expect(body.every((row) => row[header.indexOf('activityTypeId')] === String(typeId))).toBe(true);
    expect(JSON.parse(body[0]![header.indexOf('attributes')]!)).toEqual({ Seats: 2, Track: 'Data' });

    // Delete: gone from both type lists; its activities stay in the log.
    const deleted = await post(s, `${T}/attendConference/delete.json`);
    expect(deleted.result).toEqual([{ id: typeId, apiName: 'attendConference' }]);
    const after = await s.apiJson<Body>('/rest/v1/activities/external/types.json');
    expect(after.result!.map((t) => t.apiName)).toEqual([SEEDED_CUSTOM.apiName]);
    const typesAfter = await s.apiJson<Body>('/rest/v1/activities/types.json');
    expect(typesAfter.result!.map((t) => t.id)).not.toContain(typeId);
    expect(errorOf(await s.apiJson<Body>(`${T}/attendConference/describe.json`))?.code).toBe('1013');
    expect(errorOf(await post(s, `${T}/attendConference/delete.json`))?.code).toBe('1013');
    const late = await post(s, '/rest/v1/activities/external.json', { input: [record(5)] });
    expect(late.result![0]!.status).toBe('skipped');
  });

  it('keeps the approved version live while a draft is pending; describe shows either', async () => {
    const s = await start();
    await post(s, `${T}.json`, typeBody('visitBooth'));
    await post(s, `${T}/visitBooth/approve.json`);
    const edit = await post(s, `${T}/visitBooth/attributes/create.json`, {
      attributes: [{ apiName: 'booth', name: 'Booth', dataType: 'string' }],
    });
    expect(edit.result![0]).toMatchObject({ status: 'approved with draft' });
    const live = await s.apiJson<Body>(`${T}/visitBooth/describe.json`);
    expect(live.result![0]!.attributes).toEqual([]);
    const draft = await s.apiJson<Body>(`${T}/visitBooth/describe.json?draft=true`);
    expect((draft.result![0]!.attributes as Row[]).map((a) => a.apiName)).toEqual(['booth']);
    const listed = await s.apiJson<Body>('/rest/v1/activities/external/types.json');
    expect(listed.result!.find((t) => t.apiName === 'visitBooth')!.status).toBe('approved with draft');
  });
});

describe('custom activity limits and validation', () => {
  it('allows 10 custom types (the seeded one included), then answers 1027', async () => {
    const s = await start();
    for (let i = 0; i < 9; i++) expect((await post(s, `${T}.json`, typeBody(`type${i}`))).success).toBe(true);
    expect(errorOf(await post(s, `${T}.json`, typeBody('oneTooMany')))).toEqual({
      code: '1027',
      message: 'Max Activity Type Limit Reached',
    });
    // Deleting one frees a slot.
    expect((await post(s, `${T}/type0/delete.json`)).success).toBe(true);
    expect((await post(s, `${T}.json`, typeBody('oneTooMany'))).success).toBe(true);
  });

  it('allows 20 attributes per type, then answers 1028', async () => {
    const s = await start();
    await post(s, `${T}.json`, typeBody('manyFields'));
    const attr = (i: number) => ({ apiName: `field${i}`, name: `Field ${i}`, dataType: 'string' });
    const twenty = await post(s, `${T}/manyFields/attributes/create.json`, {
      attributes: Array.from({ length: 20 }, (_, i) => attr(i)),
    });
    expect((twenty.result![0]!.attributes as Row[]).length).toBe(20);
    expect(
      errorOf(await post(s, `${T}/manyFields/attributes/create.json`, { attributes: [attr(20)] })),
    ).toEqual({
      code: '1028',
      message: 'Max field limit reached',
    });
    // The same limit holds for attributes given at creation.
    const tooMany = typeBody('createdFull', { attributes: Array.from({ length: 21 }, (_, i) => attr(i)) });
    expect(errorOf(await post(s, `${T}.json`, tooMany))?.code).toBe('1028');
  });

  it('validates create and add bodies', async () => {
    const s = await start();
    expect(errorOf(await post(s, `${T}.json`, { ...typeBody('x1'), triggerName: undefined }))?.code).toBe(
      '701',
    );
    expect(
      errorOf(await post(s, `${T}.json`, { ...typeBody('x2'), primaryAttribute: undefined }))?.code,
    ).toBe('701');
    expect(errorOf(await post(s, `${T}.json`, typeBody('bad name!')))?.code).toBe('1003');
    expect((await post(s, `${T}.json`, typeBody('dupe'))).success).toBe(true);
    expect(errorOf(await post(s, `${T}.json`, typeBody('dupe')))?.code).toBe('1017');
    expect(errorOf(await post(s, `${T}.json`, typeBody('DUPE')))?.code).toBe('1017');
    const badType = await post(s, `${T}/dupe/attributes/create.json`, {
      attributes: [{ apiName: 'a', name: 'A', dataType: 'blob' }],
    });
    expect(errorOf(badType)?.code).toBe('1003');
    expect(errorOf(await post(s, `${T}/nothing/approve.json`))?.code).toBe('1013');

    const rec = {
      leadId: 1,
      activityDate: iso(Date.now() - 60_000),
      activityTypeId: SEEDED_CUSTOM.id,
      primaryAttributeValue: 'Webinar',
    };
    const ok = await post(s, '/rest/v1/activities/external.json', { input: [rec] });
    expect(ok.result![0]!.status).toBe('added');
    const tooMany = await post(s, '/rest/v1/activities/external.json', {
      input: Array.from({ length: 301 }, () => rec),
    });
    expect(errorOf(tooMany)?.code).toBe('1003');
    const max = await post(s, '/rest/v1/activities/external.json', {
      input: Array.from({ length: 300 }, () => rec),
    });
    expect(max.result!.length).toBe(300);
    expect(max.result!.every((x) => x.status === 'added')).toBe(true);
    expect(errorOf(await post(s, '/rest/v1/activities/external.json', {}))?.code).toBe('701');
    const huge = await post(s, '/rest/v1/activities/external.json', {
      input: [{ ...rec, attributes: [{ name: 'Platform', value: 'x'.repeat(70_000) }] }],
    });
    expect((huge.result![0]!.reasons as Row[])[0]!.code).toBe('1049');
  });
});

describe('custom activity permissions', () => {
  it('needs activity metadata permissions for types and read-write activity for adding', async () => {
    const s = await start();
    const readOnly = await tokenFor(s, 'lead-activity', ['readOnlyLead', 'readOnlyActivity']);
    const writeActivity = await tokenFor(s, 'write-activity', ['readWriteActivity']);
    const metaRead = await tokenFor(s, 'meta-read', ['readOnlyActivityMetadata']);
    const metaWrite = await tokenFor(s, 'meta-write', ['readWriteActivityMetadata']);

    const list = '/rest/v1/activities/external/types.json';
    expect(errorOf(await s.apiJson<Body>(list, { headers: readOnly }))?.code).toBe('603');
    expect(errorOf(await s.apiJson<Body>(list, { headers: writeActivity }))?.code).toBe('603');
    expect((await s.apiJson<Body>(list, { headers: metaRead })).success).toBe(true);
    expect(
      (await s.apiJson<Body>(`${T}/${SEEDED_CUSTOM.apiName}/describe.json`, { headers: metaRead })).success,
    ).toBe(true);
    for (const headers of [readOnly, writeActivity, metaRead]) {
      expect(errorOf(await post(s, `${T}.json`, typeBody('denied'), headers))?.code).toBe('603');
      expect(errorOf(await post(s, `${T}/${SEEDED_CUSTOM.apiName}/delete.json`, {}, headers))?.code).toBe(
        '603',
      );
    }
    expect((await post(s, `${T}.json`, typeBody('allowed'), metaWrite)).success).toBe(true);
    expect((await post(s, `${T}/allowed/approve.json`, {}, metaWrite)).success).toBe(true);

    const input = {
      input: [
        { leadId: 1, activityDate: iso(Date.now() - 60_000), apiName: 'allowed', primaryAttributeValue: 'x' },
      ],
    };
    for (const headers of [readOnly, metaWrite])
      expect(errorOf(await post(s, '/rest/v1/activities/external.json', input, headers))?.code).toBe('603');
    const added = await post(s, '/rest/v1/activities/external.json', input, writeActivity);
    expect(added.result![0]!.status).toBe('added');
  });
});
