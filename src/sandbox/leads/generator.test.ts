import { describe, expect, it } from 'vitest';
import { ISO_MAX_MS, ISO_MIN_MS, putHundredths, putIsoDay, putIsoSeconds, putNumber } from '../bulk/bytes.ts';
import { LEAD_FIELDS } from './fields.ts';
import { LeadGenerator, type LeadSeedInfo } from './generator.ts';

/**
 * The byte writer of export lines (what bulk files are made of) must write exactly the bytes of
 * the string line builder, for any seed, field list and delimiter.
 */

const ALL = LEAD_FIELDS.map((f) => f.name);
const AS_OF = Date.UTC(2024, 4, 17, 9, 30, 15);

function compare(info: LeadSeedInfo, names: string[], delimiter: string, ids: number[]): void {
  const g = new LeadGenerator(info);
  const line = g.lineBuilder(names, delimiter);
  const write = g.lineWriter(names, delimiter);
  const buf = Buffer.alloc(64 * 1024);
  for (const id of ids) {
    const end = write(id, buf, 7);
    expect(buf.toString('latin1', 7, end), `lead ${id}`).toBe(line(id));
  }
}

function range(from: number, count: number, step = 1): number[] {
  return Array.from({ length: count }, (_, i) => from + i * step);
}

describe('LeadGenerator.lineWriter', () => {
  it('writes the bytes of lineBuilder for every field, in every format', () => {
    for (const delimiter of [',', '\t', ';']) {
      compare({ seed: 42, leads: 1_000_000, asOf: AS_OF }, ALL, delimiter, range(1, 3000, 331));
    }
  });

  it('does so for other seeds, spans and field lists (out of order, repeated, unknown)', () => {
    const names = ['email', 'updatedAt', 'id', 'city', 'country', 'leadScore', 'email', 'nope', 'company'];
    compare({ seed: 2 ** 40 + 5, leads: 30_000, asOf: AS_OF }, names, ',', range(1, 30_000));
    compare({ seed: 7, leads: 4000, asOf: AS_OF, spanMs: 30 * 86_400_000 }, ALL, ';', range(1, 4000));
    compare({ seed: 3, leads: 500, asOf: AS_OF }, [...ALL].reverse(), ',', range(1, 500));
  });

  it('does so for every field alone and for random subsets (each draws only what it needs)', () => {
    const ids = range(1, 400, 97);
    for (const name of ALL) {
      compare({ seed: 11, leads: 50_000, asOf: AS_OF }, [name], ',', ids);
      compare({ seed: 11, leads: 50_000, asOf: AS_OF }, ['id', name], '\t', ids);
    }
    // A small deterministic PRNG: the same subsets on every run.
    let x = 0x2545f491;
    const next = () => ((x = (Math.imul(x, 1103515245) + 12345) >>> 0) >>> 8) % 1000;
    for (let round = 0; round < 40; round++) {
      const names = ALL.filter(() => next() < 300);
      compare({ seed: round, leads: 50_000, asOf: AS_OF }, names, ';', range(1 + round, 300, 163));
    }
  });

  it('writes a field it has no values for (created at run time) as a null cell, anywhere in the line', () => {
    const info = { seed: 42, leads: 1000, asOf: AS_OF };
    const g = new LeadGenerator(info);
    const base = ['id', 'email', 'company', 'website', 'city', 'leadScore'];
    const stock = g.lineBuilder(base, ',');
    const ids = range(1, 1000, 7);
    // First, inside a keyed run (company, website), between runs, last.
    for (const at of [0, 3, 4, base.length]) {
      const names = [...base.slice(0, at), 'loyaltyCode', ...base.slice(at)];
      compare(info, names, ',', ids);
      const line = g.lineBuilder(names, ',');
      for (const id of ids) {
        // Generated values never hold the delimiter: splitting is safe here.
        const cells = line(id).slice(0, -1).split(',');
        expect(cells[at]).toBe('null');
        cells.splice(at, 1);
        expect(cells.join(',') + '\n').toBe(stock(id));
      }
    }
  });

  it('does so for ids far beyond 2^31 and past nine base-36 digits', () => {
    // Forty ids on either side of 36^9: some are Salesforce leads and contacts.
    const ids = [...range(2 ** 31 - 10, 20), ...range(36 ** 9 - 40, 80), 1e14 + 3];
    compare({ seed: 5, leads: 2e14, asOf: AS_OF }, ALL, ',', ids);
  });

  it('falls back to the string path for dates outside years 1000..9999', () => {
    // asOf near the epoch start: creation dates are negative epoch ms, birth dates stay in range.
    compare({ seed: 9, leads: 2000, asOf: 1000 }, ALL, ',', range(1, 2000, 7));
    compare({ seed: 9, leads: 2000, asOf: Date.UTC(1000, 3, 1) }, ALL, ',', range(1, 2000, 7));
    compare({ seed: 9, leads: 2000, asOf: Date.UTC(9999, 11, 20) }, ALL, ',', range(1, 2000, 7));
  });

  it('counts bytes past the end of the buffer, and writes them again into a larger one', () => {
    const g = new LeadGenerator({ seed: 42, leads: 100, asOf: AS_OF });
    const write = g.lineWriter(ALL, ',');
    const line = g.lineBuilder(ALL, ',')(5);
    const small = Buffer.alloc(100);
    expect(write(5, small, 0)).toBe(Buffer.byteLength(line, 'latin1'));
    const big = Buffer.alloc(4096);
    expect(big.toString('latin1', 0, write(5, big, 0))).toBe(line);
  });
});

describe('byte writers', () => {
  it('write ISO dates as Date#toISOString does', () => {
    const buf = Buffer.alloc(32);
    // Sparse over the whole range, dense over the years generated dates fall in.
    const sparse = range(ISO_MIN_MS, 30_000, (ISO_MAX_MS - ISO_MIN_MS) / 30_000 + 0.123);
    const dense = range(Date.UTC(1959, 11, 31, 23), 20_000, 3_599_999.7);
    for (const ms of [...sparse, ...dense, ISO_MAX_MS - 1].map(Math.floor)) {
      const iso = new Date(ms).toISOString();
      expect(buf.toString('latin1', 0, putIsoSeconds(buf, 0, ms))).toBe(iso.slice(0, 19) + 'Z');
      expect(buf.toString('latin1', 0, putIsoDay(buf, 0, Math.floor(ms / 86_400_000)))).toBe(
        iso.slice(0, 10),
      );
    }
  });

  it('write hundredths as String(c / 100) does', () => {
    const buf = Buffer.alloc(16);
    for (let c = 0; c <= 10_000; c++) {
      expect(buf.toString('latin1', 0, putHundredths(buf, 0, c))).toBe(String(c / 100));
    }
  });

  it('write numbers as String does', () => {
    const buf = Buffer.alloc(64);
    const values = [
      0,
      -0,
      1,
      9,
      10,
      99,
      2 ** 31 - 1,
      2 ** 31,
      1e9,
      1e9 - 1,
      1715938215000,
      100_000_000_000_123,
    ];
    values.push(Number.MAX_SAFE_INTEGER, -5, 0.5, 12.34, 1e21, -1715938215000, NaN);
    for (const v of values) expect(buf.toString('latin1', 0, putNumber(buf, 0, v))).toBe(String(v));
  });
});
