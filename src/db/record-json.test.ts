import { describe, expect, it } from 'vitest';
import { payloadJson, stableStringify } from './record-json.ts';

/**
 * The stored payload text: whatever path serialises a record (the writer compiled for a shape seen on
 * several records in a row, the ranked path, the generic one), the text is the stable JSON of its fields
 * with `"id"` last.
 */

/** Independent of the fast paths: stableStringify of the fields, then the id. */
function expected(record: Record<string, unknown>, id: string): string {
  const fields: Record<string, unknown> = {};
  for (const key of Object.keys(record))
    if (key !== 'id' && key !== '_nango_metadata') fields[key] = record[key];
  const text = stableStringify(fields)!;
  const last = `"id":${JSON.stringify(id)}`;
  return text === '{}' ? `{${last}}` : `${text.slice(0, -1)},${last}}`;
}

/** Records of one shape (same keys, same order), as the Lead model builds them. */
function shaped(i: number): Record<string, unknown> {
  return {
    id: i,
    zeta: `z${i}`,
    alpha: i % 3 === 0 ? undefined : `quote " and \\ and \n ${i}`,
    count: i % 4 === 0 ? Number.NaN : i * 1.5,
    flag: i % 2 === 0,
    when: new Date(Date.UTC(2025, 0, 1, 0, 0, i)),
    list: [1, 'two', null, undefined],
    nothing: null,
    lone: i % 5 === 0 ? '\ud800' : 'é€😀',
  };
}

describe('payloadJson', () => {
  it('writes records of one shape as stable JSON with the id last', () => {
    for (let i = 0; i < 20; i++) {
      const r = shaped(i);
      expect(payloadJson(r, String(i))).toBe(expected(r, String(i)));
    }
  });

  it('falls back for a record of that shape with a nested object, and for other key orders', () => {
    for (let i = 0; i < 5; i++) payloadJson(shaped(i), String(i));
    const nested = { ...shaped(7), list: { b: 1, a: [{ d: 1, c: 2 }] } };
    expect(payloadJson(nested, '7')).toBe(expected(nested, '7'));
    const reordered = { alpha: 'a', id: 8, zeta: 'z', flag: true };
    expect(payloadJson(reordered, '8')).toBe(expected(reordered, '8'));
    expect(payloadJson({ id: 9 }, '9')).toBe('{"id":"9"}');
  });

  it('writes only own keys when an enumerable key is inherited', () => {
    for (let i = 0; i < 5; i++) payloadJson(shaped(i), String(i));
    const proto = Object.prototype as Record<string, unknown>;
    proto.polluted = 'x';
    try {
      const r = shaped(3);
      expect(payloadJson(r, '3')).toBe(expected(r, '3'));
      expect(payloadJson(r, '3')).not.toContain('polluted');
    } finally {
      delete proto.polluted;
    }
  });
});
