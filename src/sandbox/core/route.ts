import type { IncomingMessage, ServerResponse } from 'node:http';
import type { EnvelopeBody } from './envelope.ts';
import type { ApiUser, Instance } from './instance.ts';
import { MarketoError } from './envelope.ts';

/**
 * Permissions of Marketo API roles that the sandbox enforces. A route needs one of the listed
 * permissions; `null` means no permission (usage/error statistics). The two schema permissions are
 * Marketo's "Read-Write Schema Standard Field" and "Read-Write Schema Custom Field" (spec 5.1); the
 * two activity metadata ones guard custom activity types.
 */
export type Permission =
  | 'readOnlyLead'
  | 'readWriteLead'
  | 'readOnlyActivity'
  | 'readWriteActivity'
  | 'readOnlyActivityMetadata'
  | 'readWriteActivityMetadata'
  | 'readOnlyAssets'
  | 'readWriteAssets'
  | 'readOnlyCampaign'
  | 'readWriteCampaign'
  | 'executeCampaign'
  | 'readWriteSchemaStandardField'
  | 'readWriteSchemaCustomField'
  | 'readOnlyCustomObject'
  | 'readWriteCustomObject';

export const ALL_PERMISSIONS: readonly Permission[] = [
  'readOnlyLead',
  'readWriteLead',
  'readOnlyActivity',
  'readWriteActivity',
  'readOnlyActivityMetadata',
  'readWriteActivityMetadata',
  'readOnlyAssets',
  'readWriteAssets',
  'readOnlyCampaign',
  'readWriteCampaign',
  'executeCampaign',
  'readWriteSchemaStandardField',
  'readWriteSchemaCustomField',
  'readOnlyCustomObject',
  'readWriteCustomObject',
];

/** Convenience groups: reading needs the read-only or the read-write permission. */
export const READ_LEAD: Permission[] = ['readOnlyLead', 'readWriteLead'];
export const WRITE_LEAD: Permission[] = ['readWriteLead'];
export const READ_ACTIVITY: Permission[] = ['readOnlyActivity', 'readWriteActivity'];
export const WRITE_ACTIVITY: Permission[] = ['readWriteActivity'];
/**
 * Custom activity type metadata (Marketo's endpoint reference: "Read-Only Activity Metadata" for
 * Get/Describe Custom Activity Types, "Read-Write Activity Metadata" for create/approve/delete…);
 * adding custom activities needs "Read-Write Activity" ({@link WRITE_ACTIVITY}).
 */
export const READ_ACTIVITY_METADATA: Permission[] = ['readOnlyActivityMetadata', 'readWriteActivityMetadata'];
export const WRITE_ACTIVITY_METADATA: Permission[] = ['readWriteActivityMetadata'];
export const READ_ASSETS: Permission[] = ['readOnlyAssets', 'readWriteAssets'];
export const WRITE_ASSETS: Permission[] = ['readWriteAssets'];
export const READ_CAMPAIGN: Permission[] = ['readOnlyCampaign', 'readWriteCampaign', 'executeCampaign'];
/** Field schema endpoints: either schema permission; which fields it covers is checked per field. */
export const SCHEMA: Permission[] = ['readWriteSchemaStandardField', 'readWriteSchemaCustomField'];
export const SCHEMA_CUSTOM: Permission[] = ['readWriteSchemaCustomField'];
/** Marketo's "Read-Only Custom Object" / "Read-Write Custom Object": records of custom object types. */
export const READ_CUSTOM_OBJECT: Permission[] = ['readOnlyCustomObject', 'readWriteCustomObject'];
export const WRITE_CUSTOM_OBJECT: Permission[] = ['readWriteCustomObject'];

/** Parsed query (and, for `_method=GET` or form posts, body) parameters; repeated keys keep every value. */
export class Params {
  private readonly map = new Map<string, string[]>();

  static fromSearch(search: string): Params {
    const p = new Params();
    if (search.length > 0) p.addSearch(search);
    return p;
  }

  addSearch(search: string): void {
    for (const [k, v] of new URLSearchParams(search)) this.add(k, v);
  }

  add(key: string, value: string): void {
    const cur = this.map.get(key);
    if (cur) cur.push(value);
    else this.map.set(key, [value]);
  }

  has(key: string): boolean {
    return this.map.has(key);
  }

  /** The first value of a parameter (Marketo takes the first when a scalar is repeated). */
  get(key: string): string | undefined {
    return this.map.get(key)?.[0];
  }

  /**
   * A list parameter as Marketo reads it: comma-separated (`fields=a,b`) and/or repeated
   * (`id=1&id=2`); empty items dropped. Undefined when absent.
   */
  list(key: string): string[] | undefined {
    const vals = this.map.get(key);
    if (!vals) return undefined;
    const out: string[] = [];
    for (const v of vals) for (const part of v.split(',')) if (part.trim() !== '') out.push(part.trim());
    return out;
  }

  /** An integer parameter, or a 1003 error naming it. */
  int(key: string): number | undefined {
    const v = this.get(key);
    if (v === undefined || v === '') return undefined;
    if (!/^-?\d+$/.test(v.trim())) throw new MarketoError('1003', `Invalid value '${v}' for '${key}'`);
    return Number(v);
  }

  keys(): IterableIterator<string> {
    return this.map.keys();
  }
}

export interface RequestContext {
  inst: Instance;
  user: ApiUser;
  clientId: string;
  method: string;
  /** Path below the instance root, e.g. `/rest/v1/leads.json`. */
  path: string;
  /** Named path segments from the route pattern (`:id`). */
  params: Record<string, string>;
  query: Params;
  /** Parsed JSON body (undefined when none). */
  body: unknown;
  /** Form fields of an urlencoded body (asset API posts). */
  form: Params;
  contentType: string;
  requestId: string;
  req: IncomingMessage;
  res: ServerResponse;
}

/** Returned by a handler that wrote the response itself (bulk files). */
export const RAW = Symbol('raw-response');

export type HandlerResult = EnvelopeBody | typeof RAW;

export interface Route {
  method: 'GET' | 'POST' | 'DELETE';
  /** Path pattern below the instance root; `:name` matches one segment (without `.json`). */
  path: string;
  /** Any one of these permissions grants access; `null` = none needed. */
  permission: Permission[] | null;
  /**
   * What the body must be: `json` (application/json, else 612; bad JSON 609), `form`
   * (x-www-form-urlencoded), `any` (JSON or form or none), `none` (ignored).
   */
  body: 'json' | 'form' | 'any' | 'none';
  /** Asset-API envelope: always `errors:[]` and `warnings:[]`. */
  asset?: boolean;
  handler: (ctx: RequestContext) => HandlerResult | Promise<HandlerResult>;
}

export interface CompiledRoute extends Route {
  regex: RegExp;
  names: string[];
}

export function compileRoute(route: Route): CompiledRoute {
  const names: string[] = [];
  const pattern = route.path
    .split('/')
    .map((seg) =>
      seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/:([a-zA-Z]+)/g, (_m, name: string) => {
        names.push(name);
        return '([^/]+?)';
      }),
    )
    .join('/');
  return { ...route, regex: new RegExp(`^${pattern}$`), names };
}
