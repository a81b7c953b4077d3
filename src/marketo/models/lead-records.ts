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
 * text, read into the record by a function compiled for the header (no cell array, no `null` strings).
 */
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
  private dense: RowBuilder | undefined;
  private decided = false;

  constructor(header: readonly string[], schema: LeadSchema) {
    this.names = [...header];
    this.converters = header.map((name) => TEXT_CONVERTERS[schema.kindOf(name)]);
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
    const n = names.length;
    for (let i = 0; i < n; i++) {
      const v = row[i];
      if (v === null || v === undefined || v === '' || i === idIndex) continue;
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
   * function compiled for the header ({@link denseTextReader}): no cell array, no `null` strings, plain
   * integers read without a string. A sparse file keeps the cells path.
   */
  csvReader(delimiter: string): CsvReader<SyncRecord | undefined> {
    const idIndex = this.idIndex;
    const width = this.names.length;
    let sampled = 0;
    let set = 0;
    const reader: CsvReader<SyncRecord | undefined> = {
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
              if (width <= MAX_TEXT_READER_COLUMNS) {
                reader.text = compiled(delimiter, this.names, this.converters, () =>
                  denseTextReader(this.names, idIndex, this.converters, delimiter),
                );
              }
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
 * Compiled builders and readers by header and converters: every file of a sync has the same header, and
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
/**
 * Wider headers keep the cells path: the compiled reader grows with the columns and past a few
 * hundred V8 would no longer optimize it.
 */
const MAX_TEXT_READER_COLUMNS = 300;

type TextReader = (text: string, start: number, end: number) => SyncRecord | undefined | typeof CSV_SPLIT;

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

/** A boolean cell: `true` / `false` in place, anything else through {@link toBoolean}. */
function booleanAt(text: string, p: number, j: number): unknown {
  const n = j - p;
  const c = text.charCodeAt(p);
  if (
    n === 4 &&
    c === 116 /* t */ &&
    text.charCodeAt(p + 1) === 114 &&
    text.charCodeAt(p + 2) === 117 &&
    text.charCodeAt(p + 3) === 101
  )
    return true;
  if (
    n === 5 &&
    c === 102 /* f */ &&
    text.charCodeAt(p + 1) === 97 &&
    text.charCodeAt(p + 2) === 108 &&
    text.charCodeAt(p + 3) === 115 &&
    text.charCodeAt(p + 4) === 101
  )
    return false;
  return toBoolean(text.slice(p, j));
}

/** Reads the cells of one kind from the text in place (others: `c[i](text.slice(p, j))`). */
const IN_PLACE = new Map<TextConverter, string>([
  [toNumber, 'numberAt'],
  [toBoolean, 'booleanAt'],
]);

/**
 * `(t, p, end) => record | undefined | CSV_SPLIT` for one header: the row `t[p, end)` (no quotes, no line
 * break) read cell by cell with `indexOf(delimiter)`, each cell converted as {@link denseBuilder} converts
 * it (`null` and empty → undefined), into the same object literal. A cell count other than the header's
 * answers CSV_SPLIT (the parser then splits the row and reports it). Names enter the generated code only
 * as JSON string literals.
 */
function denseTextReader(
  names: readonly string[],
  idIndex: number,
  converters: readonly (TextConverter | undefined)[],
  delimiter: string,
): TextReader {
  const last = names.length - 1;
  const lines: string[] = ['let d = t.indexOf(D, p);', 'let j = 0;'];
  const parts = [`id: v${idIndex}`];
  names.forEach((name, i) => {
    lines.push(
      i < last
        ? 'if (d === -1 || d >= end) return SPLIT; j = d; d = t.indexOf(D, j + 1);'
        : 'if (d !== -1 && d < end) return SPLIT; j = end;',
    );
    // Unquoted `null` and empty cells are empty.
    const empty =
      'j === p || (j - p === 4 && t.charCodeAt(p) === 110 && t.charCodeAt(p + 1) === 117 && ' +
      't.charCodeAt(p + 2) === 108 && t.charCodeAt(p + 3) === 108)';
    const c = converters[i];
    const inPlace = c === undefined ? undefined : IN_PLACE.get(c);
    const value =
      i === idIndex || c === undefined
        ? 't.slice(p, j)'
        : inPlace !== undefined
          ? `${inPlace}(t, p, j)`
          : `c[${i}](t.slice(p, j))`;
    // Another column named `id` is left out of the record, as by denseBuilder.
    if (i === idIndex || name !== 'id') lines.push(`const v${i} = ${empty} ? undefined : ${value};`);
    if (i < last) lines.push('p = j + 1;');
    if (i === idIndex || name === 'id') return;
    const key = name === '__proto__' ? `[${JSON.stringify(name)}]` : JSON.stringify(name);
    parts.push(`${key}: v${i}`);
  });
  lines.push(`if (v${idIndex} === undefined) return undefined;`, `return { ${parts.join(',\n')} };`);
  const make = new Function(
    'D',
    'SPLIT',
    'c',
    'numberAt',
    'booleanAt',
    `return function leadTextReader(t, p, end) {\n${lines.join('\n')}\n};`,
  ) as (
    d: string,
    split: typeof CSV_SPLIT,
    c: readonly (TextConverter | undefined)[],
    n: typeof numberAt,
    b: typeof booleanAt,
  ) => TextReader;
  return make(delimiter, CSV_SPLIT, converters, numberAt, booleanAt);
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
