/** Marketo's actions (see types.ts), in the order docs list them. */
import type { AnyActionDef } from './types.ts';

export type { ActionDef, ActionIO, AnyActionDef } from './types.ts';

export const MARKETO_ACTIONS: readonly AnyActionDef[] = [];

export function marketoAction(name: string): AnyActionDef | undefined {
  return MARKETO_ACTIONS.find((a) => a.name === name);
}
