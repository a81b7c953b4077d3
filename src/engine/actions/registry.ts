/**
 * Which actions exist for a provider (Nango's actions of an integration): provider code, wired in by
 * src/providers/functions.ts (Marketo's are in src/marketo/actions/). The same shape as the sync registry
 * (../sync/registry.ts); tests pass their own.
 */
import { z } from 'zod';
import type { AnyActionDef } from '../../providers/action-contract.ts';
import { PROVIDER_ACTIONS } from '../../providers/functions.ts';

export type { AnyActionDef };

/** Provider name → its actions (names unique per provider). */
export type ActionRegistry = Readonly<Record<string, readonly AnyActionDef[]>>;

export const ACTIONS_BY_PROVIDER: ActionRegistry = PROVIDER_ACTIONS;

export function actionDefsOf(registry: ActionRegistry, provider: string): readonly AnyActionDef[] {
  return registry[provider] ?? [];
}

export function findActionDef(
  registry: ActionRegistry,
  provider: string,
  name: string,
): AnyActionDef | undefined {
  return actionDefsOf(registry, provider).find((d) => d.name === name);
}

/**
 * The JSON Schema of an action's input (`GET /scripts/config`, OpenAI functions). A schema zod cannot
 * express (a transform, a custom check) is published as "any object" rather than failing the listing.
 */
export function actionInputJsonSchema(def: AnyActionDef): Record<string, unknown> {
  try {
    const schema = z.toJSONSchema(def.input, { unrepresentable: 'any', io: 'input' }) as Record<
      string,
      unknown
    >;
    // The `$schema` draft marker says nothing to a function-calling model.
    const { $schema: _draft, ...rest } = schema;
    return rest;
  } catch {
    return { type: 'object' };
  }
}
