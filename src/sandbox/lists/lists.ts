import type { Instance, SeedOptions } from '../core/instance.ts';

/** Static lists of one instance. (Filled in by the lists module.) */
export class StaticLists {
  constructor(readonly inst: Instance) {}
  seed(_opts: Required<SeedOptions>): void {}
}
