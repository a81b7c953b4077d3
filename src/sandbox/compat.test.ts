/**
 * A published third-party Marketo client (node-marketo-rest 0.7.8, npm) works unchanged against the
 * sandbox, given only its Endpoint and Identity URLs and a LaunchPoint service's credentials.
 */
import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestSandbox, type MarketoBody, type TestSandbox } from './testing.ts';
import { unlimited } from './index.ts';

type Result = Record<string, unknown>;
interface Body extends MarketoBody {
  result?: Result[];
}
interface NodeMarketo {
  lead: {
    byId(id: number, opts?: { fields?: string[] }): Promise<Body>;
    find(filterType: string, values: string[], opts?: { fields?: string[] }): Promise<Body>;
    createOrUpdate(input: Result[], opts?: Result): Promise<Body>;
  };
  list: {
    find(opts: Result): Promise<Body>;
    addLeadsToList(listId: number, ids: number[]): Promise<Body>;
    isMember(listId: number, ids: number[]): Promise<Body>;
    getLeads(listId: number, opts?: Result): Promise<Body>;
  };
  activities: { getActivityTypes(): Promise<Body> };
  stats: { usage(): Promise<Body> };
  bulkLeadExtract: {
    create(fields: string[], filter: Result): Promise<Body>;
    enqueue(id: string): Promise<Body>;
    status(id: string): Promise<Body>;
    file(id: string): Promise<string>;
  };
}
type MarketoCtor = new (opts: {
  endpoint: string;
  identity: string;
  clientId: string;
  clientSecret: string;
}) => NodeMarketo;

const require = createRequire(import.meta.url);
const Marketo = require('node-marketo-rest') as MarketoCtor;

let sb: TestSandbox;
let client: NodeMarketo;

beforeAll(async () => {
  sb = await startTestSandbox({ seed: { leads: 200, seed: 11 }, limits: unlimited() });
  client = new Marketo({
    endpoint: sb.endpoint,
    identity: sb.identity,
    clientId: sb.clientId,
    clientSecret: sb.clientSecret,
  });
});
afterAll(async () => sb.close());

describe('node-marketo-rest against the sandbox', () => {
  it('reads a lead by id and finds it by email', async () => {
    const byId = await client.lead.byId(5, { fields: ['email', 'firstName', 'lastName'] });
    expect(byId.success).toBe(true);
    const lead = byId.result![0]!;
    expect(lead.id).toBe(5);
    expect(typeof lead.email).toBe('string');
    const found = await client.lead.find('email', [lead.email as string], { fields: ['email'] });
    expect(found.result!.map((l) => l.id)).toEqual([5]);
  });

  it('creates a lead, then sees it updated', async () => {
    const created = await client.lead.createOrUpdate([{ email: 'compat@example.com', firstName: 'Ada' }], {
      action: 'createOnly',
    });
    expect(created.result![0]!.status).toBe('created');
    const id = created.result![0]!.id as number;
    const updated = await client.lead.createOrUpdate([{ email: 'compat@example.com', firstName: 'Grace' }], {
      lookupField: 'email',
    });
    expect(updated.result![0]).toEqual({ id, status: 'updated' });
    const read = await client.lead.byId(id, { fields: ['firstName'] });
    expect(read.result![0]!.firstName).toBe('Grace');
  });

  it('lists static lists (POST with _method=GET in the body) and manages membership', async () => {
    const lists = await client.list.find({});
    expect(lists.success).toBe(true);
    const listId = lists.result![0]!.id as number;
    const added = await client.list.addLeadsToList(listId, [7]);
    expect(added.result![0]).toMatchObject({ id: 7, status: 'added' });
    const member = await client.list.isMember(listId, [7]);
    expect(member.result![0]).toMatchObject({ id: 7, status: 'memberof' });
    const members = await client.list.getLeads(listId, { batchSize: 300 });
    expect(members.result!.some((l) => l.id === 7)).toBe(true);
  });

  it('reads activity types and usage statistics', async () => {
    const types = await client.activities.getActivityTypes();
    expect(types.result!.some((t) => t.id === 12 && t.name === 'New Lead')).toBe(true);
    const usage = await client.stats.usage();
    expect((usage.result![0]!.total as number) > 0).toBe(true);
  });

  it('runs a bulk lead export through /rest/../bulk paths', async () => {
    const endAt = new Date(Date.now() + 60_000);
    const startAt = new Date(endAt.getTime() - 30 * 86_400_000);
    const iso = (d: Date) => d.toISOString().slice(0, 19) + 'Z';
    const created = await client.bulkLeadExtract.create(['id', 'email'], {
      createdAt: { startAt: iso(startAt), endAt: iso(endAt) },
    });
    expect(created.success).toBe(true);
    const exportId = created.result![0]!.exportId as string;
    expect((await client.bulkLeadExtract.enqueue(exportId)).result![0]!.status).toBe('Queued');
    let status = '';
    for (let i = 0; i < 100 && status !== 'Completed'; i++) {
      status = (await client.bulkLeadExtract.status(exportId)).result![0]!.status as string;
      if (status !== 'Completed') await new Promise((r) => setTimeout(r, 50));
    }
    expect(status).toBe('Completed');
    const file = await client.bulkLeadExtract.file(exportId);
    expect(String(file).split('\n')[0]).toBe('id,email');
  });

  it('re-authenticates by itself after the token expires (602)', async () => {
    await client.lead.byId(1);
    const expired = await sb.control('POST', `/instances/${sb.munchkinId}/tokens/expire`, {});
    expect(expired.status).toBe(200);
    const again = await client.lead.byId(2);
    expect(again.result![0]!.id).toBe(2);
    const counters = await sb.control<{ errorsByCode: Record<string, number>; tokensIssued: number }>(
      'GET',
      `/instances/${sb.munchkinId}/counters`,
    );
    expect(counters.body.errorsByCode['602']).toBe(1);
    expect(counters.body.tokensIssued).toBeGreaterThanOrEqual(2);
  });
});
