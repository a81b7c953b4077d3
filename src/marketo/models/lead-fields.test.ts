import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { activityTypeRecord, activityTypesSync } from './activity-types.ts';
import { leadFieldsSync, mergeLeadFields } from './lead-fields.ts';
import { MemoryEngine } from './testing.ts';
import { ok, sorted, startHarness, type Harness } from './test-helpers.ts';

describe('schema syncs against the sandbox', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness(20, 71);
  });
  afterAll(async () => h.close());

  it('lead-fields: every describe2 field (custom ones included), merged with describe; a rerun changes nothing', async () => {
    const r = await h.engine.run(leadFieldsSync);
    expect(r.error).toBeUndefined();
    const d2 = (await ok(h, '/rest/v1/leads/describe2.json')).result![0]! as {
      fields: { name: string; displayName: string; dataType: string; updateable: boolean }[];
      searchableFields: string[][];
    };
    const d1 = (await ok(h, '/rest/v1/leads/describe.json')).result! as {
      id: number;
      rest?: { name: string };
      soap?: { name: string };
    }[];
    const live = h.engine.live('LeadField');
    expect(sorted(live.keys())).toEqual(sorted(d2.fields.map((f) => f.name)));
    for (const f of d2.fields) {
      const d = d1.find((x) => x.rest?.name === f.name);
      expect(live.get(f.name)).toMatchObject({
        id: f.name,
        displayName: f.displayName,
        dataType: f.dataType,
        updateable: f.updateable,
        searchable: d2.searchableFields.some((k) => k.length === 1 && k[0] === f.name),
        marketoId: d?.id ?? null,
        soapName: d?.soap?.name ?? null,
      });
    }
    expect(live.get('email')).toMatchObject({ searchable: true, dataType: 'email' });
    expect(live.get('isCustomer')).toMatchObject({ dataType: 'boolean' });
    expect(r.pages).toHaveLength(1);
    expect(r.pages[0]!.sweep).toMatchObject({ complete: true, models: ['LeadField'] });

    const again = await h.engine.run(leadFieldsSync);
    expect(again.added).toEqual({});
    expect(again.updated).toEqual({});
    expect(again.deleted).toEqual({});
  });

  it('activity-types: exactly types.json; a rerun changes nothing', async () => {
    const r = await h.engine.run(activityTypesSync);
    expect(r.error).toBeUndefined();
    const direct = (await ok(h, '/rest/v1/activities/types.json')).result!;
    const live = h.engine.live('ActivityType');
    expect(sorted(live.keys())).toEqual(sorted(direct.map((t) => String(t.id))));
    for (const t of direct) expect(live.get(String(t.id))).toEqual(activityTypeRecord(t));
    const again = await h.engine.run(activityTypesSync);
    expect(again.added).toEqual({});
    expect(again.updated).toEqual({});
    expect(again.deleted).toEqual({});
  });
});

describe('schema syncs without a network', () => {
  const describe2 = (names: string[]) => ({
    success: true,
    result: [
      {
        name: 'API Lead',
        searchableFields: [['email'], ['id'], ['email', 'company']],
        fields: names.map((name) => ({
          name,
          displayName: name.toUpperCase(),
          dataType: 'string',
          updateable: true,
        })),
      },
    ],
  });

  it('a field gone from the schema is deleted; describe failing is tolerated', async () => {
    let names = ['id', 'email', 'company', 'custom__c'];
    let describeFails = false;
    const engine = new MemoryEngine({
      get: async (path) => {
        if (path.includes('describe2')) return describe2(names);
        if (describeFails)
          return { success: false, errors: [{ code: '610', message: 'Requested resource not found' }] };
        return {
          success: true,
          result: [
            {
              id: 51,
              displayName: 'Email',
              dataType: 'email',
              rest: { name: 'email', readOnly: false },
              soap: { name: 'Email' },
            },
            { id: 99, displayName: 'SOAP only', dataType: 'string', soap: { name: 'SoapOnly' } },
            {
              id: 100,
              displayName: 'Rest only',
              dataType: 'integer',
              rest: { name: 'restOnly', readOnly: true },
            },
          ],
        };
      },
    });
    const r1 = await engine.run(leadFieldsSync);
    expect(sorted(r1.added.LeadField!)).toEqual(['company', 'custom__c', 'email', 'id', 'restOnly']);
    expect(engine.live('LeadField').get('email')).toMatchObject({
      marketoId: 51,
      soapName: 'Email',
      searchable: true,
    });
    expect(engine.live('LeadField').get('company')).toMatchObject({ searchable: false, marketoId: null });
    expect(engine.live('LeadField').get('restOnly')).toMatchObject({ updateable: false, crmManaged: null });

    names = ['id', 'email', 'company'];
    describeFails = true;
    const r2 = await engine.run(leadFieldsSync);
    expect(r2.error).toBeUndefined();
    expect(r2.logs.some((l) => l.message.includes('describe.json failed'))).toBe(true);
    expect(sorted(r2.deleted.LeadField!)).toEqual(['custom__c', 'restOnly']);
  });

  it('an empty schema is an error, not "every field was deleted"', async () => {
    const engine = new MemoryEngine({ get: async () => ({ success: true, result: [] }) });
    const r = await engine.run(leadFieldsSync);
    expect(r.error).toMatchObject({ code: 'empty_schema' });
    expect(r.pages).toHaveLength(0);
    expect(mergeLeadFields(null, null)).toEqual([]);
  });
});
