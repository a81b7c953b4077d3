import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestSandbox, tokenOfNewUser, type TestSandbox } from '../testing.ts';
import { unlimited } from '../index.ts';

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;

interface LeadDbCampaign {
  id: number;
  name: string;
  description?: string;
  type: 'batch' | 'trigger';
  programId: number;
  programName: string;
  workspaceName: string;
  createdAt: string;
  updatedAt: string;
  active: boolean;
}

/** The envelope with typed records. */
interface Envelope<T> {
  requestId: string;
  success: boolean;
  result?: T[];
  errors?: { code: string; message: string }[];
  warnings?: unknown[];
  nextPageToken?: string;
}

type Campaigns = Envelope<LeadDbCampaign>;

let sb: TestSandbox;

beforeAll(async () => {
  sb = await startTestSandbox({ seed: { leads: 10, seed: 3 }, limits: unlimited() });
});
afterAll(async () => {
  await sb.close();
});

async function all(): Promise<LeadDbCampaign[]> {
  return (await sb.apiJson<Campaigns>('/rest/v1/campaigns.json')).result!;
}

async function assetCampaign(
  id: number,
): Promise<{ isRequestable: boolean; isActive: boolean; type: string }> {
  const body = await sb.apiJson(`/rest/asset/v1/smartCampaign/${id}.json`);
  return body.result![0] as { isRequestable: boolean; isActive: boolean; type: string };
}

async function triggerableCampaign(): Promise<LeadDbCampaign> {
  return (await sb.apiJson<Campaigns>('/rest/v1/campaigns.json?isTriggerable=true')).result![0]!;
}

const trigger = (id: number, json: unknown) =>
  sb.apiJson<Campaigns>(`/rest/v1/campaigns/${id}/trigger.json`, { method: 'POST', json });
const schedule = (id: number, json?: unknown) =>
  sb.apiJson<Campaigns>(`/rest/v1/campaigns/${id}/schedule.json`, { method: 'POST', json });

describe('GET /rest/v1/campaigns.json', () => {
  it('lists every campaign with the lead-database shape', async () => {
    const body = await sb.apiJson<Campaigns>('/rest/v1/campaigns.json');
    expect(body.success).toBe(true);
    expect(body.errors).toBeUndefined();
    expect(body.nextPageToken).toBeUndefined();
    expect(body.result).toHaveLength(60);
    for (const c of body.result!) {
      expect(Object.keys(c).filter((k) => k !== 'description')).toEqual([
        'id',
        'name',
        'type',
        'programId',
        'programName',
        'workspaceName',
        'createdAt',
        'updatedAt',
        'active',
      ]);
      expect(c.createdAt).toMatch(ISO);
      expect(c.updatedAt).toMatch(ISO);
      expect(c.workspaceName).toBe('Default');
      expect(['batch', 'trigger']).toContain(c.type);
    }
    const asset = await sb.apiJson('/rest/asset/v1/program/' + body.result![0]!.programId + '.json');
    expect((asset.result![0] as { name: string }).name).toBe(body.result![0]!.programName);
  });

  it('pages with base32 position tokens; the last page has no token', async () => {
    const ids: number[] = [];
    const sizes: number[] = [];
    let token: string | undefined;
    for (let i = 0; i < 10; i++) {
      const body: Campaigns = await sb.apiJson<Campaigns>(
        `/rest/v1/campaigns.json?batchSize=25${token ? `&nextPageToken=${encodeURIComponent(token)}` : ''}`,
      );
      expect(body.success).toBe(true);
      sizes.push(body.result!.length);
      ids.push(...body.result!.map((c) => c.id));
      token = body.nextPageToken;
      if (!token) break;
      expect(token).toMatch(/^[A-Z2-7]+=*$/);
      expect(token.length % 8).toBe(0);
    }
    expect(sizes).toEqual([25, 25, 10]);
    expect(new Set(ids).size).toBe(60);
  });

  it('filters by id, name, programName, workspaceName and isTriggerable', async () => {
    const campaigns = await all();
    const [a, b] = [campaigns[3]!, campaigns[9]!];
    const byId = await sb.apiJson<Campaigns>(`/rest/v1/campaigns.json?id=${a.id},${b.id}`);
    expect(byId.result!.map((c) => c.id)).toEqual([a.id, b.id]);
    const repeated = await sb.apiJson<Campaigns>(`/rest/v1/campaigns.json?id=${a.id}&id=${b.id}`);
    expect(repeated.result!.map((c) => c.id)).toEqual([a.id, b.id]);

    const byName = await sb.apiJson<Campaigns>(`/rest/v1/campaigns.json?name=${encodeURIComponent(a.name)}`);
    expect(byName.result!.map((c) => c.id)).toEqual([a.id]);

    const byProgram = await sb.apiJson<Campaigns>(
      `/rest/v1/campaigns.json?programName=${encodeURIComponent(a.programName)}`,
    );
    expect(byProgram.result!.map((c) => c.id)).toEqual(
      campaigns.filter((c) => c.programName === a.programName).map((c) => c.id),
    );

    expect(
      (await sb.apiJson<Campaigns>('/rest/v1/campaigns.json?workspaceName=Default')).result,
    ).toHaveLength(60);
    const elsewhere = await sb.apiJson<Campaigns>('/rest/v1/campaigns.json?workspaceName=Elsewhere');
    expect(elsewhere).toEqual({ requestId: elsewhere.requestId, success: true, result: [] });

    const triggerable = (await sb.apiJson<Campaigns>('/rest/v1/campaigns.json?isTriggerable=true')).result!;
    expect(triggerable.length).toBeGreaterThan(0);
    expect(triggerable.length).toBeLessThan(60);
    for (const c of triggerable) {
      expect(c.type).toBe('trigger');
      expect(c.active).toBe(true);
      expect((await assetCampaign(c.id)).isRequestable).toBe(true);
    }
  });

  it('refuses bad batch sizes, ids and tokens', async () => {
    for (const qs of [
      'batchSize=301',
      'batchSize=0',
      'batchSize=x',
      'id=abc',
      'nextPageToken=not-a-token',
      'nextPageToken=MFRGG===',
    ]) {
      const body = await sb.apiJson<Campaigns>(`/rest/v1/campaigns.json?${qs}`);
      expect({ qs, success: body.success, code: body.errors?.[0]?.code }).toEqual({
        qs,
        success: false,
        code: '1003',
      });
    }
  });

  it('accepts a long query as POST ?_method=GET with a form body', async () => {
    const campaigns = await all();
    const res = await sb.apiJson<Campaigns>('/rest/v1/campaigns.json?_method=GET', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `id=${campaigns[1]!.id},${campaigns[2]!.id}`,
    });
    expect(res.result!.map((c) => c.id)).toEqual([campaigns[1]!.id, campaigns[2]!.id]);
  });
});

describe('GET /rest/v1/campaigns/:id.json', () => {
  it('returns one campaign, 1013 for an unknown one', async () => {
    const c = (await all())[5]!;
    const one = await sb.apiJson<Campaigns>(`/rest/v1/campaigns/${c.id}.json`);
    expect(one.result).toEqual([c]);
    for (const id of ['999999', 'abc']) {
      const missing = await sb.apiJson<Campaigns>(`/rest/v1/campaigns/${id}.json`);
      expect(missing.success).toBe(false);
      expect(missing.result).toBeUndefined();
      expect(missing.errors).toEqual([{ code: '1013', message: 'Object not found' }]);
    }
  });
});

describe('POST /rest/v1/campaigns/:id/trigger.json', () => {
  it('requests an active requestable trigger campaign for up to 100 leads', async () => {
    const c = await triggerableCampaign();
    const res = await trigger(c.id, {
      input: [{ id: 1 }, { id: 2 }],
      tokens: [{ name: '{{my.Message}}', value: 'Hello' }],
    });
    expect(res).toEqual({ requestId: res.requestId, success: true, result: [{ id: c.id }] });
    const hundred = await trigger(c.id, { input: Array.from({ length: 100 }, (_, i) => ({ id: i + 1 })) });
    expect(hundred.success).toBe(true);
  });

  it("accepts Marketo's documented body {input: {leads, tokens}} and checks it the same way", async () => {
    const c = await triggerableCampaign();
    const res = await trigger(c.id, {
      input: { leads: [{ id: 1 }, { id: 2 }], tokens: [{ name: '{{my.Message}}', value: 'Hi' }] },
    });
    expect(res).toEqual({ requestId: res.requestId, success: true, result: [{ id: c.id }] });
    const leads = Array.from({ length: 101 }, (_, i) => ({ id: i + 1 }));
    for (const bad of [
      { input: { leads } },
      { input: { leads: [] } },
      { input: { leads: [{ id: 1 }], tokens: 'x' } },
    ]) {
      expect((await trigger(c.id, bad)).errors![0]!.code).toBe('1003');
    }
  });

  it('refuses batch campaigns, bad input and unknown campaigns', async () => {
    const campaigns = await all();
    const batch = campaigns.find((c) => c.type === 'batch')!;
    expect(await trigger(batch.id, { input: [{ id: 1 }] })).toMatchObject({
      success: false,
      errors: [{ code: '1003', message: 'Invalid data' }],
    });
    const c = await triggerableCampaign();
    const tooMany = await trigger(c.id, { input: Array.from({ length: 101 }, (_, i) => ({ id: i + 1 })) });
    expect(tooMany.errors![0]!.code).toBe('1003');
    for (const bad of [
      {},
      { input: [] },
      { input: [{ email: 'a@b.c' }] },
      { input: [{ id: 1 }], tokens: 'x' },
    ]) {
      expect((await trigger(c.id, bad)).errors![0]!.code).toBe('1003');
    }
    const unknown = await trigger(999999, { input: [{ id: 1 }] });
    expect(unknown.errors![0]!.code).toBe('1013');
  });

  it('checks the JSON body: 612 for another content type, 609 for broken JSON', async () => {
    const c = await triggerableCampaign();
    const form = await sb.apiJson<Campaigns>(`/rest/v1/campaigns/${c.id}/trigger.json`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'input=1',
    });
    expect(form.errors![0]!.code).toBe('612');
    const broken = await sb.apiJson<Campaigns>(`/rest/v1/campaigns/${c.id}/trigger.json`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"input":[{"id":1}',
    });
    expect(broken.errors![0]!.code).toBe('609');
  });

  it('needs the executeCampaign permission (reading needs only a campaign permission)', async () => {
    const access_token = await tokenOfNewUser(sb, ['readOnlyCampaign'], 'Campaign Reader');
    const headers = { authorization: `Bearer ${access_token}`, 'content-type': 'application/json' };
    const list = (await (await fetch(`${sb.base}/rest/v1/campaigns.json`, { headers })).json()) as Campaigns;
    expect(list.result).toHaveLength(60);
    const c = await triggerableCampaign();
    for (const action of ['trigger', 'schedule']) {
      const res = (await (
        await fetch(`${sb.base}/rest/v1/campaigns/${c.id}/${action}.json`, {
          method: 'POST',
          headers,
          body: JSON.stringify({ input: action === 'trigger' ? [{ id: 1 }] : {} }),
        })
      ).json()) as Campaigns;
      expect(res.errors![0]!.code).toBe('603');
    }
  });
});

describe('POST /rest/v1/campaigns/:id/schedule.json', () => {
  it('schedules a batch campaign (no body, or a runAt within two years)', async () => {
    const batches = (await all()).filter((c) => c.type === 'batch' && !c.active);
    const [first, second] = [batches[0]!, batches[1]!];
    const started = Date.now() - 1000;
    const res = await schedule(first.id);
    expect(res).toEqual({ requestId: res.requestId, success: true, result: [{ id: first.id }] });
    const after = (await sb.apiJson<Campaigns>(`/rest/v1/campaigns/${first.id}.json`)).result![0]!;
    expect(after.active).toBe(true);
    expect(Date.parse(after.updatedAt)).toBeGreaterThanOrEqual(Math.floor(started / 1000) * 1000);

    const runAt = new Date(Date.now() + 365 * 86_400_000).toISOString();
    const later = await schedule(second.id, {
      input: { runAt, tokens: [{ name: '{{my.Offer}}', value: '10%' }] },
    });
    expect(later.result).toEqual([{ id: second.id }]);
  });

  it('answers 1042 for runAt more than two years ahead or unreadable, 1003 for trigger campaigns', async () => {
    const batch = (await all()).find((c) => c.type === 'batch')!;
    const far = new Date(Date.now() + 3 * 365 * 86_400_000).toISOString();
    for (const runAt of [far, 'soon']) {
      expect(await schedule(batch.id, { input: { runAt } })).toMatchObject({
        success: false,
        errors: [{ code: '1042', message: 'Invalid runAt date' }],
      });
    }
    const trig = (await all()).find((c) => c.type === 'trigger')!;
    expect((await schedule(trig.id, { input: {} })).errors![0]!.code).toBe('1003');
    expect((await schedule(999999, { input: {} })).errors![0]!.code).toBe('1013');
  });

  it('clones the parent program with cloneToProgramName and schedules the copy', async () => {
    // Its own sandbox: the clone adds campaigns that the listing tests above must not see.
    const own = await startTestSandbox({ seed: { leads: 10, seed: 3 }, limits: unlimited() });
    try {
      await cloneScenario(own);
    } finally {
      await own.close();
    }
  });
});

async function cloneScenario(sb: TestSandbox): Promise<void> {
  const schedule = (id: number, json?: unknown) =>
    sb.apiJson<Campaigns>(`/rest/v1/campaigns/${id}/schedule.json`, { method: 'POST', json });
  const all = async () => (await sb.apiJson<Campaigns>('/rest/v1/campaigns.json')).result!;
  const batch = (await all()).filter((c) => c.type === 'batch')[2]!;
  const res = await schedule(batch.id, { input: { cloneToProgramName: 'Cloned For Test' } });
  expect(res.success).toBe(true);
  const cloneId = (res.result![0] as { id: number }).id;
  expect(cloneId).not.toBe(batch.id);
  const copy = (await sb.apiJson<Campaigns>(`/rest/v1/campaigns/${cloneId}.json`)).result![0]!;
  expect(copy.programName).toBe('Cloned For Test');
  expect(copy.active).toBe(true);
  expect(copy.type).toBe('batch');
  const program = await sb.apiJson('/rest/asset/v1/program/byName.json?name=Cloned%20For%20Test');
  expect((program.result![0] as { id: number }).id).toBe(copy.programId);
  const inClone = await sb.apiJson<Campaigns>('/rest/v1/campaigns.json?programName=Cloned%20For%20Test');
  expect(inClone.result!.map((c) => c.id)).toContain(cloneId);

  const again = await schedule(batch.id, { input: { cloneToProgramName: 'Cloned For Test' } });
  expect(again.errors![0]!.code).toBe('1003');
  expect((await all()).length).toBeGreaterThan(60);
}
