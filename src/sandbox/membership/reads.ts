import type { Instance } from '../core/instance.ts';
import {
  campaignMember,
  isSeededProgram,
  programMember,
  type CampaignMember,
  type ProgramMember,
} from './model.ts';

/**
 * Membership as one instance sees it: the pure model of model.ts applied to the live lead database
 * (deleted leads are in nothing) and the live asset catalog (iterated in id order, so deleted or
 * cloned assets are followed without any state here).
 */

/** A live lead's membership of a program in the catalog, or undefined. */
export function memberOf(inst: Instance, programId: number, leadId: number): ProgramMember | undefined {
  const program = inst.assets.program(programId);
  if (!program || !inst.leads.exists(leadId)) return undefined;
  return programMember(inst.leads.seedInfo, program, leadId);
}

/**
 * Members of a program with lead id above `afterId`, ascending. Walks generated lead ids and tests
 * each with one hash, so a page of 300 costs a few thousand hashes on any instance size.
 */
export function* programMembersAfter(
  inst: Instance,
  programId: number,
  afterId: number,
): Iterable<[number, ProgramMember]> {
  const program = inst.assets.program(programId);
  // Programs made through the API (clones) start empty: no need to walk the leads.
  if (!program || !isSeededProgram(program.id)) return;
  const info = inst.leads.seedInfo;
  const leads = inst.leads;
  for (let id = Math.max(1, afterId + 1); id <= info.leads; id++) {
    const m = programMember(info, program, id);
    if (m && leads.exists(id)) yield [id, m];
  }
}

/** The programs a live lead is a member of, ascending program id. */
export function programsOfLead(inst: Instance, leadId: number): ProgramMember[] {
  if (!inst.leads.exists(leadId)) return [];
  const info = inst.leads.seedInfo;
  const out: ProgramMember[] = [];
  for (const p of inst.assets.programs()) {
    const m = programMember(info, p, leadId);
    if (m) out.push(m);
  }
  return out.sort((a, b) => a.programId - b.programId);
}

/** The smart campaigns a live lead is a member of, ascending campaign id. */
export function campaignsOfLead(inst: Instance, leadId: number): CampaignMember[] {
  if (!inst.leads.exists(leadId)) return [];
  const info = inst.leads.seedInfo;
  const out: CampaignMember[] = [];
  for (const c of inst.assets.smartCampaigns()) {
    const program = inst.assets.program(c.programId);
    if (!program) continue;
    const m = campaignMember(info, c, program, leadId);
    if (m) out.push(m);
  }
  return out.sort((a, b) => a.smartCampaignId - b.smartCampaignId);
}
