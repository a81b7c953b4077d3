import { isoSeconds, MarketoError, reason, type EnvelopeBody, type Reason } from '../core/envelope.ts';
import {
  READ_ACTIVITY_METADATA,
  WRITE_ACTIVITY,
  WRITE_ACTIVITY_METADATA,
  type RequestContext,
  type Route,
} from '../core/route.ts';
import type { FieldValue } from '../model.ts';
import { statusOf, type CustomActivityType, type CustomAttribute, type TypeVersion } from './custom-types.ts';
import { parseDateTime } from './token.ts';

/**
 * Custom activity endpoints (spec 5.5 bullet, Marketo's "Custom Activities" docs and endpoint
 * reference): type metadata under `/rest/v1/activities/external/type…` (Read-Only / Read-Write
 * Activity Metadata) and Add Custom Activities, `POST /rest/v1/activities/external.json`
 * (Read-Write Activity), which writes into the instance's activity log so the REST readers and
 * bulk activity exports return the new activities with their type's id.
 */

/** Spec 4: custom activities are a 300-record batch. */
const MAX_RECORDS = 300;
/** Spec 3.2 1049: an activity's attributes may not exceed 65,536 bytes. */
const MAX_ATTRIBUTE_BYTES = 65_536;

function renderAttribute(a: CustomAttribute): Record<string, unknown> {
  const out: Record<string, unknown> = { apiName: a.apiName, name: a.name };
  if (a.description !== undefined) out.description = a.description;
  out.dataType = a.dataType;
  return out;
}

/** The head of a type as Get Custom Activity Types lists it (no attributes). */
function renderHead(t: CustomActivityType, v: TypeVersion): Record<string, unknown> {
  const out: Record<string, unknown> = { id: t.id, apiName: t.apiName, name: v.name };
  if (v.description !== undefined) out.description = v.description;
  out.triggerName = v.triggerName;
  out.filterName = v.filterName;
  out.createdAt = isoSeconds(t.createdAt);
  out.updatedAt = isoSeconds(t.updatedAt);
  out.status = statusOf(t);
  return out;
}

/** A type with its attributes, as describe and the write endpoints return it. */
function renderFull(t: CustomActivityType, v: TypeVersion): Record<string, unknown> {
  const out = renderHead(t, v);
  out.primaryAttribute = renderAttribute(v.primaryAttribute);
  out.attributes = v.attributes.map(renderAttribute);
  return out;
}

/** What write endpoints show: the pending draft if any, else the live version. */
function current(t: CustomActivityType): TypeVersion {
  return t.draft ?? t.approved!;
}

function one(t: CustomActivityType, v: TypeVersion): EnvelopeBody {
  return { result: [renderFull(t, v)] };
}

function apiNameOf(ctx: RequestContext): string {
  return ctx.params.apiName ?? '';
}

function describe(ctx: RequestContext): EnvelopeBody {
  const t = ctx.inst.activities.custom.mustGet(apiNameOf(ctx));
  // Marketo's docs: the approved version by default, the draft with `draft=true`.
  const wantDraft = ctx.query.get('draft')?.toLowerCase() === 'true';
  const v = wantDraft ? (t.draft ?? t.approved!) : (t.approved ?? t.draft!);
  return one(t, v);
}

interface AddInput {
  leadId?: unknown;
  activityDate?: unknown;
  activityTypeId?: unknown;
  apiName?: unknown;
  primaryAttributeValue?: unknown;
  attributes?: unknown;
}

function skipped(r: Reason): Record<string, unknown> {
  return { status: 'skipped', reasons: [r] };
}

function isScalar(v: unknown): v is FieldValue {
  return v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean';
}

/** One record of Add Custom Activities: `added` with the new activity's id, or `skipped` with a reason. */
function addOne(ctx: RequestContext, raw: unknown): Record<string, unknown> {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    return skipped(reason('1003', 'Invalid activity record'));
  const rec = raw as AddInput;
  const { custom, inst } = { custom: ctx.inst.activities.custom, inst: ctx.inst };
  // Marketo's docs name the type by `activityTypeId`; its `apiName` is accepted too.
  let type: CustomActivityType | undefined;
  if (typeof rec.activityTypeId === 'number') type = custom.liveById(rec.activityTypeId);
  else if (typeof rec.activityTypeId === 'string' && /^\d+$/.test(rec.activityTypeId))
    type = custom.liveById(Number(rec.activityTypeId));
  else if (typeof rec.apiName === 'string') {
    const t = custom.get(rec.apiName);
    type = t?.approved ? t : undefined;
  } else return skipped(reason('1002', "Missing value for the required parameter 'activityTypeId'"));
  if (!type) return skipped(reason('1003', 'Activity type not found or not approved'));
  const live = type.approved!;

  if (rec.leadId === undefined || rec.leadId === null)
    return skipped(reason('1002', "Missing value for the required parameter 'leadId'"));
  const leadId = typeof rec.leadId === 'string' && /^\d+$/.test(rec.leadId) ? Number(rec.leadId) : rec.leadId;
  if (typeof leadId !== 'number' || !Number.isSafeInteger(leadId))
    return skipped(reason('1001', `Invalid value '${String(rec.leadId)}'. Required of type 'Integer'`));
  if (!inst.leads.exists(leadId)) return skipped(reason('1004', 'Lead not found'));

  if (typeof rec.activityDate !== 'string' || rec.activityDate.trim() === '')
    return skipped(reason('1002', "Missing value for the required parameter 'activityDate'"));
  const activityDate = parseDateTime(rec.activityDate);
  if (activityDate === undefined)
    return skipped(reason('1001', `Invalid value '${rec.activityDate}'. Required of type 'Datetime'`));

  const primary = rec.primaryAttributeValue;
  if (primary === undefined || primary === null || primary === '')
    return skipped(reason('1002', "Missing value for the required parameter 'primaryAttributeValue'"));
  if (!isScalar(primary)) return skipped(reason('1003', 'primaryAttributeValue must be a scalar'));

  const attributes: { name: string; value: FieldValue; apiName: string }[] = [];
  if (rec.attributes !== undefined && rec.attributes !== null) {
    if (!Array.isArray(rec.attributes)) return skipped(reason('1003', 'attributes must be an array'));
    for (const a of rec.attributes as unknown[]) {
      const item = (typeof a === 'object' && a !== null ? a : {}) as Record<string, unknown>;
      // Marketo's docs: an attribute is named by `apiName` or by `name` (its display name).
      const key = typeof item.apiName === 'string' ? item.apiName : item.name;
      const def =
        typeof key === 'string'
          ? live.attributes.find((d) => d.apiName.toLowerCase() === key.toLowerCase() || d.name === key)
          : undefined;
      if (!def) return skipped(reason('1006', `Field '${String(key)}' not found`));
      if (!isScalar(item.value)) return skipped(reason('1003', `Invalid value for '${def.apiName}'`));
      attributes.push({ name: def.name, value: item.value, apiName: def.apiName });
    }
  }
  if (Buffer.byteLength(JSON.stringify(attributes)) > MAX_ATTRIBUTE_BYTES)
    return skipped(reason('1049', 'Failed to Create Activity'));

  const added = inst.activities.record({
    leadId,
    activityTypeId: type.id,
    activityDate,
    primaryAttributeValue: String(primary),
    attributes,
  });
  return { id: added.id, marketoGUID: added.marketoGUID, status: 'added' };
}

function addActivities(ctx: RequestContext): EnvelopeBody {
  const body = ctx.body;
  const input =
    typeof body === 'object' && body !== null && !Array.isArray(body)
      ? (body as { input?: unknown }).input
      : undefined;
  if (input === undefined || input === null) throw new MarketoError('701', 'input cannot be blank');
  if (!Array.isArray(input)) throw new MarketoError('1003', "Invalid value for 'input'");
  if (input.length === 0) throw new MarketoError('701', 'input cannot be blank');
  if (input.length > MAX_RECORDS)
    throw new MarketoError('1003', `Input size ${input.length} exceeds the maximum of ${MAX_RECORDS}`);
  return { result: input.map((r) => addOne(ctx, r)) };
}

export const customActivityRoutes: Route[] = [
  {
    method: 'GET',
    path: '/rest/v1/activities/external/types.json',
    permission: READ_ACTIVITY_METADATA,
    body: 'none',
    handler: (ctx) => ({
      result: ctx.inst.activities.custom.list().map((t) => renderHead(t, t.approved ?? t.draft!)),
    }),
  },
  {
    method: 'GET',
    path: '/rest/v1/activities/external/type/:apiName/describe.json',
    permission: READ_ACTIVITY_METADATA,
    body: 'none',
    handler: describe,
  },
  {
    method: 'POST',
    path: '/rest/v1/activities/external/type.json',
    permission: WRITE_ACTIVITY_METADATA,
    body: 'json',
    handler: (ctx) => {
      const t = ctx.inst.activities.custom.create(ctx.body);
      return one(t, t.draft!);
    },
  },
  {
    method: 'POST',
    path: '/rest/v1/activities/external/type/:apiName/attributes/create.json',
    permission: WRITE_ACTIVITY_METADATA,
    body: 'json',
    handler: (ctx) => {
      const t = ctx.inst.activities.custom.addAttributes(apiNameOf(ctx), ctx.body);
      return one(t, current(t));
    },
  },
  {
    method: 'POST',
    path: '/rest/v1/activities/external/type/:apiName/approve.json',
    permission: WRITE_ACTIVITY_METADATA,
    body: 'any',
    handler: (ctx) => {
      const t = ctx.inst.activities.custom.approve(apiNameOf(ctx));
      return one(t, t.approved!);
    },
  },
  {
    method: 'POST',
    path: '/rest/v1/activities/external/type/:apiName/delete.json',
    permission: WRITE_ACTIVITY_METADATA,
    body: 'any',
    handler: (ctx) => {
      const t = ctx.inst.activities.custom.remove(apiNameOf(ctx));
      return { result: [{ id: t.id, apiName: t.apiName }] };
    },
  },
  {
    method: 'POST',
    path: '/rest/v1/activities/external.json',
    permission: WRITE_ACTIVITY,
    body: 'json',
    handler: addActivities,
  },
];
