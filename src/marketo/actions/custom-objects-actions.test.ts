/**
 * upsert-custom-objects and delete-custom-objects against a real sandbox over HTTP: batches of 300,
 * per-record statuses with Marketo's reasons, dedupe by fields or marketoGUID, input checks.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deleteCustomObjects, deleteCustomObjectsInput } from './delete-custom-objects.ts';
import { startActionHarness, type ActionHarness } from './test-helpers.ts';
import {
  customObjectResults,
  upsertCustomObjects,
  upsertCustomObjectsInput,
} from './upsert-custom-objects.ts';

type Row = Record<string, unknown>;

let h: ActionHarness;
beforeAll(async () => {
  h = await startActionHarness(200, 9);
});
afterAll(async () => h.close());

async function carsByVin(vins: string[]): Promise<Row[]> {
  const q = new URLSearchParams({ filterType: 'vin', filterValues: vins.join(','), fields: 'vin,make,year' });
  return (await h.ok(`/rest/v1/customobjects/car_c.json?${q}`)).result ?? [];
}

describe('upsert-custom-objects', () => {
  it('creates 301 cars in 2 calls, then updates them by vin and by marketoGUID', async () => {
    const before = await h.counted('POST /rest/v1/customobjects/:apiName.json');
    const records = Array.from({ length: 301 }, (_, i) => ({
      vin: `CO-${i}`,
      make: 'Acme',
      leadId: 1 + (i % 50),
    }));
    const created = await h.run(upsertCustomObjects, { apiName: 'car_c', records });
    expect(await h.counted('POST /rest/v1/customobjects/:apiName.json')).toBe(before + 2);
    expect(created).toMatchObject({ created: 301, updated: 0, skipped: 0 });
    expect(created.results.map((r) => r.index)).toEqual(records.map((_, i) => i));
    const guid = created.results[300]!.marketoGUID!;
    expect(typeof guid).toBe('string');

    const updated = await h.run(upsertCustomObjects, {
      apiName: 'car_c',
      records: [{ vin: 'CO-0', make: 'Changed', year: 2020 }],
    });
    expect(updated.results).toEqual([
      { index: 0, marketoGUID: created.results[0]!.marketoGUID, status: 'updated' },
    ]);
    const byGuid = await h.run(upsertCustomObjects, {
      apiName: 'car_c',
      dedupeBy: 'idField',
      action: 'updateOnly',
      records: [{ marketoGUID: guid, make: 'ByGuid' }],
    });
    expect(byGuid.results[0]).toMatchObject({ status: 'updated', marketoGUID: guid });
    const rows = await carsByVin(['CO-0', 'CO-300']);
    expect(rows.map((r) => [r.vin, r.make])).toEqual([
      ['CO-0', 'Changed'],
      ['CO-300', 'ByGuid'],
    ]);
  });

  it('skips with Marketo’s reasons: createOnly of an existing record, updateOnly of a missing one', async () => {
    const out = await h.run(upsertCustomObjects, {
      apiName: 'car_c',
      action: 'createOnly',
      records: [{ vin: 'CO-1', make: 'Again', leadId: 2 }],
    });
    expect(out.results).toEqual([
      { index: 0, status: 'skipped', reasons: [{ code: '1005', message: expect.any(String) }] },
    ]);
    const miss = await h.run(upsertCustomObjects, {
      apiName: 'car_c',
      action: 'updateOnly',
      records: [{ vin: 'NOT-THERE', make: 'X' }],
    });
    expect(miss).toMatchObject({ created: 0, updated: 0, skipped: 1 });
    expect(miss.results[0]!.reasons![0]!.code).toBe('1004');
  });

  it('an unknown type is refused as a whole (1013)', async () => {
    await expect(
      h.run(upsertCustomObjects, { apiName: 'boat_c', records: [{ vin: 'x' }] }),
    ).rejects.toMatchObject({ code: '1013' });
  });

  it('checks its input', () => {
    const bad = (input: unknown) => !upsertCustomObjectsInput.safeParse(input).success;
    expect(bad({ apiName: 'car_c', records: [] })).toBe(true);
    expect(bad({ apiName: '../leads', records: [{ vin: 'a' }] })).toBe(true);
    expect(bad({ apiName: 'car_c', records: [{}] })).toBe(true);
    expect(bad({ apiName: 'car_c', records: [{ vin: 'a' }], action: 'createDuplicate' })).toBe(true);
    expect(bad({ apiName: 'car_c', records: Array.from({ length: 3001 }, () => ({ vin: 'a' })) })).toBe(true);
    expect(bad({ apiName: 'car_c', records: [{ vin: 'a', year: 2020, active: true, model: null }] })).toBe(
      false,
    );
  });

  it('reads a short result as a skip without status', () => {
    expect(customObjectResults([{ seq: 0, status: 'created', marketoGUID: 'g' }], 2, 10)).toEqual([
      { index: 10, marketoGUID: 'g', status: 'created' },
      { index: 11, status: 'skipped', reasons: [{ code: 'no_status', message: expect.any(String) }] },
    ]);
  });
});

describe('delete-custom-objects', () => {
  it('deletes by vin and by marketoGUID, skipping a missing record with 1013', async () => {
    const made = await h.run(upsertCustomObjects, {
      apiName: 'car_c',
      records: [
        { vin: 'DEL-1', leadId: 3 },
        { vin: 'DEL-2', leadId: 4 },
      ],
    });
    const guid2 = made.results[1]!.marketoGUID!;
    const out = await h.run(deleteCustomObjects, {
      apiName: 'car_c',
      keys: [{ vin: 'DEL-1' }, { vin: 'NOPE' }],
    });
    expect(out).toMatchObject({ deleted: 1, skipped: 1 });
    expect(out.results[0]).toMatchObject({ index: 0, status: 'deleted' });
    expect(out.results[1]).toEqual({
      index: 1,
      status: 'skipped',
      reasons: [{ code: '1013', message: expect.any(String) }],
    });
    const byGuid = await h.run(deleteCustomObjects, {
      apiName: 'car_c',
      deleteBy: 'idField',
      keys: [{ marketoGUID: guid2 }],
    });
    expect(byGuid.results[0]).toMatchObject({ status: 'deleted' });
    expect(await carsByVin(['DEL-1', 'DEL-2'])).toEqual([]);
    // Again: already gone, skipped (safe to repeat).
    const again = await h.run(deleteCustomObjects, { apiName: 'car_c', keys: [{ vin: 'DEL-1' }] });
    expect(again).toMatchObject({ deleted: 0, skipped: 1 });
  });

  it('checks its input: idField keys are {marketoGUID}', () => {
    const issues = deleteCustomObjectsInput.safeParse({
      apiName: 'car_c',
      deleteBy: 'idField',
      keys: [{ vin: 'x' }],
    });
    expect(issues.success).toBe(false);
    expect(issues.error?.issues[0]?.message).toContain('marketoGUID');
    expect(deleteCustomObjectsInput.safeParse({ apiName: 'car_c', keys: [] }).success).toBe(false);
  });
});
