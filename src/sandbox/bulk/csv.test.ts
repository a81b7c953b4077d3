import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { RowEncoder, writeExportFile } from './csv.ts';
import { parseRange } from './download.ts';
import { formatMb } from './jobs.ts';
import { parseIsoDate } from './requests.ts';

const dir = mkdtempSync(join(tmpdir(), 'bulk-csv-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('RowEncoder', () => {
  it('writes missing and empty values as the literal null, scalars plainly', () => {
    const enc = new RowEncoder('CSV');
    expect(enc.row([null, undefined, '', 'x', 12, 1.5, true, false])).toBe(
      'null,null,null,x,12,1.5,true,false\n',
    );
  });

  it('quotes cells holding the delimiter, a quote or a line break, doubling quotes (RFC 4180)', () => {
    const enc = new RowEncoder('CSV');
    expect(enc.row(['a,b', 'say "hi"', 'l1\nl2', 'r\rx', 'plain;tab\t'])).toBe(
      '"a,b","say ""hi""","l1\nl2","r\rx",plain;tab\t\n',
    );
  });

  it('quotes by the format delimiter for TSV and SSV', () => {
    expect(new RowEncoder('TSV').row(['a,b', 'c\td', 'e;f'])).toBe('a,b\t"c\td"\te;f\n');
    expect(new RowEncoder('SSV').row(['a,b', 'c\td', 'e;f'])).toBe('a,b;c\td;"e;f"\n');
  });
});

describe('writeExportFile', () => {
  it('streams rows to disk and reports records, size and the sha256 of the bytes written', async () => {
    const path = join(dir, 'a.csv');
    const enc = new RowEncoder('CSV');
    function* rows() {
      for (let i = 0; i < 50_000; i++) {
        if (i % 10 === 0) yield undefined;
        else yield enc.row([i, `name ${i}`, i % 3 === 0 ? null : 'é"x']);
      }
    }
    const written = await writeExportFile(path, enc.row(['id', 'name', 'other']), rows(), () => false);
    const bytes = readFileSync(path);
    expect(written).toEqual({
      records: 45_000,
      size: bytes.length,
      checksum: `sha256:${createHash('sha256').update(bytes).digest('hex')}`,
    });
    const text = bytes.toString('utf8');
    expect(text.startsWith('id,name,other\n1,name 1,"é""x"\n')).toBe(true);
    expect(text.split('\n')).toHaveLength(45_002);
  });

  it('stops midway when asked to', async () => {
    const enc = new RowEncoder('CSV');
    let produced = 0;
    function* rows() {
      for (;;) {
        produced++;
        yield enc.row(['x'.repeat(100)]);
      }
    }
    const written = await writeExportFile(join(dir, 'b.csv'), 'h\n', rows(), () => produced > 20_000);
    expect(written).toBeUndefined();
  });
});

describe('parseRange', () => {
  it('reads the three single-range forms and clamps past the end', () => {
    expect(parseRange('bytes=0-0', 100)).toEqual({ start: 0, end: 0 });
    expect(parseRange('bytes=10-19', 100)).toEqual({ start: 10, end: 19 });
    expect(parseRange('bytes=90-', 100)).toEqual({ start: 90, end: 99 });
    expect(parseRange('bytes=-5', 100)).toEqual({ start: 95, end: 99 });
    expect(parseRange('bytes=-500', 100)).toEqual({ start: 0, end: 99 });
    expect(parseRange('bytes=50-1000', 100)).toEqual({ start: 50, end: 99 });
  });

  it('refuses ranges past the end and ignores what it does not serve', () => {
    expect(parseRange('bytes=100-', 100)).toBe('unsatisfiable');
    expect(parseRange('bytes=-0', 100)).toBe('unsatisfiable');
    expect(parseRange(undefined, 100)).toBeUndefined();
    expect(parseRange('bytes=0-1,5-6', 100)).toBeUndefined();
    expect(parseRange('bytes=9-3', 100)).toBeUndefined();
    expect(parseRange('items=0-1', 100)).toBeUndefined();
  });
});

describe('formatMb', () => {
  it('prints whole megabytes plainly and keeps small quotas readable', () => {
    expect(formatMb(500 * 1024 * 1024)).toBe('500');
    expect(formatMb(1536 * 1024)).toBe('1.5');
    expect(formatMb(1)).toBe('0.00000095');
  });
});

describe('parseIsoDate', () => {
  it('accepts ISO-8601 with Z, offsets, milliseconds or a bare date', () => {
    expect(parseIsoDate('2024-01-02T03:04:05Z')).toBe(Date.UTC(2024, 0, 2, 3, 4, 5));
    expect(parseIsoDate('2024-01-02T03:04:05-06:00')).toBe(Date.UTC(2024, 0, 2, 9, 4, 5));
    expect(parseIsoDate('2024-01-02T03:04:05+0100')).toBe(Date.UTC(2024, 0, 2, 2, 4, 5));
    expect(parseIsoDate('2024-01-02T03:04:05.250Z')).toBe(Date.UTC(2024, 0, 2, 3, 4, 5, 250));
    expect(parseIsoDate('2024-01-02')).toBe(Date.UTC(2024, 0, 2));
    expect(parseIsoDate('yesterday')).toBeUndefined();
    expect(parseIsoDate(20240102)).toBeUndefined();
  });
});
