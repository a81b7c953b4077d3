/**
 * Custom object job kinds (`customobjects/<apiName>`): their paths, and the daily ledger that reads the
 * job list of every kind it knows once per process, one load per kind shared by concurrent callers.
 */
import { describe, expect, it } from 'vitest';
import { InstanceExports } from './instance-queue.ts';
import { customObjectKind, customObjectOfKind, exportBase, filePath, type JobKind } from './job-api.ts';

describe('custom object job kinds', () => {
  it('map to Marketo’s bulk custom object paths', () => {
    const kind = customObjectKind('car_c');
    expect(kind).toBe('customobjects/car_c');
    expect(exportBase(kind)).toBe('/bulk/v1/customobjects/car_c/export');
    expect(filePath(kind, 'a-b')).toBe('/bulk/v1/customobjects/car_c/export/a-b/file.json');
    expect(exportBase('leads')).toBe('/bulk/v1/leads/export');
    expect(customObjectOfKind(kind)).toBe('car_c');
    expect(customObjectOfKind('activities')).toBeUndefined();
  });

  it('refuse names that are not API names', () => {
    for (const bad of ['', '../leads', 'car c', 'a/b', '1car']) {
      expect(() => customObjectKind(bad)).toThrow(RangeError);
    }
  });
});

describe('the ledger over kinds', () => {
  it('reads each known kind once, kinds named later when they are first needed', async () => {
    const inst = new InstanceExports('test-ledger');
    const loads: JobKind[] = [];
    const load = async (kind: JobKind) => void loads.push(kind);
    await Promise.all([inst.loadLedger(load), inst.loadLedger(load)]);
    expect(loads).toEqual(['leads', 'activities']);
    inst.know([customObjectKind('car_c'), customObjectKind('subscription_c'), 'leads']);
    await inst.loadLedger(load);
    await inst.loadLedger(load);
    expect(loads).toEqual(['leads', 'activities', 'customobjects/car_c', 'customobjects/subscription_c']);
    expect(inst.ledgerKinds).toEqual([
      'leads',
      'activities',
      'customobjects/car_c',
      'customobjects/subscription_c',
    ]);
  });

  it('tries a failed kind again at the next load', async () => {
    const inst = new InstanceExports('test-ledger-fail');
    let fail = true;
    const loads: JobKind[] = [];
    const load = async (kind: JobKind) => {
      loads.push(kind);
      if (kind === 'activities' && fail) throw new Error('boom');
    };
    await expect(inst.loadLedger(load)).rejects.toThrow('boom');
    fail = false;
    await inst.loadLedger(load);
    expect(loads).toEqual(['leads', 'activities', 'activities']);
  });
});
