import type { Instance } from '../core/instance.ts';
import { isoSeconds } from '../core/envelope.ts';
import type { ActivityRecord, FieldValue } from '../model.ts';
import { generatorFor, type LeadSeedInfo } from '../leads/generator.ts';
import type { Cell, RowBytes, RowEncoder, RowSource } from './csv.ts';
import type {
  ActivityColumn,
  ActivityExportSpec,
  CustomObjectExportSpec,
  ExportSpec,
  LeadExportSpec,
} from './requests.ts';
import { coType } from '../customobjects/types.ts';
import { fieldValue } from '../customobjects/values.ts';

/**
 * The records of an export, read lazily from the lead database, static lists and the activity log
 * when the job runs (not when it was created), encoded line by line.
 */

export function exportRows(inst: Instance, spec: ExportSpec, enc: RowEncoder): RowSource {
  switch (spec.kind) {
    case 'leads':
      return leadRows(inst, spec, enc);
    case 'activities':
      return activityRows(inst, spec, enc);
    case 'customobjects':
      return customObjectRows(inst, spec, enc);
  }
}

/**
 * Custom object records, read when the job runs: by updatedAt window (generated records in lead id
 * order, then those the API wrote) or the records of a static list's members.
 */
function* customObjectRows(inst: Instance, spec: CustomObjectExportSpec, enc: RowEncoder): RowSource {
  const type = coType(spec.apiName)!;
  const store = inst.customObjects;
  const f = spec.filter;
  const records =
    f.kind === 'updatedAt'
      ? store.updatedIn(type, f.range)
      : store.ofLeads(type, inst.lists.members(f.listId));
  const cells: Cell[] = new Array<Cell>(spec.fields.length);
  for (const rec of records) {
    for (let i = 0; i < spec.fields.length; i++) cells[i] = fieldValue(rec, spec.fields[i]!);
    yield enc.row(cells);
  }
}

/** Ids of the leads an export holds, ascending, read when the job runs. */
function leadIds(inst: Instance, spec: LeadExportSpec): Iterable<number> {
  const f = spec.filter;
  return f.kind === 'staticList'
    ? inst.lists.members(f.listId)
    : inst.leads.ids(f.kind === 'createdAt' ? { createdAt: f.range } : { updatedAt: f.range });
}

/**
 * Untouched leads per batch handed to the file writer: about 40 KB of lines with every field, below
 * the writer's ROW_HEADROOM, so a batch rarely has to be written twice.
 */
export const BATCH_LEADS = 64;

/**
 * What the lines of untouched leads are made from. Plain data: the file thread (file-thread.ts) makes
 * the same lines from it in its own heap.
 */
export interface GeneratedLines {
  info: LeadSeedInfo;
  fields: readonly string[];
  delimiter: string;
}

/** A batch of untouched leads, written straight into the file buffer by the generator. */
export class LeadBatch implements RowBytes {
  records = 0;
  readonly ids: number[] = [];
  private line: (id: number, buf: Buffer, at: number) => number = () => 0;
  private lines: GeneratedLines | undefined;

  /** The lines the next ids are made of (a new writer only when they change). */
  use(lines: GeneratedLines): void {
    if (lines === this.lines) return;
    this.lines = lines;
    this.line = generatorFor(lines.info).lineWriter(lines.fields, lines.delimiter);
  }

  get source(): GeneratedLines | undefined {
    return this.lines;
  }

  /** See {@link RowBytes}: stores past the end are dropped, so an overflowing batch is written again. */
  write(buf: Buffer, at: number): number {
    const { ids, line } = this;
    const n = this.records;
    for (let i = 0; i < n; i++) at = line(ids[i]!, buf, at);
    return at > buf.length ? buf.length + 1 : at;
  }
}

/**
 * Leads the API never touched are written by the generator straight into the file buffer, a batch
 * at a time (no record object, no string, no quoting test: generated values never need quoting, see
 * LeadGenerator.lineBuilder); the others are read field by field and encoded cell by cell. Both
 * give the same bytes for the same values.
 */
function* leadRows(inst: Instance, spec: LeadExportSpec, enc: RowEncoder): RowSource {
  const fields = spec.fields;
  const generated = inst.leads.generatedLines(fields, enc.delimiter);
  let lines: GeneratedLines | undefined;
  // One batch object for the whole export: the file writer is done with it before the next row.
  const batch = new LeadBatch();
  const cells: Cell[] = new Array<Cell>(fields.length);
  for (const id of leadIds(inst, spec)) {
    if (generated.untouched(id)) {
      if (batch.records === 0 && inst.leads.seedInfo !== lines?.info) {
        // A reseed (while the writer awaited) gives new leads: lines come from the current seed.
        lines = { info: inst.leads.seedInfo, fields, delimiter: enc.delimiter };
        batch.use(lines);
      }
      batch.ids[batch.records++] = id;
      if (batch.records === BATCH_LEADS) {
        yield batch;
        batch.records = 0;
      }
      continue;
    }
    // Rows stay in id order: what was batched goes first.
    if (batch.records > 0) {
      yield batch;
      batch.records = 0;
    }
    // Members that vanished between the list read and the lead read are simply left out.
    const rec = inst.leads.read(id, fields);
    if (rec === undefined) {
      yield undefined;
      continue;
    }
    for (let i = 0; i < fields.length; i++) cells[i] = rec[fields[i]!];
    yield enc.row(cells);
  }
  if (batch.records > 0) yield batch;
}

/** The `attributes` cell: one JSON object keyed by attribute name. */
function attributesJson(a: ActivityRecord): string {
  const obj: Record<string, FieldValue> = {};
  for (const attr of a.attributes) obj[attr.name] = attr.value;
  return JSON.stringify(obj);
}

function activityCell(a: ActivityRecord, column: ActivityColumn): Cell {
  switch (column) {
    case 'marketoGUID':
      return a.marketoGUID;
    case 'leadId':
      return a.leadId;
    case 'activityDate':
      return isoSeconds(a.activityDate);
    case 'activityTypeId':
      return a.activityTypeId;
    case 'campaignId':
      return a.campaignId;
    case 'primaryAttributeValueId':
      return a.primaryAttributeValueId;
    case 'primaryAttributeValue':
      return a.primaryAttributeValue;
    case 'attributes':
      return attributesJson(a);
    case 'actionResult':
      // The log records only activities that happened: flow-step failures never reach it.
      return 'succeeded';
  }
}

function* activityRows(inst: Instance, spec: ActivityExportSpec, enc: RowEncoder): RowSource {
  const ids = spec.primaryAttributeValueIds ? new Set(spec.primaryAttributeValueIds) : undefined;
  const values = spec.primaryAttributeValues ? new Set(spec.primaryAttributeValues) : undefined;
  const cells: Cell[] = new Array<Cell>(spec.fields.length);
  const source = inst.activities.iterate({ from: spec.range.from, to: spec.range.to, typeIds: spec.typeIds });
  for (const a of source) {
    if (ids && (a.primaryAttributeValueId === undefined || !ids.has(a.primaryAttributeValueId))) {
      yield undefined;
      continue;
    }
    if (values && (a.primaryAttributeValue === undefined || !values.has(a.primaryAttributeValue))) {
      yield undefined;
      continue;
    }
    for (let i = 0; i < spec.fields.length; i++) cells[i] = activityCell(a, spec.fields[i]!);
    yield enc.row(cells);
  }
}
