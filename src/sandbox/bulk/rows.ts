import type { Instance } from '../core/instance.ts';
import { isoSeconds } from '../core/envelope.ts';
import type { ActivityRecord, FieldValue, LeadRecord } from '../model.ts';
import type { Cell, RowEncoder, RowSource } from './csv.ts';
import type { ActivityColumn, ActivityExportSpec, ExportSpec, LeadExportSpec } from './requests.ts';

/**
 * The records of an export, read lazily from the lead database, static lists and the activity log
 * when the job runs (not when it was created), encoded line by line.
 */

export function exportRows(inst: Instance, spec: ExportSpec, enc: RowEncoder): RowSource {
  return spec.kind === 'leads' ? leadRows(inst, spec, enc) : activityRows(inst, spec, enc);
}

/**
 * Lead ids first, then only the exported fields of each: generating every field of a million
 * leads costs several times more than the few columns an export usually asks for.
 */
function* leadRecords(inst: Instance, spec: LeadExportSpec): Iterable<LeadRecord | undefined> {
  const f = spec.filter;
  const ids =
    f.kind === 'staticList'
      ? inst.lists.members(f.listId)
      : inst.leads.ids(f.kind === 'createdAt' ? { createdAt: f.range } : { updatedAt: f.range });
  // Members that vanished between the list read and the lead read are simply left out.
  for (const id of ids) yield inst.leads.read(id, spec.fields);
}

function* leadRows(inst: Instance, spec: LeadExportSpec, enc: RowEncoder): RowSource {
  const fields = spec.fields;
  const cells: Cell[] = new Array<Cell>(fields.length);
  for (const rec of leadRecords(inst, spec)) {
    if (rec === undefined) {
      yield undefined;
      continue;
    }
    for (let i = 0; i < fields.length; i++) cells[i] = rec[fields[i]!];
    yield enc.row(cells);
  }
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
