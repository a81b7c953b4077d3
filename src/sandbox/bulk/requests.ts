import type { Instance } from '../core/instance.ts';
import { MarketoError } from '../core/envelope.ts';
import { FORMATS, type ExportFormat } from './csv.ts';
import { coField, type CoType } from '../customobjects/types.ts';

/**
 * Validation of the create-export bodies (spec 5.10, 5.11) into job specifications. Every refusal
 * is a response-level error, as Marketo answers a bad create call.
 */

export interface DateRange {
  /** Inclusive start, epoch ms. */
  from: number;
  /** Exclusive end, epoch ms: consecutive windows sharing a boundary never export a record twice. */
  to: number;
}

export type LeadFilter =
  { kind: 'createdAt' | 'updatedAt'; range: DateRange } | { kind: 'staticList'; listId: number };

export interface LeadExportSpec {
  kind: 'leads';
  format: ExportFormat;
  fields: string[];
  headers: string[];
  filter: LeadFilter;
}

export const ACTIVITY_COLUMNS = [
  'marketoGUID',
  'leadId',
  'activityDate',
  'activityTypeId',
  'campaignId',
  'primaryAttributeValueId',
  'primaryAttributeValue',
  'attributes',
  'actionResult',
] as const;

export type ActivityColumn = (typeof ACTIVITY_COLUMNS)[number];

/** What an activities export holds when `fields` is not given (no `actionResult`). */
const DEFAULT_ACTIVITY_COLUMNS: ActivityColumn[] = ACTIVITY_COLUMNS.filter((c) => c !== 'actionResult');

export interface ActivityExportSpec {
  kind: 'activities';
  format: ExportFormat;
  fields: ActivityColumn[];
  headers: string[];
  range: DateRange;
  typeIds?: number[];
  primaryAttributeValueIds?: number[];
  primaryAttributeValues?: string[];
}

/** A custom object export: records of one type, by their updatedAt or by their lead's list membership. */
export interface CustomObjectExportSpec {
  kind: 'customobjects';
  apiName: string;
  format: ExportFormat;
  fields: string[];
  headers: string[];
  filter: { kind: 'updatedAt'; range: DateRange } | { kind: 'staticList'; listId: number };
}

export type ExportSpec = LeadExportSpec | ActivityExportSpec | CustomObjectExportSpec;
export type ExportKind = ExportSpec['kind'];

const MAX_RANGE_MS = 31 * 86_400_000;
const MAX_PRIMARY_VALUES = 50;
/** Delete Lead: Marketo serves those through the deleted-leads endpoint, not bulk extract. */
const DELETE_LEAD_TYPE = 37;

function invalid(attribute: string, detail?: string): MarketoError {
  const base = `Invalid value specified for attribute '${attribute}'`;
  return new MarketoError('1003', detail ? `${base}: ${detail}` : base);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const ISO_RE = /^(\d{4}-\d{2}-\d{2})(?:T(\d{2}:\d{2})(:\d{2})?(\.\d+)?(Z|[+-]\d{2}:?\d{2})?)?$/;

/** ISO-8601 datetime as Marketo's bulk filters accept it; a missing zone means UTC. */
export function parseIsoDate(value: unknown): number | undefined {
  if (typeof value !== 'string') return undefined;
  const m = ISO_RE.exec(value.trim());
  if (!m) return undefined;
  const zone = m[5] === undefined ? 'Z' : m[5].length === 5 ? `${m[5].slice(0, 3)}:${m[5].slice(3)}` : m[5];
  const ms = Date.parse(`${m[1]}T${m[2] ?? '00:00'}${m[3] ?? ':00'}${m[4] ?? ''}${zone}`);
  return Number.isNaN(ms) ? undefined : ms;
}

function parseRange(attribute: string, name: string, value: unknown): DateRange {
  if (!isObject(value)) throw invalid(attribute, `${name} needs startAt and endAt`);
  const from = parseIsoDate(value.startAt);
  const to = parseIsoDate(value.endAt);
  if (from === undefined) throw invalid(attribute, `${name}.startAt is not an ISO-8601 datetime`);
  if (to === undefined) throw invalid(attribute, `${name}.endAt is not an ISO-8601 datetime`);
  if (from >= to) throw invalid(attribute, `${name}.startAt must be before ${name}.endAt`);
  if (to - from > MAX_RANGE_MS) throw invalid(attribute, `${name} date range must not exceed 31 days`);
  return { from, to };
}

function parseFormat(value: unknown): ExportFormat {
  if (value === undefined || value === null) return 'CSV';
  const f = typeof value === 'string' ? value.toUpperCase() : '';
  if (!(FORMATS as readonly string[]).includes(f)) throw invalid('format');
  return f as ExportFormat;
}

/** Header row: the field names, each replaced by its `columnHeaderNames` entry when there is one. */
function parseHeaders(value: unknown, fields: readonly string[]): string[] {
  if (value === undefined || value === null) return [...fields];
  if (!isObject(value)) throw invalid('columnHeaderNames');
  for (const v of Object.values(value)) {
    if (typeof v !== 'string' || v === '') throw invalid('columnHeaderNames');
  }
  return fields.map((f) => (Object.hasOwn(value, f) ? (value[f] as string) : f));
}

/** `fields`: a non-empty list of names the export knows (`known`), in the order given. */
function parseFields(value: unknown, known: (name: string) => boolean): string[] {
  if (!Array.isArray(value) || value.length === 0) throw invalid('fields');
  const fields: string[] = [];
  for (const f of value) {
    if (typeof f !== 'string' || f === '') throw invalid('fields');
    if (!known(f)) throw invalid('fields', `field '${f}' not found`);
    fields.push(f);
  }
  return fields;
}

/** `filter`: an object with exactly one of the `allowed` filters; its name and value. */
function singleFilter<K extends string>(value: unknown, allowed: readonly K[]): { kind: K; value: unknown } {
  if (!isObject(value)) throw invalid('filter');
  const keys = Object.keys(value);
  if (keys.length !== 1 || !(allowed as readonly string[]).includes(keys[0]!)) throw invalid('filter');
  const kind = keys[0] as K;
  return { kind, value: value[kind] };
}

function positiveInt(v: unknown): number | undefined {
  const n = typeof v === 'string' && /^\d+$/.test(v.trim()) ? Number(v) : v;
  return typeof n === 'number' && Number.isSafeInteger(n) && n > 0 ? n : undefined;
}

function intList(attribute: string, value: unknown, max?: number): number[] {
  if (!Array.isArray(value) || value.length === 0) throw invalid(attribute);
  if (max !== undefined && value.length > max) throw invalid(attribute, `at most ${max} values`);
  return value.map((v) => {
    const n = positiveInt(v);
    if (n === undefined) throw invalid(attribute, `'${String(v)}' is not a valid id`);
    return n;
  });
}

const LEAD_FILTERS = [
  'createdAt',
  'updatedAt',
  'staticListName',
  'staticListId',
  'smartListName',
  'smartListId',
] as const;

export function parseLeadExport(inst: Instance, body: unknown): LeadExportSpec {
  const b = isObject(body) ? body : {};
  const fields = parseFields(b.fields, (f) => inst.leads.field(f) !== undefined);
  const format = parseFormat(b.format);
  const headers = parseHeaders(b.columnHeaderNames, fields);

  const { kind, value } = singleFilter(b.filter, LEAD_FILTERS);
  switch (kind) {
    case 'smartListName':
    case 'smartListId':
      // The sandbox has no smart lists: answer as a subscription without the feature does.
      throw new MarketoError('1035', `Unsupported filter type for target subscription: ${kind}`);
    case 'updatedAt':
      if (!inst.settings.bulkUpdatedAtFilter) {
        throw new MarketoError('1035', 'Unsupported filter type for target subscription: updatedAt');
      }
      return {
        kind: 'leads',
        format,
        fields,
        headers,
        filter: { kind, range: parseRange('filter', kind, value) },
      };
    case 'createdAt':
      return {
        kind: 'leads',
        format,
        fields,
        headers,
        filter: { kind, range: parseRange('filter', kind, value) },
      };
    case 'staticListId': {
      const listId = positiveInt(value);
      if (listId === undefined) throw invalid('filter', 'staticListId must be a list id');
      if (!inst.lists.exists(listId)) throw invalid('filter', `static list ${listId} not found`);
      return { kind: 'leads', format, fields, headers, filter: { kind: 'staticList', listId } };
    }
    case 'staticListName': {
      if (typeof value !== 'string' || value === '') throw invalid('filter', 'staticListName must be a name');
      const listId = inst.lists.idByName(value);
      if (listId === undefined) throw invalid('filter', `static list '${value}' not found`);
      return { kind: 'leads', format, fields, headers, filter: { kind: 'staticList', listId } };
    }
  }
}

const ACTIVITY_FILTERS = [
  'createdAt',
  'activityTypeIds',
  'primaryAttributeValueIds',
  'primaryAttributeValues',
];

export function parseActivityExport(inst: Instance, body: unknown): ActivityExportSpec {
  const b = isObject(body) ? body : {};
  let fields = DEFAULT_ACTIVITY_COLUMNS;
  if (b.fields !== undefined && b.fields !== null) {
    if (!Array.isArray(b.fields) || b.fields.length === 0) throw invalid('fields');
    fields = b.fields.map((f: unknown) => {
      if (typeof f !== 'string' || !(ACTIVITY_COLUMNS as readonly string[]).includes(f)) {
        throw invalid('fields', `'${String(f)}' is not an activity export column`);
      }
      return f as ActivityColumn;
    });
  }
  const format = parseFormat(b.format);
  const headers = parseHeaders(b.columnHeaderNames, fields);

  const filter = b.filter;
  if (!isObject(filter) || filter.createdAt === undefined) throw invalid('filter');
  for (const k of Object.keys(filter)) {
    if (!ACTIVITY_FILTERS.includes(k)) throw invalid('filter', `unknown filter '${k}'`);
  }
  const range = parseRange('filter', 'createdAt', filter.createdAt);
  const spec: ActivityExportSpec = { kind: 'activities', format, fields, headers, range };

  if (filter.activityTypeIds !== undefined) {
    const ids = intList('activityTypeIds', filter.activityTypeIds);
    const known = inst.activities.types;
    for (const id of ids) {
      if (id === DELETE_LEAD_TYPE) {
        throw invalid('activityTypeIds', 'activity type 37 (Delete Lead) is not supported, use deletedleads');
      }
      if (known.length > 0 && !known.some((t) => t.id === id)) {
        throw invalid('activityTypeIds', `activity type ${id} not found`);
      }
    }
    spec.typeIds = ids;
  }
  const hasIds = filter.primaryAttributeValueIds !== undefined;
  const hasValues = filter.primaryAttributeValues !== undefined;
  if (hasIds && hasValues) {
    throw invalid('filter', 'primaryAttributeValueIds and primaryAttributeValues are mutually exclusive');
  }
  if ((hasIds || hasValues) && spec.typeIds === undefined) {
    throw invalid('filter', 'primaryAttributeValueIds and primaryAttributeValues need activityTypeIds');
  }
  if (hasIds) {
    spec.primaryAttributeValueIds = intList(
      'primaryAttributeValueIds',
      filter.primaryAttributeValueIds,
      MAX_PRIMARY_VALUES,
    );
  }
  if (hasValues) {
    const vals = filter.primaryAttributeValues;
    if (!Array.isArray(vals) || vals.length === 0) throw invalid('primaryAttributeValues');
    if (vals.length > MAX_PRIMARY_VALUES) {
      throw invalid('primaryAttributeValues', `at most ${MAX_PRIMARY_VALUES} values`);
    }
    spec.primaryAttributeValues = vals.map((v: unknown) => {
      if (typeof v !== 'string' || v === '') throw invalid('primaryAttributeValues');
      return v;
    });
  }
  return spec;
}

/** The static list a `staticListId` / `staticListName` filter names, or a 1003 error. */
function staticListOf(inst: Instance, kind: 'staticListId' | 'staticListName', value: unknown): number {
  if (kind === 'staticListId') {
    const listId = positiveInt(value);
    if (listId === undefined) throw invalid('filter', 'staticListId must be a list id');
    if (!inst.lists.exists(listId)) throw invalid('filter', `static list ${listId} not found`);
    return listId;
  }
  if (typeof value !== 'string' || value === '') throw invalid('filter', 'staticListName must be a name');
  const listId = inst.lists.idByName(value);
  if (listId === undefined) throw invalid('filter', `static list '${value}' not found`);
  return listId;
}

const CUSTOM_OBJECT_FILTERS = ['updatedAt', 'staticListId', 'staticListName'] as const;

/** Bulk Custom Object Extract create body: fields required (names from describe), exactly one filter. */
export function parseCustomObjectExport(inst: Instance, type: CoType, body: unknown): CustomObjectExportSpec {
  const b = isObject(body) ? body : {};
  const fields = parseFields(b.fields, (f) => Boolean(coField(type, f)));
  const format = parseFormat(b.format);
  const headers = parseHeaders(b.columnHeaderNames, fields);
  const { kind, value } = singleFilter(b.filter, CUSTOM_OBJECT_FILTERS);
  const base = { kind: 'customobjects' as const, apiName: type.name, format, fields, headers };
  if (kind === 'updatedAt') return { ...base, filter: { kind, range: parseRange('filter', kind, value) } };
  return { ...base, filter: { kind: 'staticList', listId: staticListOf(inst, kind, value) } };
}
