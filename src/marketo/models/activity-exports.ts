/**
 * The bulk path of the `activities` sync (spec §5.11): activity export jobs over `createdAt` windows
 * (≤31 days) for the chosen activity types, each file row turned into exactly the record the REST path
 * makes for the same activity (`activityRecord` in activities.ts): `id` = `marketoGUID`, numbers typed,
 * `activityDate` as `YYYY-MM-DDTHH:MM:SSZ`, and the JSON `attributes` cell decoded into the REST shape
 * `[{name, value}]` (attributes without a value left out, as the REST API leaves them out).
 *
 * Delete Lead (37) cannot be exported (Marketo refuses it): those types stay on the REST path.
 */
import { BulkExporter, windowsBetween, type ExportOptions, type ExportState } from '../bulk/exports.ts';
import { isoSeconds, parseMarketoDate } from './api.ts';
import type { SyncIO, SyncRecord } from './types.ts';

/** Activity types Marketo's activity export refuses (Delete Lead: read through deletedleads/REST). */
export const NOT_EXPORTABLE_TYPES: ReadonlySet<number> = new Set([37]);

/** A bulk catch-up in flight (JSON, in the activities checkpoint). */
export interface ActivityBulkState {
  typeIds: number[];
  /** Where the windows start and end (ISO); REST takes over at `to`. */
  from: string;
  to: string;
  export: ExportState;
}

export function newActivityBulk(typeIds: readonly number[], from: number, to: number): ActivityBulkState {
  return {
    typeIds: [...typeIds],
    from: new Date(from).toISOString(),
    to: new Date(to).toISOString(),
    export: { jobs: [], pending: windowsBetween(Math.min(from, to), to) },
  };
}

export function readActivityBulk(v: unknown): ActivityBulkState | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const b = v as Record<string, unknown>;
  const exp = b.export as Record<string, unknown> | undefined;
  if (
    !Array.isArray(b.typeIds) ||
    !b.typeIds.every((x) => Number.isInteger(x)) ||
    typeof b.from !== 'string' ||
    typeof b.to !== 'string' ||
    Number.isNaN(Date.parse(b.from)) ||
    Number.isNaN(Date.parse(b.to)) ||
    typeof exp !== 'object' ||
    exp === null ||
    !Array.isArray(exp.jobs) ||
    !Array.isArray(exp.pending)
  )
    return undefined;
  return v as ActivityBulkState;
}

// ---------------------------------------------------------------------------------------------------
// Rows → records

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
// The export

/**
 * Runs the bulk catch-up `bulk` (resuming its jobs), handing each batch's records and the exporter's
 * state to `save`; `persist` saves the state alone (called when a job is made). Returns the records read.
 */
export async function exportActivities(
  io: SyncIO,
  bulk: ActivityBulkState,
  save: (records: SyncRecord[], state: ExportState) => Promise<void>,
  persist: (state: ExportState) => Promise<void>,
  options: ExportOptions,
): Promise<number> {
  const exporter = activityExporter(io, bulk, persist, options);
  let header: string[] | undefined;
  let converter: ActivityRowConverter | undefined;
  let count = 0;
  let bad = 0;
  for await (const batch of exporter.batches()) {
    if (batch.header !== header || !converter) {
      if (converter) bad += converter.badAttributes;
      header = batch.header;
      converter = new ActivityRowConverter(header);
    }
    const records = converter.records(batch.rows);
    count += records.length;
    await save(records, exporter.state());
  }
  if (converter) bad += converter.badAttributes;
  if (bad > 0) io.log(`${bad} activity export rows had an attributes cell that was not JSON (kept empty)`);
  return count;
}

/** Cancels the jobs of a bulk catch-up the sync gives up (types changed, REST forced). */
export async function cancelActivityExport(
  io: SyncIO,
  bulk: ActivityBulkState,
  options: ExportOptions,
): Promise<void> {
  await activityExporter(io, bulk, async () => undefined, options).cancelAll();
}

function activityExporter(
  io: SyncIO,
  bulk: ActivityBulkState,
  persist: (state: ExportState) => Promise<void>,
  options: ExportOptions,
): BulkExporter {
  return new BulkExporter(
    io,
    { kind: 'activities', filterField: 'createdAt', extraFilter: { activityTypeIds: bulk.typeIds } },
    bulk.export,
    persist,
    options,
  );
}
