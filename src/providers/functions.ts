/**
 * The syncs and actions each provider brings (Nango's functions of an integration): the one place that
 * wires provider code into the engine's registries (engine/sync/registry.ts, engine/actions/registry.ts),
 * which know providers only by name. A second provider adds its lists here.
 */
import { MARKETO_ACTIONS } from '../marketo/actions/index.ts';
import { MARKETO_SYNCS } from '../marketo/models/index.ts';
import type { AnyActionDef } from './action-contract.ts';
import type { SyncModelDef } from './sync-contract.ts';

/** Provider name → its syncs (names unique per provider). */
export const PROVIDER_SYNCS: Readonly<Record<string, readonly SyncModelDef[]>> = { marketo: MARKETO_SYNCS };

/** Provider name → its actions (names unique per provider). */
export const PROVIDER_ACTIONS: Readonly<Record<string, readonly AnyActionDef[]>> = {
  marketo: MARKETO_ACTIONS,
};
