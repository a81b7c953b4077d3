/**
 * `Lead` records from the lead schema (spec §5.1): one converter per describe data type turns a bulk
 * export cell (text) or a REST item value into the value the REST API answers (integer/float/currency/
 * percent/score → number, boolean → true/false, datetime → `YYYY-MM-DDTHH:MM:SSZ`, date → `YYYY-MM-DD`,
 * anything else → string). Both paths go through the same converters, so a lead read from an export
 * file and the same lead read by REST give the same record.
 *
 * Empty values (the CSV literal `null`, '', JSON null) are left out of the record: real instances have
 * hundreds of fields, mostly empty, and small records keep the 1M-lead load fast. A field missing from a
 * stored record therefore means "no value". (In memory, records of a dense export file carry empty
 * fields as `undefined`, which JSON and the records cache drop: see {@link LeadRowConverter}.)
 *
 * Hot path: {@link LeadRowConverter} is built once per file header and turns a row with one array walk
 * and a converter call per non-empty, non-string cell (no regular expression on the common forms). The
 * lead sync goes further with {@link LeadRowConverter.csvReader}: the CSV parser hands it unquoted rows as
 * text, written straight into the payload text the records cache stores by a reader built once per
 * header ({@link LeadPayloadReader}: no cell array, no `null` strings, no object).
 */
import { jsonString } from '../../db/record-json.ts';
import {
  PACKED_SEPARATOR,
  packedPrefix,
  PayloadRecord,
  recordShape,
  type RecordShape,
} from '../../record-payload.ts';
import { CSV_SPLIT, type CsvReader, type CsvRow } from '../bulk/csv.ts';
import { call, isoSeconds, parseMarketoDate, type MarketoItem } from './api.ts';
import { mergeLeadFields } from './lead-fields.ts';
import { MarketoSyncError, type SyncIO, type SyncRecord } from './types.ts';

/** How a field's value is typed in a record. */
export type LeadValueKind = 'string' | 'number' | 'boolean' | 'datetime' | 'date';

export interface LeadFieldType {
  /** REST name. */
  name: string;
  kind: LeadValueKind;
}

/** The record shape of a describe data type (spec §5.1 lists the types). */
export function valueKind(dataType: string | null | undefined): LeadValueKind {
  switch (dataType) {
    case 'integer':
    case 'float':
    case 'currency':
    case 'percent':
    case 'score':
      return 'number';
    case 'boolean':
      return 'boolean';
    case 'datetime':
      return 'datetime';
    case 'date':
      return 'date';
    default:
      return 'string';
  }
}

// ---------------------------------------------------------------------------------------------------
// Text converters (non-empty text in, typed value out). Unreadable text is kept as text: never lose data.

type TextConverter = (text: string) => unknown;

function toNumber(text: string): unknown {
  const n = Number(text);
  // Number(' ') is 0: only text without surrounding blanks counts as a number.
  return Number.isFinite(n) && text.charCodeAt(0) > 32 && text.charCodeAt(text.length - 1) > 32 ? n : text;
}

function toBoolean(text: string): unknown {
  if (text === 'true') return true;
  if (text === 'false') return false;
  switch (text.trim().toLowerCase()) {
    case 'true':
    case '1':
    case 'yes':
      return true;
    case 'false':
    case '0':
    case 'no':
      return false;
    default:
      return text;
  }
}

function toDatetime(text: string): unknown {
  // The common form `2024-01-31T10:00:00Z` as is; anything else through the full date parser.
  if (text.length === 20 && text.charCodeAt(10) === 84 /* T */ && text.charCodeAt(19) === 90 /* Z */)
    return text;
  const ms = parseMarketoDate(text);
  return ms === undefined ? text : isoSeconds(ms);
}

const DATE_PREFIX = /^\d{4}-\d{2}-\d{2}/;

function toDate(text: string): unknown {
  if (text.length === 10 && text.charCodeAt(4) === 45 && text.charCodeAt(7) === 45) return text;
  // A date field is a calendar day without a zone: keep the day as written.
  return DATE_PREFIX.test(text) ? text.slice(0, 10) : text;
}

/** undefined = the text is the value (strings). */
const TEXT_CONVERTERS: Record<LeadValueKind, TextConverter | undefined> = {
  string: undefined,
  number: toNumber,
  boolean: toBoolean,
  datetime: toDatetime,
  date: toDate,
};

/**
 * One REST value as the record holds it; undefined = leave the field out (empty). Typed values the
 * REST API already sends (numbers, booleans) are kept; text goes through the same converter as a CSV cell.
 */
export function leadValue(kind: LeadValueKind, value: unknown): unknown {
  if (value === null || value === undefined || value === '') return undefined;
  if (typeof value === 'string') {
    const convert = TEXT_CONVERTERS[kind];
    return convert === undefined ? value : convert(value);
  }
  if (kind === 'string') return typeof value === 'object' ? JSON.stringify(value) : String(value);
  if (kind === 'number' && typeof value === 'number') return value;
  if (kind === 'boolean' && typeof value === 'boolean') return value;
  // Anything else (a number in a date field…): as its text would be read.
  return leadValue(kind, typeof value === 'object' ? JSON.stringify(value) : String(value));
}

// ---------------------------------------------------------------------------------------------------
// Schema

/** The lead fields a sync reads, with their record kinds; `id` is always among them. */
export class LeadSchema {
  readonly names: readonly string[];
  private readonly kinds: ReadonlyMap<string, LeadValueKind>;

  constructor(readonly fields: readonly LeadFieldType[]) {
    const kinds = new Map<string, LeadValueKind>();
    for (const f of fields) if (!kinds.has(f.name)) kinds.set(f.name, f.kind);
    if (!kinds.has('id')) kinds.set('id', 'number');
    this.kinds = kinds;
    this.names = [...kinds.keys()];
  }

  kindOf(name: string): LeadValueKind {
    return this.kinds.get(name) ?? 'string';
  }

  /** The same fields in any order (a schema change is a different set, not a different order). */
  sameFields(names: readonly string[]): boolean {
    if (names.length !== this.names.length) return false;
    return names.every((n) => this.kinds.has(n));
  }
}

/** A schema from describe items (`{rest:{name}, dataType}`) or describe2 fields. */
export function leadSchemaOf(fields: readonly { name: string; dataType: string | null }[]): LeadSchema {
  return new LeadSchema(fields.map((f) => ({ name: f.name, kind: valueKind(f.dataType) })));
}

/**
 * The lead schema from `GET /rest/v1/leads/describe.json` (one call); describe2 only when describe
 * answers with an error that is not about auth or limits (describe is "superseded" in the spec).
 */
export async function describeLeadSchema(io: Pick<SyncIO, 'get' | 'log'>): Promise<LeadSchema> {
  const path = '/rest/v1/leads/describe.json';
  let fields;
  try {
    fields = mergeLeadFields(null, await call(io, path));
  } catch (err) {
    if (!(err instanceof MarketoSyncError) || err.kind !== 'fail') throw err;
    io.log('describe.json failed; reading the lead schema from describe2', { code: err.code });
    fields = mergeLeadFields(await call(io, '/rest/v1/leads/describe2.json'), null);
  }
  if (fields.length === 0) throw new MarketoSyncError('empty_schema', 'describe returned no fields', path);
  return leadSchemaOf(fields);
}

// ---------------------------------------------------------------------------------------------------
// Records

/** A `Lead` record from a REST lead item (`GET /rest/v1/leads.json`); undefined without an id. */
export function leadRecordFromRest(item: MarketoItem, schema: LeadSchema): SyncRecord | undefined {
  const id = item.id;
  if (id === null || id === undefined || id === '') return undefined;
  const rec: SyncRecord = { id: String(id) };
  for (const name of schema.names) {
    if (name === 'id') continue;
    const v = leadValue(schema.kindOf(name), item[name]);
    if (v !== undefined) rec[name] = v;
  }
  return rec;
}

/** What a lead export reader makes of a row: a record (object or payload text), or undefined (no id). */
export type LeadItem = SyncRecord | PayloadRecord | undefined;

/** Share of non-empty cells above which a file's records are built with one object shape (see below). */
export const DENSE_SHARE = 0.4;
/** Rows looked at to measure that share. */
const SAMPLE_ROWS = 200;

type RowBuilder = (
  row: readonly (string | null)[],
  converters: readonly (TextConverter | undefined)[],
) => SyncRecord;

/**
 * Rows of one export file → `Lead` records. Built once per header: each column gets its converter up
 * front, so a row costs one pass and no lookups. Columns outside the schema are kept as text.
 *
 * Two builders, chosen from the first rows of the file, because objects whose keys vary from row to row
 * are slow in V8 (each record ends up as a hash table: ~4 µs a lead, and slower to serialize):
 *  - sparse files (most cells empty, as on real instances with hundreds of fields): only the set fields
 *    are added to the record;
 *  - dense files (≥ {@link DENSE_SHARE} of the cells set): one object literal per file with every column,
 *    empty ones `undefined` (~10× faster to build; JSON and the records cache drop `undefined`, so the
 *    stored record leaves them out just the same).
 */
export class LeadRowConverter {
  private readonly names: string[];
  private readonly converters: (TextConverter | undefined)[];
  private readonly idIndex: number;
  /** 1 for a column whose name comes again later: the last column of a name wins, empty or not. */
  private readonly shadowed: Uint8Array;
  private dense: RowBuilder | undefined;
  private decided = false;

  constructor(header: readonly string[], schema: LeadSchema) {
    this.names = [...header];
    this.converters = header.map((name) => TEXT_CONVERTERS[schema.kindOf(name)]);
    this.shadowed = Uint8Array.from(header, (name, i) => (header.lastIndexOf(name) === i ? 0 : 1));
    this.idIndex = header.indexOf('id');
    if (this.idIndex === -1) {
      throw new MarketoSyncError('invalid_export', 'lead export file without an id column', 'leads export');
    }
  }

  /** One row with only its set fields; undefined when it has no id. */
  record(row: readonly (string | null)[]): SyncRecord | undefined {
    const idIndex = this.idIndex;
    const id = row[idIndex];
    if (id === null || id === undefined || id === '') return undefined;
    const rec: SyncRecord = { id };
    const names = this.names;
    const converters = this.converters;
    const shadowed = this.shadowed;
    const n = names.length;
    for (let i = 0; i < n; i++) {
      const v = row[i];
      // As the dense builder and the payload reader read a repeated name: its last column only.
      if (v === null || v === undefined || v === '' || i === idIndex || shadowed[i] === 1) continue;
      const name = names[i]!;
      // A second `id` column never replaces the id (as in the dense builder).
      if (name === 'id') continue;
      const c = converters[i];
      // An own property even for this name (a plain assignment would set the prototype).
      if (name === '__proto__') Object.defineProperty(rec, name, { value: c ? c(v) : v, enumerable: true });
      else rec[name] = c === undefined ? v : c(v);
    }
    return rec;
  }

  /** Every row with an id, in order (see the class comment for the two builders). */
  records(rows: readonly (readonly (string | null)[])[]): SyncRecord[] {
    if (!this.decided && rows.length > 0) this.decide(rows);
    const out: SyncRecord[] = [];
    const dense = this.dense;
    const idIndex = this.idIndex;
    for (let i = 0; i < rows.length; i++) {
      const row = rows[i]!;
      if (dense === undefined) {
        const r = this.record(row);
        if (r !== undefined) out.push(r);
        continue;
      }
      const id = row[idIndex];
      if (id !== null && id !== undefined && id !== '') out.push(dense(row, this.converters));
    }
    return out;
  }

  /** Whether this file's records are built with one shape (decided on the first rows). */
  get isDense(): boolean {
    return this.dense !== undefined;
  }

  /**
   * The file's reader for the CSV parser: one item per row, the record or undefined (no id). The first
   * {@link READER_SAMPLE_ROWS} rows come as cells and get records with only their set fields while the
   * share of set cells is counted; then, for a dense file, rows are read straight from the text by one
   * {@link LeadPayloadReader} into {@link PayloadRecord}s: the payload text the records cache stores,
   * written from the cells' text with no object in between. A sparse file keeps the cells path (objects).
   */
  csvReader(delimiter: string): CsvReader<LeadItem> {
    const idIndex = this.idIndex;
    const width = this.names.length;
    let sampled = 0;
    let set = 0;
    const reader: CsvReader<LeadItem> = {
      cells: (row: CsvRow) => {
        const dense = this.dense;
        if (dense !== undefined) {
          const id = row[idIndex];
          return id === null || id === undefined || id === '' ? undefined : dense(row, this.converters);
        }
        if (!this.decided) {
          for (let i = 0; i < row.length; i++) {
            const v = row[i];
            if (v !== null && v !== '') set++;
          }
          if (++sampled === READER_SAMPLE_ROWS) {
            this.decided = true;
            if (set >= DENSE_SHARE * sampled * width) {
              this.dense = compiled('b', this.names, this.converters, () =>
                denseBuilder(this.names, idIndex, this.converters),
              );
              const text = new LeadPayloadReader(this.names, idIndex, this.converters, delimiter);
              reader.text = (t, p, end) => text.read(t, p, end, undefined);
              reader.bytes = (t, p, end, bytes) => text.read(t, p, end, bytes);
            }
          }
        }
        return this.record(row);
      },
    };
    return reader;
  }

  private decide(rows: readonly (readonly (string | null)[])[]): void {
    this.decided = true;
    const sample = Math.min(rows.length, SAMPLE_ROWS);
    let set = 0;
    for (let r = 0; r < sample; r++) {
      const row = rows[r]!;
      for (let i = 0; i < row.length; i++) {
        const v = row[i];
        if (v !== null && v !== '') set++;
      }
    }
    if (set >= DENSE_SHARE * sample * this.names.length)
      this.dense = compiled('b', this.names, this.converters, () =>
        denseBuilder(this.names, this.idIndex, this.converters),
      );
  }
}

/**
 * Compiled builders by header and converters: every file of a sync has the same header, and
 * a function compiled again for each file would start cold (interpreted until V8 optimizes it again).
 */
const compiledCache = new Map<string, { converters: readonly unknown[]; fn: unknown }>();
const MAX_COMPILED = 32;

function compiled<F>(
  variant: string,
  names: readonly string[],
  converters: readonly (TextConverter | undefined)[],
  make: () => F,
): F {
  const key = `${variant}\u0000${JSON.stringify(names)}`;
  const hit = compiledCache.get(key);
  if (hit !== undefined && hit.converters.length === converters.length) {
    if (hit.converters.every((c, i) => c === converters[i])) return hit.fn as F;
  }
  const fn = make();
  if (compiledCache.size >= MAX_COMPILED) compiledCache.clear();
  compiledCache.set(key, { converters, fn });
  return fn;
}

/** Rows a {@link LeadRowConverter.csvReader} looks at before choosing its builder. */
const READER_SAMPLE_ROWS = 64;

/** A number cell `text[p, j)`: plain digits (up to 15, exact as doubles) read in place, else {@link toNumber}. */
function numberAt(text: string, p: number, j: number): unknown {
  if (j - p <= 15) {
    let n = 0;
    let i = p;
    for (; i < j; i++) {
      const d = text.charCodeAt(i) - 48;
      if (d < 0 || d > 9) break;
      n = n * 10 + d;
    }
    if (i === j) return n;
  }
  return toNumber(text.slice(p, j));
}

/*
 * Payload text straight from the row: the records cache's format (db/record-json.ts: members in sorted key
 * order, empty ones left out, strings as JSON.stringify writes them, then `"id":"<id>"` last), for the
 * record the cells path builds ({@link denseBuilder}) from the same row.
 *
 * Written as Latin-1 bytes into one buffer and made a string once: a string built by `+` from a hundred
 * pieces is a tree V8 must flatten before SQLite can read it (measured in bench:sync: that flattening in
 * SQLite's bind cost about what JSON.stringify of the object did); a buffer decoded once is flat. Most cells are copied as they are (a string's text
 * is its JSON when it holds no `\`, control character or quote; a decimal's text is its JSON when
 * {@link copyDecimal} says so; `true`, `false` and ISO dates are theirs); the rest goes through the
 * converter and {@link valueJson}. A row holding a character above U+00FF (no single byte) or one to
 * escape is written as a string instead ({@link LeadPayloadReader.slow}).
 *
 * The lead sync's rows mostly come as undecoded bytes (CsvReader.bytes): string cells are then copied
 * 4 bytes at a time with 32-bit words ({@link copyWords}: a loop of charCodeAt costs ~5 ns a character,
 * most of this reader's time before), UTF-8 characters up to U+00FF decoded on the way, so the parser
 * neither looks for nor decodes them (bench:csv: ~45% less CPU per lead on the CSV worker thread).
 */

/** JSON text of a converted cell (string, finite number or boolean), as the records cache writes it. */
function valueJson(v: unknown): string {
  if (typeof v === 'string') return jsonString(v);
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : 'null';
  return v === true ? 'true' : v === false ? 'false' : (JSON.stringify(v) ?? 'null');
}

/** How a member's cell is written. */
const STRING = 0;
const NUMBER = 1;
const BOOLEAN = 2;
const DATETIME = 3;
const DATE = 4;
const OTHER = 5;

function kindCode(c: TextConverter | undefined): number {
  if (c === undefined) return STRING;
  if (c === toNumber) return NUMBER;
  if (c === toBoolean) return BOOLEAN;
  if (c === toDatetime) return DATETIME;
  return c === toDate ? DATE : OTHER;
}

/** Unquoted `null` and empty cells are empty. */
function emptyAt(t: string, p: number, j: number): boolean {
  return j === p || (j - p === 4 && isNull(t, p));
}

/**
 * Copies `t[p, j)` to `b` at `k` if its JSON is its text inside quotes and it has no character above
 * `max` (255, or 127 for undecoded text); the new end, or -1.
 */
function copyPlain(t: string, p: number, j: number, b: Uint8Array, k: number, max: number): number {
  for (let i = p; i < j; i++) {
    const c = t.charCodeAt(i);
    if (c < 32 || c === 34 || c === 92 || c > max) return -1;
    b[k++] = c;
  }
  return k;
}

/**
 * Copies the UTF-8 bytes `src[p, j)` to `b` at `k` as Latin-1 if they are ASCII characters that JSON
 * leaves as they are and 2-byte characters up to U+00FF (`C2`/`C3` and a continuation byte: the text
 * a decoder gives for them); the new end, or -1.
 */
function latin1FromUtf8(src: Uint8Array, p: number, j: number, b: Uint8Array, k: number): number {
  for (let i = p; i < j; i++) {
    const c = src[i]!;
    if (c < 0x80) {
      if (c < 32 || c === 34 || c === 92) return -1;
      b[k++] = c;
      continue;
    }
    const next = i + 1 < j ? src[i + 1]! : 0;
    if ((c !== 0xc2 && c !== 0xc3) || (next & 0xc0) !== 0x80) return -1;
    b[k++] = ((c & 0x1f) << 6) | (next & 0x3f);
    i++;
  }
  return k;
}

/** `null`, `true` and `fals` as little-endian 32-bit words. */
const NULL_WORD = 0x6c6c756e;
const TRUE_WORD = 0x65757274;
const FALS_WORD = 0x736c6166;
/** What {@link copyWords} answers for a byte ≥ 0x80 (-1: a character to escape). */
const HIGH = -2;
/** {@link PACKED_SEPARATOR} as a byte. */
const SEPARATOR = 0x1f;

function isNull(t: string, p: number): boolean {
  return (
    t.charCodeAt(p) === 110 &&
    t.charCodeAt(p + 1) === 117 &&
    t.charCodeAt(p + 2) === 108 &&
    t.charCodeAt(p + 3) === 108
  );
}

/**
 * Copies the bytes `src[p, j)` to `out` at `k`, 4 at a time (`j + 3` must be inside `src`; the bytes
 * read past `j` count as `A`, and those written past the copy are for the caller to write over): the
 * new end, -1 for `"`, `\` or a control character (JSON escapes them), {@link HIGH} for a byte ≥ 0x80.
 * Word tests: a byte < n is in `(w - n×0x01010101) & ~w & 0x80808080` (exact for n ≤ 0x80), a zero
 * byte (after `^ c×0x01010101`: a byte equal to c) likewise with n = 1.
 */
function copyWords(src: DataView, p: number, j: number, out: DataView, k: number): number {
  const end = k + j - p;
  for (let q = k; p < j; p += 4, q += 4) {
    let w = src.getUint32(p, true);
    const rest = j - p;
    if (rest < 4) {
      const mask = rest === 1 ? 0xff : rest === 2 ? 0xffff : 0xffffff;
      w = (w & mask) | (0x41414141 & ~mask);
    }
    const quote = w ^ 0x22222222;
    const backslash = w ^ 0x5c5c5c5c;
    if (
      (((w - 0x20202020) & ~w) | ((quote - 0x01010101) & ~quote) | ((backslash - 0x01010101) & ~backslash)) &
      0x80808080
    )
      return -1;
    if (w & 0x80808080) return HIGH;
    out.setUint32(q, w, true);
  }
  return end;
}

/** Whether `t[p, j)` is ASCII. */
function isAscii(t: string, p: number, j: number): boolean {
  for (let i = p; i < j; i++) if (t.charCodeAt(i) > 127) return false;
  return true;
}

/** Copies JSON text `s` to `b` at `k`; -1 for a character above U+00FF. */
function copyJson(s: string, b: Uint8Array, k: number): number {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 255) return -1;
    b[k++] = c;
  }
  return k;
}

/**
 * Copies `t[p, j)` if it is a decimal whose JSON (`String(Number(text))`) is its text, else -1: an
 * optional `-`, an integer part without a leading zero (or `0`), an optional fraction of at least one
 * digit not ending in `0`, 15 digits at most (any decimal of ≤ 15 significant digits comes back from a
 * double as the same digits, and the shortest form is those digits), at most 5 zeros after `0.` (below
 * 1e-6 the text would be exponential), and not `-0` (its JSON is `0`).
 */
function copyDecimal(t: string, p: number, j: number, b: Uint8Array, k: number): number {
  let i = p;
  const negative = t.charCodeAt(i) === 45;
  if (negative) {
    b[k++] = 45;
    i++;
  }
  const intStart = i;
  for (; i < j; i++) {
    const c = t.charCodeAt(i);
    if (c < 48 || c > 57) break;
    b[k++] = c;
  }
  const intLength = i - intStart;
  if (intLength === 0 || intLength > 15) return -1;
  const zero = t.charCodeAt(intStart) === 48;
  if (zero && intLength > 1) return -1;
  if (i === j) return negative && zero ? -1 : k;
  if (t.charCodeAt(i) !== 46) return -1;
  b[k++] = 46;
  const fracStart = ++i;
  if (fracStart === j || j - intStart - 1 > 15 || t.charCodeAt(j - 1) === 48) return -1;
  for (; i < j; i++) {
    const c = t.charCodeAt(i);
    if (c < 48 || c > 57) return -1;
    b[k++] = c;
  }
  if (zero) {
    let z = fracStart;
    while (t.charCodeAt(z) === 48) z++;
    if (z - fracStart > 5) return -1;
  }
  return k;
}

/** `YYYY-MM-DDTHH:MM:SSZ` (`T` at 10, `Z` at 19) and `YYYY-MM-DD` (dashes at 4 and 7): kept as written. */
function isIsoSeconds(t: string, p: number, j: number): boolean {
  return j - p === 20 && t.charCodeAt(p + 10) === 84 && t.charCodeAt(p + 19) === 90;
}

function isIsoDate(t: string, p: number, j: number): boolean {
  return j - p === 10 && t.charCodeAt(p + 4) === 45 && t.charCodeAt(p + 7) === 45;
}

const TRUE = 'true';
const FALSE = 'false';

function isWord(t: string, p: number, j: number, word: string): boolean {
  return j - p === word.length && t.startsWith(word, p);
}

/**
 * The text reader of a dense file: one per file (per header), rows `t[p, end)` (no quotes, no line break)
 * cut cell by cell with `indexOf(delimiter)` (native, faster than any scan in JavaScript) into
 * PayloadRecords, or CSV_SPLIT for a cell count other than the header's (the parser then splits the row
 * and reports it). The record is the one
 * {@link denseBuilder} builds: a name repeated takes its last column (as in an object literal), a second
 * `id` column and `_nango_metadata` are left out (the records cache drops it).
 */
class LeadPayloadReader {
  private readonly width: number;
  private readonly starts: Int32Array;
  private readonly ends: Int32Array;
  /** Members in sorted key order: their column and how their cell is written. */
  private readonly cols: Int32Array;
  private readonly kinds: Uint8Array;
  /** The members' shape: payloads are packed (record-payload.ts), their names kept once per shape. */
  private readonly shape: RecordShape;
  /** What every payload starts with (ASCII). */
  private readonly open: string;
  private buf: Buffer;
  private view: DataView;
  /** The bytes of the last row read with bytes, and a view on them. */
  private src: Uint8Array | undefined;
  private srcView: DataView | undefined;

  constructor(
    names: readonly string[],
    private readonly idIndex: number,
    private readonly converters: readonly (TextConverter | undefined)[],
    private readonly delimiter: string,
  ) {
    this.width = names.length;
    this.starts = new Int32Array(names.length);
    this.ends = new Int32Array(names.length);
    const lastOf = new Map<string, number>();
    names.forEach((name, i) => {
      if (name !== 'id' && name !== '_nango_metadata') lastOf.set(name, i);
    });
    const sorted = [...lastOf.keys()].sort();
    this.cols = Int32Array.from(sorted, (name) => lastOf.get(name)!);
    this.kinds = Uint8Array.from(this.cols, (col) => kindCode(converters[col]));
    this.shape = recordShape(sorted);
    this.open = packedPrefix(this.shape);
    this.buf = Buffer.allocUnsafe(1 << 14);
    this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.length);
  }

  /**
   * The row `t[p, end)`; with `bytes`, `t` is undecoded Latin-1 text (see CsvReader.bytes): string cells
   * are copied as bytes, their UTF-8 characters up to U+00FF decoded on the way; a row this cannot write
   * so (another character, or one ≥ U+0080 in the id or in a cell to convert) answers CSV_SPLIT, to be
   * decoded by the parser and read again.
   */
  read(
    t: string,
    p: number,
    end: number,
    bytes: Uint8Array | undefined,
  ): PayloadRecord | undefined | typeof CSV_SPLIT {
    const starts = this.starts;
    const ends = this.ends;
    const last = this.width - 1;
    const rowStart = p;
    let d = t.indexOf(this.delimiter, p);
    for (let i = 0; i < last; i++) {
      if (d === -1 || d >= end) return CSV_SPLIT;
      starts[i] = p;
      ends[i] = d;
      p = d + 1;
      d = t.indexOf(this.delimiter, p);
    }
    if (d !== -1 && d < end) return CSV_SPLIT;
    starts[last] = p;
    ends[last] = end;
    const is = starts[this.idIndex]!;
    const ie = ends[this.idIndex]!;
    if (emptyAt(t, is, ie)) return undefined;
    let src: DataView | undefined;
    if (bytes !== undefined) {
      if (bytes !== this.src) {
        this.src = bytes;
        this.srcView = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      }
      src = this.srcView;
    }
    const payload = this.write(t, end - rowStart, src);
    if (payload === undefined && src !== undefined && !isAscii(t, rowStart, end)) return CSV_SPLIT;
    const id = t.slice(is, ie);
    return new PayloadRecord(id, payload ?? this.slow(t, id), this.shape);
  }

  /**
   * The packed payload written as bytes; undefined when a cell needs the string path. With `src` (the
   * bytes of undecoded Latin-1 `t`), string cells are copied from it 4 bytes at a time, and cells to
   * convert must be ASCII.
   */
  private write(t: string, rowLength: number, src: DataView | undefined): string | undefined {
    const n = this.cols.length;
    // Room for the start, every cell escaped (6 bytes a character at most) or converted (≤ 32 bytes),
    // quotes and separators (+3 for the last word copied).
    const room = this.open.length + 6 * rowLength + 35 * n + 16;
    if (this.buf.length < room) {
      this.buf = Buffer.allocUnsafe(room * 2);
      this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.length);
    }
    const b = this.buf;
    const dv = this.view;
    const { starts, ends, cols, kinds } = this;
    // Words are read from `src` while they stay inside it; characters allowed in copied cells.
    const srcEnd = src === undefined ? 0 : src.byteLength - 3;
    const max = src === undefined ? 255 : 127;
    let k = copyJson(this.open, b, 0);
    for (let m = 0; m < n; m++) {
      const col = cols[m]!;
      const p = starts[col]!;
      const j = ends[col]!;
      const len = j - p;
      // Unquoted `null` and empty cells are empty: the member is absent.
      if (
        len === 0 ||
        (len === 4 && (src !== undefined ? src.getUint32(p, true) === NULL_WORD : isNull(t, p)))
      ) {
        b[k++] = SEPARATOR;
        continue;
      }
      const kind = kinds[m]!;
      if (kind === STRING) {
        b[k++] = 34;
        if (src !== undefined && j <= srcEnd) {
          let next = copyWords(src, p, j, dv, k);
          // A UTF-8 character: the cell again, byte by byte.
          if (next === HIGH) next = latin1FromUtf8(this.src!, p, j, b, k);
          if (next < 0) return undefined;
          k = next;
        } else {
          k = copyPlain(t, p, j, b, k, max);
          if (k === -1) return undefined;
        }
        b[k] = 34;
        b[k + 1] = SEPARATOR;
        k += 2;
        continue;
      }
      let next = -1;
      if ((kind === DATETIME && isIsoSeconds(t, p, j)) || (kind === DATE && isIsoDate(t, p, j))) {
        b[k] = 34;
        next =
          src !== undefined && j <= srcEnd
            ? copyWords(src, p, j, dv, k + 1)
            : copyPlain(t, p, j, b, k + 1, max);
        if (next < 0) return undefined;
        b[next++] = 34;
      } else if (kind === NUMBER) {
        next = copyDecimal(t, p, j, b, k);
        if (next === -1 && (max === 255 || isAscii(t, p, j))) {
          next = copyJson(valueJson(numberAt(t, p, j)), b, k);
        }
      } else if (kind === BOOLEAN) {
        // `true` and `false` are their own JSON.
        if (len === 4 && (src !== undefined ? src.getUint32(p, true) === TRUE_WORD : isWord(t, p, j, TRUE))) {
          dv.setUint32(k, TRUE_WORD, true);
          next = k + 4;
        } else if (
          len === 5 &&
          (src !== undefined
            ? src.getUint32(p, true) === FALS_WORD && t.charCodeAt(p + 4) === 101
            : isWord(t, p, j, FALSE))
        ) {
          dv.setUint32(k, FALS_WORD, true);
          b[k + 4] = 101;
          next = k + 5;
        } else if (max === 255 || isAscii(t, p, j)) {
          next = copyJson(valueJson(toBoolean(t.slice(p, j))), b, k);
        }
      } else if (max === 255 || isAscii(t, p, j)) {
        next = copyJson(valueJson(this.converters[col]!(t.slice(p, j))), b, k);
      }
      if (next === -1) return undefined;
      k = next;
      b[k++] = SEPARATOR;
    }
    // The id, a JSON string.
    b[k++] = 34;
    k = copyPlain(t, starts[this.idIndex]!, ends[this.idIndex]!, b, k, max);
    if (k === -1) return undefined;
    b[k++] = 34;
    return b.toString('latin1', 0, k);
  }

  /** The packed payload as a string (rows with characters to escape or above U+00FF). */
  private slow(t: string, id: string): string {
    const { starts, ends, cols, kinds, converters } = this;
    let out = this.open;
    for (let m = 0; m < cols.length; m++) {
      const col = cols[m]!;
      const p = starts[col]!;
      const j = ends[col]!;
      if (!emptyAt(t, p, j)) {
        const text = t.slice(p, j);
        out += kinds[m] === STRING ? JSON.stringify(text) : valueJson(converters[col]!(text));
      }
      out += PACKED_SEPARATOR;
    }
    return `${out}${JSON.stringify(id)}`;
  }
}

/**
 * `(row, c) => ({id: row[k], "name": empty ? undefined : c[i](row[i]), …})` for one header. Generated
 * code, so V8 gives every record of the file one hidden class; names enter only as JSON string literals
 * (computed for `__proto__`, which a literal key would treat as the prototype).
 */
function denseBuilder(
  names: readonly string[],
  idIndex: number,
  converters: readonly (TextConverter | undefined)[],
): RowBuilder {
  const parts = [`id: row[${idIndex}]`];
  names.forEach((name, i) => {
    if (i === idIndex || name === 'id') return;
    const key = name === '__proto__' ? `[${JSON.stringify(name)}]` : JSON.stringify(name);
    const value = converters[i] === undefined ? `row[${i}]` : `c[${i}](row[${i}])`;
    parts.push(`${key}: row[${i}] == null || row[${i}] === '' ? undefined : ${value}`);
  });
  return new Function('row', 'c', `return { ${parts.join(',\n')} };`) as RowBuilder;
}
