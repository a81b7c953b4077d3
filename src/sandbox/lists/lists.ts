import type { Instance, SeedOptions } from '../core/instance.ts';
import { hash, unit } from '../activities/random.ts';
import { seededLists } from '../assets/references.ts';

/** A static list as `lists.json` describes it (epoch ms dates; the API prints them). */
export interface StaticListInfo {
  id: number;
  name: string;
  description?: string;
  /** Absent for lists in the Lead Database rather than in a program. */
  programName?: string;
  workspaceName: string;
  createdAt: number;
  updatedAt: number;
}

interface ListState {
  info: StaticListInfo;
  /** The catalog program the list belongs to: `programName` follows its name. */
  programId?: number;
  /** Share of generated leads that are members. */
  share: number;
  /** Members that are not generated members (API adds). */
  added: Set<number>;
  /** Generated members taken out through the API. */
  removed: Set<number>;
  addedSorted?: number[];
  generatedCount?: number;
}

const DAY_MS = 86_400_000;

/**
 * Static lists of one instance. CONTRACT (used by bulk): keep these signatures.
 *
 * Membership of generated leads is a pure function of (seed, list id, lead id); only what the API
 * changed is stored, as per-list add/remove overlays.
 */
export class StaticLists {
  private readonly lists = new Map<number, ListState>();
  private leadCount = 0;
  private seedValue = 0;

  constructor(readonly inst: Instance) {}

  seed(opts: Required<SeedOptions>): void {
    this.lists.clear();
    this.leadCount = opts.leads;
    this.seedValue = opts.seed;
    // The catalog is seeded first (Instance.seed): program lists belong to its programs.
    for (const l of seededLists(this.inst.assets.programs())) {
      const info: StaticListInfo = {
        id: l.id,
        name: l.name,
        workspaceName: 'Default',
        createdAt: opts.asOf - l.ageDays * DAY_MS,
        updatedAt: opts.asOf - (l.id % 17) * DAY_MS,
      };
      if (l.description !== undefined) info.description = l.description;
      const state: ListState = { info, share: l.share, added: new Set(), removed: new Set() };
      if (l.programId !== undefined) state.programId = l.programId;
      this.lists.set(l.id, state);
      this.refreshProgramName(state);
    }
  }

  /** List id by exact name, or undefined. */
  idByName(name: string): number | undefined {
    for (const l of this.lists.values()) if (l.info.name === name) return l.info.id;
    return undefined;
  }

  exists(listId: number): boolean {
    return this.lists.has(listId);
  }

  get(listId: number): StaticListInfo | undefined {
    const l = this.lists.get(listId);
    if (!l) return undefined;
    this.refreshProgramName(l);
    return l.info;
  }

  /** All lists, ascending id. */
  all(): StaticListInfo[] {
    return [...this.lists.values()]
      .map((l) => {
        this.refreshProgramName(l);
        return l.info;
      })
      .sort((a, b) => a.id - b.id);
  }

  /** A program list shows its program's current name (programs can be renamed through the API). */
  private refreshProgramName(l: ListState): void {
    if (l.programId === undefined) return;
    const program = this.inst.assets.program(l.programId);
    if (program) l.info.programName = program.name;
  }

  /** Whether a live lead is in the list. */
  has(listId: number, leadId: number): boolean {
    const l = this.lists.get(listId);
    if (!l || !this.inst.leads.exists(leadId)) return false;
    return l.added.has(leadId) || (!l.removed.has(leadId) && this.generated(l, leadId));
  }

  /** Put a lead in the list; false when it already was a member. The caller checks the lead. */
  add(listId: number, leadId: number): boolean {
    const l = this.mustGet(listId);
    if (this.has(listId, leadId)) return false;
    if (this.generated(l, leadId)) l.removed.delete(leadId);
    else l.added.add(leadId);
    l.addedSorted = undefined;
    l.info.updatedAt = this.inst.clock.now();
    return true;
  }

  /** Take a lead out of the list; false when it was not a member. */
  remove(listId: number, leadId: number): boolean {
    const l = this.mustGet(listId);
    if (!this.has(listId, leadId)) return false;
    if (this.generated(l, leadId)) l.removed.add(leadId);
    else l.added.delete(leadId);
    l.addedSorted = undefined;
    l.info.updatedAt = this.inst.clock.now();
    return true;
  }

  /**
   * Member count as used by size rules (the activities 10,000-member limit). Leads deleted since
   * they joined still count: Marketo's own counts lag deletions too.
   */
  size(listId: number): number {
    const l = this.mustGet(listId);
    if (l.generatedCount === undefined) {
      let n = 0;
      for (let id = 1; id <= this.leadCount; id++) if (this.generated(l, id)) n++;
      l.generatedCount = n;
    }
    return l.generatedCount - l.removed.size + l.added.size;
  }

  /** Ids of live member leads in ascending order. */
  *members(listId: number): Iterable<number> {
    yield* this.membersAfter(listId, 0);
  }

  /** Ids of live member leads above `afterId`, ascending. */
  *membersAfter(listId: number, afterId: number): Iterable<number> {
    const l = this.lists.get(listId);
    if (!l) return;
    const added = (l.addedSorted ??= [...l.added].sort((a, b) => a - b));
    let a = lowerBound(added, afterId + 1);
    let g = afterId + 1;
    const leads = this.inst.leads;
    while (true) {
      while (g <= this.leadCount && (!this.generated(l, g) || l.removed.has(g))) g++;
      const nextGenerated = g <= this.leadCount ? g : Infinity;
      const nextAdded = a < added.length ? added[a]! : Infinity;
      if (nextGenerated === Infinity && nextAdded === Infinity) return;
      let id: number;
      if (nextGenerated <= nextAdded) {
        id = nextGenerated;
        g++;
        if (nextAdded === id) a++;
      } else {
        id = nextAdded;
        a++;
      }
      if (leads.exists(id)) yield id;
    }
  }

  private generated(l: ListState, leadId: number): boolean {
    return leadId <= this.leadCount && unit(hash(this.seedValue, l.info.id, leadId)) < l.share;
  }

  private mustGet(listId: number): ListState {
    const l = this.lists.get(listId);
    if (!l) throw new Error(`unknown static list ${listId}`);
    return l;
  }
}

function lowerBound(sorted: number[], value: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
