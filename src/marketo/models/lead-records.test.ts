import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { csvBatches } from '../bulk/csv.ts';
import { download, iso, runJob } from '../../sandbox/bulk/test-helpers.ts';
import {
  describeLeadSchema,
  LeadRowConverter,
  LeadSchema,
  leadRecordFromRest,
  leadValue,
  valueKind,
} from './lead-records.ts';
import { ok, startHarness, TEST_LEAD_FIELDS, type Harness } from './test-helpers.ts';
import type { SyncRecord } from './types.ts';

const schema = new LeadSchema(TEST_LEAD_FIELDS);

describe('lead value conversion', () => {
  it('maps describe data types to record kinds', () => {
    expect(['integer', 'float', 'currency', 'percent', 'score'].map(valueKind)).toEqual(
      Array(5).fill('number'),
    );
    expect(valueKind('boolean')).toBe('boolean');
    expect(valueKind('datetime')).toBe('datetime');
    expect(valueKind('date')).toBe('date');
    for (const t of ['string', 'text', 'email', 'phone', 'url', 'reference', 'formula', null, 'weird'])
      expect(valueKind(t)).toBe('string');
  });

  it('types text as the REST API answers; empty is left out; unreadable text is kept', () => {
    expect(leadValue('number', '42')).toBe(42);
    expect(leadValue('number', '-1.5')).toBe(-1.5);
    expect(leadValue('number', ' ')).toBe(' ');
    expect(leadValue('number', 'n/a')).toBe('n/a');
    expect(leadValue('boolean', 'true')).toBe(true);
    expect(leadValue('boolean', 'false')).toBe(false);
    expect(leadValue('boolean', 'TRUE')).toBe(true);
    expect(leadValue('boolean', '0')).toBe(false);
    expect(leadValue('datetime', '2024-01-31T10:00:00Z')).toBe('2024-01-31T10:00:00Z');
    expect(leadValue('datetime', '2024-01-31T10:00:00+0100')).toBe('2024-01-31T09:00:00Z');
    expect(leadValue('datetime', '2014-11-13 12:43:04')).toBe('2014-11-13T12:43:04Z');
    expect(leadValue('datetime', '2024-01-31T10:00:00.123Z')).toBe('2024-01-31T10:00:00Z');
    expect(leadValue('date', '2024-01-31')).toBe('2024-01-31');
    expect(leadValue('date', '2024-01-31T00:00:00Z')).toBe('2024-01-31');
    expect(leadValue('string', '00123')).toBe('00123');
    for (const kind of ['string', 'number', 'boolean', 'datetime', 'date'] as const) {
      expect(leadValue(kind, null)).toBeUndefined();
      expect(leadValue(kind, '')).toBeUndefined();
      expect(leadValue(kind, undefined)).toBeUndefined();
    }
    // Typed REST values stay as they are; a number in a string field becomes its text.
    expect(leadValue('number', 7)).toBe(7);
    expect(leadValue('boolean', false)).toBe(false);
    expect(leadValue('string', 12)).toBe('12');
  });

  it('a CSV row and the REST item of the same lead give the same record', () => {
    const header = [
      'id',
      'email',
      'leadScore',
      'urgency',
      'unsubscribed',
      'createdAt',
      'dateOfBirth',
      'postalCode',
    ];
    const conv = new LeadRowConverter(header, schema);
    const row = ['17', 'a@b.c', '12', null, 'false', '2024-01-31T10:00:00Z', '', '01234'];
    const rest = {
      id: 17,
      email: 'a@b.c',
      leadScore: 12,
      urgency: null,
      unsubscribed: false,
      createdAt: '2024-01-31T10:00:00Z',
      dateOfBirth: null,
      postalCode: '01234',
    };
    const expected = {
      id: '17',
      email: 'a@b.c',
      leadScore: 12,
      unsubscribed: false,
      createdAt: '2024-01-31T10:00:00Z',
      postalCode: '01234',
    };
    expect(conv.record(row)).toEqual(expected);
    expect(leadRecordFromRest(rest, schema)).toEqual(expected);
    // Fields outside the schema: REST ones are dropped, file columns kept as text.
    expect(leadRecordFromRest({ ...rest, extra: 1 }, schema)).toEqual(expected);
    expect(new LeadRowConverter(['id', 'other'], schema).record(['1', '5'])).toEqual({ id: '1', other: '5' });
    expect(conv.record([null, 'x', null, null, null, null, null, null])).toBeUndefined();
    expect(() => new LeadRowConverter(['email'], schema)).toThrow(/id column/);
    expect(conv.records([row, [null, ...row.slice(1)], row])).toHaveLength(2);
  });

  it('dense files get one record shape (empty fields undefined), sparse files only the set fields', () => {
    const header = [
      'id',
      'email',
      'leadScore',
      'urgency',
      'unsubscribed',
      'createdAt',
      'dateOfBirth',
      'postalCode',
    ];
    const dense = [
      ['1', 'a@b.c', '3', '0.5', 'true', '2024-01-31T10:00:00Z', null, '75001'],
      ['2', 'd@e.f', null, '1', 'false', '2024-02-01T10:00:00Z', '1990-05-06', null],
    ];
    const sparse = [
      ['3', null, null, null, null, null, null, null],
      ['4', 'x@y.z', null, null, null, null, null, null],
    ];
    const d = new LeadRowConverter(header, schema);
    const dRecs = d.records(dense);
    expect(d.isDense).toBe(true);
    expect(Object.keys(dRecs[0]!)).toHaveLength(header.length);
    // Same content as the row-by-row builder once serialized (undefined is dropped).
    expect(dRecs.map((r) => JSON.stringify(r))).toEqual(
      dense.map((row) => JSON.stringify(new LeadRowConverter(header, schema).record(row))),
    );
    expect(dRecs[1]).toEqual({
      id: '2',
      email: 'd@e.f',
      urgency: 1,
      unsubscribed: false,
      createdAt: '2024-02-01T10:00:00Z',
      dateOfBirth: '1990-05-06',
    });
    const sp = new LeadRowConverter(header, schema);
    expect(sp.records(sparse)).toEqual([{ id: '3' }, { id: '4', email: 'x@y.z' }]);
    expect(sp.isDense).toBe(false);
    expect(Object.keys(sp.records(sparse)[1]!)).toEqual(['id', 'email']);
    // A hostile column name stays an own property in both builders.
    const odd = new LeadRowConverter(['id', '__proto__', 'a"b'], schema);
    const r = odd.records([['1', 'x', 'y']])[0]!;
    expect(Object.getPrototypeOf(r)).toBe(Object.prototype);
    expect(Object.getOwnPropertyDescriptor(r, '__proto__')?.value).toBe('x');
    expect(r['a"b']).toBe('y');
  });

  it('schema: id always present, field sets compared without order', () => {
    const s = new LeadSchema([{ name: 'email', kind: 'string' }]);
    expect(s.names).toEqual(['email', 'id']);
    expect(s.sameFields(['id', 'email'])).toBe(true);
    expect(s.sameFields(['id'])).toBe(false);
    expect(s.sameFields(['id', 'email', 'x'])).toBe(false);
    expect(s.kindOf('nope')).toBe('string');
  });
});

describe('lead records against the sandbox (REST and a real export file)', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness(300, 5);
  });
  afterAll(async () => h.close());

  it('every lead of an export file equals its REST read with all fields', async () => {
    const s = await describeLeadSchema({ get: (p) => h.api(p), log: () => undefined });
    expect(s.names).toContain('salesRegion');
    expect(s.kindOf('isCustomer')).toBe('boolean');
    expect(s.kindOf('accountTier')).toBe('number');
    expect(s.kindOf('lastWebinarAt')).toBe('datetime');
    expect(s.kindOf('renewalDate')).toBe('date');

    // One job over the last 31 days (leads are generated over 730 days: a sample is enough here).
    const end = h.now().getTime();
    const job = await runJob(h.sb, 'leads', {
      fields: s.names,
      filter: { createdAt: { startAt: iso(end - 31 * 86_400_000), endAt: iso(end) } },
    });
    const file = await download(h.sb, 'leads', job.id);
    const fromFile = new Map<string, SyncRecord>();
    for await (const batch of csvBatches(
      (async function* () {
        yield new Uint8Array(file);
      })(),
      { batchRows: 7 },
    )) {
      const conv = new LeadRowConverter(batch.header, s);
      for (const r of conv.records(batch.rows)) fromFile.set(r.id, r);
    }
    expect(fromFile.size).toBeGreaterThan(5);
    const ids = [...fromFile.keys()].map(Number);
    const rest = await ok(
      h,
      `/rest/v1/leads.json?filterType=id&filterValues=${ids.join(',')}&fields=${s.names.join(',')}`,
    );
    expect(rest.result).toHaveLength(ids.length);
    for (const item of rest.result!) {
      const rec = leadRecordFromRest(item, s)!;
      expect(fromFile.get(rec.id)).toEqual(rec);
      // Empty fields are left out, set ones are all there.
      const set = Object.entries(item).filter(([, v]) => v !== null && v !== '').length;
      expect(Object.keys(rec)).toHaveLength(set);
    }
  });
});
