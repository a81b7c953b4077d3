import { z } from 'zod';
import { ApiError } from '../../errors.ts';
import type { RouteContext } from '../../router.ts';
import { getIntegration, type Integration } from '../../../db/integrations.ts';
import { getConnection, listConnections } from '../../../db/connections.ts';
import { listSyncs, type SyncWithConnection } from '../../../db/syncs.ts';
import { listFunctionSettings } from '../../../db/integration-functions.ts';
import { ensureSyncsForConnection } from '../../../engine/sync/scheduler.ts';
import {
  SYNCS_BY_PROVIDER,
  syncDefsOf,
  type SyncModelDef,
  type SyncRegistry,
} from '../../../engine/sync/registry.ts';

/** A positive integer id as text (run ids, and the `cursor` of the run lists, which is an id). */
export const positiveIdText = z.string().regex(/^[1-9]\d{0,15}$/, 'Expected a positive integer id');

/** Nango's sync and variant names. */
export const syncNameSchema = z
  .string()
  .min(1)
  .max(255)
  .regex(/^[a-zA-Z0-9_-]+$/, 'Invalid sync name');

/** `"name"` or `{name, variant}` (Nango's `syncs` items). */
export const syncSelectorSchema = z.union([
  z.string().min(1).max(255),
  z.object({ name: z.string().min(1).max(255), variant: z.string().min(1).max(255) }).strict(),
]);

export interface SyncSelector {
  name: string;
  variant: string;
}

/** Items of `syncs` as `{name, variant}`; a string may be `name::variant` (status query form). */
export function normalizeSelectors(items: (string | { name: string; variant: string })[]): SyncSelector[] {
  return items.map((item) => {
    if (typeof item !== 'string') return { name: item.name, variant: item.variant };
    const at = item.indexOf('::');
    return at === -1
      ? { name: item, variant: 'base' }
      : { name: item.slice(0, at), variant: item.slice(at + 2) || 'base' };
  });
}

export function registryOf(ctx: RouteContext): SyncRegistry {
  return ctx.deps.syncs?.registry ?? SYNCS_BY_PROVIDER;
}

export function unknownSync(name: string, variant: string, defs: readonly SyncModelDef[]): ApiError {
  if (variant !== 'base' && defs.some((d) => d.name === name)) {
    return new ApiError(
      400,
      'unknown_sync',
      `Sync "${name}" has no variant "${variant}" here (create it with POST /sync/${name}/variant/${variant}).`,
    );
  }
  const known = defs.map((d) => d.name).join(', ') || '(none)';
  return new ApiError(400, 'unknown_sync', `Unknown sync "${name}". Syncs of this integration: ${known}.`);
}

export interface Targets {
  integration: Integration;
  defs: readonly SyncModelDef[];
  /** The selected syncs of the selected live connections. */
  syncs: SyncWithConnection[];
  /** Names of the integration's syncs it disabled (db/integration-functions.ts). */
  disabled: ReadonlySet<string>;
}

/**
 * The syncs a sync route acts on: those named (all when `selectors` is empty, every variant included, as
 * Nango lists a connection's syncs) of one connection, or of every live connection of the integration.
 * A selector names a variant (`{name, variant}`, `name::variant`); `base` is the default. Errors: 400
 * `unknown_provider_config`, 400 `unknown_connection` (or the given `connectionError`), 400 `unknown_sync`
 * (an unknown name, or a variant that none of the selected connections has). Syncs missing in the
 * database (a connection made before syncs existed) are created first.
 */
export async function resolveTargets(
  ctx: RouteContext,
  input: {
    providerConfigKey: string;
    connectionId?: string | undefined;
    selectors: SyncSelector[];
    connectionError?: () => ApiError;
  },
): Promise<Targets> {
  const env = ctx.auth.environment;
  const store = ctx.deps.store.ctx;
  const integration = await getIntegration(store, env.id, input.providerConfigKey);
  if (!integration) {
    throw new ApiError(
      400,
      'unknown_provider_config',
      `There is no integration "${input.providerConfigKey}" in this environment.`,
    );
  }
  const defs = syncDefsOf(registryOf(ctx), integration.provider);
  for (const s of input.selectors) {
    if (!defs.some((d) => d.name === s.name)) throw unknownSync(s.name, s.variant, defs);
  }
  let connectionPk: number | undefined;
  if (input.connectionId !== undefined) {
    const connection = await getConnection(store, env.id, input.providerConfigKey, input.connectionId);
    if (!connection) {
      throw (
        input.connectionError?.() ??
        new ApiError(
          400,
          'unknown_connection',
          `There is no connection "${input.connectionId}" for integration "${input.providerConfigKey}".`,
        )
      );
    }
    connectionPk = connection.id;
    await ensureSyncsForConnection(ctx.deps, connection);
  } else {
    const all = await listConnections(store, env.id, { integrationIds: [input.providerConfigKey] });
    for (const c of all) await ensureSyncsForConnection(ctx.deps, c);
  }
  const wanted = new Set(input.selectors.map((s) => selectorKey(s.name, s.variant)));
  const syncs = (
    await listSyncs(store, {
      environmentId: env.id,
      providerConfigKey: input.providerConfigKey,
      ...(connectionPk !== undefined ? { connectionPk } : {}),
    })
  ).filter(
    (s) =>
      defs.some((d) => d.name === s.name) &&
      (wanted.size === 0 || wanted.has(selectorKey(s.name, s.variant))),
  );
  // A base sync always exists (created above); a variant must exist on some selected connection.
  for (const s of input.selectors) {
    if (s.variant !== 'base' && !syncs.some((x) => x.name === s.name && x.variant === s.variant)) {
      throw unknownSync(s.name, s.variant, defs);
    }
  }
  const settings = await listFunctionSettings(store, integration.id);
  const disabled = new Set(
    [...settings.values()].filter((f) => f.type === 'sync' && !f.enabled).map((f) => f.name),
  );
  return { integration, defs, syncs, disabled };
}

/** 404 `disabled_resource` for a sync the integration disabled, saying how to enable it again. */
export function disabledSync(integrationKey: string, name: string): ApiError {
  return new ApiError(
    404,
    'disabled_resource',
    `The sync "${name}" is disabled for integration "${integrationKey}"; enable it with ` +
      `PATCH /integrations/${integrationKey}/functions/${name} {"enabled": true}.`,
  );
}

/**
 * The targets a run or a start may act on: a sync named in `selectors` that is disabled answers 404
 * `disabled_resource`; with no selectors (every sync), disabled ones are left out.
 */
export function enabledTargets(targets: Targets, selectors: SyncSelector[]): SyncWithConnection[] {
  for (const s of selectors) {
    if (targets.disabled.has(s.name)) throw disabledSync(targets.integration.uniqueKey, s.name);
  }
  return targets.syncs.filter((s) => !targets.disabled.has(s.name));
}

function selectorKey(name: string, variant: string): string {
  return `${name}::${variant}`;
}

export function defOf(defs: readonly SyncModelDef[], name: string): SyncModelDef | undefined {
  return defs.find((d) => d.name === name);
}
