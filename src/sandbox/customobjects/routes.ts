import { MarketoError } from '../core/envelope.ts';
import { isPlainObject } from '../core/input.ts';
import { READ_CUSTOM_OBJECT, WRITE_CUSTOM_OBJECT, type RequestContext, type Route } from '../core/route.ts';
import { decodePositionToken, encodePositionToken } from '../leads/paging.ts';
import type { FieldValue } from '../model.ts';
import type { CoRecord } from './generator.ts';
import { coField, coType, describeView, ID_FIELD, LINK_FIELD, typeView, type CoType } from './types.ts';
import { fieldValue } from './values.ts';
import { deleteCustomObjects, MAX_BATCH, syncCustomObjects } from './writes.ts';

/** Custom object endpoints (Marketo's Custom Objects API): list, describe, query, sync, delete. */

/** First value of a query paging token, so a token of another read does not decode here. */
const QUERY_TOKEN = 7;

/** The type named by the path, or Marketo's 1013 for an unknown one. */
export function typeOf(ctx: RequestContext): CoType {
  const name = ctx.params.apiName!;
  const type = coType(name);
  if (!type) throw new MarketoError('1013', `Object not found: '${name}'`);
  return type;
}

function list(ctx: RequestContext) {
  const names = ctx.query.list('names');
  const store = ctx.inst.customObjects;
  const types = store.types.filter((t) => names === undefined || names.includes(t.name));
  return { result: types.map((t) => typeView(t, store.definedAt)) };
}

interface QueryRequest {
  field: string;
  values: string[];
  fields: string[];
  batchSize: number;
  offset: number;
}

function searchable(type: CoType, filterType: string): string {
  const name =
    filterType === 'idField' ? ID_FIELD : filterType === 'dedupeFields' ? type.dedupeFields[0]! : filterType;
  if (!type.searchableFields.some((s) => s.length === 1 && s[0] === name))
    throw new MarketoError('1003', `Invalid filterType '${filterType}'`);
  return name;
}

function checkedFields(type: CoType, names: unknown): string[] {
  if (names === undefined) return [...type.dedupeFields];
  if (!Array.isArray(names) || names.length === 0)
    throw new MarketoError('1003', "Invalid value for 'fields'");
  return names.map((n: unknown) => {
    if (typeof n !== 'string' || !coField(type, n))
      throw new MarketoError('1006', `Field '${String(n)}' not found`);
    return n;
  });
}

/** GET parameters or, for `POST ?_method=GET` with JSON, the body ({filterType, fields, input:[keys]}). */
function parseQuery(ctx: RequestContext, type: CoType): QueryRequest {
  const body = isPlainObject(ctx.body) ? ctx.body : undefined;
  const q = ctx.query;
  const filterType = body?.filterType ?? q.get('filterType');
  if (typeof filterType !== 'string' || filterType.trim() === '')
    throw new MarketoError('701', 'filterType cannot be blank');
  const field = searchable(type, filterType.trim());
  let values: string[] | undefined;
  if (body?.input !== undefined) {
    if (!Array.isArray(body.input)) throw new MarketoError('1003', "Invalid value for 'input'");
    values = body.input.map((item: unknown) => {
      const v = isPlainObject(item) ? item[field] : undefined;
      if (typeof v !== 'string' && typeof v !== 'number')
        throw new MarketoError('1003', `Each input item needs a value for '${field}'`);
      return String(v);
    });
  } else values = q.list('filterValues');
  if (!values || values.length === 0) throw new MarketoError('701', 'filterValues cannot be blank');
  if (values.length > MAX_BATCH)
    throw new MarketoError('1003', `Too many filterValues: ${values.length}, maximum is ${MAX_BATCH}`);
  const fields = checkedFields(type, body?.fields ?? q.list('fields'));
  const rawBatch = body?.batchSize ?? q.int('batchSize');
  const batchSize = rawBatch === undefined ? MAX_BATCH : rawBatch;
  if (typeof batchSize !== 'number' || !Number.isInteger(batchSize) || batchSize < 1 || batchSize > MAX_BATCH)
    throw new MarketoError('1003', `Invalid value for batchSize, must be 1 to ${MAX_BATCH}`);
  let offset = 0;
  const token = body?.nextPageToken ?? q.get('nextPageToken');
  if (token !== undefined && token !== '') {
    const pos = typeof token === 'string' ? decodePositionToken(token) : undefined;
    if (!pos || pos.length !== 2 || pos[0] !== QUERY_TOKEN)
      throw new MarketoError('1003', 'Invalid value for nextPageToken');
    offset = pos[1]!;
  }
  return { field, values, fields, batchSize, offset };
}

function matches(ctx: RequestContext, type: CoType, field: string, value: string): CoRecord[] {
  const store = ctx.inst.customObjects;
  if (field === ID_FIELD) return [store.byGuid(type, value)].filter((r) => r !== undefined);
  if (field === LINK_FIELD) return /^\d+$/.test(value.trim()) ? store.byLead(type, Number(value)) : [];
  return [store.byDedupe(type, value)].filter((r) => r !== undefined);
}

/** Query Custom Objects: records matching any value, each with the `seq` of the value it matched. */
function query(ctx: RequestContext) {
  const type = typeOf(ctx);
  const req = parseQuery(ctx, type);
  const all: { seq: number; rec: CoRecord }[] = [];
  req.values.forEach((value, seq) => {
    for (const rec of matches(ctx, type, req.field, value)) all.push({ seq, rec });
  });
  const page = all.slice(req.offset, req.offset + req.batchSize);
  const result = page.map(({ seq, rec }) => {
    const out: Record<string, FieldValue> = { seq, marketoGUID: rec.marketoGUID };
    for (const f of req.fields) out[f] = fieldValue(rec, f);
    out.createdAt ??= fieldValue(rec, 'createdAt');
    out.updatedAt ??= fieldValue(rec, 'updatedAt');
    return out;
  });
  const next = req.offset + page.length;
  return next < all.length ? { result, nextPageToken: encodePositionToken([QUERY_TOKEN, next]) } : { result };
}

export const customObjectRoutes: Route[] = [
  {
    method: 'GET',
    path: '/rest/v1/customobjects.json',
    permission: READ_CUSTOM_OBJECT,
    body: 'none',
    handler: list,
  },
  {
    method: 'GET',
    path: '/rest/v1/customobjects/:apiName/describe.json',
    permission: READ_CUSTOM_OBJECT,
    body: 'none',
    handler: (ctx) => ({ result: [describeView(typeOf(ctx), ctx.inst.customObjects.definedAt)] }),
  },
  {
    method: 'GET',
    path: '/rest/v1/customobjects/:apiName.json',
    permission: READ_CUSTOM_OBJECT,
    body: 'any',
    handler: query,
  },
  {
    method: 'POST',
    path: '/rest/v1/customobjects/:apiName.json',
    permission: WRITE_CUSTOM_OBJECT,
    body: 'json',
    handler: (ctx) => ({ result: syncCustomObjects(ctx.inst, typeOf(ctx), ctx.body) }),
  },
  {
    method: 'POST',
    path: '/rest/v1/customobjects/:apiName/delete.json',
    permission: WRITE_CUSTOM_OBJECT,
    body: 'json',
    handler: (ctx) => ({ result: deleteCustomObjects(ctx.inst, typeOf(ctx), ctx.body) }),
  },
];
