/**
 * Tether's built-in syncs and actions as Nango describes functions (`@nangohq/types` functions/domain:
 * `NangoSyncFunction`, `NangoActionFunction`, `ListedNangoFunction`). Shared by `GET /scripts/config`,
 * the `/integrations/{key}/functions` routes and `GET /providers/{provider}/templates`, so that every
 * route says the same thing about a function (frequency text, deletion tracking, input schema).
 *
 * Functions are provider code compiled into the server (src/marketo/models/, src/marketo/actions/):
 * nothing is deployed, so every integration of a provider has all of that provider's functions from the
 * moment it exists. Each integration may disable some, or not auto-start a sync for new connections
 * (db/integration-functions.ts; `PATCH /integrations/{key}/functions/{name}`): the catalog says the
 * defaults (enabled, auto-started), an integration's list says its settings.
 */
import { z } from 'zod';
import { formatFrequency } from '../engine/sync/frequency.ts';
import {
  syncDefsOf,
  SYNCS_BY_PROVIDER,
  type SyncModelDef,
  type SyncRegistry,
} from '../engine/sync/registry.ts';
import {
  ACTIONS_BY_PROVIDER,
  actionDefsOf,
  actionInputJsonSchema,
  type ActionRegistry,
  type AnyActionDef,
} from '../engine/actions/registry.ts';
import type { Integration } from '../db/integrations.ts';
import { settingsOf, type SettingsMap } from '../db/integration-functions.ts';
import type { RouteContext } from './router.ts';
import { ApiError } from './errors.ts';

export type FunctionType = 'sync' | 'action' | 'on-event';
export type RunnableFunctionType = Exclude<FunctionType, 'on-event'>;

/** Nango `NangoSyncFunction`. */
export interface SyncFunction {
  type: 'sync';
  name: string;
  description: string;
  scopes: string[];
  returns: string[];
  /** Models' fields come from each Marketo instance's describe at run time: no schema to give. */
  json_schema: null;
  runs: string;
  /** False: new connections get this sync paused (started with `POST /sync/start`). */
  auto_start: boolean;
  track_deletes: boolean;
}

/** Nango `NangoActionFunction`; the input's JSON Schema under `json_schema.input` as scripts/config gives it. */
export interface ActionFunction {
  type: 'action';
  name: string;
  description: string;
  scopes: string[];
  returns: string[];
  json_schema: { input: Record<string, unknown> };
}

export type CatalogFunction = SyncFunction | ActionFunction;

/** Nango `FunctionAvailability`. */
export interface FunctionAvailability {
  id: number;
  enabled: boolean;
  last_deployed: string;
  source: 'catalog';
}

export type ListedFunction = CatalogFunction & FunctionAvailability;

export function syncFunction(def: SyncModelDef): SyncFunction {
  return {
    type: 'sync',
    name: def.name,
    description: def.description,
    scopes: [],
    returns: [...def.models],
    json_schema: null,
    runs: formatFrequency(def.defaultFrequencySeconds),
    auto_start: true,
    // A full sync sweeps what it did not see (deletion detection); an incremental one cannot.
    track_deletes: def.mode === 'full',
  };
}

export function actionFunction(def: AnyActionDef): ActionFunction {
  return {
    type: 'action',
    name: def.name,
    description: def.description,
    scopes: [],
    // Each action's output shape is its own (documented in its description): no model to name.
    returns: [],
    json_schema: { input: actionInputJsonSchema(def) },
  };
}

export interface Registries {
  syncs: SyncRegistry;
  actions: ActionRegistry;
}

/** The registries the running server uses (tests start servers with their own). */
export function registriesOf(ctx: RouteContext): Registries {
  return {
    syncs: ctx.deps.syncs?.registry ?? SYNCS_BY_PROVIDER,
    actions: ctx.deps.actions?.registry ?? ACTIONS_BY_PROVIDER,
  };
}

/**
 * A provider's functions sorted by name, then type (`action` before `sync`). The order gives each its
 * `id`: position + 1, stable as long as the provider's set of functions is (Nango's ids are database
 * ids; a built-in function has none).
 */
export function providerFunctions(registries: Registries, provider: string): CatalogFunction[] {
  const all: CatalogFunction[] = [
    ...syncDefsOf(registries.syncs, provider).map(syncFunction),
    ...actionDefsOf(registries.actions, provider).map(actionFunction),
  ];
  return all.sort((a, b) => (a.name === b.name ? a.type.localeCompare(b.type) : a.name < b.name ? -1 : 1));
}

/**
 * The integration's functions with their availability: there since the integration exists, enabled and
 * auto-started unless its `settings` say otherwise.
 */
export function integrationFunctions(
  registries: Registries,
  integration: Integration,
  settings: SettingsMap = new Map(),
): ListedFunction[] {
  return providerFunctions(registries, integration.provider).map((f, i): ListedFunction => {
    const s = settingsOf(settings, f.type, f.name);
    const availability = {
      id: i + 1,
      enabled: s.enabled,
      last_deployed: integration.createdAt,
      source: 'catalog' as const,
    };
    return f.type === 'sync' ? { ...f, auto_start: s.autoStart, ...availability } : { ...f, ...availability };
  });
}

export interface FunctionFilters {
  type?: FunctionType | undefined;
  search?: string | undefined;
}

/** `type` exactly; `search` a case-insensitive substring of the name or the description. */
export function filterFunctions<F extends CatalogFunction>(fns: readonly F[], filters: FunctionFilters): F[] {
  const needle = filters.search?.toLowerCase();
  return fns.filter(
    (f) =>
      (filters.type === undefined || f.type === filters.type) &&
      (needle === undefined ||
        f.name.toLowerCase().includes(needle) ||
        f.description.toLowerCase().includes(needle)),
  );
}

/** Nango's page numbers are 0-based (`offset = page * limit`). */
export function pageOf<T>(items: readonly T[], page: number, limit: number): T[] {
  return items.slice(page * limit, page * limit + limit);
}

/**
 * Nango's function query parameters: `page` 0-based, default 0; `limit` 1–100, default 20; `search`
 * trimmed, 1–255 characters (its `functionListQueryFields`, and the API reference's "List functions").
 * Numbers must be plain digits: `1e1`, `-0` or an empty value are refused rather than coerced.
 */
const digits = (max: number) =>
  z
    .string()
    .regex(/^\d{1,9}$/, 'Expected a non-negative integer')
    .transform(Number)
    .pipe(z.number().int().max(max));

export const functionTypeSchema = z.enum(['sync', 'action', 'on-event']);
export const runnableFunctionTypeSchema = z.enum(['sync', 'action']);

export const functionListQuerySchema = z
  .object({
    type: functionTypeSchema.optional(),
    search: z.string().trim().min(1).max(255).optional(),
    page: digits(1_000_000_000).optional().default(0),
    limit: digits(100).pipe(z.number().min(1)).optional().default(20),
  })
  .strict();

/** Nango's function names (`scriptNameSchema`). */
export const functionNameSchema = z
  .string()
  .min(1)
  .max(255)
  .regex(/^[a-zA-Z0-9_-]+$/, 'Invalid function name');

/**
 * The one function named `name` (of `type` when given): 404 `not_found` when none, 400
 * `ambiguous_function` with the `matches` when a sync and an action share the name and no type is given.
 * Tether's own providers name no sync and action alike, but the registries do not forbid it.
 */
export function findFunction<F extends CatalogFunction>(
  fns: readonly F[],
  name: string,
  type: FunctionType | undefined,
): F {
  const matches = fns.filter((f) => f.name === name && (type === undefined || f.type === type));
  const [first] = matches;
  if (!first) {
    throw new ApiError(404, 'not_found', type ? `No ${type} function "${name}"` : `No function "${name}"`);
  }
  if (matches.length > 1) {
    throw new ApiError(
      400,
      'ambiguous_function',
      `More than one function is named "${name}": pass type (${matches.map((m) => m.type).join(' or ')})`,
      { payload: { matches: matches.map((m) => ({ type: m.type, name: m.name })) } },
    );
  }
  return first;
}

/** Where each provider's built-in functions live in Tether's repository (one file per function). */
const SOURCE_DIRS: Readonly<Record<string, Readonly<Record<RunnableFunctionType, string>>>> = {
  marketo: { sync: 'src/marketo/models', action: 'src/marketo/actions' },
};

/** The repository path of a built-in function's source, when Tether knows it. */
export function functionSourcePath(provider: string, fn: CatalogFunction): string | undefined {
  const dir = SOURCE_DIRS[provider]?.[fn.type];
  return dir ? `${dir}/${fn.name}.ts` : undefined;
}
