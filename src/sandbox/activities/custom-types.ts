import { MarketoError } from '../core/envelope.ts';
import type { Clock } from '../model.ts';
import type { ActivityTypeDef } from './log.ts';

/**
 * Custom activity types (spec 5.5 bullet; Marketo's "Custom Activities" docs): created as a draft,
 * usable only once approved, at most 10 per instance and 20 secondary attributes each. Edits go to
 * a draft; approving makes the draft the live version. Only live versions are activity types the
 * rest of the sandbox sees (`activities/types.json`, activity readers, bulk exports), which this
 * registry keeps in sync through the `types` array it is given.
 */

export const MAX_CUSTOM_TYPES = 10;
export const MAX_CUSTOM_ATTRIBUTES = 20;
/** Marketo numbers custom activity types from 100000 up (spec 5.5: "e.g. 100001"). */
const FIRST_CUSTOM_ID = 100001;
/** Marketo's docs: valid attribute data types of custom activity types. */
const DATA_TYPES: ReadonlySet<string> = new Set([
  'string',
  'boolean',
  'integer',
  'float',
  'link',
  'email',
  'currency',
  'date',
  'datetime',
  'phone',
  'text',
]);
/** Marketo's docs: API names are alphanumeric, at most 255 long (underscores seen in the wild, e.g. `_c`). */
const API_NAME_RE = /^[A-Za-z0-9_]{1,255}$/;
/** Marketo's docs: display names take letters, digits, spaces and underscores, with at least one letter. */
const DISPLAY_NAME_RE = /^(?=.*[A-Za-z])[A-Za-z0-9 _]+$/;

export interface CustomAttribute {
  apiName: string;
  name: string;
  description?: string;
  dataType: string;
}

/** One version (draft or live) of a custom type. */
export interface TypeVersion {
  name: string;
  description?: string;
  triggerName: string;
  filterName: string;
  primaryAttribute: CustomAttribute;
  attributes: CustomAttribute[];
}

export interface CustomActivityType {
  id: number;
  apiName: string;
  createdAt: number;
  updatedAt: number;
  /** The live version, once approved. */
  approved?: TypeVersion;
  /** Pending changes (or the only version of a never-approved type). */
  draft?: TypeVersion;
}

export type CustomTypeStatus = 'draft' | 'approved' | 'approved with draft';

export function statusOf(t: CustomActivityType): CustomTypeStatus {
  if (!t.approved) return 'draft';
  return t.draft ? 'approved with draft' : 'approved';
}

/** `Seconds Watched` → `secondsWatched`: API names for seeded attributes that only have display names. */
function camelCase(name: string): string {
  const words = name.split(/[^A-Za-z0-9]+/).filter((w) => w !== '');
  return words.map((w, i) => (i === 0 ? w.toLowerCase() : w[0]!.toUpperCase() + w.slice(1))).join('');
}

function text(body: Record<string, unknown>, key: string, required: boolean): string | undefined {
  const v = body[key];
  if (v === undefined || v === null || (typeof v === 'string' && v.trim() === '')) {
    if (required) throw new MarketoError('701', `${key} cannot be blank`);
    return undefined;
  }
  if (typeof v !== 'string') throw new MarketoError('1003', `Invalid value for '${key}'`);
  return v;
}

function objectOf(v: unknown, what: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw new MarketoError('1003', `${what} must be an object`);
  return v as Record<string, unknown>;
}

/** An attribute from a request body; `defaultType` applies to the primary attribute only. */
function parseAttribute(raw: unknown, defaultType?: string): CustomAttribute {
  const o = objectOf(raw, 'attribute');
  const apiName = text(o, 'apiName', true)!;
  if (!API_NAME_RE.test(apiName)) throw new MarketoError('1003', `Invalid apiName '${apiName}'`);
  const name = text(o, 'name', true)!;
  const dataType = text(o, 'dataType', defaultType === undefined) ?? defaultType!;
  if (!DATA_TYPES.has(dataType)) throw new MarketoError('1003', `Invalid dataType '${dataType}'`);
  const attr: CustomAttribute = { apiName, name, dataType };
  const description = text(o, 'description', false);
  if (description !== undefined) attr.description = description;
  return attr;
}

function cloneVersion(v: TypeVersion): TypeVersion {
  return {
    ...v,
    primaryAttribute: { ...v.primaryAttribute },
    attributes: v.attributes.map((a) => ({ ...a })),
  };
}

/** The activity type `activities/types.json` lists for a live custom type. */
function typeDef(t: CustomActivityType, v: TypeVersion): ActivityTypeDef {
  const def: ActivityTypeDef = {
    id: t.id,
    name: v.name,
    description: v.description ?? '',
    apiName: t.apiName,
    primaryAttribute: { name: v.primaryAttribute.name, dataType: v.primaryAttribute.dataType },
    attributes: v.attributes.map((a) => ({ name: a.name, dataType: a.dataType })),
  };
  return def;
}

export class CustomActivityTypes {
  /** By lower-cased API name: Marketo API names do not differ by case alone. */
  private readonly byName = new Map<string, CustomActivityType>();
  private nextId = FIRST_CUSTOM_ID;

  /** `types` is the activity log's type list, which this keeps in step with approvals and deletes. */
  constructor(
    private readonly types: ActivityTypeDef[],
    private readonly clock: Clock,
  ) {}

  /** Forget API-made types; seeded types with an API name become approved custom types. */
  reset(asOf: number): void {
    this.byName.clear();
    this.nextId = FIRST_CUSTOM_ID;
    for (const def of this.types) {
      if (def.apiName === undefined) continue;
      const primary = def.primaryAttribute ?? { name: 'Name', dataType: 'string' };
      const version: TypeVersion = {
        name: def.name,
        description: def.description,
        triggerName: def.name,
        filterName: def.name,
        primaryAttribute: {
          apiName: camelCase(primary.name),
          name: primary.name,
          dataType: primary.dataType,
        },
        attributes: def.attributes.map((a) => ({
          apiName: camelCase(a.name),
          name: a.name,
          dataType: a.dataType,
        })),
      };
      this.byName.set(def.apiName.toLowerCase(), {
        id: def.id,
        apiName: def.apiName,
        createdAt: asOf,
        updatedAt: asOf,
        approved: version,
      });
      this.nextId = Math.max(this.nextId, def.id + 1);
    }
  }

  /** Every custom type, ascending id. */
  list(): CustomActivityType[] {
    return [...this.byName.values()].sort((a, b) => a.id - b.id);
  }

  get(apiName: string): CustomActivityType | undefined {
    return this.byName.get(apiName.toLowerCase());
  }

  /** A custom type by id, only when it has a live version (activities can be added to it). */
  liveById(id: number): CustomActivityType | undefined {
    for (const t of this.byName.values()) if (t.id === id && t.approved) return t;
    return undefined;
  }

  /** The type or 1013, as Marketo answers for an object looked up by a key that matches nothing. */
  mustGet(apiName: string): CustomActivityType {
    const t = this.get(apiName);
    if (!t) throw new MarketoError('1013', 'Object not found');
    return t;
  }

  /** Create Custom Activity Type: a draft; 1027 past the 10-type limit, 1017 for a taken name. */
  create(bodyRaw: unknown): CustomActivityType {
    const body = objectOf(bodyRaw ?? {}, 'body');
    const apiName = text(body, 'apiName', true)!;
    if (!API_NAME_RE.test(apiName)) throw new MarketoError('1003', `Invalid apiName '${apiName}'`);
    const name = text(body, 'name', true)!;
    if (!DISPLAY_NAME_RE.test(name)) throw new MarketoError('1003', `Invalid name '${name}'`);
    const triggerName = text(body, 'triggerName', true)!;
    const filterName = text(body, 'filterName', true)!;
    if (body.primaryAttribute === undefined || body.primaryAttribute === null)
      throw new MarketoError('701', 'primaryAttribute cannot be blank');
    const primaryAttribute = parseAttribute(body.primaryAttribute, 'string');
    if (this.byName.size >= MAX_CUSTOM_TYPES)
      throw new MarketoError('1027', 'Max Activity Type Limit Reached');
    if (this.get(apiName)) throw new MarketoError('1017', `Activity type '${apiName}' already exists`);
    // Marketo's docs: trigger and filter names must be unique.
    for (const t of this.byName.values()) {
      const v = t.draft ?? t.approved!;
      if (v.triggerName === triggerName)
        throw new MarketoError('1017', `Trigger name '${triggerName}' already exists`);
      if (v.filterName === filterName)
        throw new MarketoError('1017', `Filter name '${filterName}' already exists`);
    }
    const draft: TypeVersion = { name, triggerName, filterName, primaryAttribute, attributes: [] };
    const description = text(body, 'description', false);
    if (description !== undefined) draft.description = description;
    // Not in Marketo's create body (attributes have their own endpoint), accepted for convenience.
    if (body.attributes !== undefined) this.appendAttributes(draft, body.attributes);
    const now = this.clock.now();
    const t: CustomActivityType = { id: this.nextId++, apiName, createdAt: now, updatedAt: now, draft };
    this.byName.set(apiName.toLowerCase(), t);
    return t;
  }

  /** Create Custom Activity Type Attributes: added to the draft; 1028 past 20 attributes. */
  addAttributes(apiName: string, bodyRaw: unknown): CustomActivityType {
    const t = this.mustGet(apiName);
    const body = objectOf(bodyRaw ?? {}, 'body');
    const draft = (t.draft ??= cloneVersion(t.approved!));
    this.appendAttributes(draft, body.attributes);
    t.updatedAt = this.clock.now();
    return t;
  }

  private appendAttributes(draft: TypeVersion, raw: unknown): void {
    if (!Array.isArray(raw) || raw.length === 0) throw new MarketoError('701', 'attributes cannot be blank');
    const added = raw.map((a) => parseAttribute(a));
    if (draft.attributes.length + added.length > MAX_CUSTOM_ATTRIBUTES)
      throw new MarketoError('1028', 'Max field limit reached');
    const taken = new Set([draft.primaryAttribute, ...draft.attributes].map((a) => a.apiName.toLowerCase()));
    for (const a of added) {
      const key = a.apiName.toLowerCase();
      if (taken.has(key)) throw new MarketoError('1017', `Attribute '${a.apiName}' already exists`);
      taken.add(key);
    }
    draft.attributes.push(...added);
  }

  /** Approve: the draft goes live (709 when there is no draft, spec 3.1). */
  approve(apiName: string): CustomActivityType {
    const t = this.mustGet(apiName);
    if (!t.draft) throw new MarketoError('709', `Activity type '${t.apiName}' has no draft to approve`);
    t.approved = t.draft;
    t.draft = undefined;
    t.updatedAt = this.clock.now();
    this.unlist(t.id);
    const def = typeDef(t, t.approved);
    const at = this.types.findIndex((d) => d.id > t.id);
    if (at < 0) this.types.push(def);
    else this.types.splice(at, 0, def);
    return t;
  }

  /** Delete: gone from the registry and from the activity types; recorded activities stay in the log. */
  remove(apiName: string): CustomActivityType {
    const t = this.mustGet(apiName);
    this.byName.delete(t.apiName.toLowerCase());
    this.unlist(t.id);
    return t;
  }

  private unlist(id: number): void {
    const i = this.types.findIndex((d) => d.id === id);
    if (i >= 0) this.types.splice(i, 1);
  }
}
