import { hash, pick, unit } from '../activities/random.ts';
import { CAMPAIGN_COUNT, FIRST_CAMPAIGN_ID, FIRST_PROGRAM_ID, PROGRAM_COUNT } from '../assets/generate.ts';
import type { Program, SmartCampaign } from '../assets/model.ts';
import { PROGRESSION_STATUSES } from '../assets/statuses.ts';
import { wholeSeconds } from '../assets/model.ts';
import { leadCreatedAt, type LeadSeedInfo } from '../leads/generator.ts';

/**
 * Program and smart campaign membership of generated leads, as pure functions of (seed, program or
 * campaign id, lead id): nothing per lead is stored, so a 1,000,000-lead instance costs no memory,
 * and every reader (members of a program, programs of a lead, campaigns of a lead) calls the same
 * function, so they cannot disagree.
 *
 * Only the programs and campaigns the seed generated have members: a program cloned through the API
 * is created "now" and starts empty, as it would in Marketo.
 */

const HOUR = 3_600_000;

/** Hash salts: one per kind of object, then one per derived value. */
const KIND = { program: 0x70726f67, campaign: 0x63616d70 } as const;
const F = { member: 1, date: 2, status: 3, updated: 4, acquired: 5, stream: 6, cadence: 7, exhausted: 8 };

const STATUSES = PROGRESSION_STATUSES;

const STREAMS = ['Default Stream', 'Stream 2', 'Stream 3'];

/** One lead's membership of one program (dates in epoch ms, whole seconds). */
export interface ProgramMember {
  programId: number;
  progressionStatus: string;
  progressionStatusType: string;
  reachedSuccess: boolean;
  acquiredBy: boolean;
  membershipDate: number;
  updatedAt: number;
  /** Engagement programs only: where the member is in the nurture. */
  engagement?: { stream: string; nurtureCadence: 'normal' | 'paused'; isExhausted: boolean };
}

/** One lead's membership of one smart campaign (epoch ms). */
export interface CampaignMember {
  smartCampaignId: number;
  createdAt: number;
  updatedAt: number;
}

export function isSeededProgram(programId: number): boolean {
  return programId >= FIRST_PROGRAM_ID && programId < FIRST_PROGRAM_ID + PROGRAM_COUNT;
}

function isSeededCampaign(campaignId: number): boolean {
  return campaignId >= FIRST_CAMPAIGN_ID && campaignId < FIRST_CAMPAIGN_ID + CAMPAIGN_COUNT;
}

/** Share of generated leads in a program: 1%–20%, fixed per (seed, program). */
function programShare(programSeed: number): number {
  return 0.01 + 0.19 * unit(hash(programSeed, 0, 0));
}

/** The last instant generated memberships may have: an hour before `asOf`, like generated assets. */
function latest(info: LeadSeedInfo): number {
  return wholeSeconds(info.asOf - HOUR);
}

/** An instant in [from, to) chosen by `h`, whole seconds. */
function between(h: number, from: number, to: number): number {
  return wholeSeconds(from + Math.floor(unit(h) * (to - from)));
}

/**
 * Whether generated lead `leadId` is a member of `program`, and how. The caller checks that the lead
 * still exists (deleted leads leave every program).
 */
export function programMember(
  info: LeadSeedInfo,
  program: Program,
  leadId: number,
): ProgramMember | undefined {
  if (!isSeededProgram(program.id) || leadId < 1 || leadId > info.leads) return undefined;
  const ps = hash(info.seed, KIND.program, program.id);
  if (unit(hash(ps, F.member, leadId)) >= programShare(ps)) return undefined;
  // Nobody joins a program before both it and the lead exist.
  const start = Math.max(leadCreatedAt(leadId, info), program.createdAt);
  const end = latest(info);
  if (start >= end) return undefined;
  const membershipDate = between(hash(ps, F.date, leadId), start, end);
  const statuses = STATUSES[program.type];
  const status = statuses[pick(hash(ps, F.status, leadId), statuses.length)]!;
  // A member still at the first status never moved since joining.
  const moved = status !== statuses[0];
  const member: ProgramMember = {
    programId: program.id,
    progressionStatus: status.name,
    // Marketo's documented sample shows the status name here too.
    progressionStatusType: status.name,
    reachedSuccess: status.success,
    acquiredBy: unit(hash(ps, F.acquired, leadId)) < 0.25,
    membershipDate,
    updatedAt: moved ? between(hash(ps, F.updated, leadId), membershipDate, end) : membershipDate,
  };
  if (program.type === 'Engagement') {
    member.engagement = {
      stream: STREAMS[pick(hash(ps, F.stream, leadId), STREAMS.length)]!,
      nurtureCadence: unit(hash(ps, F.cadence, leadId)) < 0.85 ? 'normal' : 'paused',
      isExhausted: unit(hash(ps, F.exhausted, leadId)) < 0.2,
    };
  }
  return member;
}

/**
 * Whether generated lead `leadId` is a member of `campaign` (whose parent program is `program`).
 * People reach a campaign through its program: members are drawn from the program's members, join
 * after they joined the program, and a batch campaign that never ran has none.
 */
export function campaignMember(
  info: LeadSeedInfo,
  campaign: SmartCampaign,
  program: Program,
  leadId: number,
): CampaignMember | undefined {
  if (!isSeededCampaign(campaign.id)) return undefined;
  if (campaign.type === 'batch' && !campaign.hasRun) return undefined;
  const pm = programMember(info, program, leadId);
  if (!pm) return undefined;
  const cs = hash(info.seed, KIND.campaign, campaign.id);
  if (unit(hash(cs, F.member, leadId)) >= 0.5) return undefined;
  const start = Math.max(pm.membershipDate, campaign.createdAt);
  const end = latest(info);
  if (start >= end) return undefined;
  const createdAt = between(hash(cs, F.date, leadId), start, end);
  // The flow runs right after the lead qualifies: a few seconds later at most.
  const updatedAt = Math.min(end, createdAt + 1000 * pick(hash(cs, F.updated, leadId), 10));
  return { smartCampaignId: campaign.id, createdAt, updatedAt };
}
