/**
 * The parser's reader hook (`CsvOptions.reader`): items made from cells or straight from the row text
 * must be what the cells give, whatever the text path takes or declines, wherever chunks are cut.
 */
import { describe, expect, it } from 'vitest';
import { CSV_SPLIT, CsvError, csvBatches, type CsvReader, type CsvRow } from './csv.ts';

const encoder = new TextEncoder();

async function* chunksOf(bytes: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

/** A reader whose text path splits the row itself (so it must equal the cells), counting both paths. */
function splittingReader(counts: { cells: number; text: number }, delimiter: string): CsvReader<CsvRow> {
  return {
    cells: (row) => {
      counts.cells++;
      return row;
    },
    text: (text, start, end) => {
      const cells: CsvRow = text.slice(start, end).split(delimiter);
      // Declines every third row it is given: the parser must split those itself.
      if ((counts.text++ + 1) % 3 === 0) return CSV_SPLIT;
      return cells.map((c) => (c === 'null' ? null : c));
    },
  };
}

async function rowsOf(bytes: Uint8Array, size: number, withReader: boolean) {
  const counts = { cells: 0, text: 0 };
  const rows: CsvRow[] = [];
  const options = withReader
    ? { batchRows: 7, reader: (_h: readonly string[], d: string) => splittingReader(counts, d) }
    : { batchRows: 7 };
  for await (const batch of csvBatches(chunksOf(bytes, size), options)) rows.push(...batch.rows);
  return { rows, counts };
}

describe('csv reader hook', () => {
  const lines = ['id,name,note,flag'];
  for (let i = 1; i <= 60; i++) {
    const name = i % 5 === 0 ? `Jos\u00e9 ${i}` : i % 7 === 0 ? `\u4e2d\u6587${i}` : `name ${i}`;
    const note = i % 4 === 0 ? `"quoted, ""${i}""\nline"` : i % 6 === 0 ? '"null"' : 'null';
    lines.push(`${i},${name},${note},${i % 2 === 0 ? 'true' : ''}`);
  }
  // An empty line followed by rows is a row of one cell: an error in a file of four columns.
  const text = `\uFEFF${lines.join('\r\n')}\n`;
  const bytes = encoder.encode(text);

  it('gives the same items through the text path, the cells path and no reader, for any chunk size', async () => {
    const plain = await rowsOf(bytes, 1 << 16, false);
    expect(plain.rows).toHaveLength(60);
    for (const size of [1, 3, 17, 256, 1 << 16]) {
      const { rows, counts } = await rowsOf(bytes, size, true);
      expect(rows).toEqual(plain.rows);
      if (size < 256) continue;
      // Quoted rows (and rows cut by a chunk's end) come as cells; whole unquoted ones as text (the
      // declined ones as cells too).
      expect(counts.text).toBeGreaterThan(20);
      expect(counts.cells).toBeGreaterThan(10);
    }
  });

  it('a row with a wrong cell count is reported at its line even when the text path declines it', async () => {
    const bad = encoder.encode('id,a\n1,x\n2,y,z\n3,w\n');
    const reader = (): CsvReader<string> => ({
      cells: (row) => row.join('|'),
      text: (t, start, end) => {
        const cells = t.slice(start, end).split(',');
        return cells.length === 2 ? cells.join('|') : CSV_SPLIT;
      },
    });
    const items: string[] = [];
    const error = await (async () => {
      try {
        for await (const batch of csvBatches(chunksOf(bad, 1 << 16), { reader })) items.push(...batch.rows);
      } catch (err) {
        return err;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(CsvError);
    expect((error as CsvError).line).toBe(3);
  });

  it('empty lines between rows still become one-cell rows (given as cells)', async () => {
    const seen: string[] = [];
    const reader = (): CsvReader<string> => ({
      cells: (row) => `c:${row.join('|')}`,
      text: (t, start, end) => `t:${t.slice(start, end)}`,
    });
    const one = encoder.encode('x\na\n\n\nb\n\n');
    for await (const batch of csvBatches(chunksOf(one, 1 << 16), { reader })) seen.push(...batch.rows);
    expect(seen).toEqual(['t:a', 'c:', 'c:', 'c:b']);
  });
});
