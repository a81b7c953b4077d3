import { MarketoError, reason, type EnvelopeBody, type Reason } from '../core/envelope.ts';
import { inputList, requestInput } from '../core/input.ts';
import { SCHEMA, SCHEMA_CUSTOM, type Permission, type RequestContext, type Route } from '../core/route.ts';
import type { FieldDataType, FieldDef } from '../model.ts';
import { CUSTOM_DATA_TYPES, customFieldDef } from './fields.ts';
import { decodePositionToken, encodePositionToken } from './paging.ts';
import type { LeadSchema } from './schema.ts';

/**
 * The lead field schema endpoints (spec 5.1 "Field schema"): browse and get field metadata, create
 * custom fields, update a field. Created fields become lead fields of the instance at once
 * (describe, reads, Sync Leads, exports), see LeadSchema.
 *
 * Permissions: Marketo has one permission for standard fields and one for custom fields; a route needs
 * either, and each field is then checked against the one of its kind (browse leaves out what the role
 * does not cover, single-field calls answer 603).
 */

/** Browse: default and largest `batchSize` (spec 5.1). */
const MAX_BATCH = 300;
/** Create: fields per call (spec 5.1). */
const MAX_CREATE = 100;
/** First value of browse tokens, so a token of another reader is refused. */
const TOKEN_KIND = 0x5346;
/** REST names: start with a letter; letters, digits and underscores only. */
const NAME_RE = /^[A-Za-z][A-Za-z0-9_]*$/;
const MAX_NAME = 255;
const MAX_DISPLAY_NAME = 255;
/** The types describe gives a length for, and the length a new one gets unless told. */
const LENGTH_TYPES = new Set<FieldDataType>(['string', 'email', 'phone', 'url']);
const DEFAULT_LENGTH = 255;
/** Text-like types: their values are HTML-encoded in emails unless the field says otherwise. */
const HTML_TYPES = new Set<FieldDataType>(['string', 'text', 'email', 'phone', 'url']);
/** Attributes an update may never change, and those only custom fields may change. */
const FIXED = ['name', 'dataType', 'length', 'isCustom'] as const;
const FIXED_STANDARD = ['displayName', 'isHidden'] as const;

type Item = Record<string, unknown>;

/** A record-level outcome: the item is skipped with this reason. */
class Skip {
  constructor(readonly reason: Reason) {}
}

function isPlainObject(v: unknown): v is Item {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function show(v: unknown): string {
  return typeof v === 'string' ? v : JSON.stringify(v);
}

/** A field as the schema endpoints show it; the stock table leaves the schema attributes to defaults. */
export function schemaItem(f: FieldDef): Item {
  const item: Item = {
    displayName: f.displayName,
    name: f.name,
    description: f.description ?? null,
    dataType: f.dataType,
  };
  if (f.length !== undefined) item.length = f.length;
  item.isHidden = f.hidden ?? false;
  item.isHtmlEncodingInEmail = f.htmlEncodingInEmail ?? HTML_TYPES.has(f.dataType);
  // Stock standard fields hold personal data and are flagged so; a custom field is not unless told.
  item.isSensitive = f.sensitive ?? !f.custom;
  item.isCustom = f.custom;
  return item;
}

function permissionFor(f: { custom: boolean }): Permission {
  return f.custom ? 'readWriteSchemaCustomField' : 'readWriteSchemaStandardField';
}

function covers(ctx: RequestContext, f: { custom: boolean }): boolean {
  return ctx.inst.permissionsOf(ctx.user).has(permissionFor(f));
}

function schemaOf(ctx: RequestContext): LeadSchema {
  return ctx.inst.leads.schema;
}

/** The field of the path, or 1006 (unknown name, spec 3.2) / 603 (the role does not cover its kind). */
function pathField(ctx: RequestContext): FieldDef {
  const name = ctx.params.name!;
  const f = schemaOf(ctx).field(name);
  if (!f) throw new MarketoError('1006', `Field '${name}' not found`);
  if (!covers(ctx, f)) throw new MarketoError('603');
  return f;
}

function batchSize(ctx: RequestContext): number {
  const n = ctx.query.int('batchSize') ?? MAX_BATCH;
  if (n < 1 || n > MAX_BATCH)
    throw new MarketoError('1003', `Invalid value for batchSize: ${n}, must be 1 to ${MAX_BATCH}`);
  return n;
}

function tokenPosition(ctx: RequestContext): number {
  const token = ctx.query.get('nextPageToken');
  if (token === undefined || token === '') return 0;
  const values = decodePositionToken(token);
  if (!values || values.length !== 2 || values[0] !== TOKEN_KIND)
    throw new MarketoError('1003', 'Invalid value for nextPageToken');
  return values[1]!;
}

/**
 * Browse: fields in describe order, a position token while more follow. Fields are only ever
 * appended, so a position into the list stays valid while fields are created between pages.
 */
function browse(ctx: RequestContext): EnvelopeBody {
  const size = batchSize(ctx);
  const from = tokenPosition(ctx);
  const visible = schemaOf(ctx).fields.filter((f) => covers(ctx, f));
  const page = visible.slice(from, from + size);
  const next = from + page.length;
  const moreResult = next < visible.length;
  const out: EnvelopeBody = { result: page.map(schemaItem), moreResult };
  if (moreResult) out.nextPageToken = encodePositionToken([TOKEN_KIND, next]);
  return out;
}

function required(item: Item, key: string): unknown {
  const v = item[key];
  if (v === undefined || v === null || v === '')
    throw new Skip(reason('1002', `Missing value for the required parameter '${key}'`));
  return v;
}

function invalid(key: string, v: unknown): Skip {
  return new Skip(reason('1003', `Invalid value '${show(v)}' for '${key}'`));
}

function optionalBoolean(item: Item, key: string): boolean | undefined {
  const v = item[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'boolean') throw invalid(key, v);
  return v;
}

function optionalDescription(item: Item): string | null | undefined {
  const v = item.description;
  if (v === undefined || v === null) return v;
  if (typeof v !== 'string') throw invalid('description', v);
  return v === '' ? null : v;
}

/** A display name as given (trimmed), or 1003: blank, too long or holding control characters. */
function checkDisplayName(v: unknown): string {
  const control = (t: string) => [...t].some((c) => c.charCodeAt(0) < 32);
  if (typeof v !== 'string' || v.trim() === '' || v.length > MAX_DISPLAY_NAME || control(v))
    throw invalid('displayName', v);
  return v.trim();
}

/** `input` of a create call: 701 when absent (spec 3.1), 1003 when not a list or too long (spec 3.2). */
function createInput(body: unknown): unknown[] {
  return inputList(requestInput(body).input, MAX_CREATE);
}

/** Names (lower-cased) created earlier in the same call: a repeat is a duplicate in the input. */
interface CallNames {
  names: Set<string>;
  displayNames: Set<string>;
}

function createOne(schema: LeadSchema, raw: unknown, seen: CallNames): FieldDef {
  if (!isPlainObject(raw)) throw new Skip(reason('1003', 'Invalid data'));
  const name = required(raw, 'name');
  const displayName = checkDisplayName(required(raw, 'displayName'));
  const dataType = required(raw, 'dataType');
  if (typeof name !== 'string' || name.length > MAX_NAME || !NAME_RE.test(name)) throw invalid('name', name);
  if (typeof dataType !== 'string' || !CUSTOM_DATA_TYPES.has(dataType as FieldDataType))
    throw new Skip(reason('1003', `Invalid dataType '${show(dataType)}'`));
  const type = dataType as FieldDataType;
  let length: number | null = null;
  if (LENGTH_TYPES.has(type)) {
    const v = raw.length ?? DEFAULT_LENGTH;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > DEFAULT_LENGTH)
      throw invalid('length', v);
    length = v;
  }
  const description = optionalDescription(raw);
  const hidden = optionalBoolean(raw, 'isHidden');
  const html = optionalBoolean(raw, 'isHtmlEncodingInEmail');
  const sensitive = optionalBoolean(raw, 'isSensitive');

  if (seen.names.has(name.toLowerCase()) || seen.displayNames.has(displayName.toLowerCase()))
    throw new Skip(reason('1036', 'Duplicate object found in input'));
  if (schema.nameTaken(name)) throw new Skip(reason('1017', `Field '${name}' already exists`));
  if (schema.displayNameTaken(displayName))
    throw new Skip(reason('1017', `A field with display name '${displayName}' already exists`));

  const def = customFieldDef(schema.nextCustomId(), name, displayName, type, length);
  def.description = description ?? null;
  def.hidden = hidden ?? false;
  def.htmlEncodingInEmail = html ?? HTML_TYPES.has(type);
  def.sensitive = sensitive ?? false;
  schema.add(def);
  seen.names.add(name.toLowerCase());
  seen.displayNames.add(displayName.toLowerCase());
  return def;
}

/** Create custom fields, each item on its own (spec 3: record-level `created` / `skipped`). */
function create(ctx: RequestContext): EnvelopeBody {
  const input = createInput(ctx.body);
  const schema = schemaOf(ctx);
  const seen: CallNames = { names: new Set(), displayNames: new Set() };
  const result = input.map((raw) => {
    try {
      return { name: createOne(schema, raw, seen).name, status: 'created' };
    } catch (err) {
      if (!(err instanceof Skip)) throw err;
      const name = isPlainObject(raw) && typeof raw.name === 'string' ? raw.name : undefined;
      return { ...(name !== undefined ? { name } : {}), status: 'skipped', reasons: [err.reason] };
    }
  });
  return { result };
}

/** `input` of an update: one field object, bare or as the one element of a list (Adobe's examples). */
function updateInput(body: unknown): Item {
  let { input } = requestInput(body);
  if (Array.isArray(input)) {
    if (input.length !== 1) throw new MarketoError('1003', 'Input must hold exactly one field');
    input = input[0];
  }
  if (!isPlainObject(input)) throw new MarketoError('1003', "Invalid value for 'input'");
  return input;
}

/**
 * The updated copy of `f`. What an update may not change (a field's name, type, length and kind;
 * a standard field's display name and visibility) is accepted only when sent unchanged. Unknown
 * attributes are ignored.
 */
function updated(schema: LeadSchema, f: FieldDef, patch: Item): FieldDef {
  const current = schemaItem(f);
  const fixed: readonly string[] = f.custom ? FIXED : [...FIXED, ...FIXED_STANDARD];
  for (const key of fixed) {
    if (patch[key] !== undefined && patch[key] !== current[key])
      throw new Skip(reason('1003', `Attribute '${key}' of field '${f.name}' cannot be updated`));
  }
  const next: FieldDef = { ...f };
  if (patch.displayName !== undefined && patch.displayName !== f.displayName) {
    const displayName = checkDisplayName(patch.displayName);
    if (schema.displayNameTaken(displayName, f.name))
      throw new Skip(reason('1017', `A field with display name '${displayName}' already exists`));
    next.displayName = displayName;
  }
  const description = optionalDescription(patch);
  if (description !== undefined) next.description = description;
  const hidden = optionalBoolean(patch, 'isHidden');
  if (hidden !== undefined) next.hidden = hidden;
  const html = optionalBoolean(patch, 'isHtmlEncodingInEmail');
  if (html !== undefined) next.htmlEncodingInEmail = html;
  const sensitive = optionalBoolean(patch, 'isSensitive');
  if (sensitive !== undefined) next.sensitive = sensitive;
  return next;
}

function update(ctx: RequestContext): EnvelopeBody {
  const f = pathField(ctx);
  const patch = updateInput(ctx.body);
  const schema = schemaOf(ctx);
  try {
    schema.replace(updated(schema, f, patch));
    return { result: [{ name: f.name, status: 'updated' }] };
  } catch (err) {
    if (!(err instanceof Skip)) throw err;
    return { result: [{ name: f.name, status: 'skipped', reasons: [err.reason] }] };
  }
}

export const leadSchemaRoutes: Route[] = [
  {
    method: 'GET',
    path: '/rest/v1/leads/schema/fields.json',
    permission: SCHEMA,
    body: 'none',
    handler: browse,
  },
  {
    method: 'GET',
    path: '/rest/v1/leads/schema/fields/:name.json',
    permission: SCHEMA,
    body: 'none',
    handler: (ctx) => ({ result: [schemaItem(pathField(ctx))] }),
  },
  // Only custom fields can be created: the custom-field permission is the one that counts.
  {
    method: 'POST',
    path: '/rest/v1/leads/schema/fields.json',
    permission: SCHEMA_CUSTOM,
    body: 'json',
    handler: create,
  },
  {
    method: 'POST',
    path: '/rest/v1/leads/schema/fields/:name.json',
    permission: SCHEMA,
    body: 'json',
    handler: update,
  },
];
