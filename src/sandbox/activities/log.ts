import type { Instance, SeedOptions } from '../core/instance.ts';

/** The activity log of one instance. (Filled in by the activities module.) */
export class ActivityLog {
  constructor(readonly inst: Instance) {}
  seed(_opts: Required<SeedOptions>): void {}
}
