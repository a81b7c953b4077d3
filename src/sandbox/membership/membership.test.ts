/**
 * Program and smart campaign membership readers (spec 5.2 "Other readers"), over HTTP: paging,
 * agreement between the three readers and with the asset API, error codes and permissions.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestSandbox, tokenOfNewUser, type MarketoBody, type TestSandbox } from '../testing.ts';
import { unlimited } from '../index.ts';

type Row = Record<string, unknown> & { id: number };
interface Body extends MarketoBody {
  result?: Row[];
}
type Membership = Record<string, unknown> & { id: number };

const AS_OF = Date.parse('2026-01-01T00:00:00Z');
const PROGRAM_IDS = Array.from({ length: 40 }, (_, i) => 1001 + i);
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;

function errorCode(body: MarketoBody): string | undefined {
  return body.success ? undefined : body.errors?.[0]?.code;
}

/** Every member of a program, following `nextPageToken`. */
async function allMembers(sb: TestSandbox, programId: number, batchSize: number, extra = ''): Promise<Row[]> {
  const out: Row[] = [];
  let token: string | undefined;
  for (;;) {
    const q = `batchSize=${batchSize}${extra}${token ? `&nextPageToken=${encodeURIComponent(token)}` : ''}`;
    const page = await sb.apiJson<Body>(`/rest/v1/leads/programs/${programId}.json?${q}`);
    expect(page.success).toBe(true);
    expect(page.result!.length).toBeLessThanOrEqual(batchSize);
    out.push(...page.result!);
    token = page.nextPageToken;
    if (!token) return out;
  }
}

/** Every item of a per-lead membership reader, following `nextPageToken` / `moreResult`. */
async function allOfLead(sb: TestSandbox, path: string, batchSize: number): Promise<Row[]> {
  const out: Row[] = [];
  let token: string | undefined;
  for (;;) {
    const sep = path.includes('?') ? '&' : '?';
    const q = `${sep}batchSize=${batchSize}${token ? `&nextPageToken=${encodeURIComponent(token)}` : ''}`;
    const page = await sb.apiJson<Body>(path + q);
    expect(page.success).toBe(true);
    out.push(...page.result!);
    expect(page.moreResult).toBe(page.nextPageToken !== undefined);
    token = page.nextPageToken;
    if (!token) return out;
  }
}

async function tokenFor(
  sb: TestSandbox,
  role: string,
  permissions: string[],
): Promise<Record<string, string>> {
  return { authorization: `Bearer ${await tokenOfNewUser(sb, permissions, role)}` };
}

describe('program and smart campaign membership', () => {
  let sb: TestSandbox;
  /** programId → leadId → membership, read through Get Leads by Program Id. */
  const byProgram = new Map<number, Map<number, Membership>>();

  beforeAll(async () => {
    sb = await startTestSandbox({ seed: { leads: 1500, seed: 21, asOf: AS_OF }, limits: unlimited() });
    for (const p of PROGRAM_IDS) {
      const members = await allMembers(sb, p, 300);
      byProgram.set(p, new Map(members.map((r) => [r.id, r.membership as Membership])));
    }
  });
  afterAll(async () => sb.close());

  it('pages the members of a program in ascending lead id, the same at any batch size', async () => {
    const big = await allMembers(sb, 1001, 300);
    const small = await allMembers(sb, 1001, 7);
    expect(small).toEqual(big);
    expect(big.length).toBeGreaterThan(7);
    const ids = big.map((r) => r.id);
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    expect(new Set(ids).size).toBe(ids.length);
    // The last page carries no token.
    const first = await sb.apiJson<Body>('/rest/v1/leads/programs/1001.json?batchSize=5');
    expect(first.result!.length).toBe(5);
    expect(first.nextPageToken).toMatch(/^[A-Z2-7]+=*$/);
  });

  it('returns the default lead fields plus membership, and honours fields', async () => {
    const page = await sb.apiJson<Body>('/rest/v1/leads/programs/1001.json?batchSize=3');
    const lead = page.result![0]!;
    expect(Object.keys(lead).sort()).toEqual(
      ['id', 'email', 'updatedAt', 'createdAt', 'firstName', 'lastName', 'membership'].sort(),
    );
    const m = lead.membership as Membership;
    expect(m).toMatchObject({ id: 1001, isExhausted: false });
    expect(typeof m.progressionStatus).toBe('string');
    expect(m.progressionStatusType).toBe(m.progressionStatus);
    expect(typeof m.acquiredBy).toBe('boolean');
    expect(typeof m.reachedSuccess).toBe('boolean');
    expect(m.membershipDate).toMatch(ISO);
    expect(m.stream).toBeUndefined();
    // The member joined after the lead was created.
    expect(Date.parse(m.membershipDate as string)).toBeGreaterThanOrEqual(
      Date.parse(lead.createdAt as string),
    );

    const narrow = await sb.apiJson<Body>(
      '/rest/v1/leads/programs/1001.json?batchSize=3&fields=email,membership',
    );
    expect(Object.keys(narrow.result![0]!)).toEqual(['id', 'email', 'membership']);
    expect(narrow.result!.map((r) => r.id)).toEqual(page.result!.map((r) => r.id));
    const unknown = await sb.apiJson<Body>('/rest/v1/leads/programs/1001.json?fields=noSuchField');
    expect(errorCode(unknown)).toBe('1006');
  });

  it('adds stream, cadence and exhaustion for engagement programs only', async () => {
    // The generator walks the program types in order: 1002 is the first engagement program.
    const types = await sb.apiJson<Body>('/rest/asset/v1/program/1002.json');
    expect(types.result![0]!.type).toBe('Engagement');
    const members = [...byProgram.get(1002)!.values()];
    expect(members.length).toBeGreaterThan(0);
    for (const m of members) {
      expect(typeof m.stream).toBe('string');
      expect(['normal', 'paused']).toContain(m.nurtureCadence);
      expect(typeof m.isExhausted).toBe('boolean');
    }
    for (const m of byProgram.get(1004)!.values()) expect(m.stream).toBeUndefined();
  });

  it('agrees with programMembership: a lead is listed in P exactly when P is among its programs', async () => {
    for (let leadId = 1; leadId <= 120; leadId++) {
      const items = await allOfLead(sb, `/rest/v1/leads/${leadId}/programMembership.json`, 300);
      const fromLead = new Map(items.map((i) => [i.id, i]));
      const fromPrograms = PROGRAM_IDS.filter((p) => byProgram.get(p)!.has(leadId));
      expect([...fromLead.keys()]).toEqual(fromPrograms);
      for (const p of fromPrograms) {
        const m = byProgram.get(p)!.get(leadId)!;
        const i = fromLead.get(p)!;
        for (const key of [
          'progressionStatus',
          'acquiredBy',
          'reachedSuccess',
          'membershipDate',
          'updatedAt',
        ])
          expect(i[key]).toEqual(m[key]);
        expect(i.isExhausted).toEqual(m.isExhausted);
        expect(i.stream).toEqual(m.stream);
      }
    }
  });

  it('pages programMembership and filters it by programId', async () => {
    // A lead in several programs.
    let leadId = 1;
    let all: Row[] = [];
    for (; leadId < 300; leadId++) {
      all = await allOfLead(sb, `/rest/v1/leads/${leadId}/programMembership.json`, 300);
      if (all.length >= 3) break;
    }
    expect(all.length).toBeGreaterThanOrEqual(3);
    expect(await allOfLead(sb, `/rest/v1/leads/${leadId}/programMembership.json`, 1)).toEqual(all);
    const first = await sb.apiJson<Body>(`/rest/v1/leads/${leadId}/programMembership.json?batchSize=1`);
    expect(first.moreResult).toBe(true);
    const last = await sb.apiJson<Body>(`/rest/v1/leads/${leadId}/programMembership.json`);
    expect(last.moreResult).toBe(false);
    expect(last.nextPageToken).toBeUndefined();

    const wanted = [all[0]!.id, all[2]!.id, 999999];
    const filtered = await sb.apiJson<Body>(
      `/rest/v1/leads/${leadId}/programMembership.json?filterType=programId&filterValues=${wanted.join(',')}`,
    );
    expect(filtered.result!.map((r) => r.id)).toEqual([all[0]!.id, all[2]!.id]);
    const badType = await sb.apiJson<Body>(
      `/rest/v1/leads/${leadId}/programMembership.json?filterType=email&filterValues=x`,
    );
    expect(errorCode(badType)).toBe('1011');
    const noValues = await sb.apiJson<Body>(
      `/rest/v1/leads/${leadId}/programMembership.json?filterType=programId`,
    );
    expect(errorCode(noValues)).toBe('701');
  });

  it('lists smart campaigns that exist in the asset API, drawn from the lead’s programs', async () => {
    const campaigns = new Map<number, Row>();
    for (let offset = 0; ; offset += 200) {
      const page = await sb.apiJson<Body>(
        `/rest/asset/v1/smartCampaigns.json?maxReturn=200&offset=${offset}`,
      );
      if (!page.result) break;
      for (const c of page.result) campaigns.set(c.id, c);
    }
    let seen = 0;
    for (let leadId = 1; leadId <= 150; leadId++) {
      const items = await allOfLead(sb, `/rest/v1/leads/${leadId}/smartCampaignMembership.json`, 2);
      const ids = items.map((i) => i.smartCampaignId as number);
      expect(ids).toEqual([...ids].sort((a, b) => a - b));
      for (const item of items) {
        seen++;
        expect(Object.keys(item)).toEqual(['smartCampaignId', 'createdAt', 'updatedAt']);
        const c = campaigns.get(item.smartCampaignId as number);
        expect(c).toBeDefined();
        expect(c!.status).not.toBe('Never Run');
        // Campaign members are members of the campaign's program, and joined it first.
        const pm = byProgram.get(c!.parentProgramId as number)!.get(leadId);
        expect(pm).toBeDefined();
        expect(Date.parse(item.createdAt as string)).toBeGreaterThanOrEqual(
          Date.parse(pm!.membershipDate as string),
        );
        expect(Date.parse(item.updatedAt as string)).toBeGreaterThanOrEqual(
          Date.parse(item.createdAt as string),
        );
      }
    }
    expect(seen).toBeGreaterThan(0);
  });

  it('answers 1013 for an unknown program, 1004 for an unknown lead, 1003 for malformed ids', async () => {
    expect(errorCode(await sb.apiJson<Body>('/rest/v1/leads/programs/999999.json'))).toBe('1013');
    expect(errorCode(await sb.apiJson<Body>('/rest/v1/leads/programs/abc.json'))).toBe('1003');
    for (const reader of ['programMembership', 'smartCampaignMembership']) {
      const unknown = await sb.apiJson<Body>(`/rest/v1/leads/99999999/${reader}.json`);
      expect(unknown.errors).toEqual([{ code: '1004', message: "Lead '99999999' not found" }]);
      expect(errorCode(await sb.apiJson<Body>(`/rest/v1/leads/abc/${reader}.json`))).toBe('1003');
    }
  });

  it('refuses a bad batchSize and a token of another reader or program; caps batchSize at 300', async () => {
    for (const bad of ['0', '-1', 'abc', '1.5']) {
      for (const path of [
        '/rest/v1/leads/programs/1001.json',
        '/rest/v1/leads/1/programMembership.json',
        '/rest/v1/leads/1/smartCampaignMembership.json',
      ]) {
        expect(errorCode(await sb.apiJson<Body>(`${path}?batchSize=${bad}`))).toBe('1003');
      }
    }
    // The largest program of the instance has more than 300 members: one page holds 300.
    const largest = PROGRAM_IDS.reduce((a, b) => (byProgram.get(a)!.size >= byProgram.get(b)!.size ? a : b));
    expect(byProgram.get(largest)!.size).toBeGreaterThan(300);
    const capped = await sb.apiJson<Body>(`/rest/v1/leads/programs/${largest}.json?batchSize=1000`);
    expect(capped.result!.length).toBe(300);
    const token = capped.nextPageToken!;
    const other = PROGRAM_IDS.find((p) => p !== largest)!;
    const foreign = await sb.apiJson<Body>(`/rest/v1/leads/programs/${other}.json?nextPageToken=${token}`);
    expect(errorCode(foreign)).toBe('1003');
    const asLead = await sb.apiJson<Body>(`/rest/v1/leads/1/programMembership.json?nextPageToken=${token}`);
    expect(errorCode(asLead)).toBe('1003');
    expect(errorCode(await sb.apiJson<Body>('/rest/v1/leads/programs/1001.json?nextPageToken=NOPE'))).toBe(
      '1003',
    );
  });

  it('needs a lead read permission (603 otherwise)', async () => {
    const lead = await tokenFor(sb, 'ro-lead', ['readOnlyLead']);
    const assets = await tokenFor(sb, 'ro-assets', ['readOnlyAssets', 'readOnlyActivity']);
    for (const path of [
      '/rest/v1/leads/programs/1001.json',
      '/rest/v1/leads/1/programMembership.json',
      '/rest/v1/leads/1/smartCampaignMembership.json',
    ]) {
      expect((await sb.apiJson<Body>(path, { headers: lead })).success).toBe(true);
      expect(errorCode(await sb.apiJson<Body>(path, { headers: assets }))).toBe('603');
    }
  });
});

describe('membership after lead changes', () => {
  it('drops a deleted lead from every reader', async () => {
    const sb = await startTestSandbox({ seed: { leads: 800, seed: 3, asOf: AS_OF }, limits: unlimited() });
    try {
      const before = await allMembers(sb, 1003, 300);
      const victim = before[0]!.id;
      const programs = await sb.apiJson<Body>(`/rest/v1/leads/${victim}/programMembership.json`);
      expect(programs.result!.map((r) => r.id)).toContain(1003);
      const del = await sb.apiJson<Body>('/rest/v1/leads/delete.json', {
        method: 'POST',
        json: { input: [{ id: victim }] },
      });
      expect(del.result![0]!.status).toBe('deleted');
      const after = await allMembers(sb, 1003, 300);
      expect(after.map((r) => r.id)).toEqual(before.slice(1).map((r) => r.id));
      expect(errorCode(await sb.apiJson<Body>(`/rest/v1/leads/${victim}/programMembership.json`))).toBe(
        '1004',
      );
      // A lead created through the API is in no generated program.
      const created = await sb.apiJson<Body>('/rest/v1/leads.json', {
        method: 'POST',
        json: { input: [{ email: 'new.member@example.com' }] },
      });
      const newId = created.result![0]!.id;
      const none = await sb.apiJson<Body>(`/rest/v1/leads/${newId}/programMembership.json`);
      expect(none).toMatchObject({ success: true, result: [], moreResult: false });
    } finally {
      await sb.close();
    }
  });
});

describe('program membership at scale', () => {
  it('is deterministic from the seed and cheap on a 1,000,000-lead instance', async () => {
    const opts = { seed: { leads: 1_000_000, seed: 8, asOf: AS_OF }, limits: unlimited() };
    const a = await startTestSandbox(opts);
    const b = await startTestSandbox(opts);
    try {
      const heapBefore = process.memoryUsage().heapUsed;
      const t0 = performance.now();
      const pa = await a.apiJson<Body>('/rest/v1/leads/programs/1005.json?fields=id');
      const deep = await a.apiJson<Body>(
        `/rest/v1/leads/programs/1005.json?fields=id&nextPageToken=${encodeURIComponent(pa.nextPageToken!)}`,
      );
      const lead = pa.result![299]!.id;
      const programs = await a.apiJson<Body>(`/rest/v1/leads/${lead}/programMembership.json`);
      const campaigns = await a.apiJson<Body>(`/rest/v1/leads/${lead}/smartCampaignMembership.json`);
      expect(performance.now() - t0).toBeLessThan(2000);
      // Nothing per lead is materialised.
      expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(50 * 1024 * 1024);
      expect(pa.result!.length).toBe(300);
      expect(deep.result![0]!.id).toBeGreaterThan(lead);
      expect(programs.result!.map((r) => r.id)).toContain(1005);
      expect(campaigns.success).toBe(true);

      const pb = await b.apiJson<Body>('/rest/v1/leads/programs/1005.json?fields=id');
      expect(pb.result).toEqual(pa.result);
      expect(pb.nextPageToken).toBe(pa.nextPageToken);
      expect(await b.apiJson<Body>(`/rest/v1/leads/${lead}/programMembership.json`)).toMatchObject({
        result: programs.result,
      });
    } finally {
      await a.close();
      await b.close();
    }
  });
});
