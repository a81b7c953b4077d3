import { isoSeconds, MarketoError, reason, type EnvelopeBody } from '../core/envelope.ts';
import { READ_LEAD, WRITE_LEAD, type Params, type RequestContext, type Route } from '../core/route.ts';
import { decodePositionToken, encodePositionToken } from '../leads/paging.ts';
import { projectLead, requestedFields } from '../leads/routes.ts';
import { T } from '../activities/types.ts';
import type { StaticListInfo } from './lists.ts';

/** Static list endpoints (spec 5.6) and the list member reader (spec 5.2). */

const MAX_BATCH = 300;
const MAX_IDS = 300;
/** First value of this module's position tokens, so a token of another reader is refused. */
const TOKEN_KIND = { lists: 0x4c49, members: 0x4c4d, memberships: 0x4c53 } as const;

function tokenPosition(q: Params, kind: keyof typeof TOKEN_KIND): number {
  const token = q.get('nextPageToken');
  if (token === undefined || token === '') return 0;
  const values = decodePositionToken(token);
  if (!values || values.length !== 2 || values[0] !== TOKEN_KIND[kind])
    throw new MarketoError('1003', 'Invalid nextPageToken');
  return values[1]!;
}

function positionToken(kind: keyof typeof TOKEN_KIND, last: number): string {
  return encodePositionToken([TOKEN_KIND[kind], last]);
}

function batchSize(q: Params): number {
  const n = q.int('batchSize');
  if (n === undefined) return MAX_BATCH;
  if (n < 1) throw new MarketoError('1003', `Invalid value '${n}' for 'batchSize'`);
  return Math.min(n, MAX_BATCH);
}

function listIdOf(ctx: RequestContext): number {
  const raw = ctx.params.listId ?? ctx.params.id ?? '';
  const id = /^\d{1,15}$/.test(raw) ? Number(raw) : NaN;
  if (Number.isNaN(id) || !ctx.inst.lists.exists(id)) throw new MarketoError('1013', 'Object not found');
  return id;
}

function renderList(l: StaticListInfo): Record<string, unknown> {
  const out: Record<string, unknown> = { id: l.id, name: l.name };
  if (l.description !== undefined) out.description = l.description;
  if (l.programName !== undefined) out.programName = l.programName;
  out.workspaceName = l.workspaceName;
  out.createdAt = isoSeconds(l.createdAt);
  out.updatedAt = isoSeconds(l.updatedAt);
  return out;
}

/** Lead ids from `id=1&id=2` / `id=1,2` or from a JSON body `{"input":[{"id":1}]}`, in order. */
function leadIdsOf(ctx: RequestContext): number[] {
  const raw: unknown[] = [...(ctx.query.list('id') ?? [])];
  const body = ctx.body;
  if (body !== undefined && body !== null) {
    const input = typeof body === 'object' ? (body as { input?: unknown }).input : undefined;
    if (!Array.isArray(input)) throw new MarketoError('1003', 'input must be an array of {"id": leadId}');
    for (const item of input)
      raw.push(typeof item === 'object' && item !== null ? (item as { id?: unknown }).id : item);
  }
  if (raw.length === 0) throw new MarketoError('701', 'id cannot be blank');
  if (raw.length > MAX_IDS) throw new MarketoError('1003', `Maximum of ${MAX_IDS} ids allowed`);
  return raw.map((v) => {
    const n =
      typeof v === 'number' ? v : typeof v === 'string' && /^\d{1,15}$/.test(v.trim()) ? Number(v) : NaN;
    if (!Number.isInteger(n) || n < 0)
      throw new MarketoError('1001', `Invalid value '${String(v)}'. Required of type 'Integer'`);
    return n;
  });
}

function listActivity(ctx: RequestContext, typeId: number, leadId: number, list: StaticListInfo): void {
  ctx.inst.activities.record({
    leadId,
    activityTypeId: typeId,
    primaryAttributeValueId: list.id,
    primaryAttributeValue: list.name,
    attributes: [
      { name: 'API Method Name', value: typeId === T.ADD_TO_LIST ? 'addLeadsToList' : 'removeLeadsFromList' },
      { name: 'Modifying User', value: ctx.user.email },
      { name: 'Request Id', value: ctx.requestId },
      { name: 'Source', value: 'Web service API' },
    ],
  });
}

function addLeads(ctx: RequestContext): EnvelopeBody {
  const listId = listIdOf(ctx);
  const ids = leadIdsOf(ctx);
  const { lists, leads } = ctx.inst;
  const info = lists.get(listId)!;
  return {
    result: ids.map((id) => {
      if (!leads.exists(id)) return { id, status: 'skipped', reasons: [reason('1004')] };
      // Re-adding a member succeeds but is not a new activity.
      if (lists.add(listId, id)) listActivity(ctx, T.ADD_TO_LIST, id, info);
      return { id, status: 'added' };
    }),
  };
}

function removeLeads(ctx: RequestContext): EnvelopeBody {
  const listId = listIdOf(ctx);
  const ids = leadIdsOf(ctx);
  const { lists, leads } = ctx.inst;
  const info = lists.get(listId)!;
  return {
    result: ids.map((id) => {
      if (!leads.exists(id)) return { id, status: 'skipped', reasons: [reason('1004')] };
      if (!lists.remove(listId, id))
        return { id, status: 'skipped', reasons: [reason('1015', 'Lead not in list')] };
      listActivity(ctx, T.REMOVE_FROM_LIST, id, info);
      return { id, status: 'removed' };
    }),
  };
}

function listMembers(ctx: RequestContext): EnvelopeBody {
  const listId = listIdOf(ctx);
  const fields = requestedFields(ctx.query, ctx.inst.leads);
  const size = batchSize(ctx.query);
  const after = tokenPosition(ctx.query, 'members');
  const result: Record<string, unknown>[] = [];
  let last = after;
  let more = false;
  for (const id of ctx.inst.lists.membersAfter(listId, after)) {
    if (result.length >= size) {
      more = true;
      break;
    }
    const lead = ctx.inst.leads.get(id);
    if (!lead) continue;
    result.push(projectLead(lead, fields));
    last = id;
  }
  const body: EnvelopeBody = { result };
  if (more) body.nextPageToken = positionToken('members', last);
  return body;
}

function browseLists(ctx: RequestContext): EnvelopeBody {
  const q = ctx.query;
  const ids = q.list('id')?.map((v) => {
    if (!/^\d{1,15}$/.test(v)) throw new MarketoError('1003', `Invalid value '${v}' for 'id'`);
    return Number(v);
  });
  const names = q.list('name');
  const programs = q.list('programName');
  const workspaces = q.list('workspaceName');
  const size = batchSize(q);
  const after = tokenPosition(q, 'lists');
  const matches = ctx.inst.lists
    .all()
    .filter(
      (l) =>
        l.id > after &&
        (!ids || ids.includes(l.id)) &&
        (!names || names.includes(l.name)) &&
        (!programs || (l.programName !== undefined && programs.includes(l.programName))) &&
        (!workspaces || workspaces.includes(l.workspaceName)),
    );
  const body: EnvelopeBody = { result: matches.slice(0, size).map(renderList) };
  if (matches.length > size) body.nextPageToken = positionToken('lists', matches[size - 1]!.id);
  return body;
}

/**
 * The static lists a lead is in (`GET /rest/v1/leads/{id}/listMembership.json`, spec 5.2), ascending id,
 * `batchSize` at most 300 with a position `nextPageToken`. Unknown or deleted lead: 1004.
 */
function leadListMembership(ctx: RequestContext): EnvelopeBody {
  const raw = ctx.params.id ?? '';
  const leadId = /^\d{1,15}$/.test(raw) ? Number(raw) : NaN;
  if (Number.isNaN(leadId)) throw new MarketoError('1003', `Invalid value '${raw}' for 'id'`);
  if (!ctx.inst.leads.exists(leadId)) throw new MarketoError('1004', `Lead '${leadId}' not found`);
  const after = tokenPosition(ctx.query, 'memberships');
  const size = batchSize(ctx.query);
  const { lists } = ctx.inst;
  const matches = lists.all().filter((l) => l.id > after && lists.has(l.id, leadId));
  const body: EnvelopeBody = { result: matches.slice(0, size).map(renderList) };
  if (matches.length > size) body.nextPageToken = positionToken('memberships', matches[size - 1]!.id);
  return body;
}

export const listsRoutes: Route[] = [
  {
    method: 'GET',
    path: '/rest/v1/leads/:id/listMembership.json',
    permission: READ_LEAD,
    body: 'none',
    handler: leadListMembership,
  },
  { method: 'GET', path: '/rest/v1/lists.json', permission: READ_LEAD, body: 'none', handler: browseLists },
  {
    method: 'GET',
    path: '/rest/v1/lists/:id.json',
    permission: READ_LEAD,
    body: 'none',
    handler: (ctx) => ({ result: [renderList(ctx.inst.lists.get(listIdOf(ctx))!)] }),
  },
  {
    method: 'GET',
    path: '/rest/v1/lists/:listId/leads/ismember.json',
    permission: READ_LEAD,
    body: 'none',
    handler: (ctx) => {
      const listId = listIdOf(ctx);
      const ids = leadIdsOf(ctx);
      const { lists, leads } = ctx.inst;
      return {
        result: ids.map((id) =>
          !leads.exists(id)
            ? { id, status: 'skipped', reasons: [reason('1004')] }
            : { id, status: lists.has(listId, id) ? 'memberof' : 'notmemberof' },
        ),
      };
    },
  },
  {
    method: 'POST',
    path: '/rest/v1/lists/:listId/leads.json',
    permission: WRITE_LEAD,
    body: 'json',
    // Clients that cannot send a DELETE with a body post with `_method=DELETE`.
    handler: (ctx) =>
      ctx.query.get('_method')?.toUpperCase() === 'DELETE' ? removeLeads(ctx) : addLeads(ctx),
  },
  {
    method: 'DELETE',
    path: '/rest/v1/lists/:listId/leads.json',
    permission: WRITE_LEAD,
    body: 'json',
    handler: removeLeads,
  },
  {
    method: 'GET',
    path: '/rest/v1/lists/:listId/leads.json',
    permission: READ_LEAD,
    body: 'none',
    handler: listMembers,
  },
  {
    method: 'GET',
    path: '/rest/v1/list/:listId/leads.json',
    permission: READ_LEAD,
    body: 'none',
    handler: listMembers,
  },
];
