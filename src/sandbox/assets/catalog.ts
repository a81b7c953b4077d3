import type { Instance, SeedOptions } from '../core/instance.ts';

/** Programs and smart campaigns of one instance. (Filled in by the assets module.) */
export class AssetCatalog {
  constructor(readonly inst: Instance) {}
  seed(_opts: Required<SeedOptions>): void {}
}
