import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestSandbox, tokenOfNewUser, type MarketoBody, type TestSandbox } from '../testing.ts';
import { unlimited } from '../index.ts';

const ASSET_DATE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z\+0000$/;
const NO_ASSETS = 'No assets found for the given search criteria.';

interface ProgramBody {
  id: number;
  name: string;
  description: string;
  createdAt: string;
  updatedAt: string;
  url: string;
  type: string;
  channel: string;
  folder: { type: string; value: number; folderName: string };
  status: string;
  workspace: string;
  tags?: { tagType: string; tagValue: string }[];
  costs?: { startDate: string; cost: number; note: string }[];
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

type Programs = Envelope<ProgramBody>;

/** "…Z+0000" → epoch ms. */
function assetMs(text: string): number {
  return Date.parse(text.replace(/\+0000$/, ''));
}

let sb: TestSandbox;

beforeAll(async () => {
  sb = await startTestSandbox({ seed: { leads: 10, seed: 7 }, limits: unlimited() });
});
afterAll(async () => {
  await sb.close();
});

async function allPrograms(): Promise<ProgramBody[]> {
  const body = await sb.apiJson<Programs>('/rest/asset/v1/programs.json?maxReturn=200');
  return body.result ?? [];
}

/** A token for a new API user with the given permissions. */
const tokenWith = (permissions: string[]): Promise<string> => tokenOfNewUser(sb, permissions);

describe('GET /rest/asset/v1/programs.json', () => {
  it('answers the asset envelope with 20 programs by default', async () => {
    const body = await sb.apiJson<Programs>('/rest/asset/v1/programs.json');
    expect(body.success).toBe(true);
    expect(body.errors).toEqual([]);
    expect(body.warnings).toEqual([]);
    expect(body.result).toHaveLength(20);
    expect(body.requestId).toMatch(/^[0-9a-f]+#[0-9a-f]+$/);
  });

  it('pages with offset += maxReturn until the "no assets" warning', async () => {
    const ids: number[] = [];
    let offset = 0;
    let last: Programs | undefined;
    for (let i = 0; i < 20; i++) {
      last = await sb.apiJson<Programs>(`/rest/asset/v1/programs.json?maxReturn=7&offset=${offset}`);
      if (!last.result) break;
      expect(last.result.length).toBeLessThanOrEqual(7);
      ids.push(...last.result.map((p) => p.id));
      offset += 7;
    }
    expect(last).toEqual({ requestId: last!.requestId, success: true, errors: [], warnings: [NO_ASSETS] });
    expect(ids).toHaveLength(40);
    expect(new Set(ids).size).toBe(40);
    expect([...ids].sort((a, b) => a - b)).toEqual(ids);
  });

  it('serves programs of every type with Marketo-shaped fields', async () => {
    const programs = await allPrograms();
    expect(programs).toHaveLength(40);
    expect(new Set(programs.map((p) => p.type))).toEqual(
      new Set(['Default', 'Engagement', 'Email', 'Event', 'Event with Webinar']),
    );
    const now = Date.now();
    for (const p of programs) {
      expect(p.createdAt).toMatch(ASSET_DATE);
      expect(p.updatedAt).toMatch(ASSET_DATE);
      expect(assetMs(p.createdAt)).toBeLessThanOrEqual(assetMs(p.updatedAt));
      expect(assetMs(p.updatedAt)).toBeLessThan(now);
      expect(p.url).toMatch(new RegExp(`^https://app-[a-z0-9]+\\.marketo\\.com/#[A-Z]+${p.id}A1$`));
      expect(p.workspace).toBe('Default');
      expect(p.folder.type).toBe('Folder');
      expect(typeof p.folder.folderName).toBe('string');
      expect(p.tags).toBeUndefined();
      expect(p.costs).toBeUndefined();
      if (p.type === 'Engagement') expect(['on', 'off']).toContain(p.status);
      if (p.type === 'Default') expect(p.status).toBe('');
    }
    expect(programs.find((p) => p.type === 'Default')!.url).toContain(`#PG`);
    expect(new Set(programs.map((p) => p.name)).size).toBe(40);
  });

  it('filters by id, programId, folderId and workspace', async () => {
    const byId = await sb.apiJson<Programs>(
      '/rest/asset/v1/programs.json?filterType=id&filterValues=1001,1003',
    );
    expect(byId.result!.map((p) => p.id)).toEqual([1001, 1003]);
    const byProgramId = await sb.apiJson<Programs>(
      '/rest/asset/v1/programs.json?filterType=programId&filterValues=1002',
    );
    expect(byProgramId.result!.map((p) => p.id)).toEqual([1002]);

    const all = await allPrograms();
    const nurture = all.filter((p) => p.folder.value === 13);
    expect(nurture.length).toBeGreaterThan(0);
    const byFolder = await sb.apiJson<Programs>(
      '/rest/asset/v1/programs.json?filterType=folderId&filterValues=13&maxReturn=200',
    );
    expect(byFolder.result!.map((p) => p.id)).toEqual(nurture.map((p) => p.id));
    // A parent folder holds what lies below it.
    const root = await sb.apiJson<Programs>(
      '/rest/asset/v1/programs.json?filterType=folderId&filterValues=11&maxReturn=200',
    );
    expect(root.result).toHaveLength(40);

    const ws = await sb.apiJson<Programs>(
      '/rest/asset/v1/programs.json?filterType=workspace&filterValues=Default&maxReturn=200',
    );
    expect(ws.result).toHaveLength(40);
    const otherWs = await sb.apiJson<Programs>(
      '/rest/asset/v1/programs.json?filterType=workspace&filterValues=Elsewhere',
    );
    expect(otherWs.result).toBeUndefined();
    expect(otherWs.warnings).toEqual([NO_ASSETS]);
  });

  it('filters by an inclusive updatedAt window', async () => {
    const all = await allPrograms();
    const sorted = all.map((p) => p.updatedAt).sort((a, b) => assetMs(a) - assetMs(b));
    const from = sorted[10]!;
    const to = sorted[19]!;
    const expected = all.filter(
      (p) => assetMs(p.updatedAt) >= assetMs(from) && assetMs(p.updatedAt) <= assetMs(to),
    );
    const body = await sb.apiJson<Programs>(
      `/rest/asset/v1/programs.json?maxReturn=200&earliestUpdatedAt=${encodeURIComponent(from)}&latestUpdatedAt=${encodeURIComponent(new Date(assetMs(to)).toISOString())}`,
    );
    expect(body.result!.map((p) => p.id)).toEqual(expected.map((p) => p.id));
  });

  it('refuses bad paging, filters and dates', async () => {
    const cases: [string, string][] = [
      ['maxReturn=201', '1003'],
      ['maxReturn=0', '1003'],
      ['maxReturn=abc', '1003'],
      ['offset=-1', '1003'],
      ['filterType=bogus&filterValues=1', '1003'],
      ['filterType=id', '701'],
      ['filterType=id&filterValues=abc', '1003'],
      ['earliestUpdatedAt=yesterday', '704'],
      ['latestUpdatedAt=2024-13-01', '704'],
      ['earliestUpdatedAt=2024-02-31T00:00:00Z', '704'],
    ];
    for (const [qs, code] of cases) {
      const res = await sb.api(`/rest/asset/v1/programs.json?${qs}`);
      expect(res.status).toBe(200);
      const body = (await res.json()) as MarketoBody;
      expect({ qs, success: body.success, code: body.errors?.[0]?.code }).toEqual({
        qs,
        success: false,
        code,
      });
      expect(body.warnings).toEqual([]);
    }
    const ok = await sb.apiJson<Programs>('/rest/asset/v1/programs.json?maxReturn=200');
    expect(ok.result).toHaveLength(40);
  });

  it('needs an asset permission', async () => {
    const token = await tokenWith(['readOnlyLead']);
    const res = await fetch(`${sb.base}/rest/asset/v1/programs.json`, {
      headers: { authorization: `Bearer ${token}` },
    });
    const body = (await res.json()) as MarketoBody;
    expect(body.success).toBe(false);
    expect(body.errors![0]!.code).toBe('603');
    const reader = await tokenWith(['readOnlyAssets']);
    const ok = (await (
      await fetch(`${sb.base}/rest/asset/v1/programs.json`, {
        headers: { authorization: `Bearer ${reader}` },
      })
    ).json()) as Programs;
    expect(ok.result).toHaveLength(20);
  });
});

describe('GET /rest/asset/v1/program/:id.json and byName', () => {
  it('adds tags and costs to one program', async () => {
    const body = await sb.apiJson<Programs>('/rest/asset/v1/program/1002.json');
    expect(body.success).toBe(true);
    expect(body.errors).toEqual([]);
    expect(body.warnings).toEqual([]);
    const p = body.result![0]!;
    expect(p.id).toBe(1002);
    expect(Array.isArray(p.tags)).toBe(true);
    expect(p.tags!.length).toBeGreaterThan(0);
    expect(p.tags![0]).toEqual({ tagType: expect.any(String), tagValue: expect.any(String) });
    expect(Array.isArray(p.costs)).toBe(true);
    const withCosts = (await allPrograms()).map((x) => x.id);
    let sawCost = false;
    for (const id of withCosts) {
      const one = await sb.apiJson<Programs>(`/rest/asset/v1/program/${id}.json`);
      for (const c of one.result![0]!.costs!) {
        sawCost = true;
        expect(c.startDate).toMatch(ASSET_DATE);
        expect(typeof c.cost).toBe('number');
      }
    }
    expect(sawCost).toBe(true);
  });

  it('answers an unknown id with success and the "no assets" warning', async () => {
    for (const id of ['999999', 'abc']) {
      const body = await sb.apiJson<Programs>(`/rest/asset/v1/program/${id}.json`);
      expect(body).toEqual({ requestId: body.requestId, success: true, errors: [], warnings: [NO_ASSETS] });
    }
  });

  it('finds a program by name, with tags and costs only when asked', async () => {
    const target = (await allPrograms())[4]!;
    const name = encodeURIComponent(target.name);
    const plain = await sb.apiJson<Programs>(`/rest/asset/v1/program/byName.json?name=${name}`);
    expect(plain.result![0]!.id).toBe(target.id);
    expect(plain.result![0]!.tags).toBeUndefined();
    expect(plain.result![0]!.costs).toBeUndefined();
    const full = await sb.apiJson<Programs>(
      `/rest/asset/v1/program/byName.json?name=${name}&includeTags=true&includeCosts=true`,
    );
    expect(full.result![0]!.tags!.length).toBeGreaterThan(0);
    expect(Array.isArray(full.result![0]!.costs)).toBe(true);

    const missing = await sb.apiJson<Programs>('/rest/asset/v1/program/byName.json?name=No%20Such%20Program');
    expect(missing.success).toBe(true);
    expect(missing.result).toBeUndefined();
    expect(missing.warnings).toEqual([NO_ASSETS]);

    const blank = await sb.apiJson<Programs>('/rest/asset/v1/program/byName.json');
    expect(blank.success).toBe(false);
    expect(blank.errors![0]!.code).toBe('701');
  });
});

describe('POST /rest/asset/v1/program/:id.json', () => {
  const form = (fields: Record<string, string>) => ({
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(fields).toString(),
  });

  it('updates name and description and moves updatedAt into the updatedAt window', async () => {
    const since = new Date(Date.now() - 60_000).toISOString();
    const window = `/rest/asset/v1/programs.json?earliestUpdatedAt=${encodeURIComponent(since)}`;
    const before = await sb.apiJson<Programs>(window);
    expect(before.result).toBeUndefined();
    expect(before.warnings).toEqual([NO_ASSETS]);

    const updated = await sb.apiJson<Programs>(
      '/rest/asset/v1/program/1005.json',
      form({ name: 'Renamed Program 1005', description: 'new words' }),
    );
    expect(updated.success).toBe(true);
    expect(updated.errors).toEqual([]);
    const p = updated.result![0]!;
    expect(p.name).toBe('Renamed Program 1005');
    expect(p.description).toBe('new words');
    expect(Math.abs(assetMs(p.updatedAt) - Date.now())).toBeLessThan(5_000);

    const after = await sb.apiJson<Programs>(window);
    expect(after.result!.map((x) => x.id)).toEqual([1005]);
    const byName = await sb.apiJson<Programs>(
      '/rest/asset/v1/program/byName.json?name=Renamed%20Program%201005',
    );
    expect(byName.result![0]!.id).toBe(1005);
    // A window that ends before the write no longer sees the program.
    const older = await sb.apiJson<Programs>(
      `/rest/asset/v1/programs.json?maxReturn=200&latestUpdatedAt=${encodeURIComponent(since)}`,
    );
    expect(older.result!.map((x) => x.id)).not.toContain(1005);
  });

  it('refuses duplicate or blank names, unknown programs, JSON bodies and read-only users', async () => {
    const taken = (await sb.apiJson<Programs>('/rest/asset/v1/program/1001.json')).result![0]!.name;
    const dup = await sb.apiJson<Programs>('/rest/asset/v1/program/1002.json', form({ name: taken }));
    expect(dup.success).toBe(false);
    expect(dup.errors![0]!.code).toBe('709');
    expect(dup.warnings).toEqual([]);

    const blank = await sb.apiJson<Programs>('/rest/asset/v1/program/1002.json', form({ name: ' ' }));
    expect(blank.errors![0]!.code).toBe('701');

    const unknown = await sb.apiJson<Programs>('/rest/asset/v1/program/999999.json', form({ name: 'x' }));
    expect(unknown.success).toBe(false);
    expect(unknown.errors![0]!.code).toBe('702');

    const json = await sb.apiJson<Programs>('/rest/asset/v1/program/1002.json', {
      method: 'POST',
      json: { name: 'json name' },
    });
    expect(json.errors![0]!.code).toBe('612');

    const reader = await tokenWith(['readOnlyAssets']);
    const denied = (await (
      await fetch(`${sb.base}/rest/asset/v1/program/1002.json`, {
        ...form({ description: 'nope' }),
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Bearer ${reader}` },
      })
    ).json()) as MarketoBody;
    expect(denied.errors![0]!.code).toBe('603');
    const unchanged = await sb.apiJson<Programs>('/rest/asset/v1/program/1002.json');
    expect(unchanged.result![0]!.description).not.toBe('nope');
  });
});

describe('seeding', () => {
  it('gives the same programs for the same seed and asOf, and others for another seed', async () => {
    const asOf = Date.parse('2025-06-01T00:00:00Z');
    const a = await startTestSandbox({ seed: { leads: 5, seed: 42, asOf }, limits: unlimited() });
    const b = await startTestSandbox({ seed: { leads: 5, seed: 42, asOf }, limits: unlimited() });
    const c = await startTestSandbox({ seed: { leads: 5, seed: 43, asOf }, limits: unlimited() });
    try {
      const list = async (s: TestSandbox, path: string) => (await s.apiJson(path)).result;
      for (const path of [
        '/rest/asset/v1/programs.json?maxReturn=200',
        '/rest/asset/v1/smartCampaigns.json?maxReturn=200',
      ]) {
        const ra = await list(a, path);
        expect(await list(b, path)).toEqual(ra);
        expect(await list(c, path)).not.toEqual(ra);
        for (const item of ra as { updatedAt: string }[]) {
          expect(assetMs(item.updatedAt)).toBeLessThan(asOf);
        }
      }
    } finally {
      await Promise.all([a.close(), b.close(), c.close()]);
    }
  });
});
