/**
 * Per-integration function settings (DDL: migrations/015_integration_functions.ts): whether a sync or an
 * action of an integration is enabled, and whether a sync starts by itself for new connections (Nango's
 * `auto_start`). A row exists only once a setting was changed; without one a function is enabled and
 * auto-started, as every function was before these settings existed. Rows go with their integration.
 *
 * Readers: the functions routes (settings of one integration), the connect flow and the scheduler (syncs
 * a new connection gets paused, syncs that must not run), the sync and action routes (disabled ones
 * answer `disabled_resource`).
 */
import type { Kysely, Selectable } from 'kysely';
import { inTransaction, type DbContext } from './context.ts';
import { fromIntBool, toIntBool, toIso, type Database } from './schema.ts';

export type FunctionKind = 'sync' | 'action';

export interface IntegrationFunctionsTable {
  integration_id: number;
  type: string;
  name: string;
  enabled: number;
  auto_start: number;
  updated_at: string;
}

// A type alias (not an interface): `withTables` needs an index signature.
export type IntegrationFunctionsTables = { integration_functions: IntegrationFunctionsTable };

function fnDb(ctx: DbContext): Kysely<Database & IntegrationFunctionsTables> {
  return ctx.db.withTables<IntegrationFunctionsTables>();
}

export interface FunctionSettings {
  enabled: boolean;
  /** Meaningful for syncs only (an action's is always true). */
  autoStart: boolean;
}

export const DEFAULT_FUNCTION_SETTINGS: Readonly<FunctionSettings> = Object.freeze({
  enabled: true,
  autoStart: true,
});

export interface StoredFunctionSettings extends FunctionSettings {
  type: FunctionKind;
  name: string;
  updatedAt: string;
}

type Row = Selectable<IntegrationFunctionsTable>;

function toSettings(row: Row): StoredFunctionSettings {
  return {
    type: row.type === 'action' ? 'action' : 'sync',
    name: row.name,
    enabled: fromIntBool(Number(row.enabled)),
    autoStart: fromIntBool(Number(row.auto_start)),
    updatedAt: row.updated_at,
  };
}

/** `type:name`, the key of {@link SettingsMap}. */
export function functionKey(type: FunctionKind, name: string): string {
  return `${type}:${name}`;
}

/** The stored settings of an integration's functions, by {@link functionKey} (absent: the defaults). */
export type SettingsMap = ReadonlyMap<string, StoredFunctionSettings>;

export function settingsOf(map: SettingsMap, type: FunctionKind, name: string): FunctionSettings {
  const s = map.get(functionKey(type, name));
  return s ? { enabled: s.enabled, autoStart: s.autoStart } : { ...DEFAULT_FUNCTION_SETTINGS };
}

export async function listFunctionSettings(ctx: DbContext, integrationId: number): Promise<SettingsMap> {
  const rows = await fnDb(ctx)
    .selectFrom('integration_functions')
    .selectAll()
    .where('integration_id', '=', integrationId)
    .execute();
  return new Map(rows.map((r) => [functionKey(r.type as FunctionKind, r.name), toSettings(r)]));
}

export async function getFunctionSettings(
  ctx: DbContext,
  integrationId: number,
  type: FunctionKind,
  name: string,
): Promise<FunctionSettings> {
  const row = await fnDb(ctx)
    .selectFrom('integration_functions')
    .selectAll()
    .where('integration_id', '=', integrationId)
    .where('type', '=', type)
    .where('name', '=', name)
    .executeTakeFirst();
  return row
    ? { enabled: fromIntBool(Number(row.enabled)), autoStart: fromIntBool(Number(row.auto_start)) }
    : { ...DEFAULT_FUNCTION_SETTINGS };
}

/**
 * Changes the given settings of one function (the others keep their stored or default value) and returns
 * the result. Read and write in one transaction, so that two patches of different fields both stick.
 */
export async function updateFunctionSettings(
  ctx: DbContext,
  input: {
    integrationId: number;
    type: FunctionKind;
    name: string;
    patch: Partial<FunctionSettings>;
    now: Date;
  },
): Promise<FunctionSettings> {
  return inTransaction(ctx, async (tx) => {
    const current = await getFunctionSettings(tx, input.integrationId, input.type, input.name);
    const next: FunctionSettings = {
      enabled: input.patch.enabled ?? current.enabled,
      autoStart: input.patch.autoStart ?? current.autoStart,
    };
    const values = {
      enabled: toIntBool(next.enabled),
      auto_start: toIntBool(next.autoStart),
      updated_at: toIso(input.now),
    };
    await fnDb(tx)
      .insertInto('integration_functions')
      .values({ integration_id: input.integrationId, type: input.type, name: input.name, ...values })
      .onConflict((oc) => oc.columns(['integration_id', 'type', 'name']).doUpdateSet(values))
      .execute();
    return next;
  });
}

/** Whether one function of the integration named `providerConfigKey` in the environment is enabled. */
export async function isFunctionEnabled(
  ctx: DbContext,
  where: { environmentId: number; providerConfigKey: string; type: FunctionKind; name: string },
): Promise<boolean> {
  const row = await fnDb(ctx)
    .selectFrom('integration_functions')
    .innerJoin('integrations', 'integrations.id', 'integration_functions.integration_id')
    .select('integration_functions.enabled')
    .where('integrations.environment_id', '=', where.environmentId)
    .where('integrations.unique_key', '=', where.providerConfigKey)
    .where('integration_functions.type', '=', where.type)
    .where('integration_functions.name', '=', where.name)
    .executeTakeFirst();
  return row === undefined || fromIntBool(Number(row.enabled));
}

/** The syncs of a connection's integration that new connections get paused (`auto_start` false). */
export async function syncsNotAutoStarted(ctx: DbContext, connectionPk: number): Promise<Set<string>> {
  const rows = await fnDb(ctx)
    .selectFrom('integration_functions')
    .innerJoin('integrations', 'integrations.id', 'integration_functions.integration_id')
    .innerJoin('connections', (join) =>
      join
        .onRef('connections.environment_id', '=', 'integrations.environment_id')
        .onRef('connections.provider_config_key', '=', 'integrations.unique_key'),
    )
    .select('integration_functions.name')
    .where('connections.id', '=', connectionPk)
    .where('integration_functions.type', '=', 'sync')
    .where('integration_functions.auto_start', '=', 0)
    .execute();
  return new Set(rows.map((r) => r.name));
}

/** A disabled sync, named by the integration it belongs to. */
export interface DisabledSync {
  environmentId: number;
  providerConfigKey: string;
  name: string;
}

/** Every disabled sync of every integration (the scheduler stops their runs). */
export async function listDisabledSyncs(ctx: DbContext): Promise<DisabledSync[]> {
  const rows = await fnDb(ctx)
    .selectFrom('integration_functions')
    .innerJoin('integrations', 'integrations.id', 'integration_functions.integration_id')
    .select(['integrations.environment_id', 'integrations.unique_key', 'integration_functions.name'])
    .where('integration_functions.enabled', '=', 0)
    .where('integration_functions.type', '=', 'sync')
    .execute();
  return rows.map((r) => ({
    environmentId: r.environment_id,
    providerConfigKey: r.unique_key,
    name: r.name,
  }));
}

/** `environmentId|providerConfigKey|name`, the key of a {@link DisabledSync} set. */
export function disabledSyncKey(s: DisabledSync): string {
  return `${s.environmentId}|${s.providerConfigKey}|${s.name}`;
}
