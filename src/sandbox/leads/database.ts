import type { Instance, SeedOptions } from '../core/instance.ts';
import type { FieldDef, LeadRecord } from '../model.ts';

/**
 * The lead database of one instance. CONTRACT (used by activities, lists and bulk): keep these
 * signatures. (Placeholder bodies; the leads module fills them in.)
 */
export class LeadDatabase {
  /** Lead fields in describe order (standard then custom). */
  readonly fields: FieldDef[] = [];
  private total = 0;

  constructor(readonly inst: Instance) {}

  /** Replace all leads with `opts.leads` generated leads, ids 1..N. */
  seed(opts: Required<SeedOptions>): void {
    this.total = opts.leads;
  }

  /** A field by REST name (case-sensitive, as Marketo). */
  field(name: string): FieldDef | undefined {
    return this.fields.find((f) => f.name === name);
  }

  /** Live (not deleted) leads. */
  count(): number {
    return this.total;
  }

  /** Highest lead id ever assigned. */
  maxId(): number {
    return this.total;
  }

  exists(id: number): boolean {
    return id >= 1 && id <= this.total;
  }

  /** Every field of a live lead (null for empty values), or undefined. */
  get(_id: number): LeadRecord | undefined {
    return undefined;
  }

  /**
   * Live leads in ascending id order, optionally only those whose createdAt / updatedAt (epoch ms)
   * fall in [from, to). Lazy: never materializes all leads.
   */
  *iterate(_filter: {
    createdAt?: { from: number; to: number };
    updatedAt?: { from: number; to: number };
  }): Iterable<LeadRecord> {}
}
