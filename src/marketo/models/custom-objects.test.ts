/**
 * The pure parts of the custom-objects sync: type list and describe reading, typing of file cells and
 * REST values (the same record either way), the checkpoint reader and the variant's types.
 */
import { describe, expect, it } from 'vitest';
import { csvBatches } from '../bulk/csv.ts';
import {
  CustomObjectRowConverter,
  cellValue,
  customObjectRecordFromRest,
  fieldKind,
  readDescribe,
  readTypeList,
  restValue,
} from './custom-objects-records.ts';
import { readCustomObjectsCheckpoint, typesOfVariant } from './custom-objects.ts';
import { MarketoSyncError, type SyncRecord } from './types.ts';

const CAR_DESCRIBE = {
  name: 'car_c',
  idField: 'marketoGUID',
  fields: [
    { name: 'marketoGUID', dataType: 'string' },
    { name: 'vin', dataType: 'string' },
    { name: 'year', dataType: 'integer' },
    { name: 'price', dataType: 'currency' },
    { name: 'active', dataType: 'boolean' },
    { name: 'renewsAt', dataType: 'date' },
    { name: 'leadId', dataType: 'link' },
    { name: 'updatedAt', dataType: 'datetime' },
  ],
};

async function* bytes(text: string): AsyncGenerator<Uint8Array> {
  yield new TextEncoder().encode(text);
}

describe('custom object records', () => {
  it('types fields from describe: numbers, booleans, datetimes, the rest text', () => {
    expect(['integer', 'float', 'currency'].map(fieldKind)).toEqual(['number', 'number', 'number']);
    expect(fieldKind('boolean')).toBe('boolean');
    expect(fieldKind('datetime')).toBe('datetime');
    for (const t of ['string', 'date', 'email', 'text', 'link', undefined]) expect(fieldKind(t)).toBe('text');
  });

  it('reads cells: null literal → null, numbers, booleans, datetimes normalised, odd values kept', () => {
    expect(cellValue('number', null)).toBeNull();
    expect(cellValue('number', '12.5')).toBe(12.5);
    expect(cellValue('number', '')).toBeNull();
    expect(cellValue('number', 'n/a')).toBe('n/a');
    expect(cellValue('boolean', 'true')).toBe(true);
    expect(cellValue('boolean', '0')).toBe(false);
    expect(cellValue('datetime', '2024-01-31 10:00:00')).toBe('2024-01-31T10:00:00Z');
    expect(cellValue('text', '')).toBe('');
    expect(restValue('number', 3)).toBe(3);
    expect(restValue('text', 42)).toBe('42');
    expect(restValue('boolean', undefined)).toBeNull();
  });

  it('a file row and the REST item of the same record make the same record', async () => {
    const schema = readDescribe('car_c', CAR_DESCRIBE);
    const csv =
      'marketoGUID,vin,year,price,active,renewsAt,leadId,updatedAt\n' +
      'g-1,"VIN, 1",2019,19999.5,true,2025-03-01,42,2024-01-31T10:00:00Z\n' +
      'null,VIN2,null,null,null,null,null,null\n';
    const records: (SyncRecord | undefined)[] = [];
    for await (const b of csvBatches(bytes(csv), {
      reader: (header) => new CustomObjectRowConverter(header, schema).csvReader(),
    })) {
      records.push(...b.rows);
    }
    expect(records).toEqual([
      {
        id: 'car_c:g-1',
        apiName: 'car_c',
        marketoGUID: 'g-1',
        vin: 'VIN, 1',
        year: 2019,
        price: 19999.5,
        active: true,
        renewsAt: '2025-03-01',
        leadId: '42',
        updatedAt: '2024-01-31T10:00:00Z',
      },
      // No id: left out by the sync (counted in its log).
      undefined,
    ]);
    const rest = customObjectRecordFromRest(
      {
        seq: 0,
        marketoGUID: 'g-1',
        vin: 'VIN, 1',
        year: 2019,
        price: 19999.5,
        active: true,
        renewsAt: '2025-03-01',
        leadId: 42,
        updatedAt: '2024-01-31T10:00:00Z',
      },
      schema,
    );
    expect(rest).toEqual(records[0]);
  });

  it('a field named like our keys never replaces the record id or apiName', () => {
    const schema = readDescribe('odd_c', { fields: [{ name: 'apiName', dataType: 'string' }] });
    expect(schema.fields.map((f) => f.name)).toEqual(['marketoGUID', 'apiName']);
    const rec = new CustomObjectRowConverter(['marketoGUID', 'apiName'], schema).record(['g', 'x']);
    expect(rec).toEqual({ id: 'odd_c:g', apiName: 'odd_c', marketoGUID: 'g' });
  });

  it('reads the type list sorted by name, with createdAt and whether records link to leads', () => {
    const types = readTypeList([
      {
        name: 'sub_c',
        createdAt: '2020-01-01T00:00:00Z',
        relationships: [{ field: 'leadId', type: 'parent', relatedTo: { name: 'Lead', field: 'id' } }],
      },
      { name: 'car_c', idField: 'marketoGUID' },
      { name: 'child_c', relationships: [{ relatedTo: { name: 'car_c', field: 'marketoGUID' } }] },
      { displayName: 'no name' },
    ]);
    expect(types).toEqual([
      { name: 'car_c', idField: 'marketoGUID' },
      { name: 'child_c', idField: 'marketoGUID', linkedToLeads: false },
      { name: 'sub_c', idField: 'marketoGUID', createdAt: Date.UTC(2020, 0, 1), linkedToLeads: true },
    ]);
  });
});

describe('the custom-objects sync', () => {
  const types = readTypeList([{ name: 'car_c' }, { name: 'subscription_c' }]);

  it('the base variant syncs every type; a variant named after a type, that type', () => {
    expect(typesOfVariant(types, undefined).map((t) => t.name)).toEqual(['car_c', 'subscription_c']);
    expect(typesOfVariant(types, 'base').map((t) => t.name)).toEqual(['car_c', 'subscription_c']);
    expect(typesOfVariant(types, 'car_c').map((t) => t.name)).toEqual(['car_c']);
  });

  it('an unknown variant fails naming the types that exist', () => {
    let err: unknown;
    try {
      typesOfVariant(types, 'boat_c');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(MarketoSyncError);
    expect((err as MarketoSyncError).code).toBe('unknown_custom_object');
    expect((err as Error).message).toContain('"boat_c"');
    expect((err as Error).message).toContain('car_c, subscription_c');
  });

  it('reads a checkpoint, dropping damaged parts', () => {
    const cycle = {
      kind: 'initial',
      from: '2024-01-01T00:00:00.000Z',
      startAt: '2024-03-01T00:00:00.000Z',
      fields: ['marketoGUID'],
      export: { jobs: [], pending: [] },
      rows: 3,
    };
    expect(
      readCustomObjectsCheckpoint({
        sweep: 's1',
        types: {
          car_c: { doneAt: '2024-02-01T00:00:00.000Z', cycle },
          subscription_c: { cycle: { ...cycle, kind: 'other' } },
          'bad/name': { doneAt: '2024-02-01T00:00:00.000Z' },
        },
      }),
    ).toEqual({
      sweep: 's1',
      types: { car_c: { doneAt: '2024-02-01T00:00:00.000Z', cycle }, subscription_c: {} },
    });
    expect(readCustomObjectsCheckpoint(null)).toEqual({ types: {} });
    expect(readCustomObjectsCheckpoint({ types: 'x' })).toEqual({ types: {} });
  });
});
