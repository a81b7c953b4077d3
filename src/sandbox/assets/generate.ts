import type { Folder, Program, ProgramType, SmartCampaign } from './model.ts';
import { wholeSeconds } from './model.ts';

/**
 * The generated asset tree of an instance: a few folders, programs of every type and the smart
 * campaigns inside them. Everything derives from the seed so two sandboxes with the same seed and
 * `asOf` serve identical assets.
 */

export const PROGRAM_COUNT = 40;
export const CAMPAIGN_COUNT = 60;
export const FIRST_PROGRAM_ID = 1001;
export const FIRST_CAMPAIGN_ID = 1001;
export const WORKSPACE = 'Default';

const DAY = 86_400_000;
const HOUR = 3_600_000;

export const ROOT_FOLDER_ID = 11;

const FOLDERS: Folder[] = [
  { id: ROOT_FOLDER_ID, name: 'Marketing Activities', parentId: null },
  { id: 12, name: 'Webinars', parentId: ROOT_FOLDER_ID },
  { id: 13, name: 'Nurture', parentId: ROOT_FOLDER_ID },
  { id: 14, name: 'Events', parentId: ROOT_FOLDER_ID },
  { id: 15, name: 'Email Blasts', parentId: ROOT_FOLDER_ID },
  { id: 16, name: 'Operational', parentId: ROOT_FOLDER_ID },
  { id: 17, name: 'Always On', parentId: ROOT_FOLDER_ID },
  { id: 18, name: 'Archive', parentId: 16 },
];

interface TypeProfile {
  type: ProgramType;
  channels: string[];
  folders: number[];
  prefixes: string[];
}

const PROFILES: TypeProfile[] = [
  {
    type: 'Default',
    channels: ['Content', 'Online Advertising', 'Operational', 'List Import', 'Website'],
    folders: [16, 17, 18],
    prefixes: ['Content', 'Paid Search', 'Ops', 'List Import', 'Website'],
  },
  { type: 'Engagement', channels: ['Nurture'], folders: [13], prefixes: ['Nurture'] },
  { type: 'Email', channels: ['Email Send'], folders: [15], prefixes: ['Newsletter', 'Announcement'] },
  { type: 'Event', channels: ['Tradeshow', 'Roadshow', 'Field Event'], folders: [14], prefixes: ['Event'] },
  { type: 'Event with Webinar', channels: ['Webinar'], folders: [12], prefixes: ['Webinar'] },
];

/**
 * The first programs (one per type, in PROFILES order) carry fixed names and channels: the seeded
 * static lists, emails, forms and activities refer to them (references.ts looks them up by id), so
 * what a client reads elsewhere resolves through the asset API with the same id and name.
 */
export const NAMED_PROGRAMS: readonly { id: number; name: string; channel: string }[] = [
  { id: FIRST_PROGRAM_ID, name: 'State of B2B Report', channel: 'Content' },
  { id: FIRST_PROGRAM_ID + 1, name: 'Onboarding Nurture', channel: 'Nurture' },
  { id: FIRST_PROGRAM_ID + 2, name: 'Newsletter 2026', channel: 'Email Send' },
  { id: FIRST_PROGRAM_ID + 3, name: 'Trade Show 2025', channel: 'Tradeshow' },
  { id: FIRST_PROGRAM_ID + 4, name: 'Q1 Product Webinar', channel: 'Webinar' },
];

const TOPICS = [
  'Data Privacy',
  'Cloud Migration',
  'Customer Success',
  'Product Launch',
  'Partner Summit',
  'AI Readiness',
  'Security Basics',
  'Analytics Deep Dive',
  'Retention Playbook',
  'Onboarding',
  'Pricing Update',
  'Industry Trends',
  'Mobile First',
  'Integrations',
];

const OWNERS = ['Alex Morgan', 'Sam Rivera', 'Jordan Lee', 'Casey Kim', 'Riley Chen'];
const REGIONS = ['North America', 'EMEA', 'APAC', 'LATAM'];

const TRIGGER_ACTIONS = [
  'Request Handler',
  'Fills Out Form',
  'Registration Confirmation',
  'Score Web Visit',
  'Interesting Moment',
  'Attended Follow-up',
];
const BATCH_ACTIONS = ['Send Invite', 'Send Reminder', 'Send Follow-up', 'Data Cleanup', 'Add to Nurture'];

/** Small, fast, deterministic PRNG (mulberry32). */
export function prng(seed: number): () => number {
  let a = (seed ^ 0x9e3779b9) >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function pick<T>(rand: () => number, items: readonly T[]): T {
  return items[Math.floor(rand() * items.length)]!;
}

function between(rand: () => number, lo: number, hi: number): number {
  return lo + Math.floor(rand() * Math.max(0, hi - lo));
}

function uniqueName(taken: Set<string>, base: string): string {
  let name = base;
  for (let n = 2; taken.has(name.toLowerCase()); n++) name = `${base} ${n}`;
  taken.add(name.toLowerCase());
  return name;
}

export interface GeneratedAssets {
  folders: Folder[];
  programs: Program[];
  campaigns: SmartCampaign[];
}

export function generateAssets(seed: number, asOf: number): GeneratedAssets {
  const rand = prng(seed * 31 + 7);
  // Nothing generated may look newer than an hour before asOf: writes made "now" must sort after it.
  const latest = wholeSeconds(asOf - HOUR);
  const names = new Set<string>();
  const programs: Program[] = [];
  for (let i = 0; i < PROGRAM_COUNT; i++) {
    // Every type appears: the first five programs walk the profiles in order.
    const profile = i < PROFILES.length ? PROFILES[i]! : pick(rand, PROFILES);
    const createdAt = wholeSeconds(asOf - between(rand, 30 * DAY, 900 * DAY));
    const updatedAt = wholeSeconds(between(rand, createdAt, latest));
    const year = new Date(createdAt).getUTCFullYear();
    const quarter = Math.floor(new Date(createdAt).getUTCMonth() / 3) + 1;
    const topic = pick(rand, TOPICS);
    const generatedName = `${pick(rand, profile.prefixes)} ${topic} ${year}-Q${quarter}`;
    const named = NAMED_PROGRAMS[i];
    const name = uniqueName(names, named?.name ?? generatedName);
    const description = rand() < 0.2 ? '' : `${profile.type} program about ${topic.toLowerCase()}`;
    // Drawn for every program so the named ones leave the rest of the sequence as it was.
    const channel = pick(rand, profile.channels);
    const program: Program = {
      id: FIRST_PROGRAM_ID + i,
      name,
      description,
      type: profile.type,
      channel: named?.channel ?? channel,
      folderId: pick(rand, profile.folders),
      status:
        profile.type === 'Engagement'
          ? rand() < 0.6
            ? 'on'
            : 'off'
          : profile.type === 'Email'
            ? rand() < 0.5
              ? 'locked'
              : 'unlocked'
            : '',
      workspace: WORKSPACE,
      createdAt,
      updatedAt,
      tags: [{ tagType: 'Program Owner', tagValue: pick(rand, OWNERS) }],
      costs: [],
    };
    if (rand() < 0.5) program.tags.push({ tagType: 'Region', tagValue: pick(rand, REGIONS) });
    const costCount = profile.type === 'Email' ? 0 : between(rand, 0, 3);
    for (let c = 0; c < costCount; c++) {
      const d = new Date(createdAt);
      program.costs.push({
        startDate: Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + c, 1),
        cost: between(rand, 5, 200) * 100,
        note: c === 0 ? 'Launch budget' : '',
      });
    }
    if (profile.type === 'Event' || profile.type === 'Event with Webinar') {
      program.startDate = wholeSeconds(createdAt + between(rand, 7 * DAY, 60 * DAY));
      program.endDate = program.startDate + (profile.type === 'Event' ? DAY : 2 * HOUR);
    }
    programs.push(program);
  }

  // Email programs run their own send; campaigns live in the other program types.
  const hosts = programs.filter((p) => p.type !== 'Email');
  const campaigns: SmartCampaign[] = [];
  for (let i = 0; i < CAMPAIGN_COUNT; i++) {
    const program = i < hosts.length ? hosts[i]! : pick(rand, hosts);
    // Alternate types so both kinds are always present; every 4th is a requestable trigger.
    const type = i % 2 === 0 ? 'trigger' : 'batch';
    const isRequestable = type === 'trigger' && i % 4 === 0;
    const isActive = isRequestable ? i % 8 === 0 || rand() < 0.7 : rand() < 0.4;
    const createdAt = wholeSeconds(
      program.createdAt + between(rand, 0, Math.min(30 * DAY, latest - program.createdAt)),
    );
    const updatedAt = wholeSeconds(between(rand, createdAt, latest));
    const action = pick(rand, type === 'trigger' ? TRIGGER_ACTIONS : BATCH_ACTIONS);
    const qualification = pick(rand, ['once', 'any', 'interval'] as const);
    const campaign: SmartCampaign = {
      id: FIRST_CAMPAIGN_ID + i,
      name: uniqueName(names, `${program.name} - ${action}`),
      description: rand() < 0.3 ? '' : `${action} for ${program.name}`,
      type,
      programId: program.id,
      isActive,
      isRequestable,
      recurring: type === 'batch' && rand() < 0.3,
      hasRun: type === 'batch' && rand() < 0.6,
      qualificationRuleType: qualification,
      smartListId: 5001 + i,
      flowId: 8001 + i,
      createdAt,
      updatedAt,
    };
    if (qualification === 'interval') {
      campaign.qualificationRuleInterval = between(rand, 1, 8);
      campaign.qualificationRuleUnit = pick(rand, ['hour', 'day', 'week', 'month'] as const);
    }
    if (rand() < 0.2) campaign.maxMembers = between(rand, 1, 50) * 100;
    campaigns.push(campaign);
  }
  return { folders: FOLDERS.map((f) => ({ ...f })), programs, campaigns };
}
