import type { Instance, SeedOptions } from '../core/instance.ts';

/**
 * Static lists of one instance. CONTRACT (used by bulk): keep these signatures.
 * (Placeholder bodies; the lists module fills them in.)
 */
export class StaticLists {
  constructor(readonly inst: Instance) {}

  seed(_opts: Required<SeedOptions>): void {}

  /** List id by exact name, or undefined. */
  idByName(_name: string): number | undefined {
    return undefined;
  }

  exists(_listId: number): boolean {
    return false;
  }

  /** Ids of live member leads in ascending order. */
  *members(_listId: number): Iterable<number> {}
}
