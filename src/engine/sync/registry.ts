/**
 * Which syncs exist for a provider: each connection to the provider gets one of each (Nango's syncs of
 * an integration, all auto-started). Provider code, wired in by src/providers/functions.ts (Marketo's are
 * in src/marketo/models/).
 */
import { PROVIDER_SYNCS } from '../../providers/functions.ts';
import type { SyncModelDef } from '../../providers/sync-contract.ts';
import { registerModel } from '../models-registry.ts';

export type { SyncModelDef };

/** Provider name → its syncs (names unique per provider). */
export type SyncRegistry = Readonly<Record<string, readonly SyncModelDef[]>>;

export const SYNCS_BY_PROVIDER: SyncRegistry = PROVIDER_SYNCS;

export function syncDefsOf(registry: SyncRegistry, provider: string): readonly SyncModelDef[] {
  return registry[provider] ?? [];
}

export function findSyncDef(
  registry: SyncRegistry,
  provider: string,
  name: string,
): SyncModelDef | undefined {
  return syncDefsOf(registry, provider).find((d) => d.name === name);
}

/**
 * The name a sync variant's records are stored (and read by `GET /records?model=&variant=`) under:
 * `Model` for the base variant, `Model::variant` for another, as Nango names them (its
 * `recordModelName`, and the record counts of its sync status). Sync models only ever see plain model
 * names: the runner maps them when it writes, so provider code knows nothing of variants.
 */
export function storedModelName(model: string, variant: string | undefined): string {
  return variant && variant !== 'base' ? `${model}::${variant}` : model;
}

/** The stored names of a sync's models for one variant. */
export function storedModelsOf(def: SyncModelDef | undefined, variant: string): string[] {
  return (def?.models ?? []).map((m) => storedModelName(m, variant));
}

/** Makes every model of the registry known to `GET /records` (see models-registry.ts). */
export function registerModels(registry: SyncRegistry): void {
  for (const defs of Object.values(registry))
    for (const d of defs) for (const m of d.models) registerModel(m);
}
