import { MarketoError, reason } from '../core/envelope.ts';
import { READ_LEAD, WRITE_LEAD, type RequestContext, type Route } from '../core/route.ts';
import { requestedFields } from './fields.ts';
import { decodePositionToken, encodePositionToken } from './paging.ts';
import { associateCookie, mergeLeads } from './merge.ts';
import { pushLeads } from './push.ts';
import { submitForm } from './submit-form.ts';
import { MAX_BATCH, parseSyncRequest, syncLeads } from './sync.ts';

export { projectLead, requestedFields } from './fields.ts';

/** Get Leads by Filter Type fails past this many matches (spec 4). */
const MAX_FILTER_MATCHES = 1000;
/** First value of a filter-read token, so a token from another kind of read does not decode. */
const FILTER_TOKEN = 1;

const INTEGER_RE = /^\d+$/;

function describe(ctx: RequestContext) {
  return {
    result: ctx.inst.leads.fields.map((f) => {
      const item: Record<string, unknown> = { id: f.id, displayName: f.displayName, dataType: f.dataType };
      if (f.length !== undefined) item.length = f.length;
      item.rest = { name: f.name, readOnly: f.readOnly };
      if (f.soapName !== undefined) item.soap = { name: f.soapName, readOnly: f.readOnly };
      return item;
    }),
  };
}

function describe2(ctx: RequestContext) {
  const fields = ctx.inst.leads.fields;
  return {
    result: [
      {
        name: 'API Lead',
        searchableFields: fields.filter((f) => f.searchable).map((f) => [f.name]),
        fields: fields.map((f) => {
          const item: Record<string, unknown> = {
            name: f.name,
            displayName: f.displayName,
            dataType: f.dataType,
          };
          if (f.length !== undefined) item.length = f.length;
          item.updateable = !f.readOnly;
          item.crmManaged = f.crmManaged ?? false;
          return item;
        }),
      },
    ],
  };
}

/** Get Lead by Id: the benchmark call, so it computes only the requested fields. */
function leadById(ctx: RequestContext) {
  const fields = requestedFields(ctx.query, ctx.inst.leads);
  const raw = ctx.params.id!;
  if (!INTEGER_RE.test(raw)) throw new MarketoError('1003', `Invalid value '${raw}' for 'id'`);
  const lead = ctx.inst.leads.read(Number(raw), fields);
  return { result: lead ? [lead] : [] };
}

/** Get Leads by Filter Type (spec 5.2), also reached by `POST ?_method=GET`. */
function leadsByFilter(ctx: RequestContext) {
  const { query } = ctx;
  const filterType = query.get('filterType')?.trim();
  if (!filterType) throw new MarketoError('701', 'filterType cannot be blank');
  const field = ctx.inst.leads.field(filterType);
  if (!field) throw new MarketoError('1006', `Field '${filterType}' not found`);
  if (!field.searchable) throw new MarketoError('1011', `Field '${filterType}' not supported`);
  const values = query.list('filterValues');
  if (!values || values.length === 0) throw new MarketoError('701', 'filterValues cannot be blank');
  if (values.length > MAX_BATCH)
    throw new MarketoError('1003', `Too many filterValues: ${values.length}, maximum is ${MAX_BATCH}`);
  const fields = requestedFields(query, ctx.inst.leads);
  const batchSize = query.int('batchSize') ?? MAX_BATCH;
  if (batchSize < 1 || batchSize > MAX_BATCH)
    throw new MarketoError('1003', `Invalid value for batchSize: ${batchSize}, must be 1 to ${MAX_BATCH}`);

  let after = 0;
  const token = query.get('nextPageToken');
  if (token !== undefined && token !== '') {
    const pos = decodePositionToken(token);
    if (!pos || pos.length !== 2 || pos[0] !== FILTER_TOKEN)
      throw new MarketoError('1003', 'Invalid value for nextPageToken');
    after = pos[1]!;
  }

  const ids = ctx.inst.leads.find(field.name, values, MAX_FILTER_MATCHES);
  if (ids.length > MAX_FILTER_MATCHES) throw new MarketoError('1003', 'Too many results match the filter');
  let start = 0;
  while (start < ids.length && ids[start]! <= after) start++;
  const page = ids.slice(start, start + batchSize);
  const result = page.map((id) => ctx.inst.leads.read(id, fields)!);
  if (start + batchSize < ids.length) {
    return { result, nextPageToken: encodePositionToken([FILTER_TOKEN, page[page.length - 1]!]) };
  }
  return { result };
}

function sync(ctx: RequestContext) {
  const req = parseSyncRequest(ctx.body, ctx.inst.leads);
  return { result: syncLeads(ctx.inst.leads, req, { apiMethodName: 'syncLead', user: ctx.user.email }) };
}

/** Delete Leads: ids from the JSON body's `input`, or from `?id=1,2`. */
function deleteLeads(ctx: RequestContext) {
  const body = ctx.body;
  let ids: unknown[] | undefined;
  if (typeof body === 'object' && body !== null && !Array.isArray(body) && 'input' in body) {
    const input = (body as { input: unknown }).input;
    if (!Array.isArray(input)) throw new MarketoError('1003', "Invalid value for 'input'");
    ids = input.map((r: unknown) => (typeof r === 'object' && r !== null ? (r as { id?: unknown }).id : r));
  } else {
    ids = ctx.query.list('id');
  }
  if (!ids || ids.length === 0) throw new MarketoError('701', 'input cannot be blank');
  if (ids.length > MAX_BATCH)
    throw new MarketoError('1003', `Input size ${ids.length} exceeds the maximum of ${MAX_BATCH}`);
  const source = { apiMethodName: 'deleteLead', user: ctx.user.email };
  const result = ids.map((raw) => {
    const id =
      typeof raw === 'number' ? raw : typeof raw === 'string' && INTEGER_RE.test(raw) ? Number(raw) : NaN;
    if (!Number.isSafeInteger(id)) return { status: 'skipped', reasons: [reason('1003', 'Invalid data')] };
    if (ctx.inst.leads.remove(id, source)) return { id, status: 'deleted' };
    return { id, status: 'skipped', reasons: [reason('1004', 'Lead not found')] };
  });
  return { result };
}

/** Lead partitions: the sandbox has Marketo's initial one only (every lead's `leadPartitionId` 1). */
function partitions() {
  return { result: [{ id: 1, name: 'Default', description: 'Initial system partition' }] };
}

export const leadsRoutes: Route[] = [
  {
    method: 'GET',
    path: '/rest/v1/leads/describe.json',
    permission: READ_LEAD,
    body: 'none',
    handler: describe,
  },
  {
    method: 'GET',
    path: '/rest/v1/leads/describe2.json',
    permission: READ_LEAD,
    body: 'none',
    handler: describe2,
  },
  { method: 'GET', path: '/rest/v1/lead/:id.json', permission: READ_LEAD, body: 'none', handler: leadById },
  { method: 'GET', path: '/rest/v1/leads.json', permission: READ_LEAD, body: 'none', handler: leadsByFilter },
  { method: 'POST', path: '/rest/v1/leads.json', permission: WRITE_LEAD, body: 'json', handler: sync },
  {
    method: 'POST',
    path: '/rest/v1/leads/delete.json',
    permission: WRITE_LEAD,
    body: 'json',
    handler: deleteLeads,
  },
  {
    method: 'GET',
    path: '/rest/v1/leads/partitions.json',
    permission: READ_LEAD,
    body: 'none',
    handler: partitions,
  },
  {
    method: 'POST',
    path: '/rest/v1/leads/push.json',
    permission: WRITE_LEAD,
    body: 'json',
    handler: (ctx) => ({ result: pushLeads(ctx.inst, ctx.body, ctx.user.email) }),
  },
  {
    method: 'POST',
    path: '/rest/v1/leads/submitForm.json',
    permission: WRITE_LEAD,
    body: 'json',
    handler: (ctx) => ({ result: submitForm(ctx.inst, ctx.body, ctx.user.email) }),
  },
  {
    method: 'POST',
    path: '/rest/v1/leads/:id/merge.json',
    permission: WRITE_LEAD,
    body: 'none',
    handler: (ctx) => mergeLeads(ctx.inst, ctx.params.id!, ctx.query, ctx.user.email),
  },
  {
    method: 'POST',
    path: '/rest/v1/leads/:id/associate.json',
    permission: WRITE_LEAD,
    body: 'none',
    handler: (ctx) => associateCookie(ctx.inst, ctx.params.id!, ctx.query, ctx.user.email),
  },
];
