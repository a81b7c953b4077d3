import { Buffer } from 'node:buffer';
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { CsvError, csvBatches, type CsvBatch, type CsvOptions } from './csv.ts';

const utf8 = new TextEncoder();

type Row = (string | null)[];

async function* chunksOf(bytes: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

async function* splitAt(bytes: Uint8Array, cuts: number[]): AsyncGenerator<Uint8Array> {
  let from = 0;
  for (const cut of [...cuts, bytes.length]) {
    yield bytes.subarray(from, cut);
    from = cut;
  }
}

async function* from(parts: (string | Uint8Array)[]): AsyncGenerator<Uint8Array> {
  for (const part of parts) yield typeof part === 'string' ? utf8.encode(part) : part;
}

async function collect(source: AsyncIterable<Uint8Array>, options?: CsvOptions): Promise<CsvBatch[]> {
  const batches: CsvBatch[] = [];
  for await (const batch of csvBatches(source, options)) batches.push(batch);
  return batches;
}

/** Header and all rows of a source read whole. */
async function parse(source: AsyncIterable<Uint8Array> | string, options?: CsvOptions) {
  const batches = await collect(typeof source === 'string' ? from([source]) : source, options);
  return { header: batches[0]?.header, rows: batches.flatMap((b) => b.rows), batches: batches.length };
}

async function failure(source: AsyncIterable<Uint8Array> | string, options?: CsvOptions): Promise<CsvError> {
  try {
    await parse(source, options);
  } catch (error) {
    if (error instanceof CsvError) return error;
    throw error;
  }
  throw new Error('expected a CsvError');
}

/** Every way the rules can meet a chunk boundary: quotes, escapes, CRLF, multi-byte, BOM, NUL. */
function trickySample(d: string): { text: string; header: string[]; rows: Row[] } {
  const text =
    `\uFEFFid${d}name${d}note${d}empty${d}flag\r\n` +
    `1${d}José${d}"a${d} b"${d}${d}null\n` +
    `2${d}"say ""hi"""${d}"line1\nline2"${d}null${d}"null"\r\n` +
    `3${d}中文😀${d}"crlf\r\ninside"${d}""${d}x\0y\n` +
    `4${d}a\rb${d}"""quoted"""${d}nu\0ll${d}"multi\n\nlines, ""and"" more"\n` +
    `5${d}${d}""${d}ok${d}end`;
  return {
    text,
    header: ['id', 'name', 'note', 'empty', 'flag'],
    rows: [
      ['1', 'José', `a${d} b`, '', null],
      ['2', 'say "hi"', 'line1\nline2', null, 'null'],
      ['3', '中文😀', 'crlf\r\ninside', '', 'xy'],
      ['4', 'a\rb', '"quoted"', null, 'multi\n\nlines, "and" more'],
      ['5', '', '', 'ok', 'end'],
    ],
  };
}

describe('csvBatches: RFC 4180 and Marketo rules', () => {
  it('reads quoted cells, escapes, line breaks in quotes, null literals, NULs, BOM and a final row', async () => {
    const { text, header, rows } = trickySample(',');
    const result = await parse(text);
    expect(result.header).toEqual(header);
    expect(result.rows).toEqual(rows);
  });

  for (const [name, d] of [
    ['CSV', ','],
    ['TSV', '\t'],
    ['SSV', ';'],
  ] as const) {
    it(`gives the same rows however a ${name} file is cut into chunks`, async () => {
      const { text, header, rows } = trickySample(d);
      const bytes = utf8.encode(text);
      for (const size of [1, 2, 3, 7, 64, bytes.length]) {
        const result = await parse(chunksOf(bytes, size), { delimiter: d });
        expect({ size, header: result.header, rows: result.rows }).toEqual({ size, header, rows });
      }
      for (let cut = 0; cut <= bytes.length; cut++) {
        const result = await parse(splitAt(bytes, [cut]), { delimiter: d });
        expect({ cut, header: result.header, rows: result.rows }).toEqual({ cut, header, rows });
      }
      // Two cuts, one of them on a fixed awkward spot: inside the `"""` run.
      const awkward = Buffer.from(bytes).indexOf('"""quoted');
      for (let cut = 0; cut <= bytes.length; cut++) {
        const cuts = [cut, awkward + 1].sort((a, b) => a - b);
        const result = await parse(splitAt(bytes, cuts), { delimiter: d });
        expect({ cuts, rows: result.rows }).toEqual({ cuts, rows });
      }
    });
  }

  it('treats other delimiters as data: commas in TSV and SSV, tabs in CSV', async () => {
    expect((await parse('a\tb\nx,y\tz;w\n', { delimiter: '\t' })).rows).toEqual([['x,y', 'z;w']]);
    expect((await parse('a;b\nx,y;z\tw\n', { delimiter: ';' })).rows).toEqual([['x,y', 'z\tw']]);
    expect((await parse('a,b\nx\ty,z;w\n')).rows).toEqual([['x\ty', 'z;w']]);
  });

  it('reads unquoted null as null, quoted "null" as text, empty cells as empty strings', async () => {
    const result = await parse('a,b,c,d,e\nnull,"null",,"",NULL\n');
    expect(result.rows).toEqual([[null, 'null', '', '', 'NULL']]);
    // Header cells are names: a literal null stays text there.
    expect(result.header).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect((await parse('null,x\n1,2\n')).header).toEqual(['null', 'x']);
  });

  it('ends rows at LF or CRLF and keeps a lone CR as data', async () => {
    expect((await parse('a,b\r\n1,2\r\n3,4\n5,6\r\n')).rows).toEqual([
      ['1', '2'],
      ['3', '4'],
      ['5', '6'],
    ]);
    expect((await parse('a,b\n1\r,2\r3\n')).rows).toEqual([['1\r', '2\r3']]);
    // A CR at the very end of an unquoted final cell is data too.
    expect((await parse('a,b\n1,2\r')).rows).toEqual([['1', '2\r']]);
    // CRLF split across chunks, in an unquoted and after a quoted cell.
    expect((await parse(from(['a,b\r', '\n1,2\r', '\n3,"4"\r', '\n']))).rows).toEqual([
      ['1', '2'],
      ['3', '4'],
    ]);
  });

  it('counts a final row without a line break, never an empty trailing line', async () => {
    expect((await parse('a,b\n1,2')).rows).toEqual([['1', '2']]);
    expect((await parse('a,b\n1,"2"')).rows).toEqual([['1', '2']]);
    expect((await parse('a,b\n1,')).rows).toEqual([['1', '']]);
    expect((await parse('a,b\n1,2\n')).rows).toEqual([['1', '2']]);
    expect((await parse('a,b\n1,2\n\n')).rows).toEqual([['1', '2']]);
    expect((await parse('a,b\r\n1,2\r\n\r\n\n')).rows).toEqual([['1', '2']]);
  });

  it('reads an empty line followed by rows as a row of one empty cell', async () => {
    expect((await parse('a\n1\n\n2\n\n')).rows).toEqual([['1'], [''], ['2']]);
    const error = await failure('a,b\n1,2\n\n3,4\n');
    expect(error.line).toBe(3);
    expect(error.message).toBe('expected 2 cells, found 1 (line 3)');
  });

  it('strips NUL bytes anywhere, including inside quotes and around line breaks', async () => {
    const text = '\0a,b\0\n"x\0y",\0"1\0""2"\r\0\n\0n\0u\0l\0l,\0\n';
    expect(await parse(text)).toEqual({
      header: ['a', 'b'],
      rows: [
        ['xy', '1"2'],
        [null, ''],
      ],
      batches: 1,
    });
  });

  it('strips NUL bytes before decoding, even inside a multi-byte character', async () => {
    const bytes = new Uint8Array([
      0x61, 0x0a, 0x78, 0xc3, 0x00, 0xa9, 0x0a, 0xe4, 0x00, 0xb8, 0x00, 0xad, 0x0a,
    ]);
    expect((await parse(from([bytes]))).rows).toEqual([['xé'], ['中']]);
    expect((await parse(chunksOf(bytes, 1))).rows).toEqual([['xé'], ['中']]);
  });

  it('drops a leading BOM only, even split across chunks', async () => {
    const bom = utf8.encode('\uFEFF');
    const result = await parse(from([bom.subarray(0, 1), bom.subarray(1, 2), bom.subarray(2), 'a,b\n1,2\n']));
    expect(result.header).toEqual(['a', 'b']);
    // A U+FEFF later in the file is data, in every kind of row.
    expect(
      (await parse(from(['a,b\n', '\uFEFFx,y\n', '1,2\n', '\uFEFF3,"4"\n', '"\uFEFF', '",5']))).rows,
    ).toEqual([
      ['\uFEFFx', 'y'],
      ['1', '2'],
      ['\uFEFF3', '4'],
      ['\uFEFF', '5'],
    ]);
  });

  it('decodes multi-byte characters split at every byte, and a truncated one as U+FFFD', async () => {
    const text = 'name,city\n😀é中,"Zürich, 東京"\n';
    const bytes = utf8.encode(text);
    for (let cut = 0; cut <= bytes.length; cut++) {
      for (const second of [cut + 1, cut + 2, cut + 3]) {
        if (second > bytes.length) continue;
        const result = await parse(splitAt(bytes, [cut, second]));
        expect({ cut, second, rows: result.rows }).toEqual({
          cut,
          second,
          rows: [['😀é中', 'Zürich, 東京']],
        });
      }
    }
    // A character cut short by an ASCII chunk: replaced, as a TextDecoder would.
    const split = utf8.encode('é');
    const withEmpty = await parse(from(['a,b\n', split.subarray(0, 1), '', split.subarray(1), ',y\n']));
    expect(withEmpty.rows).toEqual([['é', 'y']]);
    const broken = await parse(from(['a,b\n', new Uint8Array([0x78, 0xc3]), ',y\n']));
    expect(broken.rows).toEqual([['x\uFFFD', 'y']]);
    const brokenAtEnd = await parse(from(['a,b\n1,', new Uint8Array([0xe4, 0xb8])]));
    expect(brokenAtEnd.rows).toEqual([['1', '\uFFFD']]);
  });
});

/**
 * A plain character-by-character reading of the same rules, to compare with on random files: the
 * parser under test takes shortcuts (whole-row splits, indexOf scans, resumable cells) this one does not.
 */
function reference(input: Uint8Array, d: string): { header?: string[]; rows: Row[] } | { error: string } {
  let bytes = input.filter((byte) => byte !== 0);
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) bytes = bytes.subarray(3);
  const text = new TextDecoder('utf-8', { ignoreBOM: true }).decode(bytes);
  let header: string[] | undefined;
  const rows: Row[] = [];
  const blanks: number[] = [];
  const add = (cells: Row, line: number) => {
    if (header === undefined) header = cells.map((c) => c ?? 'null');
    else if (cells.length !== header.length) {
      throw new CsvError(`expected ${header.length} cells, found ${cells.length}`, line);
    } else rows.push(cells);
  };
  const record = (cells: Row, line: number, blank: boolean) => {
    if (blank) return void blanks.push(line);
    for (const blankLine of blanks.splice(0)) add([''], blankLine);
    add(cells, line);
  };
  try {
    let i = 0;
    let line = 1;
    const len = text.length;
    while (i < len) {
      const start = line;
      const cells: Row = [];
      let quoted = false;
      for (;;) {
        if (text[i] === '"') {
          quoted = true;
          const quoteLine = line;
          let value = '';
          i++;
          for (;;) {
            if (i >= len) throw new CsvError('unterminated quoted cell', quoteLine);
            if (text[i] === '"') {
              if (text[i + 1] === '"') {
                value += '"';
                i += 2;
                continue;
              }
              i++;
              break;
            }
            if (text[i] === '\n') line++;
            value += text[i++];
          }
          cells.push(value);
          if (i >= len) break;
          if (text[i] === d) {
            i++;
            if (i >= len) cells.push('');
            if (i >= len) break;
            continue;
          }
          if (text[i] === '\n' || (text[i] === '\r' && text[i + 1] === '\n')) {
            i += text[i] === '\n' ? 1 : 2;
            line++;
            break;
          }
          throw new CsvError('unexpected character after a closing quote', line);
        }
        let value = '';
        while (i < len && text[i] !== d && text[i] !== '\n') value += text[i++];
        if (i < len && text[i] === '\n') {
          if (value.endsWith('\r')) value = value.slice(0, -1);
          i++;
          line++;
          cells.push(value === 'null' ? null : value);
          break;
        }
        cells.push(value === 'null' ? null : value);
        if (i >= len) break;
        i++; // the delimiter
        if (i >= len) cells.push('');
        if (i >= len) break;
      }
      // An empty line: one unquoted empty cell, ended by a line break.
      const blank = !quoted && cells.length === 1 && cells[0] === '' && text[i - 1] === '\n';
      record(cells, start, blank);
    }
  } catch (error) {
    if (error instanceof CsvError) return { error: error.message };
    throw error;
  }
  return header === undefined ? { rows } : { header, rows };
}

async function outcome(source: AsyncIterable<Uint8Array>, d: ',' | '\t' | ';', batchRows: number) {
  try {
    const { header, rows } = await parse(source, { delimiter: d, batchRows });
    return header === undefined ? { rows } : { header, rows };
  } catch (error) {
    if (error instanceof CsvError) return { error: error.message };
    throw error;
  }
}

describe('csvBatches: Latin-1 and UTF-8 modes', () => {
  it('reads runs of mostly non-ASCII rows and of ASCII rows alike, switching modes between them', async () => {
    // Runs of 300 rows: the parser reads Latin-1, finds most rows need decoding, goes to UTF-8, and
    // later tries Latin-1 again; rows span chunks and hold line breaks in quotes.
    const expected: Row[] = [];
    let text = 'name,note,n\r\n';
    for (let i = 0; i < 2400; i++) {
      const heavy = Math.floor(i / 300) % 2 === 0;
      const row = heavy
        ? [`Zoë ${i} 中文`, `line\n${i} 😀`, String(i)]
        : [`Zoe ${i}`, i % 5 ? 'x' : 'y, z', String(i)];
      expected.push(row);
      text += `${row[0]},${/[,\n]/.test(row[1] as string) ? `"${row[1]}"` : row[1]},${row[2]}\r\n`;
    }
    const bytes = utf8.encode(text);
    for (const size of [5, 97, 1000, 65_536]) {
      const result = await parse(chunksOf(bytes, size), { batchRows: 700 });
      expect(result.header).toEqual(['name', 'note', 'n']);
      const bad = result.rows.findIndex((row, i) => JSON.stringify(row) !== JSON.stringify(expected[i]));
      expect({ size, rows: result.rows.length, bad }).toEqual({ size, rows: expected.length, bad: -1 });
    }
  });
});

describe('csvBatches: random files against a plain reading of the rules', () => {
  it('agrees on rows and errors for 500 random files cut at random places', async () => {
    let seed = 20_240_611;
    /** mulberry32: a small PRNG with well-mixed low bits. */
    const random = (n: number) => {
      seed = (seed + 0x6d2b79f5) | 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) % n;
    };
    const pick = <T>(items: readonly T[]): T => items[random(items.length)] as T;
    const delimiters = [',', '\t', ';'] as const;
    const ascii = ['a', 'null', '\0', ' ', ',', ';', '\t', '\r', 'x'];
    const other = ['é', '中', '😀', '\uFEFF'];
    for (let round = 0; round < 500; round++) {
      const d = pick(delimiters);
      // Long files mix runs of rows with and without other characters, so that the parser's
      // Latin-1 and UTF-8 modes both come into play and switch back and forth.
      const long = random(5) === 0;
      let bits = [...ascii, ...other];
      const cell = () => {
        const kind = random(4);
        if (kind === 0) return 'null';
        let text = '';
        const parts = random(4);
        if (kind === 1) {
          for (let k = 0; k < parts; k++) text += pick(bits.filter((b) => b !== d && b !== '\r'));
          return text;
        }
        for (let k = 0; k < parts; k++) text += pick([...bits, '""', '\n', '\r\n', d]);
        return `"${text}"`;
      };
      const columns = 1 + random(4);
      let text = random(5) === 0 ? '\uFEFF' : '';
      const rowCount = long ? 100 + random(300) : random(8);
      for (let r = 0; r <= rowCount; r++) {
        if (long && r % 100 === 0) bits = random(2) ? other : ascii;
        text +=
          Array.from({ length: columns }, cell).join(d) +
          (r < rowCount || random(2) ? pick(['\n', '\r\n']) : '');
      }
      if (random(3) === 0) text += pick(['\n', '\r\n', '\n\n']);
      // Now and then, damage it: a stray quote, delimiter, line break or cut, or bytes that are not UTF-8.
      for (let k = random(3) === 0 ? 1 + random(2) : 0; k > 0; k--) {
        const at = random(text.length + 1);
        text = text.slice(0, at) + pick(['"', d, '\n', '\r', '\0', '']) + text.slice(at);
      }
      let bytes = utf8.encode(text);
      for (let k = random(4) === 0 ? 1 + random(2) : 0; k > 0; k--) {
        const at = random(bytes.length + 1);
        const bad = pick([[0x80], [0xbf], [0xc3], [0xe4, 0xb8], [0xf0, 0x9f], [0xff]]);
        bytes = new Uint8Array([...bytes.subarray(0, at), ...bad, ...bytes.subarray(at)]);
      }
      const expected = reference(bytes, d);
      const cuts = Array.from({ length: random(6) }, () => random(bytes.length + 1)).sort((a, b) => a - b);
      const chunks = chunksOf(bytes, 1 + random(long ? 200 : 5));
      for (const source of [from([bytes]), splitAt(bytes, cuts), chunks]) {
        const actual = await outcome(source, d, 1 + random(3));
        expect({ round, text, actual }).toEqual({ round, text, actual: expected });
      }
    }
  });
});

describe('csvBatches: errors', () => {
  it('rejects a row with another cell count than the header, with its line', async () => {
    const extra = await failure('a,b\n1,2\n3,4,5\n');
    expect(extra).toBeInstanceOf(CsvError);
    expect(extra.name).toBe('CsvError');
    expect(extra.line).toBe(3);
    expect(extra.message).toBe('expected 2 cells, found 3 (line 3)');
    expect((await failure('a,b\n1,2\n3\n')).line).toBe(3);
    expect((await failure('a,b\n1')).line).toBe(2);
    // Lines counted through quoted line breaks (LF and CRLF) and CRLF rows: the 4th row is on line 8.
    const counted = await failure('a,b\r\n"x\ny",1\r\n"p\r\nq\n\nr",2\r\n3,"4"5\n');
    expect(counted.message).toBe('unexpected character after a closing quote (line 8)');
    // A row spanning lines is reported where it starts.
    const starts = await failure('a,b\r\n"x\ny",1\r\n"p\r\nq\n\nr",2\r\n"multi\nline",2,3\n');
    expect(starts.message).toBe('expected 2 cells, found 3 (line 8)');
  });

  it('rejects an unterminated quote at the end, at the line where it opened', async () => {
    const error = await failure('a,b\n1,2\n3,"open\nstill open\n');
    expect(error.message).toBe('unterminated quoted cell (line 3)');
    expect((await failure('a,b\n1,"x""')).line).toBe(2);
    expect((await failure('"a')).line).toBe(1);
  });

  it('rejects text after a closing quote', async () => {
    expect((await failure('a,b\n1,"2"x\n')).message).toBe(
      'unexpected character after a closing quote (line 2)',
    );
    expect((await failure('a,b\n1,"2" ,3\n')).line).toBe(2);
    expect((await failure('a,b\n1,"2"\r3\n')).line).toBe(2);
    expect((await failure('a,b\n1,"2"\r')).line).toBe(2);
  });

  it('reports the same error wherever the chunks are cut', async () => {
    const samples = [
      'a,b\r\n"x\ny",1\r\n"p\r\nq",2\r\n"multi\nline",2,3\n4,5\n',
      'a,b\n1,2\n"x",y\n"open,\n\n',
      'a,b\n"1""","2"\r\n"3"x,4\n',
    ];
    for (const text of samples) {
      const bytes = utf8.encode(text);
      const whole = await failure(text);
      for (let cut = 0; cut <= bytes.length; cut++) {
        const error = await failure(splitAt(bytes, [cut]));
        expect({ cut, message: error.message }).toEqual({ cut, message: whole.message });
      }
      const bytewise = await failure(chunksOf(bytes, 1));
      expect(bytewise.message).toBe(whole.message);
    }
  });

  it('rejects bad options', async () => {
    await expect(collect(from([]), { delimiter: '|' as ',' })).rejects.toThrow(RangeError);
    await expect(collect(from([]), { batchRows: 0 })).rejects.toThrow(RangeError);
    await expect(collect(from([]), { batchRows: 2.5 })).rejects.toThrow(RangeError);
  });

  it('passes on errors of the source', async () => {
    async function* failing(): AsyncGenerator<Uint8Array> {
      yield utf8.encode('a,b\n1,2\n');
      throw new Error('connection reset');
    }
    await expect(collect(failing())).rejects.toThrow('connection reset');
  });
});

describe('csvBatches: batches', () => {
  const lines = ['id,v\n', ...Array.from({ length: 12 }, (_, i) => `${i + 1},"v${i + 1}"\n`)];
  const offsetAfter = (line: number) => lines.slice(0, line).join('').length;

  it('yields batchRows rows at a time and the rest at the end, with the bytes consumed', async () => {
    const batches = await collect(from(lines), { batchRows: 5 });
    expect(batches.map((b) => b.rows.length)).toEqual([5, 5, 2]);
    expect(batches.flatMap((b) => b.rows.map((r) => r[0]))).toEqual(
      lines.slice(1).map((_, i) => String(i + 1)),
    );
    expect(batches.every((b) => b.rows.every((r) => r[1] === `v${r[0]}`))).toBe(true);
    // A full batch goes out once the next row is read: after line 7 (header + 6 rows), then line 12.
    expect(batches.map((b) => b.bytes)).toEqual([offsetAfter(7), offsetAfter(12), offsetAfter(13)]);
    // One header array for the whole file.
    expect(batches[1]?.header).toBe(batches[0]?.header);
    expect(batches[2]?.header).toBe(batches[0]?.header);
  });

  it('ends on a full batch with the whole file counted, without an empty batch after it', async () => {
    const batches = await collect(from([...lines.slice(0, 11), '\n', '\n']), { batchRows: 5 });
    expect(batches.map((b) => b.rows.length)).toEqual([5, 5]);
    expect(batches.at(-1)?.bytes).toBe(offsetAfter(11) + 2);
  });

  it('defaults to 5,000 rows per batch', async () => {
    const rows = Array.from({ length: 12_001 }, (_, i) => `${i},x\n`).join('');
    const batches = await collect(chunksOf(utf8.encode(`a,b\n${rows}`), 4096));
    expect(batches.map((b) => b.rows.length)).toEqual([5000, 5000, 2001]);
  });

  it('yields nothing for an empty source', async () => {
    expect(await collect(from([]))).toEqual([]);
    expect(await collect(from(['', new Uint8Array(0)]))).toEqual([]);
    expect(await collect(from(['\uFEFF']))).toEqual([]);
    expect(await collect(from(['\0\0']))).toEqual([]);
    expect(await collect(from(['\n\r\n\n']))).toEqual([]);
  });

  it('yields one batch without rows for a header-only file', async () => {
    expect(await collect(from(['a,b\n']))).toEqual([{ header: ['a', 'b'], rows: [], bytes: 4 }]);
    expect(await collect(from(['a,', '"b"']))).toEqual([{ header: ['a', 'b'], rows: [], bytes: 5 }]);
    expect(await collect(from(['a,b\r\n', '\r\n']))).toEqual([{ header: ['a', 'b'], rows: [], bytes: 7 }]);
  });
});

describe('csvBatches: streaming a large file', () => {
  it('reads 200,000 generated rows as they are produced, with every checksummed cell intact', async () => {
    const total = 200_000;
    let producedBytes = 0;
    let done = false;
    const expected = createHash('sha256');
    /** Rows made on the fly and cut into uneven chunks: the file never exists whole. */
    async function* generate(): AsyncGenerator<Uint8Array> {
      const header = utf8.encode('id,email,note,score,json\r\n');
      producedBytes += header.length;
      yield header;
      let text = '';
      let cut = 1;
      for (let id = 1; id <= total; id++) {
        const note = id % 3 === 0 ? `"line ${id}\nsays ""hi"", ok"` : id % 3 === 1 ? 'null' : `plain ${id}`;
        const json = `"{""id"":${id},""tags"":[""a"",""b""]}"`;
        text += `${id},user${id}@example.com,${note},${id % 7 === 0 ? '' : id * 3},${json}\r\n`;
        expected.update(`${id}|user${id}@example.com|${cellOf(id)}|${id % 7 === 0 ? '' : id * 3}|`);
        if (text.length > 20_000 + (cut % 9_973)) {
          const bytes = utf8.encode(text);
          cut = (cut * 7_919) % 65_521;
          const split = cut % bytes.length;
          for (const part of [bytes.subarray(0, split), bytes.subarray(split)]) {
            producedBytes += part.length;
            yield part;
          }
          text = '';
        }
      }
      const bytes = utf8.encode(text);
      producedBytes += bytes.length;
      yield bytes;
      done = true;
    }
    function cellOf(id: number): string {
      return id % 3 === 0 ? `line ${id}\nsays "hi", ok` : id % 3 === 1 ? 'null!' : `plain ${id}`;
    }

    const actual = createHash('sha256');
    let rows = 0;
    let firstBatchAt = -1;
    let jsonChecked = 0;
    for await (const batch of csvBatches(generate())) {
      if (firstBatchAt < 0) firstBatchAt = producedBytes;
      for (const row of batch.rows) {
        rows++;
        actual.update(`${row[0]}|${row[1]}|${row[2] ?? 'null!'}|${row[3]}|`);
        if (rows % 10_007 === 0) {
          expect(JSON.parse(row[4] as string)).toEqual({ id: rows, tags: ['a', 'b'] });
          jsonChecked++;
        }
      }
      expect(batch.bytes).toBeLessThanOrEqual(producedBytes);
    }
    expect(done).toBe(true);
    expect(rows).toBe(total);
    expect(jsonChecked).toBe(19);
    expect(actual.digest('hex')).toBe(expected.digest('hex'));
    // The first batch came after ~5,000 rows were produced, long before the end of the file.
    expect(firstBatchAt).toBeGreaterThan(0);
    expect(firstBatchAt).toBeLessThan(producedBytes / 20);
  });
});
