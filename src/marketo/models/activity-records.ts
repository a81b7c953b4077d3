/**
 * `Activity` records from activity export rows (spec §5.11): each file row turned into exactly the record
 * the REST path makes for the same activity (`activityRecord` in activities.ts): `id` = `marketoGUID`,
 * numbers typed, `activityDate` as `YYYY-MM-DDTHH:MM:SSZ`, and the JSON `attributes` cell decoded into
 * the REST shape `[{name, value}]` (attributes without a value left out, as the REST API leaves them out).
 *
 * The bulk path reads files with {@link activityCsvReader}: rows straight to {@link PayloadRecord}s, the
 * payload text the records cache stores, so that the CSV worker thread (bulk/csv-worker.ts) does both the
 * parsing and the serialising and the main thread only saves. Kept free of the exporter (bulk/exports.ts)
 * so the worker loads little.
 */
import { jsonString, payloadJson, stableStringify } from '../../db/record-json.ts';
import { PayloadRecord } from '../../record-payload.ts';
import type { CsvReader, CsvRow } from '../bulk/csv.ts';
import { isoSeconds, parseMarketoDate } from './api.ts';
import type { SyncRecord } from './types.ts';

/** `marketoGUID` as the integer activity id when it is one (Marketo's GUID is the id's text). */
export function activityIdOfGuid(guid: string): number | undefined {
  if (guid.length === 0 || guid.length > 16) return undefined;
  for (let i = 0; i < guid.length; i++) {
    const c = guid.charCodeAt(i);
    if (c < 48 || c > 57) return undefined;
  }
  const n = Number(guid);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** `attributes` as the REST API lists them: `[{name, value}]`, empty values left out. */
export function restAttributes(value: unknown): { name: string; value: unknown }[] {
  const out: { name: string; value: unknown }[] = [];
  if (Array.isArray(value)) {
    for (const a of value) {
      if (typeof a !== 'object' || a === null) continue;
      const { name, value: v } = a as { name?: unknown; value?: unknown };
      if (typeof name !== 'string' || v === null || v === undefined || v === '') continue;
      out.push({ name, value: v });
    }
  } else if (typeof value === 'object' && value !== null) {
    for (const [name, v] of Object.entries(value)) {
      if (v === null || v === undefined || v === '') continue;
      out.push({ name, value: v });
    }
  }
  return out;
}

/** An activity date as the records hold it (`YYYY-MM-DDTHH:MM:SSZ`); unreadable text unchanged. */
export function activityDate(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  if (value.length === 20 && value.charCodeAt(10) === 84 && value.charCodeAt(19) === 90) return value;
  const ms = parseMarketoDate(value);
  return ms === undefined ? value : isoSeconds(ms);
}

function numberOrText(text: string): number | string {
  const n = Number(text);
  return Number.isFinite(n) && text.trim() === text ? n : text;
}

/** Columns whose text is a number in the REST answer. */
const NUMERIC_COLUMNS = new Set(['leadId', 'activityTypeId', 'campaignId', 'primaryAttributeValueId']);

/**
 * Rows of one activity export file → `Activity` records. Built once per header. Columns other than
 * Marketo's defaults (e.g. `actionResult`) are kept as text.
 */
export class ActivityRowConverter {
  private readonly header: string[];
  private readonly guidIndex: number;
  /** Attribute cells Marketo wrote that were not JSON (counted for the run log). */
  badAttributes = 0;

  constructor(header: readonly string[]) {
    this.header = [...header];
    this.guidIndex = header.indexOf('marketoGUID');
  }

  record(row: readonly (string | null)[]): SyncRecord | undefined {
    if (this.guidIndex === -1) return undefined;
    const guid = row[this.guidIndex];
    if (guid === null || guid === undefined || guid === '') return undefined;
    const rec: SyncRecord = { id: guid, marketoGUID: guid };
    const activityId = activityIdOfGuid(guid);
    if (activityId !== undefined) rec.activityId = activityId;
    const header = this.header;
    for (let i = 0; i < header.length; i++) {
      if (i === this.guidIndex) continue;
      const name = header[i]!;
      const v = row[i];
      if (name === 'attributes') {
        rec.attributes = this.attributes(v);
        continue;
      }
      if (v === null || v === undefined || v === '') continue;
      if (NUMERIC_COLUMNS.has(name)) rec[name] = numberOrText(v);
      else if (name === 'activityDate') rec[name] = activityDate(v);
      else rec[name] = v;
    }
    return rec;
  }

  records(rows: readonly (readonly (string | null)[])[]): SyncRecord[] {
    const out: SyncRecord[] = [];
    for (const row of rows) {
      const r = this.record(row);
      if (r !== undefined) out.push(r);
    }
    return out;
  }

  private attributes(cell: string | null | undefined): { name: string; value: unknown }[] {
    if (cell === null || cell === undefined || cell === '') return [];
    try {
      return restAttributes(JSON.parse(cell));
    } catch {
      this.badAttributes++;
      return [];
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// The export file reader

/**
 * The item of a row whose attributes cell was not JSON: its stored text (attributes empty) and a count
 * for the run log's count. Plain data, so that it crosses from the CSV worker as it is (structured
 * clone) and is counted where it is saved: rows skipped on a resume or held back by a bad checksum are
 * not counted, as when rows were converted on the main thread.
 */
export interface BadAttributesRow {
  /** Its attributes cells that were not JSON (1, or more for a header repeating `attributes`). */
  readonly badAttributes: number;
  readonly id: string;
  readonly payload: string;
}

/** What the activity file reader makes of a row; undefined for a row without a `marketoGUID`. */
export type ActivityItem = PayloadRecord | BadAttributesRow | undefined;

/**
 * The reader of one activity export file (one per header) for the CSV parser: each row as the payload
 * text the records cache would store for {@link ActivityRowConverter.record}'s record. Written straight
 * from the cells by an {@link ActivityPayloadWriter} when the header allows it; otherwise (a header with
 * names that change the record's id or its computed members) the record is built and serialised by the
 * records cache's own function (db/record-json.ts). Both give the same text byte for byte (tested).
 */
export function activityCsvReader(header: readonly string[]): CsvReader<ActivityItem> {
  const writer = ActivityPayloadWriter.for(header);
  if (writer !== undefined) {
    return {
      cells: (row: CsvRow): ActivityItem => {
        const payload = writer.write(row);
        if (payload === undefined) return undefined;
        const id = row[writer.guidIndex]!;
        return writer.bad ? { badAttributes: 1, id, payload } : new PayloadRecord(id, payload);
      },
    };
  }
  const converter = new ActivityRowConverter(header);
  return {
    cells: (row: CsvRow): ActivityItem => {
      const before = converter.badAttributes;
      const rec = converter.record(row);
      if (rec === undefined) return undefined;
      const payload = payloadJson(rec, rec.id);
      const bad = converter.badAttributes - before;
      return bad === 0 ? new PayloadRecord(rec.id, payload) : { badAttributes: bad, id: rec.id, payload };
    },
  };
}

/**
 * Names a column may not have for {@link ActivityPayloadWriter}: they would replace the record's id or a
 * member computed from the GUID, or be dropped or treated specially by an object (the converter path
 * handles them).
 */
const UNWRITABLE_NAMES = new Set(['id', 'activityId', '__proto__', '_nango_metadata']);

/** How a member of the record is written. */
const GUID = 0;
const ACTIVITY_ID = 1;
const ATTRIBUTES = 2;
const NUMERIC = 3;
const DATE = 4;
const TEXT = 5;

/**
 * The payload text of {@link ActivityRowConverter.record}'s record written from the cells, with no object
 * in between: the records cache's format (members in sorted key order, empty ones left out, `"id"` last),
 * the members' order and kinds worked out once per header. About half the cost of building the record
 * and serialising it (measured on sandbox-like files).
 */
class ActivityPayloadWriter {
  /** True when the last row written had an attributes cell that was not JSON. */
  bad = false;

  private constructor(
    readonly guidIndex: number,
    /** Members in sorted key order: `"key":`, column, kind. */
    private readonly prefixes: string[],
    private readonly cols: number[],
    private readonly kinds: number[],
  ) {}

  /** The writer for `header`, or undefined when the converter path must serve it. */
  static for(header: readonly string[]): ActivityPayloadWriter | undefined {
    const guidIndex = header.indexOf('marketoGUID');
    if (guidIndex === -1 || new Set(header).size !== header.length) return undefined;
    if (header.some((name) => UNWRITABLE_NAMES.has(name))) return undefined;
    const members: { name: string; col: number; kind: number }[] = [
      { name: 'marketoGUID', col: guidIndex, kind: GUID },
      { name: 'activityId', col: guidIndex, kind: ACTIVITY_ID },
    ];
    header.forEach((name, col) => {
      if (col === guidIndex) return;
      const kind =
        name === 'attributes'
          ? ATTRIBUTES
          : NUMERIC_COLUMNS.has(name)
            ? NUMERIC
            : name === 'activityDate'
              ? DATE
              : TEXT;
      members.push({ name, col, kind });
    });
    // The records cache sorts keys with the default sort (UTF-16 code units).
    const names = members.map((m) => m.name).sort();
    const byName = new Map(members.map((m) => [m.name, m]));
    const sorted = names.map((n) => byName.get(n)!);
    return new ActivityPayloadWriter(
      guidIndex,
      sorted.map((m) => `${JSON.stringify(m.name)}:`),
      sorted.map((m) => m.col),
      sorted.map((m) => m.kind),
    );
  }

  /** The payload of a row, or undefined for a row without a GUID (no record). */
  write(row: CsvRow): string | undefined {
    const guid = row[this.guidIndex];
    if (guid === null || guid === undefined || guid === '') return undefined;
    this.bad = false;
    const { prefixes, cols, kinds } = this;
    let out = '{';
    for (let m = 0; m < kinds.length; m++) {
      const kind = kinds[m];
      let json: string;
      if (kind === GUID) json = jsonString(guid);
      else if (kind === ACTIVITY_ID) {
        const n = activityIdOfGuid(guid);
        if (n === undefined) continue;
        json = String(n);
      } else if (kind === ATTRIBUTES) json = this.attributesJson(row[cols[m]!]);
      else {
        const v = row[cols[m]!];
        if (v === null || v === undefined || v === '') continue;
        if (kind === NUMERIC) {
          const n = numberOrText(v);
          json = typeof n === 'number' ? String(n) : jsonString(n);
        } else if (kind === DATE) json = jsonString(activityDate(v) as string);
        else json = jsonString(v);
      }
      if (out.length > 1) out += ',';
      out += prefixes[m]!;
      out += json;
    }
    return out.length > 1 ? `${out},"id":${jsonString(guid)}}` : `{"id":${jsonString(guid)}}`;
  }

  /** The `attributes` member as stableStringify writes the converter's `[{name, value}]`. */
  private attributesJson(cell: string | null | undefined): string {
    if (cell === null || cell === undefined || cell === '') return '[]';
    let parsed: unknown;
    try {
      parsed = JSON.parse(cell);
    } catch {
      this.bad = true;
      return '[]';
    }
    const list = restAttributes(parsed);
    let out = '[';
    for (let i = 0; i < list.length; i++) {
      const a = list[i]!;
      if (i > 0) out += ',';
      // `{name, value}` with its keys sorted: name, then value (never undefined: JSON has none).
      const value = typeof a.value === 'string' ? jsonString(a.value) : (stableStringify(a.value) ?? 'null');
      out += `{"name":${jsonString(a.name)},"value":${value}}`;
    }
    return `${out}]`;
  }
}

/** The records of a batch of {@link ActivityItem}s, and how many attributes cells were not JSON. */
export function activityRecords(items: readonly ActivityItem[]): { records: PayloadRecord[]; bad: number } {
  const records: PayloadRecord[] = [];
  let bad = 0;
  for (const item of items) {
    if (item === undefined) continue;
    if (item instanceof PayloadRecord) records.push(item);
    else {
      bad += item.badAttributes;
      records.push(new PayloadRecord(item.id, item.payload));
    }
  }
  return { records, bad };
}
