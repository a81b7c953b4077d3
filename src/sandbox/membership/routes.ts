import { isoSeconds, MarketoError, type EnvelopeBody } from '../core/envelope.ts';
import { Params, READ_LEAD, type RequestContext, type Route } from '../core/route.ts';
import { decodePositionToken, encodePositionToken } from '../leads/paging.ts';
import { requestedFields } from '../leads/fields.ts';
import type { CampaignMember, ProgramMember } from './model.ts';
import { campaignsOfLead, programMembersAfter, programsOfLead } from './reads.ts';

/**
 * Program and smart campaign membership readers (spec 5.2 "Other readers"):
 * - `GET /rest/v1/leads/programs/{programId}.json`: members of a program, each lead with `membership`;
 * - `GET /rest/v1/leads/{id}/programMembership.json`: programs of a lead (optional
 *   `filterType=programId&filterValues=…`, Marketo's docs: "filter on program Id");
 * - `GET /rest/v1/leads/{id}/smartCampaignMembership.json`: smart campaigns of a lead.
 * All page with `batchSize` (≤ 300) and position `nextPageToken`s (spec 5.4) and need a lead read
 * permission (membership is lead data).
 */

const MAX_BATCH = 300;
const ID_RE = /^\d{1,15}$/;
/** First value of each reader's tokens; the second pins the program or lead the token belongs to. */
const TOKEN_KIND = { members: 0x504d, programs: 0x5050, campaigns: 0x5343 } as const;

function batchSize(q: Params): number {
  const n = q.int('batchSize');
  if (n === undefined) return MAX_BATCH;
  if (n < 1) throw new MarketoError('1003', `Invalid value '${n}' for 'batchSize'`);
  return Math.min(n, MAX_BATCH);
}

/** The position after which a page starts (0 without a token); a token of another reader or owner fails. */
function tokenPosition(q: Params, kind: keyof typeof TOKEN_KIND, owner: number): number {
  const token = q.get('nextPageToken');
  if (token === undefined || token === '') return 0;
  const v = decodePositionToken(token);
  if (!v || v.length !== 3 || v[0] !== TOKEN_KIND[kind] || v[1] !== owner)
    throw new MarketoError('1003', 'Invalid nextPageToken');
  return v[2]!;
}

function positionToken(kind: keyof typeof TOKEN_KIND, owner: number, last: number): string {
  return encodePositionToken([TOKEN_KIND[kind], owner, last]);
}

/** A live lead's id from the path; malformed → 1003, unknown or deleted → 1004 (as listMembership). */
function leadIdOf(ctx: RequestContext): number {
  const raw = ctx.params.id ?? '';
  if (!ID_RE.test(raw)) throw new MarketoError('1003', `Invalid value '${raw}' for 'id'`);
  const id = Number(raw);
  if (!ctx.inst.leads.exists(id)) throw new MarketoError('1004', `Lead '${id}' not found`);
  return id;
}

/** The membership object of a program member, as Get Leads by Program Id prints it. */
function renderMembership(m: ProgramMember): Record<string, unknown> {
  const out: Record<string, unknown> = {
    id: m.programId,
    progressionStatus: m.progressionStatus,
    progressionStatusType: m.progressionStatusType,
    isExhausted: m.engagement?.isExhausted ?? false,
    acquiredBy: m.acquiredBy,
    reachedSuccess: m.reachedSuccess,
    membershipDate: isoSeconds(m.membershipDate),
    updatedAt: isoSeconds(m.updatedAt),
  };
  // Marketo's docs: engagement programs add the member's stream and cadence.
  if (m.engagement) {
    out.stream = m.engagement.stream;
    out.nurtureCadence = m.engagement.nurtureCadence;
  }
  return out;
}

/** A program item of Get Programs by Lead Id (Marketo's documented sample has no status type). */
function renderProgramItem(m: ProgramMember): Record<string, unknown> {
  const out = renderMembership(m);
  delete out.progressionStatusType;
  return out;
}

function renderCampaignItem(m: CampaignMember): Record<string, unknown> {
  return {
    smartCampaignId: m.smartCampaignId,
    createdAt: isoSeconds(m.createdAt),
    updatedAt: isoSeconds(m.updatedAt),
  };
}

/**
 * `fields` of Get Leads by Program Id: lead fields, validated like any lead read (1006). Marketo
 * lists `membership` among the defaults; it is always returned here, so naming it is accepted.
 */
function memberFields(ctx: RequestContext): string[] {
  const named = (ctx.query.list('fields') ?? []).filter((f) => f !== 'membership');
  const p = new Params();
  if (named.length > 0) p.add('fields', named.join(','));
  return requestedFields(p, ctx.inst.leads);
}

function programMembers(ctx: RequestContext): EnvelopeBody {
  const raw = ctx.params.programId ?? '';
  if (!ID_RE.test(raw)) throw new MarketoError('1003', `Invalid value '${raw}' for 'programId'`);
  const programId = Number(raw);
  // Unknown program: the "get … by id" object error of spec 3.2.
  if (!ctx.inst.assets.program(programId)) throw new MarketoError('1013', 'Object not found');
  const fields = memberFields(ctx);
  const size = batchSize(ctx.query);
  const after = tokenPosition(ctx.query, 'members', programId);
  const result: Record<string, unknown>[] = [];
  let last = after;
  let more = false;
  for (const [id, m] of programMembersAfter(ctx.inst, programId, after)) {
    if (result.length >= size) {
      more = true;
      break;
    }
    const lead = ctx.inst.leads.read(id, fields);
    if (!lead) continue;
    result.push({ ...lead, membership: renderMembership(m) });
    last = id;
  }
  const body: EnvelopeBody = { result };
  if (more) body.nextPageToken = positionToken('members', programId, last);
  return body;
}

/** Optional `filterType=programId&filterValues=…` of Get Programs by Lead Id. */
function programFilter(q: Params): Set<number> | undefined {
  const type = q.get('filterType')?.trim();
  if (type === undefined || type === '') return undefined;
  if (type !== 'programId') throw new MarketoError('1011', `Field '${type}' not supported`);
  const values = q.list('filterValues');
  if (!values || values.length === 0) throw new MarketoError('701', 'filterValues cannot be blank');
  if (values.length > MAX_BATCH)
    throw new MarketoError('1003', `Maximum of ${MAX_BATCH} filterValues allowed`);
  return new Set(
    values.map((v) => {
      if (!ID_RE.test(v)) throw new MarketoError('1003', `Invalid value '${v}' for 'filterValues'`);
      return Number(v);
    }),
  );
}

/** One page of a lead's memberships, keyed by object id; `moreResult` as in Marketo's samples. */
function pageOf<T>(
  items: T[],
  key: (item: T) => number,
  render: (item: T) => Record<string, unknown>,
  q: Params,
  kind: 'programs' | 'campaigns',
  leadId: number,
): EnvelopeBody {
  const size = batchSize(q);
  const after = tokenPosition(q, kind, leadId);
  const rest = items.filter((i) => key(i) > after);
  const page = rest.slice(0, size);
  const more = rest.length > size;
  const body: EnvelopeBody = { result: page.map(render), moreResult: more };
  if (more) body.nextPageToken = positionToken(kind, leadId, key(page[page.length - 1]!));
  return body;
}

function leadPrograms(ctx: RequestContext): EnvelopeBody {
  const leadId = leadIdOf(ctx);
  const wanted = programFilter(ctx.query);
  const items = programsOfLead(ctx.inst, leadId).filter((m) => !wanted || wanted.has(m.programId));
  return pageOf(items, (m) => m.programId, renderProgramItem, ctx.query, 'programs', leadId);
}

function leadCampaigns(ctx: RequestContext): EnvelopeBody {
  const leadId = leadIdOf(ctx);
  const items = campaignsOfLead(ctx.inst, leadId);
  return pageOf(items, (m) => m.smartCampaignId, renderCampaignItem, ctx.query, 'campaigns', leadId);
}

export const membershipRoutes: Route[] = [
  {
    method: 'GET',
    path: '/rest/v1/leads/programs/:programId.json',
    permission: READ_LEAD,
    body: 'none',
    handler: programMembers,
  },
  {
    method: 'GET',
    path: '/rest/v1/leads/:id/programMembership.json',
    permission: READ_LEAD,
    body: 'none',
    handler: leadPrograms,
  },
  {
    method: 'GET',
    path: '/rest/v1/leads/:id/smartCampaignMembership.json',
    permission: READ_LEAD,
    body: 'none',
    handler: leadCampaigns,
  },
];
