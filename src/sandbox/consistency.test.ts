import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { unlimited } from './index.ts';
import { startTestSandbox, type MarketoBody, type TestSandbox } from './testing.ts';
import { waitFor } from '../testing/wait.ts';

/**
 * The sandbox must look like one consistent Marketo instance: every program, static list and smart
 * campaign that seeded data refers to (activities, lists, memberships) resolves through the
 * sandbox's own endpoints with the same id and name, as a Tether user joining synced models would
 * expect.
 */

const AS_OF = Date.UTC(2026, 1, 10, 12, 0, 0);
const DAY = 86_400_000;
const SEED = { leads: 400, seed: 23, asOf: AS_OF, activitiesPerLead: 5 };

type Row = Record<string, unknown>;
interface Body extends MarketoBody {
  result?: Row[];
}
interface Attribute {
  name: string;
  value: unknown;
}
interface Activity {
  id: number;
  leadId: number;
  activityDate: string;
  activityTypeId: number;
  campaignId?: number;
  primaryAttributeValueId?: number;
  primaryAttributeValue?: string;
  attributes: Attribute[];
}

/** The asset API pages with offset/maxReturn and answers "no assets" (709-style warning) at the end. */
async function allAssets(sb: TestSandbox, path: string): Promise<Row[]> {
  const out: Row[] = [];
  for (let offset = 0; ; offset += 200) {
    const body = await sb.apiJson<Body>(`${path}?maxReturn=200&offset=${offset}`);
    expect(body.success).toBe(true);
    const page = body.result ?? [];
    out.push(...page);
    if (page.length < 200) return out;
  }
}

/** Follow nextPageToken of a lead-database reader until it stops. */
async function allPages(sb: TestSandbox, path: string): Promise<Row[]> {
  const out: Row[] = [];
  let token: string | undefined;
  for (;;) {
    const sep = path.includes('?') ? '&' : '?';
    const body = await sb.apiJson<Body>(
      token === undefined ? path : `${path}${sep}nextPageToken=${encodeURIComponent(token)}`,
    );
    expect(body.success, JSON.stringify(body.errors)).toBe(true);
    out.push(...(body.result ?? []));
    token = body.nextPageToken;
    const more = body.moreResult ?? token !== undefined;
    if (!more || token === undefined) return out;
  }
}

async function activities(sb: TestSandbox, typeIds: number[], sinceMs: number): Promise<Activity[]> {
  const since = await sb.apiJson<Body>(
    `/rest/v1/activities/pagingtoken.json?sinceDatetime=${encodeURIComponent(new Date(sinceMs).toISOString())}`,
  );
  const items: Activity[] = [];
  let token = since.nextPageToken!;
  // A few pages per group of types is enough to see every generated shape.
  for (let page = 0; page < 12; page++) {
    const body = await sb.apiJson<Body>(
      `/rest/v1/activities.json?activityTypeIds=${typeIds.join(',')}&batchSize=300&nextPageToken=${encodeURIComponent(token)}`,
    );
    expect(body.success, JSON.stringify(body.errors)).toBe(true);
    items.push(...((body.result ?? []) as unknown as Activity[]));
    token = body.nextPageToken!;
    if (!body.moreResult) break;
  }
  return items;
}

function attribute(a: Activity, name: string): unknown {
  return a.attributes.find((x) => x.name === name)?.value;
}

interface World {
  programs: Map<number, Row>;
  programNames: Set<string>;
  campaigns: Map<number, Row>;
  lists: Map<number, Row>;
  activities: Activity[];
}

/** "Program.Asset" names of program-local emails and forms: the prefix must be a program. */
function expectProgramPrefix(w: World, name: string, what: string): string | undefined {
  const dot = name.indexOf('.');
  if (dot < 0) return undefined;
  const prefix = name.slice(0, dot);
  expect(w.programNames.has(prefix), `${what} '${name}' names an unknown program`).toBe(true);
  return prefix;
}

describe('seeded data refers only to assets the API serves', () => {
  let sb: TestSandbox;
  const w: World = {
    programs: new Map(),
    programNames: new Set(),
    campaigns: new Map(),
    lists: new Map(),
    activities: [],
  };

  beforeAll(async () => {
    sb = await startTestSandbox({ seed: SEED, limits: unlimited() });
    for (const p of await allAssets(sb, '/rest/asset/v1/programs.json')) {
      w.programs.set(p.id as number, p);
      w.programNames.add(p.name as string);
    }
    for (const c of await allPages(sb, '/rest/v1/campaigns.json')) w.campaigns.set(c.id as number, c);
    for (const l of await allPages(sb, '/rest/v1/lists.json')) w.lists.set(l.id as number, l);

    // Writes that record activities referring to assets: Add to / Remove from List, Push Lead.
    const program = [...w.programs.values()][3]!;
    const pushed = await sb.apiJson<Body>('/rest/v1/leads/push.json', {
      method: 'POST',
      json: { programName: program.name, input: [{ email: 'consistency@example.com' }] },
    });
    expect(pushed.success).toBe(true);
    const added = await sb.apiJson<Body>('/rest/v1/lists/1004/leads.json?id=3&id=4', { method: 'POST' });
    expect(added.success).toBe(true);
    const removed = await sb.apiJson<Body>('/rest/v1/lists/1004/leads.json?id=3', { method: 'DELETE' });
    expect(removed.success).toBe(true);

    const types = await allPages(sb, '/rest/v1/activities/types.json');
    const ids = types.map((t) => t.id as number);
    for (let i = 0; i < ids.length; i += 10) {
      w.activities.push(...(await activities(sb, ids.slice(i, i + 10), AS_OF - 400 * DAY)));
    }
  }, 60_000);
  afterAll(async () => {
    await sb.close();
  });

  it('serves the same smart campaigns through the asset API and the lead database API', async () => {
    const assets = await allAssets(sb, '/rest/asset/v1/smartCampaigns.json');
    expect(assets.length).toBeGreaterThan(0);
    expect(new Set(assets.map((c) => c.id))).toEqual(new Set(w.campaigns.keys()));
    for (const c of assets) {
      expect(w.campaigns.get(c.id as number)!.name).toBe(c.name);
      const program = w.programs.get(c.parentProgramId as number);
      expect(program, `campaign ${String(c.id)}'s program`).toBeDefined();
      expect(w.campaigns.get(c.id as number)!.programName).toBe(program!.name);
    }
  });

  it('gives every program list a program that exists', () => {
    const inPrograms = [...w.lists.values()].filter((l) => l.programName !== undefined);
    expect(inPrograms.length).toBeGreaterThan(0);
    for (const l of inPrograms) {
      expect(
        w.programNames.has(l.programName as string),
        `list ${String(l.id)}: ${String(l.programName)}`,
      ).toBe(true);
    }
  });

  it('reads activities of every generated kind', () => {
    const seen = new Set(w.activities.map((a) => a.activityTypeId));
    for (const t of [1, 2, 3, 6, 7, 8, 9, 10, 11, 12, 13, 22, 24, 25, 104, 145, 100001]) {
      expect(seen.has(t), `activity type ${t}`).toBe(true);
    }
  });

  it('resolves program, list and campaign references of activities with matching names', () => {
    const problems: string[] = [];
    const check = (ok: boolean, a: Activity, what: string) => {
      if (!ok) problems.push(`activity ${a.id} (type ${a.activityTypeId}): ${what}`);
    };
    for (const a of w.activities) {
      if (a.campaignId !== undefined) check(w.campaigns.has(a.campaignId), a, `campaign ${a.campaignId}`);
      const id = a.primaryAttributeValueId;
      const name = a.primaryAttributeValue;
      switch (a.activityTypeId) {
        case 104:
        case 145: {
          const p = id === undefined ? undefined : w.programs.get(id);
          check(p !== undefined && p.name === name, a, `program ${String(id)} '${String(name)}'`);
          break;
        }
        case 24:
        case 25: {
          const l = id === undefined ? undefined : w.lists.get(id);
          check(l !== undefined && l.name === name, a, `list ${String(id)} '${String(name)}'`);
          break;
        }
        case 2:
          expectProgramPrefix(w, name ?? '', 'form');
          break;
        case 6:
        case 7:
        case 8:
        case 9:
        case 10:
        case 11: {
          const program = expectProgramPrefix(w, name ?? '', 'email');
          // A campaign that sent a program's email belongs to that program.
          if (a.campaignId !== undefined && program !== undefined) {
            check(w.campaigns.get(a.campaignId)?.programName === program, a, `campaign of '${String(name)}'`);
          }
          break;
        }
        case 12: {
          const list = attribute(a, 'List Name');
          if (list !== undefined) {
            check(
              [...w.lists.values()].some((l) => l.name === list),
              a,
              `list '${String(list)}'`,
            );
          }
          const form = attribute(a, 'Form Name');
          if (typeof form === 'string') expectProgramPrefix(w, form, 'form');
          break;
        }
        case 100001:
          check(w.programNames.has(name ?? ''), a, `webinar '${String(name)}'`);
          break;
      }
      for (const attr of ['Program Id', 'Program ID']) {
        const v = attribute(a, attr);
        if (v !== undefined) check(w.programs.has(Number(v)), a, `${attr} ${String(v)}`);
      }
    }
    expect(problems.slice(0, 20)).toEqual([]);
  });

  it('moves leads only in programs they are members of, through their channel’s statuses', async () => {
    const changes = w.activities.filter((a) => a.activityTypeId === 104);
    expect(changes.length).toBeGreaterThan(0);
    const statusesOf = new Map<number, Set<string>>();
    for (const a of changes.slice(0, 80)) {
      const programId = a.primaryAttributeValueId!;
      let known = statusesOf.get(programId);
      if (!known) {
        const members = await allPages(sb, `/rest/v1/leads/programs/${programId}.json?fields=id`);
        known = new Set([
          'Not in Program',
          ...members.map((m) => (m.membership as Row).progressionStatus as string),
        ]);
        statusesOf.set(programId, known);
      }
      const newStatus = attribute(a, 'New Status') as string;
      expect(newStatus).not.toBe(attribute(a, 'Old Status'));
      if (newStatus === 'Not in Program') continue;
      // A lead moved within a program is a member of it, since before the move.
      const membership = await allPages(
        sb,
        `/rest/v1/leads/${a.leadId}/programMembership.json?filterType=programId&filterValues=${programId}`,
      );
      expect(membership, `activity ${a.id}: lead ${a.leadId} in program ${programId}`).toHaveLength(1);
      const joined = Date.parse(membership[0]!.membershipDate as string);
      expect(joined).toBeLessThanOrEqual(Date.parse(a.activityDate));
      expect([...known], `program ${programId}`).toContain(newStatus);
    }
  });

  it('resolves program members and the memberships of leads', async () => {
    for (const programId of [...w.programs.keys()].slice(0, 8)) {
      const members = await allPages(sb, `/rest/v1/leads/programs/${programId}.json?fields=id`);
      for (const m of members) expect((m.membership as Row).id).toBe(programId);
    }
    for (const leadId of [1, 57, 150, 233, 399]) {
      const programs = await allPages(sb, `/rest/v1/leads/${leadId}/programMembership.json`);
      for (const p of programs) expect(w.programs.has(p.id as number)).toBe(true);
      const campaigns = await allPages(sb, `/rest/v1/leads/${leadId}/smartCampaignMembership.json`);
      for (const c of campaigns) expect(w.campaigns.has(c.smartCampaignId as number)).toBe(true);
      const lists = await allPages(sb, `/rest/v1/leads/${leadId}/listMembership.json`);
      for (const l of lists) expect(w.lists.get(l.id as number)?.name).toBe(l.name);
    }
  });

  it('generates the same references from the same seed', async () => {
    const again = await startTestSandbox({ seed: SEED, limits: unlimited() });
    try {
      // List 1004 and New Lead activities were changed by the writes above; the rest is seeded.
      const seeded = (lists: Row[]) => lists.filter((l) => l.id !== 1004);
      expect(seeded(await allPages(again, '/rest/v1/lists.json'))).toEqual(seeded([...w.lists.values()]));
      const types = [2, 6, 104];
      const changes = await activities(again, types, AS_OF - 400 * DAY);
      // The first reads went type group by type group: put them back in id order.
      const before = w.activities.filter((a) => types.includes(a.activityTypeId)).sort((a, b) => a.id - b.id);
      expect(changes).toEqual(before);
    } finally {
      await again.close();
    }
  });
});

describe('references after a program is renamed through the API', () => {
  it('shows a program list under its program’s new name', async () => {
    const sb = await startTestSandbox({ seed: { leads: 20, seed: 5 }, limits: unlimited() });
    try {
      const before = await sb.apiJson<Body>('/rest/v1/lists/1002.json');
      const program = await sb.apiJson<Body>(
        `/rest/asset/v1/program/byName.json?name=${encodeURIComponent(before.result![0]!.programName as string)}`,
      );
      const id = program.result![0]!.id as number;
      const renamed = await sb.apiJson<Body>(`/rest/asset/v1/program/${id}.json`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ name: 'Webinar Renamed' }).toString(),
      });
      expect(renamed.success).toBe(true);
      const after = await sb.apiJson<Body>('/rest/v1/lists/1002.json');
      expect(after.result![0]!.programName).toBe('Webinar Renamed');
      // The list keeps its own name, as in Marketo (renaming a program does not rename its assets).
      expect(after.result![0]!.name).toBe(before.result![0]!.name);
      const byProgram = await sb.apiJson<Body>('/rest/v1/lists.json?programName=Webinar%20Renamed');
      expect(byProgram.result!.map((l) => l.id)).toEqual([1002]);
    } finally {
      await sb.close();
    }
  });
});

describe('custom object records belong to existing leads', () => {
  it('links every exported car and subscription to a lead created before it', async () => {
    const sb = await startTestSandbox({ seed: { leads: 400, seed: 23, asOf: AS_OF }, limits: unlimited() });
    try {
      // Deleting a lead takes its records with it: none of them may point at it afterwards.
      expect(
        (
          await sb.apiJson<Body>('/rest/v1/leads/delete.json', {
            method: 'POST',
            json: { input: [{ id: 390 }] },
          })
        ).success,
      ).toBe(true);
      for (const type of ['car_c', 'subscription_c']) {
        const base = `/bulk/v1/customobjects/${type}/export`;
        const created = await sb.apiJson<Body>(`${base}/create.json`, {
          method: 'POST',
          json: {
            fields: ['marketoGUID', 'leadId', 'createdAt'],
            filter: {
              updatedAt: {
                startAt: new Date(AS_OF - 31 * DAY).toISOString(),
                endAt: new Date(AS_OF).toISOString(),
              },
            },
          },
        });
        expect(created.success, JSON.stringify(created.errors)).toBe(true);
        const id = created.result![0]!.exportId as string;
        expect((await sb.apiJson<Body>(`${base}/${id}/enqueue.json`, { method: 'POST' })).success).toBe(true);
        await waitFor(`${type} export`, async () => {
          const s = await sb.apiJson<Body>(`${base}/${id}/status.json`);
          return s.result![0]!.status === 'Completed' ? true : undefined;
        });
        const lines = (await (await sb.api(`${base}/${id}/file.json`)).text()).trim().split('\n').slice(1);
        expect(lines.length, type).toBeGreaterThan(10);
        const leadIds = new Set<number>();
        const createdAt = new Map<string, number>();
        for (const line of lines) {
          const [guid, leadId, at] = line.split(',');
          leadIds.add(Number(leadId));
          createdAt.set(guid!, Date.parse(at!));
        }
        expect(leadIds.has(390)).toBe(false);
        const ids = [...leadIds];
        for (let i = 0; i < ids.length; i += 100) {
          const chunk = ids.slice(i, i + 100);
          const leads = await sb.apiJson<Body>(
            `/rest/v1/leads.json?filterType=id&filterValues=${chunk.join(',')}&fields=id,createdAt`,
          );
          expect(leads.result!.map((l) => l.id).sort(), type).toEqual([...chunk].sort());
          const records = await sb.apiJson<Body>(
            `/rest/v1/customobjects/${type}.json?filterType=leadId&filterValues=${chunk.join(',')}&fields=leadId`,
          );
          const born = new Map(leads.result!.map((l) => [l.id as number, Date.parse(l.createdAt as string)]));
          for (const r of records.result!) {
            const at = createdAt.get(r.marketoGUID as string);
            // Records of the window are created no earlier than their lead (to the second).
            if (at !== undefined) expect(at).toBeGreaterThanOrEqual(born.get(r.leadId as number)! - 999);
          }
        }
      }
    } finally {
      await sb.close();
    }
  });
});
