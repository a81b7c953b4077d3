import { isoSeconds, MarketoError, type EnvelopeBody } from '../core/envelope.ts';
import { READ_ACTIVITY, READ_LEAD, type Params, type RequestContext, type Route } from '../core/route.ts';
import type { ActivityRecord, FieldValue } from '../model.ts';
import type { ScanRequest } from './log.ts';
import { decodeDateToken, encodeDateToken, parseDateTime } from './token.ts';
import { T } from './types.ts';

/**
 * Activity endpoints (spec 5.4, 5.5): types, date paging tokens, activities, lead changes and
 * deleted leads. The readers always answer with `nextPageToken` and `moreResult`; a caught-up
 * reader gets a token at its current position, so polling it later picks up newer activities.
 */

/** Activities examined per call at most: a sparse filter returns a short page, as Marketo does. */
export const SCAN_BUDGET = 200_000;
const MAX_BATCH = 300;
const MAX_TYPE_IDS = 10;
const MAX_LEAD_IDS = 30;
/** From 2026 Marketo refuses `listId` for lists of this size or more. */
const MAX_LIST_MEMBERS = 10_000;
/** Deleted-lead records older than this are pruned. */
const DELETED_RETENTION_MS = 14 * 86_400_000;

function intList(q: Params, key: string): number[] | undefined {
  const vals = q.list(key);
  if (vals === undefined) return undefined;
  return vals.map((v) => {
    if (!/^\d{1,15}$/.test(v)) throw new MarketoError('1003', `Invalid value '${v}' for '${key}'`);
    return Number(v);
  });
}

function batchSize(q: Params): number {
  const n = q.int('batchSize');
  if (n === undefined) return MAX_BATCH;
  if (n < 1) throw new MarketoError('1003', `Invalid value '${n}' for 'batchSize'`);
  return Math.min(n, MAX_BATCH);
}

function required(q: Params, key: string): string {
  const v = q.get(key);
  if (v === undefined || v.trim() === '') throw new MarketoError('701', `${key} cannot be blank`);
  return v;
}

/** The filters every date-token reader shares: position, leads, static list, page size. */
function commonScan(ctx: RequestContext): Omit<ScanRequest, 'typeIds'> {
  const q = ctx.query;
  const after = decodeDateToken(required(q, 'nextPageToken'));
  const req: Omit<ScanRequest, 'typeIds'> = {
    after,
    until: ctx.inst.clock.now(),
    limit: batchSize(q),
    budget: SCAN_BUDGET,
  };
  const leadIds = intList(q, 'leadIds');
  if (leadIds && leadIds.length > MAX_LEAD_IDS)
    throw new MarketoError('1003', `Maximum of ${MAX_LEAD_IDS} leadIds allowed`);
  if (leadIds && leadIds.length > 0) req.leadIds = new Set(leadIds);
  const listId = q.int('listId');
  if (listId !== undefined) {
    const lists = ctx.inst.lists;
    if (!lists.exists(listId)) throw new MarketoError('1013', 'Object not found');
    if (lists.size(listId) >= MAX_LIST_MEMBERS)
      throw new MarketoError('1003', `Static list ${listId} has ${MAX_LIST_MEMBERS} or more members`);
    req.leadFilter = (leadId) => lists.has(listId, leadId);
  }
  return req;
}

function page(ctx: RequestContext, req: ScanRequest, render: (a: ActivityRecord) => unknown): EnvelopeBody {
  const p = ctx.inst.activities.scan(req);
  const body: EnvelopeBody = { nextPageToken: encodeDateToken(p.next), moreResult: p.more };
  if (p.items.length > 0) body.result = p.items.map(render);
  return body;
}

function presentAttributes(rec: ActivityRecord): { name: string; value: FieldValue }[] {
  // Marketo leaves attributes without a value out of an item.
  return rec.attributes.filter((a) => a.value !== null && a.value !== undefined && a.value !== '');
}

/** The fields every activity item starts with (activities and lead changes). */
function activityHead(rec: ActivityRecord): Record<string, unknown> {
  const out: Record<string, unknown> = {
    id: rec.id,
    marketoGUID: rec.marketoGUID,
    leadId: rec.leadId,
    activityDate: isoSeconds(rec.activityDate),
    activityTypeId: rec.activityTypeId,
  };
  if (rec.campaignId !== undefined) out.campaignId = rec.campaignId;
  return out;
}

function renderActivity(rec: ActivityRecord): Record<string, unknown> {
  const out = activityHead(rec);
  if (rec.primaryAttributeValueId !== undefined) out.primaryAttributeValueId = rec.primaryAttributeValueId;
  if (rec.primaryAttributeValue !== undefined) out.primaryAttributeValue = rec.primaryAttributeValue;
  out.attributes = presentAttributes(rec);
  return out;
}

const types: Route = {
  method: 'GET',
  path: '/rest/v1/activities/types.json',
  permission: READ_ACTIVITY,
  body: 'none',
  handler: ({ inst }) => ({
    result: inst.activities.types.map((t) => {
      const out: Record<string, unknown> = { id: t.id, name: t.name, description: t.description };
      if (t.apiName !== undefined) out.apiName = t.apiName;
      if (t.primaryAttribute) out.primaryAttribute = t.primaryAttribute;
      out.attributes = t.attributes;
      return out;
    }),
  }),
};

const pagingToken: Route = {
  method: 'GET',
  path: '/rest/v1/activities/pagingtoken.json',
  permission: [...READ_LEAD, ...READ_ACTIVITY],
  body: 'none',
  handler: ({ query }) => {
    const since = parseDateTime(required(query, 'sinceDatetime'));
    if (since === undefined) throw new MarketoError('704', 'Invalid date format');
    return { nextPageToken: encodeDateToken({ time: since, id: 0 }) };
  },
};

const activities: Route = {
  method: 'GET',
  path: '/rest/v1/activities.json',
  permission: READ_ACTIVITY,
  body: 'none',
  handler: (ctx) => {
    const q = ctx.query;
    const req: ScanRequest = commonScan(ctx);
    const typeIds = intList(q, 'activityTypeIds');
    if (!typeIds || typeIds.length === 0) throw new MarketoError('701', 'activityTypeIds cannot be blank');
    if (typeIds.length > MAX_TYPE_IDS)
      throw new MarketoError('1003', `Maximum of ${MAX_TYPE_IDS} activityTypeIds allowed`);
    req.typeIds = new Set(typeIds);
    const assetIds = intList(q, 'assetIds');
    if (assetIds && assetIds.length > 0) {
      const wanted = new Set(assetIds);
      req.accept = (rec) =>
        rec.primaryAttributeValueId !== undefined && wanted.has(rec.primaryAttributeValueId);
    }
    return page(ctx, req, renderActivity);
  },
};

const leadChanges: Route = {
  method: 'GET',
  path: '/rest/v1/activities/leadchanges.json',
  permission: READ_ACTIVITY,
  body: 'none',
  handler: (ctx) => {
    const req: ScanRequest = commonScan(ctx);
    const fields = ctx.query.list('fields') ?? [];
    if (fields.length === 0) throw new MarketoError('701', 'fields cannot be blank');
    const leads = ctx.inst.leads;
    // Change records may name a field by REST name or display name; match either.
    const names = new Set<string>();
    for (const f of fields) {
      const def = leads.field(f);
      if (!def && leads.fields.length > 0) throw new MarketoError('1006', `Field '${f}' not found`);
      names.add(f);
      if (def) names.add(def.displayName);
    }
    req.typeIds = new Set([T.NEW_LEAD, T.CHANGE_DATA_VALUE]);
    req.accept = (rec) =>
      rec.activityTypeId === T.NEW_LEAD || (rec.fields ?? []).some((f) => names.has(f.name));
    return page(ctx, req, (rec) => {
      const out = activityHead(rec);
      out.fields = (rec.fields ?? []).filter((f) => names.has(f.name));
      out.attributes = presentAttributes(rec);
      return out;
    });
  },
};

const deletedLeads: Route = {
  method: 'GET',
  path: '/rest/v1/activities/deletedleads.json',
  permission: READ_ACTIVITY,
  body: 'none',
  handler: (ctx) => {
    const q = ctx.query;
    const now = ctx.inst.clock.now();
    const req: ScanRequest = {
      after: decodeDateToken(required(q, 'nextPageToken')),
      until: now,
      limit: batchSize(q),
      budget: SCAN_BUDGET,
      typeIds: new Set([T.DELETE_LEAD]),
      accept: (rec) => rec.activityDate >= now - DELETED_RETENTION_MS,
    };
    return page(ctx, req, (rec) => {
      const out: Record<string, unknown> = {
        id: rec.id,
        marketoGUID: rec.marketoGUID,
        leadId: rec.leadId,
        activityDate: isoSeconds(rec.activityDate),
        activityTypeId: rec.activityTypeId,
      };
      if (rec.primaryAttributeValueId !== undefined)
        out.primaryAttributeValueId = rec.primaryAttributeValueId;
      out.primaryAttributeValue = rec.primaryAttributeValue ?? '';
      out.attributes = [];
      return out;
    });
  },
};

export const activitiesRoutes: Route[] = [types, pagingToken, activities, leadChanges, deletedLeads];
