import type { Instance, SeedOptions } from '../core/instance.ts';
import { generateAssets } from './generate.ts';
import type { Folder, Program, SmartCampaign } from './model.ts';
import { wholeSeconds } from './model.ts';

export type { Folder, Program, SmartCampaign } from './model.ts';

/**
 * Programs and smart campaigns of one instance. A few hundred objects at most, so they live in
 * plain arrays kept in id order (the order every browse endpoint pages in).
 */
export class AssetCatalog {
  private folderList: Folder[] = [];
  private programList: Program[] = [];
  private campaignList: SmartCampaign[] = [];
  private readonly programById = new Map<number, Program>();
  private readonly campaignById = new Map<number, SmartCampaign>();

  constructor(readonly inst: Instance) {}

  seed(opts: Required<SeedOptions>): void {
    const g = generateAssets(opts.seed, opts.asOf);
    this.folderList = g.folders;
    this.programList = g.programs;
    this.campaignList = g.campaigns;
    this.programById.clear();
    this.campaignById.clear();
    for (const p of g.programs) this.programById.set(p.id, p);
    for (const c of g.campaigns) this.campaignById.set(c.id, c);
  }

  folder(id: number): Folder | undefined {
    return this.folderList.find((f) => f.id === id);
  }

  /** Whether `folderId` is `ancestorId` or lies below it. */
  folderWithin(folderId: number, ancestorId: number): boolean {
    for (let f = this.folder(folderId); f; f = f.parentId === null ? undefined : this.folder(f.parentId)) {
      if (f.id === ancestorId) return true;
    }
    return false;
  }

  programs(): readonly Program[] {
    return this.programList;
  }

  program(id: number): Program | undefined {
    return this.programById.get(id);
  }

  programByName(name: string): Program | undefined {
    return this.programList.find((p) => p.name === name);
  }

  smartCampaigns(): readonly SmartCampaign[] {
    return this.campaignList;
  }

  smartCampaign(id: number): SmartCampaign | undefined {
    return this.campaignById.get(id);
  }

  smartCampaignByName(name: string): SmartCampaign | undefined {
    return this.campaignList.find((c) => c.name === name);
  }

  /** Smart campaign ids, for modules that attribute activities to campaigns. */
  campaignIds(): number[] {
    return this.campaignList.map((c) => c.id);
  }

  private touch(): number {
    return wholeSeconds(this.inst.clock.now());
  }

  /** Rename / re-describe a program; updatedAt moves only when something changed. */
  updateProgram(program: Program, change: { name?: string; description?: string }): Program {
    let changed = false;
    if (change.name !== undefined && change.name !== program.name) {
      program.name = change.name;
      changed = true;
    }
    if (change.description !== undefined && change.description !== program.description) {
      program.description = change.description;
      changed = true;
    }
    if (changed) program.updatedAt = this.touch();
    return program;
  }

  setActive(campaign: SmartCampaign, active: boolean): SmartCampaign {
    if (!active) campaign.scheduledRunAt = undefined;
    if (campaign.isActive !== active) {
      campaign.isActive = active;
      campaign.updatedAt = this.touch();
    }
    return campaign;
  }

  /** Schedule a batch campaign; it counts as active (scheduled) from now on. */
  schedule(campaign: SmartCampaign, runAt: number): SmartCampaign {
    campaign.scheduledRunAt = runAt;
    campaign.isActive = true;
    campaign.updatedAt = this.touch();
    return campaign;
  }

  /**
   * Clone a campaign's parent program (and all its smart campaigns) under a new name, as Schedule
   * Campaign's `cloneToProgramName` does. Returns the clone of `campaign`.
   */
  cloneProgramOf(campaign: SmartCampaign, programName: string): SmartCampaign {
    const source = this.programById.get(campaign.programId)!;
    const now = this.touch();
    const program: Program = {
      ...source,
      id: Math.max(...this.programList.map((p) => p.id)) + 1,
      name: programName,
      createdAt: now,
      updatedAt: now,
      tags: source.tags.map((t) => ({ ...t })),
      costs: source.costs.map((c) => ({ ...c })),
    };
    this.programList.push(program);
    this.programById.set(program.id, program);
    let nextId = Math.max(...this.campaignList.map((c) => c.id)) + 1;
    let counterpart: SmartCampaign | undefined;
    for (const c of this.campaignList.filter((x) => x.programId === source.id)) {
      const copy: SmartCampaign = {
        ...c,
        id: nextId++,
        name: `${programName} - ${c.name.startsWith(source.name + ' - ') ? c.name.slice(source.name.length + 3) : c.name}`,
        programId: program.id,
        isActive: false,
        hasRun: false,
        createdAt: now,
        updatedAt: now,
        scheduledRunAt: undefined,
      };
      this.campaignList.push(copy);
      this.campaignById.set(copy.id, copy);
      if (c === campaign) counterpart = copy;
    }
    return counterpart!;
  }
}
