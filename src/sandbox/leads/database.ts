import type { Instance, SeedOptions } from '../core/instance.ts';

/** The lead database of one instance. (Filled in by the leads module.) */
export class LeadDatabase {
  private total = 0;
  constructor(readonly inst: Instance) {}
  seed(opts: Required<SeedOptions>): void {
    this.total = opts.leads;
  }
  count(): number {
    return this.total;
  }
}
