/**
 * The lead export reader's byte path (LeadPayloadReader with `CsvReader.bytes`: rows read undecoded,
 * string cells copied 4 bytes at a time, UTF-8 characters up to U+00FF decoded on the way, decimals
 * copied as written) must store, byte for byte, what the records built from the parsed rows store
 * (db/record-json.ts `payloadJson`), for any value and wherever the chunks of the file end.
 */
import { describe, expect, it } from 'vitest';
import { payloadJson } from '../../db/record-json.ts';
import { PayloadRecord } from '../../record-payload.ts';
import { CSV_SPLIT, csvBatches, type CsvReader } from '../bulk/csv.ts';
import { chunksOf, expectedPayloads } from './csv-test-helpers.ts';
import { LeadRowConverter, LeadSchema, type LeadItem } from './lead-records.ts';

const schema = new LeadSchema([
  { name: 'id', kind: 'number' },
  { name: 'n', kind: 'number' },
  { name: 'b', kind: 'boolean' },
  { name: 'dt', kind: 'datetime' },
  { name: 'd', kind: 'date' },
]);

const HEADER = ['s1', 'id', 'n', 'b', 's2', 'dt', 'd', 's3', 'long'];

/** Cells as written in the file (bytes), odd ones among plain ones. */
const STRINGS: (string | Buffer)[] = [
  'plain',
  'a',
  'abc',
  'abcd',
  'abcde',
  'back\\slash',
  'tab\there',
  'ctl\u0001x',
  'del\u007fx',
  'Jos\u00e9',
  '\u00fc\u00fc\u00fc\u00fc',
  'x\u0080\u009f\u00a0\u00ff',
  '\u4e2d\u6587',
  'Nguy\u1ec5n',
  '\u{1F600}',
  '',
  'null',
  'NULL',
  ' nul',
  '"quoted, cell"',
  // Not UTF-8: a lead byte at the end, a lead byte before ASCII, a lone continuation, an overlong
  // form, a 3-byte character cut short, a surrogate encoded.
  Buffer.from([0x61, 0xc3]),
  Buffer.from([0xc3, 0x41, 0x42]),
  Buffer.from([0x80, 0x61]),
  Buffer.from([0xc0, 0x80]),
  Buffer.from([0xe4, 0xb8]),
  Buffer.from([0xed, 0xa0, 0x80]),
];
const NUMBERS = [
  '7',
  '0',
  '-0',
  '007',
  '-12',
  '1.5',
  '-0.5',
  '0.000001',
  '0.0000001',
  '0.10',
  '1.',
  '.5',
  '+5',
  '00.5',
  '123456789012345',
  '1234567890123456',
  '12345678901234.5',
  '1234567890123.45',
  '0.12345678901234',
  '1e3',
  ' 5',
  'n/a',
  '\u00e9',
  'null',
  '',
];
const BOOLEANS = ['true', 'false', 'TRUE', '1', 'no', 'tru', '\u00e9', 'null', ''];
const DATETIMES = ['2024-01-31T10:00:00Z', '2024-01-31\u00e910:00:0Z', '2014-11-13 12:43:04', 'soon', 'null'];
const DATES = ['2024-01-31', '2024\u00e901-31', '2024-01-31T00:00:00Z', 'someday', ''];

function bytesOf(cell: string | Buffer): Buffer {
  return typeof cell === 'string' ? Buffer.from(cell, 'utf8') : cell;
}

/** A file of `rows` rows cycling through the odd values, LF or CRLF line ends, some ids not ASCII. */
function exportFile(rows: number, delimiter: string, crlf: boolean): Buffer {
  const parts: Buffer[] = [Buffer.from(HEADER.join(delimiter))];
  const random = seeded(7);
  for (let i = 0; i < rows; i++) {
    // The first rows plain (the reader takes rows as text once it has seen them), then an odd value in
    // a column one row in 5 (the parser stays in Latin-1 mode while most rows need no decoding).
    const pick = <T>(list: T[], k: number): T =>
      list[i >= 100 && (i + k) % 5 === 0 ? (Math.floor(i / 5) * 7 + k) % list.length : 0]!;
    const decimal = (random() * 10 ** Math.floor(random() * 12)).toFixed(Math.floor(random() * 6));
    const id = i % 17 === 16 ? 'null' : i % 41 === 40 && i > 100 ? `\u00e9${i}` : String(1000 + i);
    const cells: (string | Buffer)[] = [
      pick(STRINGS, 0),
      id,
      i % 3 === 0 ? decimal : pick(NUMBERS, 1),
      pick(BOOLEANS, 2),
      pick(STRINGS, 3),
      pick(DATETIMES, 4),
      pick(DATES, 5),
      i % 5 === 0 && i > 100 ? `s${i}\u00e9` : `s${i}`,
      i % 50 === 0 ? 'x'.repeat(5000 + i) : i % 2 === 0 ? `long value ${i}` : 'null',
    ].map((c) => (delimiter !== ',' && typeof c === 'string' ? c.replaceAll(delimiter, ' ') : c));
    parts.push(Buffer.from(crlf ? '\r\n' : '\n'));
    cells.forEach((cell, k) => {
      if (k > 0) parts.push(Buffer.from(delimiter));
      parts.push(bytesOf(cell));
    });
  }
  parts.push(Buffer.from('\n'));
  return Buffer.concat(parts);
}

function seeded(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s / 2147483648;
  };
}

type Delimiter = ',' | '\t' | ';';

/** The lead sync reader's payloads, and how many rows its byte path took. */
async function readPayloads(
  bytes: Uint8Array,
  size: number,
  delimiter: Delimiter,
): Promise<{ payloads: string[]; fromBytes: number }> {
  let fromBytes = 0;
  const reader = (header: readonly string[], d: string): CsvReader<LeadItem> => {
    const inner = new LeadRowConverter(header, schema).csvReader(d);
    return {
      cells: (row) => inner.cells(row),
      get text() {
        return inner.text;
      },
      get bytes() {
        const read = inner.bytes;
        return (
          read &&
          ((t: string, s: number, e: number, b: Uint8Array) => {
            const item = read(t, s, e, b);
            if (item !== CSV_SPLIT) fromBytes++;
            return item;
          })
        );
      },
    };
  };
  const payloads: string[] = [];
  for await (const batch of csvBatches(chunksOf(bytes, size), { batchRows: 64, reader, delimiter })) {
    for (const item of batch.rows) {
      if (item === undefined) continue;
      payloads.push(item instanceof PayloadRecord ? item.json() : payloadJson(item, item.id));
    }
  }
  return { payloads, fromBytes };
}

async function expectSame(file: Buffer, delimiter: Delimiter, sizes: number[]): Promise<void> {
  const expected = await expectedPayloads(file, schema, delimiter);
  for (const size of sizes) {
    const { payloads, fromBytes } = await readPayloads(file, size, delimiter);
    expect(payloads).toHaveLength(expected.length);
    for (let i = 0; i < payloads.length; i++) {
      if (payloads[i] !== expected[i])
        expect({ size, i, got: payloads[i] }).toEqual({ size, i, got: expected[i] });
    }
    if (size >= 4096) expect(fromBytes).toBeGreaterThan(expected.length / 4);
  }
}

describe('lead payloads written from the export bytes', () => {
  it('match the records built from the parsed rows, for odd values and any chunk size', async () => {
    await expectSame(exportFile(700, ',', false), ',', [1, 2, 3, 5, 7, 64, 333, 4096, 1 << 16]);
  });

  it('the same with CRLF line ends, and with tab and semicolon delimiters', async () => {
    await expectSame(exportFile(400, ',', true), ',', [3, 5, 4096, 1 << 16]);
    await expectSame(exportFile(400, '\t', false), '\t', [5, 4096]);
    await expectSame(exportFile(400, ';', true), ';', [7, 1 << 16]);
  });

  it('copies decimals as written only when their JSON is that text', async () => {
    const random = seeded(11);
    const lines = [HEADER.join(',')];
    for (let i = 0; i < 3000; i++) {
      const digits = 1 + Math.floor(random() * 17);
      const scale = Math.floor(random() * (digits + 8)) - 4;
      let text = String(Math.floor(random() * 10 ** Math.min(digits, 15))).padStart(digits, '0');
      if (scale > 0 && scale < text.length) text = `${text.slice(0, -scale)}.${text.slice(-scale)}`;
      else if (scale >= text.length) text = `0.${'0'.repeat(scale - text.length)}${text}`;
      if (random() < 0.3) text = `-${text}`;
      lines.push([`a${i}`, String(i + 1), text, 'true', 'b', 'null', 'null', 'c', 'd'].join(','));
    }
    await expectSame(Buffer.from(lines.join('\n') + '\n'), ',', [1 << 16]);
  });
});
