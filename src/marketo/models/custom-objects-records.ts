/**
 * Marketo custom objects as records (pure: no I/O): the type list and describe answers read into
 * schemas, and export rows or REST items turned into `CustomObject` records typed from describe
 * (integer, float, currency → number; boolean → boolean; datetime → `YYYY-MM-DDTHH:MM:SSZ`; the rest
 * text; an empty value → null), with `apiName` and the id `<apiName>:<marketoGUID>`.
 *
 * A file row and the REST item of the same record make the same record, so an export and a REST read
 * (the tests' oracle) agree field by field.
 */
import type { CsvReader, CsvRow } from '../bulk/csv.ts';
import { idOf, normalizeDate, parseMarketoDate, type MarketoItem } from './api.ts';
import type { SyncRecord } from './types.ts';

/** How a field's values are typed in records. */
export type CustomFieldKind = 'number' | 'boolean' | 'datetime' | 'text';

export interface CustomObjectField {
  name: string;
  kind: CustomFieldKind;
}

/** A custom object type as `GET /rest/v1/customobjects.json` lists it. */
export interface CustomObjectType {
  name: string;
  displayName?: string;
  /** Epoch ms, when Marketo says. */
  createdAt?: number;
  idField: string;
  /**
   * Whether records are linked to leads (a `parent` relationship to `Lead`). Marketo's bulk export only
   * reads such "first level" objects; undefined when the list says nothing about relationships.
   */
  linkedToLeads?: boolean;
}

/** A type's fields (describe), in describe order; `idField` among them. */
export interface CustomObjectSchema {
  apiName: string;
  idField: string;
  fields: CustomObjectField[];
}

const NUMBER_TYPES = new Set(['integer', 'float', 'currency', 'double', 'percent', 'score']);

export function fieldKind(dataType: unknown): CustomFieldKind {
  const t = typeof dataType === 'string' ? dataType.toLowerCase() : '';
  if (NUMBER_TYPES.has(t)) return 'number';
  if (t === 'boolean') return 'boolean';
  if (t === 'datetime') return 'datetime';
  return 'text';
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function linkedToLeads(relationships: unknown): boolean | undefined {
  if (!Array.isArray(relationships)) return undefined;
  return relationships.some(
    (r) => isObject(r) && isObject(r.relatedTo) && String(r.relatedTo.name).toLowerCase() === 'lead',
  );
}

/** The types of a `customobjects.json` result (items without a name are left out), by name. */
export function readTypeList(items: readonly MarketoItem[]): CustomObjectType[] {
  const out = new Map<string, CustomObjectType>();
  for (const item of items) {
    if (typeof item.name !== 'string' || item.name === '') continue;
    const type: CustomObjectType = {
      name: item.name,
      idField: typeof item.idField === 'string' && item.idField !== '' ? item.idField : 'marketoGUID',
    };
    if (typeof item.displayName === 'string') type.displayName = item.displayName;
    const createdAt = parseMarketoDate(item.createdAt);
    if (createdAt !== undefined) type.createdAt = createdAt;
    const linked = linkedToLeads(item.relationships);
    if (linked !== undefined) type.linkedToLeads = linked;
    out.set(type.name, type);
  }
  return [...out.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/**
 * The schema of a describe result item. Fields without a name are left out; the id field is added
 * when describe does not list it (it is always in the records).
 */
export function readDescribe(apiName: string, item: MarketoItem | undefined): CustomObjectSchema {
  const idField =
    item && typeof item.idField === 'string' && item.idField !== '' ? item.idField : 'marketoGUID';
  const fields: CustomObjectField[] = [];
  const seen = new Set<string>();
  for (const f of Array.isArray(item?.fields) ? item.fields : []) {
    if (!isObject(f) || typeof f.name !== 'string' || f.name === '' || seen.has(f.name)) continue;
    seen.add(f.name);
    fields.push({ name: f.name, kind: fieldKind(f.dataType) });
  }
  if (!seen.has(idField)) fields.unshift({ name: idField, kind: 'text' });
  return { apiName, idField, fields };
}

/** The record id of a custom object record. */
export function customObjectRecordId(apiName: string, guid: string): string {
  return `${apiName}:${guid}`;
}

/** A file cell (null: the literal `null`) as the record's value. */
export function cellValue(kind: CustomFieldKind, cell: string | null): unknown {
  if (cell === null) return null;
  switch (kind) {
    case 'number': {
      if (cell.trim() === '') return null;
      const n = Number(cell);
      // Not a number after all: kept as Marketo wrote it rather than lost.
      return Number.isFinite(n) ? n : cell;
    }
    case 'boolean': {
      const t = cell.trim().toLowerCase();
      if (t === '') return null;
      if (t === 'true' || t === '1') return true;
      if (t === 'false' || t === '0') return false;
      return cell;
    }
    case 'datetime':
      return cell === '' ? null : normalizeDate(cell);
    case 'text':
      return cell;
  }
}

/** A REST item's value as the record's value (the same as {@link cellValue} gives for its file cell). */
export function restValue(kind: CustomFieldKind, value: unknown): unknown {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string') return cellValue(kind, value);
  if (kind === 'text' && (typeof value === 'number' || typeof value === 'boolean')) return String(value);
  return value;
}

/**
 * Turns rows of one export file into records: columns named by the header (a column describe does not
 * know is read as text), `undefined` for a row without an id (left out and counted by the caller).
 */
export class CustomObjectRowConverter {
  private readonly kinds: CustomFieldKind[];
  private readonly idColumn: number;

  constructor(
    private readonly header: readonly string[],
    private readonly schema: CustomObjectSchema,
  ) {
    const byName = new Map(schema.fields.map((f) => [f.name, f.kind]));
    this.kinds = header.map((h) => byName.get(h) ?? 'text');
    this.idColumn = header.indexOf(schema.idField);
  }

  record(row: CsvRow): SyncRecord | undefined {
    const guid = this.idColumn >= 0 ? row[this.idColumn] : null;
    if (guid === null || guid === undefined || guid === '') return undefined;
    const fields: Record<string, unknown> = {};
    for (let i = 0; i < this.header.length; i++) {
      fields[this.header[i]!] = cellValue(this.kinds[i]!, row[i] ?? null);
    }
    // Ours last: a field of the same name never replaces the record's id or type.
    return { ...fields, id: customObjectRecordId(this.schema.apiName, guid), apiName: this.schema.apiName };
  }

  csvReader(): CsvReader<SyncRecord | undefined> {
    return { cells: (row) => this.record(row) };
  }
}

/**
 * The record of a REST item (`GET /rest/v1/customobjects/{apiName}.json`) with the schema's fields (those
 * the item lacks are null); undefined without an id. REST adds `seq`, which is not a field.
 */
export function customObjectRecordFromRest(
  item: MarketoItem,
  schema: CustomObjectSchema,
): SyncRecord | undefined {
  const guid = idOf(item[schema.idField]);
  if (guid === undefined) return undefined;
  const fields: Record<string, unknown> = {};
  for (const f of schema.fields) fields[f.name] = restValue(f.kind, item[f.name]);
  return { ...fields, id: customObjectRecordId(schema.apiName, guid), apiName: schema.apiName };
}
