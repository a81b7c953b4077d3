import { describe, expect, it } from 'vitest';
import {
  intListOption,
  intOption,
  isoSeconds,
  normalizeDate,
  parseMarketoDate,
  readEnvelope,
  uniqueById,
  withQuery,
} from './api.ts';
import { MarketoSyncError } from './types.ts';

describe('readEnvelope', () => {
  it('an absent result is an empty one; warnings of both shapes become messages', () => {
    expect(
      readEnvelope({ requestId: 'a#1', success: true, nextPageToken: 'T', moreResult: false }, '/x'),
    ).toEqual({
      result: [],
      warnings: [],
      nextPageToken: 'T',
      moreResult: false,
    });
    const env = readEnvelope(
      {
        success: true,
        errors: [],
        warnings: ['No assets found for the given search criteria.', { code: 1003, message: 'hm' }],
      },
      '/rest/asset/v1/programs.json',
    );
    expect(env.warnings).toEqual(['No assets found for the given search criteria.', '1003 hm']);
  });

  it('success:false throws the first error code (string or number) with its class', () => {
    const e1 = (() => {
      try {
        readEnvelope(
          { success: false, errors: [{ code: '1003', message: 'Invalid nextPageToken' }] },
          '/a?b=1',
        );
      } catch (err) {
        return err;
      }
    })();
    expect(e1).toBeInstanceOf(MarketoSyncError);
    expect(e1).toMatchObject({ code: '1003', kind: 'fail', path: '/a?b=1' });
    expect((e1 as Error).message).toBe('Marketo 1003: Invalid nextPageToken (/a)');
    expect(() => readEnvelope({ success: false, errors: [{ code: 606, message: 'rate' }] }, '/a')).toThrow(
      expect.objectContaining({ code: '606', kind: 'back_off' }),
    );
    expect(() => readEnvelope({ success: false, errors: [{ code: '607' }] }, '/a')).toThrow(
      expect.objectContaining({ code: '607', kind: 'quota_spent' }),
    );
    expect(() => readEnvelope('<html>', '/a')).toThrow(expect.objectContaining({ code: 'invalid_envelope' }));
  });

  it('codes listed as "empty" give an empty envelope instead', () => {
    const env = readEnvelope({ success: false, errors: [{ code: '702', message: 'No data' }] }, '/a', [
      '702',
    ]);
    expect(env.result).toEqual([]);
  });
});

describe('dates', () => {
  it('reads every datetime form Marketo sends', () => {
    const t = Date.UTC(2015, 4, 21, 22, 45, 13);
    expect(parseMarketoDate('2015-05-21T22:45:13Z+0000')).toBe(t);
    expect(parseMarketoDate('2015-05-21T22:45:13Z')).toBe(t);
    expect(parseMarketoDate('2015-05-21T22:45:13+0000')).toBe(t);
    expect(parseMarketoDate('2015-05-21 22:45:13')).toBe(t);
    expect(parseMarketoDate('2015-05-21T14:45:13-08:00')).toBe(t);
    expect(parseMarketoDate('2015-05-21T22:45:13.250Z')).toBe(t + 250);
    expect(parseMarketoDate('yesterday')).toBeUndefined();
    expect(parseMarketoDate(12)).toBeUndefined();
    expect(isoSeconds(t + 999)).toBe('2015-05-21T22:45:13Z');
    expect(normalizeDate('2015-05-21T22:45:13Z+0000')).toBe('2015-05-21T22:45:13Z');
    expect(normalizeDate(null)).toBeNull();
  });
});

describe('helpers', () => {
  it('withQuery encodes values and joins lists with commas', () => {
    expect(
      withQuery('/rest/v1/activities.json', { activityTypeIds: [1, 12], nextPageToken: 'A=B', x: undefined }),
    ).toBe('/rest/v1/activities.json?activityTypeIds=1%2C12&nextPageToken=A%3DB');
    expect(withQuery('/a?b=1', { c: 2 })).toBe('/a?b=1&c=2');
    expect(withQuery('/a', {})).toBe('/a');
  });

  it('options are parsed leniently and clamped', () => {
    expect(intOption({ n: '50' }, 'n', 300, { min: 1, max: 300 })).toBe(50);
    expect(intOption({ n: 1000 }, 'n', 300, { min: 1, max: 300 })).toBe(300);
    expect(intOption({ n: 'x' }, 'n', 300, { min: 1, max: 300 })).toBe(300);
    expect(intListOption({ ids: '1, 12,13 13' }, 'ids')).toEqual([1, 12, 13]);
    expect(intListOption({ ids: [24, '25', -1, 'x'] }, 'ids')).toEqual([24, 25]);
    expect(intListOption({ ids: [] }, 'ids')).toBeUndefined();
  });

  it('uniqueById keeps the last record per id', () => {
    expect(uniqueById([{ id: 'a', v: 1 }, undefined, { id: 'a', v: 2 }, { id: 'b', v: 3 }])).toEqual([
      { id: 'a', v: 2 },
      { id: 'b', v: 3 },
    ]);
  });
});
