import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestSandbox, type MarketoBody, type TestSandbox } from '../testing.ts';
import { unlimited } from '../index.ts';

const ASSET_DATE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z\+0000$/;
const NO_ASSETS = 'No assets found for the given search criteria.';

interface CampaignBody {
  id: number;
  name: string;
  createdAt: string;
  updatedAt: string;
  folder: { id: number; type: string };
  status: string;
  type: string;
  isActive: boolean;
  isRequestable: boolean;
  isSystem: boolean;
  qualificationRuleType: string;
  workspace: string;
  smartListId: number;
  flowId: number;
  parentProgramId: number;
  computedUrl: string;
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

type Campaigns = Envelope<CampaignBody>;

function assetMs(text: string): number {
  return Date.parse(text.replace(/\+0000$/, ''));
}

let sb: TestSandbox;

beforeAll(async () => {
  sb = await startTestSandbox({ seed: { leads: 10, seed: 11 }, limits: unlimited() });
});
afterAll(async () => {
  await sb.close();
});

async function allCampaigns(): Promise<CampaignBody[]> {
  return (await sb.apiJson<Campaigns>('/rest/asset/v1/smartCampaigns.json?maxReturn=200')).result ?? [];
}

const post = { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: '' };

describe('GET /rest/asset/v1/smartCampaigns.json', () => {
  it('pages with offset += maxReturn until the "no assets" warning', async () => {
    const first = await sb.apiJson<Campaigns>('/rest/asset/v1/smartCampaigns.json');
    expect(first.result).toHaveLength(20);
    expect(first.errors).toEqual([]);
    expect(first.warnings).toEqual([]);
    const ids: number[] = [];
    const sizes: number[] = [];
    for (let offset = 0; ; offset += 25) {
      const page = await sb.apiJson<Campaigns>(
        `/rest/asset/v1/smartCampaigns.json?maxReturn=25&offset=${offset}`,
      );
      if (!page.result) {
        expect(page).toEqual({ requestId: page.requestId, success: true, errors: [], warnings: [NO_ASSETS] });
        break;
      }
      sizes.push(page.result.length);
      ids.push(...page.result.map((c) => c.id));
    }
    expect(sizes).toEqual([25, 25, 10]);
    expect(new Set(ids).size).toBe(60);
    const big = await sb.apiJson<Campaigns>('/rest/asset/v1/smartCampaigns.json?maxReturn=201');
    expect(big.success).toBe(false);
    expect(big.errors![0]!.code).toBe('1003');
  });

  it('serves batch and trigger campaigns that belong to programs', async () => {
    const campaigns = await allCampaigns();
    expect(campaigns).toHaveLength(60);
    const programs = new Set(
      ((await sb.apiJson('/rest/asset/v1/programs.json?maxReturn=200')).result as { id: number }[]).map(
        (p) => p.id,
      ),
    );
    expect(new Set(campaigns.map((c) => c.type))).toEqual(new Set(['batch', 'trigger']));
    for (const c of campaigns) {
      expect(c.createdAt).toMatch(ASSET_DATE);
      expect(c.updatedAt).toMatch(ASSET_DATE);
      expect(assetMs(c.createdAt)).toBeLessThanOrEqual(assetMs(c.updatedAt));
      expect(assetMs(c.updatedAt)).toBeLessThan(Date.now());
      expect(c.folder).toEqual({ id: c.parentProgramId, type: 'Program' });
      expect(programs.has(c.parentProgramId)).toBe(true);
      expect(c.workspace).toBe('Default');
      expect(c.isSystem).toBe(false);
      expect(['once', 'any', 'interval']).toContain(c.qualificationRuleType);
      expect(c.computedUrl).toMatch(new RegExp(`#SC${c.id}A1$`));
      if (c.type === 'trigger') expect(c.status).toBe(c.isActive ? 'Active' : 'Inactive');
      else if (c.isActive) expect(['Single Run', 'Recurring Run']).toContain(c.status);
      else expect(['Inactive', 'Never Run']).toContain(c.status);
      if (c.isRequestable) expect(c.type).toBe('trigger');
    }
  });

  it('filters by folder (program or folder) and isActive', async () => {
    const campaigns = await allCampaigns();
    const programId = campaigns[0]!.parentProgramId;
    const inProgram = await sb.apiJson<Campaigns>(
      `/rest/asset/v1/smartCampaigns.json?maxReturn=200&folder=${encodeURIComponent(JSON.stringify({ id: programId, type: 'Program' }))}`,
    );
    expect(inProgram.result!.map((c) => c.id)).toEqual(
      campaigns.filter((c) => c.parentProgramId === programId).map((c) => c.id),
    );

    const root = await sb.apiJson<Campaigns>(
      `/rest/asset/v1/smartCampaigns.json?maxReturn=200&folder=${encodeURIComponent('{"id":11,"type":"Folder"}')}`,
    );
    expect(root.result).toHaveLength(60);
    const programs = (await sb.apiJson('/rest/asset/v1/programs.json?maxReturn=200')).result as {
      id: number;
      folder: { value: number };
    }[];
    const inWebinars = new Set(programs.filter((p) => p.folder.value === 12).map((p) => p.id));
    const webinars = await sb.apiJson<Campaigns>(
      `/rest/asset/v1/smartCampaigns.json?maxReturn=200&folder=${encodeURIComponent('{"id":12,"type":"Folder"}')}`,
    );
    const expected = campaigns.filter((c) => inWebinars.has(c.parentProgramId)).map((c) => c.id);
    if (expected.length === 0) expect(webinars.warnings).toEqual([NO_ASSETS]);
    else expect(webinars.result!.map((c) => c.id)).toEqual(expected);

    const active = await sb.apiJson<Campaigns>(
      '/rest/asset/v1/smartCampaigns.json?maxReturn=200&isActive=true',
    );
    const inactive = await sb.apiJson<Campaigns>(
      '/rest/asset/v1/smartCampaigns.json?maxReturn=200&isActive=false',
    );
    expect(active.result!.every((c) => c.isActive)).toBe(true);
    expect(inactive.result!.every((c) => !c.isActive)).toBe(true);
    expect(active.result!.length + inactive.result!.length).toBe(60);

    for (const bad of [
      'folder=notjson',
      'folder=%7B%22id%22%3A1%7D',
      'isActive=maybe',
      'earliestUpdatedAt=nope',
    ]) {
      const body = await sb.apiJson<Campaigns>(`/rest/asset/v1/smartCampaigns.json?${bad}`);
      expect(body.success).toBe(false);
      expect(body.errors![0]!.code).toBe(bad.startsWith('earliest') ? '704' : '1003');
    }
  });

  it('gets one campaign by id and by name; unknown ones answer the warning', async () => {
    const target = (await allCampaigns())[7]!;
    const byId = await sb.apiJson<Campaigns>(`/rest/asset/v1/smartCampaign/${target.id}.json`);
    expect(byId.result).toEqual([target]);
    const byName = await sb.apiJson<Campaigns>(
      `/rest/asset/v1/smartCampaign/byName.json?name=${encodeURIComponent(target.name)}`,
    );
    expect(byName.result).toEqual([target]);
    for (const path of [
      '/rest/asset/v1/smartCampaign/999999.json',
      '/rest/asset/v1/smartCampaign/byName.json?name=nope',
    ]) {
      const body = await sb.apiJson<Campaigns>(path);
      expect(body).toEqual({ requestId: body.requestId, success: true, errors: [], warnings: [NO_ASSETS] });
    }
  });
});

describe('activate / deactivate', () => {
  it('activates an inactive trigger campaign and the updatedAt window sees it', async () => {
    const since = new Date(Date.now() - 60_000).toISOString();
    const window = `/rest/asset/v1/smartCampaigns.json?earliestUpdatedAt=${encodeURIComponent(since)}`;
    expect((await sb.apiJson<Campaigns>(window)).warnings).toEqual([NO_ASSETS]);

    const target = (await allCampaigns()).find((c) => c.type === 'trigger' && !c.isActive)!;
    const res = await sb.apiJson<Campaigns>(`/rest/asset/v1/smartCampaign/${target.id}/activate.json`, post);
    expect(res).toEqual({
      requestId: res.requestId,
      success: true,
      errors: [],
      warnings: [],
      result: [{ id: target.id }],
    });

    const after = (await sb.apiJson<Campaigns>(`/rest/asset/v1/smartCampaign/${target.id}.json`)).result![0]!;
    expect(after.isActive).toBe(true);
    expect(after.status).toBe('Active');
    expect(Math.abs(assetMs(after.updatedAt) - Date.now())).toBeLessThan(5_000);
    expect((await sb.apiJson<Campaigns>(window)).result!.map((c) => c.id)).toEqual([target.id]);
    const activeNow = await sb.apiJson<Campaigns>(`${window}&isActive=false`);
    expect(activeNow.warnings).toEqual([NO_ASSETS]);

    const off = await sb.apiJson<Campaigns>(
      `/rest/asset/v1/smartCampaign/${target.id}/deactivate.json`,
      post,
    );
    expect(off.result).toEqual([{ id: target.id }]);
    const again = (await sb.apiJson<Campaigns>(`/rest/asset/v1/smartCampaign/${target.id}.json`)).result![0]!;
    expect(again.isActive).toBe(false);
    expect(again.status).toBe('Inactive');
  });

  it('refuses to activate batch or unknown campaigns, and needs write access', async () => {
    const batch = (await allCampaigns()).find((c) => c.type === 'batch')!;
    const res = await sb.apiJson<Campaigns>(`/rest/asset/v1/smartCampaign/${batch.id}/activate.json`, post);
    expect(res.success).toBe(false);
    expect(res.errors![0]!.code).toBe('709');
    expect(res.warnings).toEqual([]);

    const unknown = await sb.apiJson<Campaigns>('/rest/asset/v1/smartCampaign/999999/deactivate.json', post);
    expect(unknown.success).toBe(false);
    expect(unknown.errors![0]!.code).toBe('702');

    const get = await sb.apiJson<Campaigns>(`/rest/asset/v1/smartCampaign/${batch.id}/activate.json`);
    expect(get.errors![0]!.code).toBe('605');

    const m = sb.munchkinId;
    await sb.control('POST', `/instances/${m}/users`, {
      email: 'assets-ro@x.test',
      role: 'Read-Only Assets',
    });
    const svc = await sb.control<{ clientId: string; clientSecret: string }>(
      'POST',
      `/instances/${m}/services`,
      {
        name: 'ro',
        user: 'assets-ro@x.test',
      },
    );
    const tok = (await (
      await fetch(
        `${sb.identity}/oauth/token?grant_type=client_credentials&client_id=${svc.body.clientId}&client_secret=${svc.body.clientSecret}`,
      )
    ).json()) as { access_token: string };
    const denied = (await (
      await fetch(`${sb.base}/rest/asset/v1/smartCampaign/${batch.id}/deactivate.json`, {
        ...post,
        headers: { ...post.headers, authorization: `Bearer ${tok.access_token}` },
      })
    ).json()) as MarketoBody;
    expect(denied.errors![0]!.code).toBe('603');
  });
});
