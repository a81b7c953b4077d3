/**
 * Streaming reader of Marketo bulk export files (spec marketo-api.md §5.10/§5.11): RFC 4180 quoting
 * (`""` escapes, quoted cells may hold delimiters and line breaks), CRLF or LF rows, the unquoted literal
 * `null` as an empty value, NUL bytes (`\x00`) stripped, UTF-8 split anywhere across chunks.
 *
 * This sits on the hot path of the 1M-lead sync. Bytes are mostly read as Latin-1 (see ChunkText) and
 * text is scanned with `indexOf`, never char by char, in three ways: a whole row without quotes is cut
 * out and `split` natively; a whole row with quotes is read cell by cell by a tight function of locals;
 * only the row a chunk ends in (and the file's end) goes through the resumable reader, which can stop
 * anywhere and pick up with the next chunk.
 */
import { Buffer, isAscii } from 'node:buffer';

/** A data row as the parser reads it: one cell per header column; the literal `null` (unquoted) is null. */
export type CsvRow = (string | null)[];

/**
 * What `CsvReader.text` answers for a row it does not take: the parser then splits the row into cells
 * (and reports a wrong cell count) and hands them to `CsvReader.cells`.
 */
export const CSV_SPLIT: unique symbol = Symbol('csv split');

/**
 * Turns the data rows of one file into the items of its batches, without building a cell array when it
 * can (the hot path of the lead sync: no array, no `null` strings, numbers read from the text). Made for
 * each file from its header by {@link CsvOptions.reader}.
 */
export interface CsvReader<T> {
  /** A row as cells (quoted rows, rows across chunks, and the rows `text` declines). */
  cells(row: CsvRow): T;
  /**
   * Optional: a row given as `text.slice(start, end)`, holding no quote and no line break (decoded, no
   * CR at its end). Must read exactly what the split cells would give, or answer {@link CSV_SPLIT} (a
   * cell count other than the header's among others).
   */
  text?(text: string, start: number, end: number): T | typeof CSV_SPLIT;
  /**
   * Optional, with `text`: the same row before decoding, as Latin-1 text (characters ≥ 0x80 are the
   * bytes of UTF-8 characters) with those bytes, `bytes[i]` the character at `text[i]` (valid during the
   * call only). Must read what `text` would read from the decoded row, or answer {@link CSV_SPLIT}: the
   * parser then goes on as without it (decodes the row if needed and calls `text`).
   */
  bytes?(text: string, start: number, end: number, bytes: Uint8Array): T | typeof CSV_SPLIT;
}

export interface CsvOptions<T = CsvRow> {
  /** Cell separator: ',' (CSV, default), '\t' (TSV) or ';' (SSV). */
  delimiter?: ',' | '\t' | ';';
  /** Rows per yielded batch (default 5,000). */
  batchRows?: number;
  /** Items from rows (default: the rows themselves), made once the header is read. */
  reader?: (header: readonly string[], delimiter: string) => CsvReader<T>;
}

export interface CsvBatch<T = CsvRow> {
  /** The header row (same array for every batch of one file). */
  header: string[];
  /** Data rows (or what the options' reader made of them), in file order, one per row. */
  rows: T[];
  /** Bytes of the source consumed so far (whole file at the last batch). */
  bytes: number;
}

export const DEFAULT_BATCH_ROWS = 5000;

/**
 * Parses `source` as it arrives and yields batches of rows, never holding more than a batch, a chunk and
 * the row that chunk ends in. A row with a different number of cells than the header, an unterminated quote at the end, or
 * anything but a delimiter or a line break after a closing quote throws {@link CsvError}.
 *
 * - The first row is the header. An empty file (no header) yields nothing; a header-only file yields
 *   one batch with no rows (so the caller still sees the header and the file's size).
 * - Batches hold `batchRows` rows, the last one the remainder; a full batch is handed out only once the
 *   next row (or the end of the file) is seen, so the last batch always reports the whole file's bytes.
 * - Rows end at LF or CRLF; a lone CR is data. A final row without a line break counts.
 * - Empty lines at the end of the file are not rows; an empty line followed by more rows is a row of
 *   one empty cell (so in a file of several columns it is an error).
 * - Unquoted `null` is null, quoted `"null"` the string 'null', an empty cell ''.
 * - NUL bytes are dropped anywhere and a leading UTF-8 BOM is dropped, from the bytes (before decoding);
 *   bytes that are not UTF-8 become U+FFFD, as with a TextDecoder.
 * - {@link CsvError.line} is a 1-based physical line (header = 1; line breaks inside quoted cells count):
 *   where the row starts for a wrong cell count, where the quote opened for an unterminated one, where
 *   the stray character is after a closing quote.
 */
export async function* csvBatches<T = CsvRow>(
  source: AsyncIterable<Uint8Array>,
  options: CsvOptions<T> = {},
): AsyncGenerator<CsvBatch<T>> {
  const delimiter = options.delimiter ?? ',';
  if (delimiter !== ',' && delimiter !== '\t' && delimiter !== ';') {
    throw new RangeError(`csvBatches: unsupported delimiter ${JSON.stringify(delimiter)}`);
  }
  const batchRows = options.batchRows ?? DEFAULT_BATCH_ROWS;
  if (!Number.isSafeInteger(batchRows) || batchRows < 1) {
    throw new RangeError(`csvBatches: batchRows must be a positive integer, got ${batchRows}`);
  }
  // Without a reader the items are the rows themselves (T is then CsvRow, the default).
  const reader =
    options.reader ?? (cellReader as unknown as (h: readonly string[], d: string) => CsvReader<T>);
  const parser = new CsvParser<T>(delimiter, batchRows, reader);
  let bytes = 0;
  for await (const chunk of source) {
    bytes += chunk.byteLength;
    parser.push(chunk);
    for (let rows = parser.run(false); rows !== undefined; rows = parser.run(false)) {
      yield parser.batch(rows, bytes);
    }
  }
  parser.end();
  for (let rows = parser.run(true); rows !== undefined; rows = parser.run(true)) {
    yield parser.batch(rows, bytes);
  }
  const last = parser.finish();
  if (last !== undefined) yield parser.batch(last, bytes);
}

export class CsvError extends Error {
  override readonly name = 'CsvError';
  constructor(
    message: string,
    /** 1-based line of the file (header = 1) where the problem is. */
    readonly line: number,
  ) {
    super(`${message} (line ${line})`);
  }
}

type Row = CsvRow;

const rowsAsCells: CsvReader<Row> = { cells: (row) => row };
function cellReader(): CsvReader<Row> {
  return rowsAsCells;
}

const QUOTE = 34; // "
const LF = 10;
const CR = 13;
const EMPTY = new Uint8Array(0);
/** The UTF-8 BOM. */
const BOM = [0xef, 0xbb, 0xbf];
/** A byte ≥ 0x80 in Latin-1 text: part of a multi-byte UTF-8 character. */
const HIGH_BYTE = /[\x80-\xff]/;
const NEXT_HIGH_BYTE = /[\x80-\xff]/g;
/** Latin-1 mode: rows looked at before deciding whether too many need decoding. */
const SAMPLE_ROWS = 64;
/** UTF-8 mode: chunks read before trying Latin-1 again. */
const TEXT_CHUNKS = 64;

function view(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Latin-1 text of UTF-8 bytes back to the characters they encode (U+FFFD for broken ones). */
function utf8(text: string): string {
  return Buffer.from(text, 'latin1').toString('utf8');
}

/** Decodes the cells of a row read as Latin-1 that hold bytes ≥ 0x80, in place; false if none did. */
function decodeCells(row: Row): boolean {
  let decoded = false;
  for (let i = 0; i < row.length; i++) {
    const cell = row[i];
    if (cell && HIGH_BYTE.test(cell)) {
      row[i] = utf8(cell);
      decoded = true;
    }
  }
  return decoded;
}

/** Position of the first byte ≥ 0x80 at or after `pos`, or -1. */
function highByteFrom(text: string, pos: number): number {
  NEXT_HIGH_BYTE.lastIndex = pos;
  return NEXT_HIGH_BYTE.test(text) ? NEXT_HIGH_BYTE.lastIndex - 1 : -1;
}

/** Length of `bytes` without a UTF-8 character cut short at its end. */
function wholeCharacters(bytes: Uint8Array): number {
  const n = bytes.length;
  for (let i = n - 1; i >= 0 && i >= n - 4; i--) {
    const byte = bytes[i] as number;
    if (byte < 0x80) return n;
    if (byte >= 0xc0) return n - i < (byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : 2) ? i : n;
  }
  return n;
}

/**
 * Chunks to the text the parser reads, in one of two modes, chosen by the parser as it goes:
 *
 * - Latin-1 (one char per byte): several times faster than UTF-8 decoding and gives compact one-byte
 *   strings. Parsing it is safe since UTF-8 never uses bytes below 0x80 inside a character, so quotes,
 *   delimiters and line breaks are found as they are; the rows holding bytes ≥ 0x80 are decoded as
 *   UTF-8 once complete. Best when most rows are ASCII (Marketo's usual lead data).
 * - UTF-8 text (a TextDecoder; ASCII chunks still taken as Latin-1): for files where most rows hold
 *   other characters, which would each be decoded on their own in Latin-1 mode (about twice as slow).
 *
 * NUL bytes and a leading BOM are dropped from the bytes, so both modes give the same text.
 */
class ChunkText {
  latin1 = true;
  /** The last chunk was pure ASCII. */
  ascii = true;
  /**
   * The bytes of the last text {@link ChunkText.decode} gave, position for position (Latin-1 mode), or
   * undefined. Overwritten by the next call.
   */
  bytes: Buffer | undefined;
  private readonly decoder = new TextDecoder('utf-8', { ignoreBOM: true });
  /** UTF-8 mode: the first bytes of a character the end of the last chunk cut. */
  private pending: Uint8Array = EMPTY;
  /** The first bytes of the file while they might still be a BOM cut short. */
  private head: Uint8Array | null = EMPTY;

  /** A buffer reused to join the carry-over and a chunk (see {@link ChunkText.decode}). */
  private joined: Buffer = Buffer.allocUnsafe(0);

  /**
   * `carry` (text not read yet) followed by the chunk's text. In Latin-1 mode both are joined as bytes
   * and decoded once: `carry + text` would be a cons string, which every `charCodeAt` and `indexOf` of
   * the parser and the readers must look through (measured: ~10% more CPU per lead row).
   */
  decode(chunk: Uint8Array, carry: string): string {
    let bytes = view(chunk);
    this.bytes = undefined;
    if (bytes.indexOf(0) !== -1) bytes = view(bytes.filter((byte) => byte !== 0));
    if (this.head !== null) {
      if (this.head.length > 0) bytes = Buffer.concat([this.head, bytes]);
      const prefix = Math.min(bytes.length, BOM.length);
      if (BOM.every((byte, i) => i >= prefix || bytes[i] === byte)) {
        if (bytes.length < BOM.length) {
          this.head = bytes;
          return carry;
        }
        bytes = bytes.subarray(BOM.length);
      }
      this.head = null;
    }
    this.ascii = isAscii(bytes);
    if (this.latin1 && carry.length > 0) return this.joinLatin1(carry, bytes);
    this.bytes = this.latin1 ? bytes : undefined;
    if (this.latin1 || (this.ascii && this.pending.length === 0)) return carry + bytes.toString('latin1');
    const all = this.pending.length > 0 ? Buffer.concat([this.pending, bytes]) : bytes;
    const whole = wholeCharacters(all);
    this.pending = whole < all.length ? all.slice(whole) : EMPTY;
    return carry + this.decoder.decode(all.subarray(0, whole), { stream: true });
  }

  /** Latin-1 text `carry` (one character a byte in this mode) and `bytes` as one flat string. */
  private joinLatin1(carry: string, bytes: Buffer): string {
    const n = carry.length + bytes.length;
    if (this.joined.length < n) this.joined = Buffer.allocUnsafe(n + (n >> 2));
    const joined = this.joined;
    joined.write(carry, 0, 'latin1');
    joined.set(bytes, carry.length);
    this.bytes = joined;
    return joined.toString('latin1', 0, n);
  }

  /** What is left at the end of the file: a BOM cut short (as data), a character cut short (U+FFFD). */
  end(): string {
    this.ascii = false;
    this.bytes = undefined;
    const rest = Buffer.concat([this.head ?? EMPTY, this.pending]);
    this.head = null;
    this.pending = EMPTY;
    return this.latin1 ? rest.toString('latin1') : this.decoder.decode(rest);
  }

  /** To UTF-8 mode: `carry`, the unread Latin-1 text, as text (a character it ends in cut waits). */
  toText(carry: string): string {
    this.latin1 = false;
    const bytes = Buffer.from(carry, 'latin1');
    const whole = wholeCharacters(bytes);
    this.pending = bytes.slice(whole);
    return bytes.toString('utf8', 0, whole);
  }

  /** To Latin-1 mode: `carry`, the unread text, as Latin-1 (with the bytes of a cut character). */
  toLatin1(carry: string): string {
    this.latin1 = true;
    const text = Buffer.from(carry, 'utf8').toString('latin1') + view(this.pending).toString('latin1');
    this.pending = EMPTY;
    return text;
  }
}

/** Where the cell-by-cell reader stands between two calls (a row may span chunks). */
const enum Cell {
  /** At the start of a cell (or of a row when `row` is null). */
  Start,
  /** Inside a quoted cell: `raw` holds its text so far, `""` escapes not yet undone. */
  Quoted,
  /** Just after the closing quote of a cell already stored: a delimiter or a line break must follow. */
  Closed,
}

/** Results of {@link quotedRow} besides the row (module state: the parser is synchronous). */
let rowEnd = 0;
let rowBreaks = 0;

/**
 * Reads one whole row holding quotes from `pos` (`lf`: the first LF at or after `pos`, or -1), with
 * locals only: the common case of a row with quoted cells, kept tight. Returns null when the row does
 * not end within `buf` or looks wrong; the resumable reader then takes it (and reports the error).
 * Sets `rowEnd` (position after the row's line break) and `rowBreaks` (LFs consumed).
 */
function quotedRow(
  buf: string,
  pos: number,
  lf: number,
  delimiter: string,
  delimiterCode: number,
  width: number,
): Row | null {
  const len = buf.length;
  // Sized for the header up front: growing an array cell by cell reallocates it several times a row.
  const row: Row = new Array<string | null>(width);
  let cells = 0;
  let breaks = 0;
  let nextDelimiter = -2;
  for (;;) {
    if (buf.charCodeAt(pos) === QUOTE) {
      const start = pos + 1;
      let q = buf.indexOf('"', start);
      let escaped = false;
      while (q !== -1 && buf.charCodeAt(q + 1) === QUOTE) {
        escaped = true;
        q = buf.indexOf('"', q + 2);
      }
      if (q === -1 || q + 1 >= len) return null;
      while (lf !== -1 && lf < q) {
        breaks++;
        lf = buf.indexOf('\n', lf + 1);
      }
      const value = buf.slice(start, q);
      row[cells++] = escaped ? value.replaceAll('""', '"') : value;
      pos = q + 1;
      const code = buf.charCodeAt(pos);
      if (code === delimiterCode) {
        pos++;
        continue;
      }
      if (code === LF || (code === CR && buf.charCodeAt(pos + 1) === LF)) {
        rowEnd = code === LF ? pos + 1 : pos + 2;
        rowBreaks = breaks + 1;
        if (cells !== width) row.length = cells;
        return row;
      }
      return null;
    }
    if (nextDelimiter !== -1 && nextDelimiter < pos) nextDelimiter = buf.indexOf(delimiter, pos);
    if (nextDelimiter !== -1 && (nextDelimiter < lf || lf === -1)) {
      const value = buf.slice(pos, nextDelimiter);
      row[cells++] = value === 'null' ? null : value;
      pos = nextDelimiter + 1;
      continue;
    }
    if (lf === -1) return null;
    const value = buf.slice(pos, lf > pos && buf.charCodeAt(lf - 1) === CR ? lf - 1 : lf);
    row[cells++] = value === 'null' ? null : value;
    rowEnd = lf + 1;
    rowBreaks = breaks + 1;
    if (cells !== width) row.length = cells;
    return row;
  }
}

class CsvParser<T> {
  private header: string[] | null = null;
  private rows: T[] = [];
  /** Full batches waiting to be handed out (more than one only after a run of deferred empty lines). */
  private readonly ready: T[][] = [];
  /** The file's reader, once the header is known (its `text` may come and go: looked up per row). */
  private reader: CsvReader<T> | null = null;

  /** Text not parsed yet: the carry-over of the previous chunk (one partial row at most) + the new one. */
  private buf = '';
  /** `buf` as bytes when the text layer has them (see ChunkText.bytes). */
  private bytes: Uint8Array | undefined;
  private pos = 0;
  /** Physical line at `pos` (1-based). */
  private line = 1;
  /**
   * Next `"`, delimiter and LF at or after the read position in `buf` (-1: none left, -2: not looked
   * up), searched again only once passed, so no stretch of text is scanned twice for the same thing.
   */
  private nextQuote = -2;
  private nextDelimiter = -2;
  private nextLf = -2;
  /** Same for a byte ≥ 0x80 (-1 from the start when the text is known to be ASCII). */
  private nextHigh = -2;

  // The resumable reader's state: the row being read (null between rows) and where in it.
  private row: Row | null = null;
  private rowLine = 1;
  private state = Cell.Start;
  private raw = '';
  private escaped = false;
  private quoteLine = 0;
  /** The resumable reader ran out of text in the middle of a row. */
  private starved = false;
  /** Where in `buf` the row being read began (-1: in an earlier chunk). */
  private rowStart = -1;
  /** Length of the carry-over at the start of `buf`. */
  private carried = 0;

  /** Empty lines seen and not yet known to be followed by a row (trailing ones are dropped). */
  private blankLines = 0;
  private blankLine = 0;

  private readonly delimiterCode: number;
  private readonly text = new ChunkText();
  /** Latin-1 mode: rows read, and those among them that needed decoding, since the last decision. */
  private rowsSeen = 0;
  private rowsDecoded = 0;
  /** UTF-8 mode: chunks read in it. */
  private textChunks = 0;

  constructor(
    private readonly delimiter: string,
    private readonly batchRows: number,
    private readonly makeReader: (header: readonly string[], delimiter: string) => CsvReader<T>,
  ) {
    this.delimiterCode = delimiter.charCodeAt(0);
  }

  /** Takes the next chunk of the file (what is left of the previous one is kept). */
  push(chunk: Uint8Array): void {
    let carry = this.pos < this.buf.length ? this.buf.slice(this.pos) : '';
    // Modes change between rows only: then the unread text is the start of a row, nothing else (the
    // resumable reader keeps a row's cells across chunks only for rows longer than a chunk).
    if (this.row === null) carry = this.chooseMode(carry);
    this.feed(carry, this.text.decode(chunk, carry));
  }

  /** The end of the file: what the text layer still held. */
  end(): void {
    const carry = this.pos < this.buf.length ? this.buf.slice(this.pos) : '';
    this.feed(carry, carry + this.text.end());
  }

  /** `buf`: `carry` followed by the new text. */
  private feed(carry: string, buf: string): void {
    this.buf = buf;
    this.bytes = this.text.bytes;
    this.pos = 0;
    this.carried = carry.length;
    this.rowStart = -1;
    this.nextQuote = this.nextDelimiter = this.nextLf = -2;
    // In UTF-8 mode nothing needs decoding; in Latin-1 mode an ASCII chunk after an ASCII carry neither.
    this.nextHigh = !this.text.latin1 || (this.text.ascii && !HIGH_BYTE.test(carry)) ? -1 : -2;
  }

  /** Switches modes when the rows read tell to; returns the unread text in the new mode. */
  private chooseMode(carry: string): string {
    if (this.text.latin1) {
      if (this.rowsSeen < SAMPLE_ROWS) return carry;
      const heavy = this.rowsDecoded * 2 > this.rowsSeen;
      this.rowsSeen = this.rowsDecoded = 0;
      if (!heavy) return carry;
      this.textChunks = 0;
      return this.text.toText(carry);
    }
    if (++this.textChunks < TEXT_CHUNKS) return carry;
    return this.text.toLatin1(carry);
  }

  batch(rows: T[], bytes: number): CsvBatch<T> {
    return { header: this.header ?? [], rows, bytes };
  }

  /** Parses what `feed` gave; returns a full batch as soon as one is ready, undefined when out of text. */
  run(final: boolean): T[] | undefined {
    if (this.ready.length > 0) return this.ready.shift();
    const buf = this.buf;
    const len = buf.length;
    const delimiter = this.delimiter;
    let pos = this.pos;
    let quote = this.nextQuote;
    let high = this.nextHigh;
    this.starved = false;
    while (pos < len && this.ready.length === 0) {
      if (this.row === null) {
        const lf = buf.indexOf('\n', pos);
        if (lf !== -1) {
          if (quote !== -1 && quote < pos) quote = buf.indexOf('"', pos);
          if (quote === -1 || quote > lf) {
            // A whole row without quotes (most rows): cut out and split natively.
            const end = lf > pos && buf.charCodeAt(lf - 1) === CR ? lf - 1 : lf;
            if (end === pos) {
              this.blank(this.line);
            } else {
              const reader = this.reader;
              const fromText = this.blankLines === 0 && reader !== null && reader.text !== undefined;
              const bytes = this.bytes;
              if (fromText && bytes !== undefined && reader.bytes !== undefined) {
                // Latin-1 mode: the reader takes the row as bytes, undecoded (no search for bytes
                // ≥ 0x80 here, no decoding unless it declines).
                const item = reader.bytes(buf, pos, end, bytes);
                if (item !== CSV_SPLIT) {
                  this.rowsSeen++;
                  this.put(item);
                  this.line++;
                  pos = lf + 1;
                  continue;
                }
              }
              if (high !== -1 && high < pos) high = highByteFrom(buf, pos);
              this.rowsSeen++;
              if (fromText && (high === -1 || high >= end)) {
                // The reader takes the row straight from the text: no line, no cell array.
                const item = (reader as Required<CsvReader<T>>).text(buf, pos, end);
                if (item !== CSV_SPLIT) {
                  this.put(item);
                  this.line++;
                  pos = lf + 1;
                  continue;
                }
              }
              let line = buf.slice(pos, end);
              if (high !== -1 && high < end) {
                line = utf8(line);
                this.rowsDecoded++;
                if (fromText) {
                  const item = (reader as Required<CsvReader<T>>).text(line, 0, line.length);
                  if (item !== CSV_SPLIT) {
                    this.put(item);
                    this.line++;
                    pos = lf + 1;
                    continue;
                  }
                }
              }
              const cells: Row = line.split(delimiter);
              for (let i = 0; i < cells.length; i++) if (cells[i] === 'null') cells[i] = null;
              this.emit(cells, this.line);
            }
            this.line++;
            pos = lf + 1;
            continue;
          }
          const width = this.header?.length ?? 0;
          let row = quotedRow(buf, pos, lf, delimiter, this.delimiterCode, width);
          if (row !== null) {
            const end = rowEnd;
            const breaks = rowBreaks;
            if (high !== -1 && high < pos) high = highByteFrom(buf, pos);
            this.rowsSeen++;
            if (high !== -1 && high < end) {
              // Read again once decoded (the cells' bounds move when characters take several bytes).
              this.rowsDecoded++;
              const text = utf8(buf.slice(pos, end));
              const decoded = quotedRow(text, 0, text.indexOf('\n'), delimiter, this.delimiterCode, width);
              if (decoded !== null) row = decoded;
              else decodeCells(row);
            }
            this.emit(row, this.line);
            this.line += breaks;
            pos = end;
            continue;
          }
        }
      }
      pos = this.cells(buf, pos, len, final);
      if (this.starved) break;
    }
    this.nextQuote = quote;
    this.nextHigh = high;
    if (final && pos === len && this.row !== null && this.ready.length === 0) {
      // The end of the file ends the last row (after a delimiter or a closing quote) or a quoted cell.
      pos = this.cells(buf, pos, len, true);
    }
    this.pos = pos;
    return this.ready.shift();
  }

  /** At the end of the file: the remaining rows, or an empty batch for a header-only file. */
  finish(): T[] | undefined {
    const rows = this.rows;
    this.rows = [];
    // Full batches go out only once a row follows them: no rows left here means no data rows at all.
    if (rows.length > 0) return rows;
    return this.header !== null ? rows : undefined;
  }

  /**
   * The resumable reader, cell by cell: reads from `pos` until the current row ends (returns the
   * position after its line break) or the text runs out (sets `starved`; returns where to resume: the
   * start of an unquoted cell, or inside a quoted cell after what `raw` already holds).
   */
  private cells(buf: string, pos: number, len: number, final: boolean): number {
    let row = this.row;
    if (row === null) {
      row = this.row = [];
      this.rowLine = this.line;
      this.rowStart = pos;
      this.state = Cell.Start;
    }
    for (;;) {
      if (this.state === Cell.Start) {
        if (pos === len) {
          if (!final) return this.starve(pos);
          // The file ends right after a delimiter: the last cell is empty.
          row.push('');
          return this.endRow(pos, false);
        }
        if (buf.charCodeAt(pos) === QUOTE) {
          this.state = Cell.Quoted;
          this.raw = '';
          this.escaped = false;
          this.quoteLine = this.line;
          pos++;
          continue;
        }
        let delimiterAt = this.nextDelimiter;
        if (delimiterAt !== -1 && delimiterAt < pos) {
          delimiterAt = this.nextDelimiter = buf.indexOf(this.delimiter, pos);
        }
        let lf = this.nextLf;
        if (lf !== -1 && lf < pos) lf = this.nextLf = buf.indexOf('\n', pos);
        if (delimiterAt !== -1 && (lf === -1 || delimiterAt < lf)) {
          const value = buf.slice(pos, delimiterAt);
          row.push(value === 'null' ? null : value);
          pos = delimiterAt + 1;
          continue;
        }
        if (lf === -1) {
          if (!final) return this.starve(pos);
          // The last row of a file without a final line break (a lone CR stays data).
          const value = buf.slice(pos, len);
          row.push(value === 'null' ? null : value);
          return this.endRow(len, false);
        }
        const end = lf > pos && buf.charCodeAt(lf - 1) === CR ? lf - 1 : lf;
        const value = buf.slice(pos, end);
        const blank = row.length === 0 && end === pos;
        row.push(value === 'null' ? null : value);
        this.line++;
        return this.endRow(lf + 1, blank);
      }

      if (this.state === Cell.Quoted) {
        let scan = pos;
        for (;;) {
          const q = buf.indexOf('"', scan);
          if (q === -1) {
            this.takeRaw(buf, pos, len);
            if (final) throw new CsvError('unterminated quoted cell', this.quoteLine);
            return this.starve(len);
          }
          if (q + 1 === len && !final) {
            // `"` then the chunk ends: an escape or the closing quote; decided with the next chunk.
            this.takeRaw(buf, pos, q);
            return this.starve(q);
          }
          if (buf.charCodeAt(q + 1) === QUOTE) {
            this.escaped = true;
            scan = q + 2;
            continue;
          }
          this.takeRaw(buf, pos, q);
          const raw = this.raw;
          this.raw = '';
          row.push(this.escaped ? raw.replaceAll('""', '"') : raw);
          this.state = Cell.Closed;
          pos = q + 1;
          break;
        }
        continue;
      }

      // Cell.Closed
      if (pos === len) {
        if (!final) return this.starve(pos);
        return this.endRow(pos, false);
      }
      const code = buf.charCodeAt(pos);
      if (code === this.delimiterCode) {
        this.state = Cell.Start;
        pos++;
        continue;
      }
      if (code === LF) {
        this.line++;
        return this.endRow(pos + 1, false);
      }
      if (code === CR) {
        if (pos + 1 === len && !final) return this.starve(pos);
        if (buf.charCodeAt(pos + 1) === LF) {
          this.line++;
          return this.endRow(pos + 2, false);
        }
      }
      throw new CsvError('unexpected character after a closing quote', this.line);
    }
  }

  /** Appends quoted text to `raw`, counting its line breaks. */
  private takeRaw(buf: string, from: number, to: number): void {
    if (to <= from) return;
    this.raw += buf.slice(from, to);
    for (let lf = buf.indexOf('\n', from); lf !== -1 && lf < to; lf = buf.indexOf('\n', lf + 1)) {
      this.line++;
    }
  }

  private starve(pos: number): number {
    this.starved = true;
    if (this.row !== null && this.rowStart >= this.carried) {
      // A row begun in this chunk is read again whole with the next one: through the fast paths, and
      // free to change modes. Only a row longer than a chunk keeps its cells read so far, so that no
      // text is read more than twice.
      this.row = null;
      this.state = Cell.Start;
      this.raw = '';
      this.line = this.rowLine;
      return this.rowStart;
    }
    return pos;
  }

  private endRow(pos: number, blank: boolean): number {
    const row = this.row as Row;
    this.row = null;
    // Rows read here are few (one per chunk at most): their cells are decoded one by one.
    if (this.text.latin1) {
      this.rowsSeen++;
      if (decodeCells(row)) this.rowsDecoded++;
    }
    this.state = Cell.Start;
    if (blank) this.blank(this.rowLine);
    else this.emit(row, this.rowLine);
    return pos;
  }

  private blank(line: number): void {
    if (this.blankLines++ === 0) this.blankLine = line;
  }

  private emit(row: Row, line: number): void {
    if (this.blankLines > 0) {
      // Empty lines followed by a row are rows of one empty cell.
      const count = this.blankLines;
      this.blankLines = 0;
      for (let i = 0; i < count; i++) this.add([''], this.blankLine + i);
    }
    this.add(row, line);
  }

  private add(row: Row, line: number): void {
    const header = this.header;
    if (header === null) {
      const names = row.map((cell) => cell ?? 'null');
      this.header = names;
      this.reader = this.makeReader(names, this.delimiter);
      return;
    }
    if (row.length !== header.length) {
      throw new CsvError(`expected ${header.length} cells, found ${row.length}`, line);
    }
    this.put((this.reader as CsvReader<T>).cells(row));
  }

  private put(item: T): void {
    if (this.rows.length === this.batchRows) {
      // The full batch goes out now that another row follows it.
      this.ready.push(this.rows);
      this.rows = [];
    }
    this.rows.push(item);
  }
}
