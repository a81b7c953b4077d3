import { afterEach, describe, expect, it } from 'vitest';
import { unlimited } from '../index.ts';
import { LEAD_FIELDS } from '../leads/fields.ts';
import { startTestSandbox, type MarketoBody, type TestSandbox } from '../testing.ts';
import { DAY_MS, download, iso, runJob } from './test-helpers.ts';

/**
 * Lead export files must not change when their generation gets faster: same seed, fields and filter,
 * same bytes. The checksums below were taken from the generator before its fast path existed (it
 * built a record per lead and encoded it cell by cell); the second test compares files with a
 * plain encoding of what the REST API reads, API-changed leads and values that need quoting included.
 */

let sb: TestSandbox | undefined;
afterEach(async () => {
  await sb?.close();
  sb = undefined;
});

const ALL = LEAD_FIELDS.map((f) => f.name);
const AS_OF = Date.UTC(2024, 4, 17, 9, 30, 15);
const LAST_31_DAYS = { createdAt: { startAt: iso(AS_OF - 31 * DAY_MS), endAt: iso(AS_OF) } };

interface Pinned {
  name: string;
  seed: { leads: number; seed: number; asOf: number; spanDays?: number };
  body: Record<string, unknown>;
  records: number;
  size: number;
  checksum: string;
}

const PINNED: Pinned[] = [
  {
    name: 'every field, CSV',
    seed: { leads: 4000, seed: 42, asOf: AS_OF, spanDays: 30 },
    body: { fields: ALL, filter: LAST_31_DAYS },
    records: 4000,
    size: 2454970,
    checksum: 'sha256:c9a452c1ee7b3f3f3e0a6ec422c51196ae1756e4f0a9eefc20b9a6c1d47bd1ea',
  },
  {
    name: 'every field, TSV',
    seed: { leads: 4000, seed: 42, asOf: AS_OF, spanDays: 30 },
    body: { fields: ALL, format: 'TSV', filter: LAST_31_DAYS },
    records: 4000,
    size: 2454970,
    checksum: 'sha256:bd9bcaa2193bd9f2475f6145fee6b1ed1acfa9751264dd9c78f2d81773de40ed',
  },
  {
    name: 'every field, SSV, another seed',
    seed: { leads: 4000, seed: 7, asOf: AS_OF, spanDays: 30 },
    body: { fields: ALL, format: 'SSV', filter: LAST_31_DAYS },
    records: 4000,
    size: 2449247,
    checksum: 'sha256:70c68a5d7790efbc5a83a77f0bf31278072abb76a6dea149a5cbd97adc560572',
  },
  {
    name: 'a few fields out of order, one twice, a seed above 2^32, a renamed header',
    seed: { leads: 30000, seed: 2 ** 40 + 5, asOf: AS_OF },
    body: {
      fields: ['email', 'updatedAt', 'id', 'leadScore', 'urgency', 'email', 'isCustomer', 'cookies'],
      columnHeaderNames: { email: 'E-mail, primary' },
      filter: { createdAt: { startAt: iso(AS_OF - 400 * DAY_MS), endAt: iso(AS_OF - 370 * DAY_MS) } },
    },
    records: 1233,
    size: 204609,
    checksum: 'sha256:1561565156fb8634e16479314cadda83fa7ee2f37dd853c0265c41c3d1b458db',
  },
  {
    name: 'updatedAt filter',
    seed: { leads: 20000, seed: 99, asOf: AS_OF },
    body: {
      fields: ALL,
      filter: { updatedAt: { startAt: iso(AS_OF - 20 * DAY_MS), endAt: iso(AS_OF - 1) } },
    },
    records: 1827,
    size: 1121831,
    checksum: 'sha256:557e1dd10fabfe01ff2c689b47e2ccd3f5a560b99991f132dbc1aeb0493afcd1',
  },
  {
    name: 'static list filter',
    seed: { leads: 20000, seed: 5, asOf: AS_OF },
    body: { fields: ALL, filter: { staticListId: 1002 } },
    records: 1543,
    size: 950122,
    checksum: 'sha256:0b5ed29ce1de9cbbfb1a9172a553bcd198555647097f52d492bebf8fd314f642',
  },
];

describe('lead export files stay byte for byte what they were', () => {
  for (const p of PINNED) {
    it(p.name, async () => {
      const s = (sb = await startTestSandbox({ seed: p.seed, limits: unlimited() }));
      const { status } = await runJob(s, 'leads', p.body);
      expect({
        records: status.numberOfRecords,
        size: status.fileSize,
        checksum: status.fileChecksum,
      }).toEqual({ records: p.records, size: p.size, checksum: p.checksum });
    });
  }
});

/** The reference encoding: Marketo's `null` for empty values, RFC 4180 quoting when needed. */
function referenceCell(value: unknown, delimiter: string): string {
  if (value === null || value === undefined || value === '') return 'null';
  const text = String(value);
  return text.includes(delimiter) || /["\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** Every field of `ids` through the REST API (POST with `_method=GET`: the field list is long). */
async function restLeads(s: TestSandbox, ids: number[]): Promise<Map<number, Record<string, unknown>>> {
  const out = new Map<number, Record<string, unknown>>();
  for (let i = 0; i < ids.length; i += 300) {
    const form = new URLSearchParams({
      filterType: 'id',
      filterValues: ids.slice(i, i + 300).join(','),
      fields: ALL.join(','),
      batchSize: '300',
    });
    const body = await s.apiJson<MarketoBody>('/rest/v1/leads.json?_method=GET', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: form.toString(),
    });
    expect(body.success, JSON.stringify(body.errors)).toBe(true);
    for (const lead of body.result!) out.set(lead.id as number, lead);
  }
  return out;
}

it('writes what the REST API reads, for generated, changed, deleted and created leads', async () => {
  const leads = 1500;
  const asOf = Math.floor(Date.now() / 1000) * 1000;
  const s = (sb = await startTestSandbox({
    seed: { leads, seed: 2024, asOf, spanDays: 30 },
    limits: unlimited(),
  }));
  // Values that need quoting in one format or another, non-ASCII and astral characters.
  const tricky = ['a,b', 'say "hi"', 'two\nlines', 'tab\there', 'semi;colon', 'Zoë Ünal', 'rocket 🚀', ''];
  const updates = tricky.map((title, i) => ({
    id: 10 + i * 37,
    title,
    city: tricky[(i + 3) % tricky.length],
  }));
  const updated = await s.apiJson<MarketoBody>('/rest/v1/leads.json', {
    method: 'POST',
    json: { action: 'updateOnly', lookupField: 'id', input: updates },
  });
  expect(updated.result!.every((r) => r.status === 'updated')).toBe(true);
  const deletedIds = [1, 2, 500, leads];
  const deleted = await s.apiJson<MarketoBody>('/rest/v1/leads/delete.json', {
    method: 'POST',
    json: { input: deletedIds.map((id) => ({ id })) },
  });
  expect(deleted.result!.every((r) => r.status === 'deleted')).toBe(true);
  const created = await s.apiJson<MarketoBody>('/rest/v1/leads.json', {
    method: 'POST',
    json: {
      action: 'createOnly',
      input: [
        { email: 'new.one@example.com', firstName: 'Chloé', company: 'Acme, Inc.' },
        { email: 'new.two@example.com', lastName: 'O"Neil', annualRevenue: 12.5 },
      ],
    },
  });
  expect(created.result!.map((r) => r.status)).toEqual(['created', 'created']);

  const ids: number[] = [];
  for (let id = 1; id <= leads + 2; id++) if (!deletedIds.includes(id)) ids.push(id);
  const rest = await restLeads(s, ids);
  expect(rest.size).toBe(ids.length);
  const window = { createdAt: { startAt: iso(asOf - 30 * DAY_MS - 1000), endAt: iso(asOf + DAY_MS - 1000) } };

  for (const [format, delimiter] of [
    ['CSV', ','],
    ['TSV', '\t'],
    ['SSV', ';'],
  ] as const) {
    const { id, status } = await runJob(s, 'leads', { fields: ALL, format, filter: window });
    const file = (await download(s, 'leads', id)).toString('utf8');
    let expected = ALL.join(delimiter) + '\n';
    for (const leadId of ids) {
      const lead = rest.get(leadId)!;
      expected += ALL.map((f) => referenceCell(lead[f], delimiter)).join(delimiter) + '\n';
    }
    expect(status.numberOfRecords).toBe(ids.length);
    // Compare line by line first: a mismatch then names the lead instead of dumping megabytes.
    const got = file.split('\n');
    const want = expected.split('\n');
    for (let i = 0; i < want.length; i++)
      if (got[i] !== want[i])
        expect(`${format} line ${i}: ${got[i]}`).toBe(`${format} line ${i}: ${want[i]}`);
    expect(file).toBe(expected);
  }
});
