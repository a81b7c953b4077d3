import type { Instance } from '../core/instance.ts';

/** Bulk extract jobs of one instance. (Filled in by the bulk module.) */
export class BulkExports {
  constructor(readonly inst: Instance) {}
  /** Cancel timers and delete files (instance deleted or reseeded, sandbox closing). */
  reset(): void {}
  /** Advance job states after the instance clock moved. */
  tick(): void {}
  /** Figures for the control API's counters. */
  stats(): Record<string, unknown> {
    return {};
  }
}
