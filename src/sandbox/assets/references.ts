import { NAMED_PROGRAMS } from './generate.ts';
import type { Program, SmartCampaign } from './model.ts';

/**
 * What seeded data outside the asset catalog refers to (static lists, emails, forms, webinars),
 * derived from the catalog's seeded programs and smart campaigns rather than kept as a second copy
 * of their names: a reference always resolves through the asset and lead database APIs.
 */

/** The programs the seeded lists, emails and forms belong to (ids of generate.ts NAMED_PROGRAMS). */
const ROLE = {
  report: NAMED_PROGRAMS[0]!.id,
  nurture: NAMED_PROGRAMS[1]!.id,
  newsletter: NAMED_PROGRAMS[2]!.id,
  tradeShow: NAMED_PROGRAMS[3]!.id,
  webinar: NAMED_PROGRAMS[4]!.id,
} as const;
type Role = keyof typeof ROLE;

/** A Marketo email as activities name it: "Program.Email" for an email that lives in a program. */
export interface EmailRef {
  id: number;
  name: string;
  /** The smart campaign that sends it; absent for Email programs, which send without one here. */
  campaignId?: number;
}

/** A form: Design Studio forms have a bare name, program forms "Program.Form". */
export interface FormRef {
  id: number;
  name: string;
  /** The web page (Webpage ID) the form is on. */
  page: number;
}

/** A seeded static list (lists/lists.ts): its program is an id into the catalog. */
export interface ListDef {
  id: number;
  name: string;
  description?: string;
  programId?: number;
  /** Share of generated leads that are members. */
  share: number;
  ageDays: number;
}

export interface SeededReferences {
  /** Seeded programs, id order: "Change Status in Progression" activities pick from them. */
  programs: readonly Program[];
  emails: readonly EmailRef[];
  forms: readonly FormRef[];
  /** Titles of recorded webinars: the names of webinar programs. */
  webinars: readonly string[];
  /** The list a "List import" New Lead was imported into. */
  importListName: string;
}

/** Page ids of the generated Visit Webpage activities that forms sit on (activities/generator.ts). */
const CONTACT_PAGE = 1026;
const WEBINAR_PAGE = 1027;
const REPORT_PAGE = 1025;

function programOf(programs: readonly Program[], role: Role): Program {
  const p = programs.find((x) => x.id === ROLE[role]);
  if (!p) throw new Error(`seeded program ${ROLE[role]} (${role}) is missing`);
  return p;
}

/** The smart campaign that sends a program's emails: a batch campaign of it when there is one. */
function senderOf(campaigns: readonly SmartCampaign[], program: Program): number | undefined {
  const own = campaigns.filter((c) => c.programId === program.id);
  return (own.find((c) => c.type === 'batch') ?? own[0])?.id;
}

/** The static lists of a seeded instance, named after (and belonging to) catalog programs. */
export function seededLists(programs: readonly Program[]): ListDef[] {
  const webinar = programOf(programs, 'webinar');
  const tradeShow = programOf(programs, 'tradeShow');
  return [
    {
      id: 1001,
      name: 'Newsletter Subscribers',
      description: 'Opted in to the monthly newsletter',
      programId: programOf(programs, 'newsletter').id,
      share: 0.3,
      ageDays: 420,
    },
    { id: 1002, name: `${webinar.name} - Registrants`, programId: webinar.id, share: 0.08, ageDays: 300 },
    { id: 1003, name: `${tradeShow.name} - Booth Scans`, programId: tradeShow.id, share: 0.03, ageDays: 250 },
    {
      id: 1004,
      name: 'Key Accounts',
      description: 'Named accounts owned by enterprise sales',
      share: 0.01,
      ageDays: 510,
    },
    { id: 1005, name: 'Suppression - Competitors', share: 0.002, ageDays: 640 },
  ];
}

/**
 * References of the generated history, from the catalog as seeded (a snapshot: history keeps the
 * names things had, later renames through the API do not rewrite it).
 */
export function seededReferences(
  programs: readonly Program[],
  campaigns: readonly SmartCampaign[],
): SeededReferences {
  const report = programOf(programs, 'report');
  const nurture = programOf(programs, 'nurture');
  const newsletter = programOf(programs, 'newsletter');
  const webinar = programOf(programs, 'webinar');
  const email = (id: number, program: Program, name: string): EmailRef => {
    const ref: EmailRef = { id, name: `${program.name}.${name}` };
    const sender = senderOf(campaigns, program);
    if (sender !== undefined) ref.campaignId = sender;
    return ref;
  };
  return {
    programs: programs.map((p) => ({ ...p })),
    emails: [
      email(2101, newsletter, 'November Newsletter'),
      email(2102, webinar, 'Invitation'),
      email(2103, webinar, 'Reminder'),
      email(2104, nurture, 'Welcome Email'),
      email(2105, report, 'Follow-up'),
    ],
    forms: [
      { id: 1101, name: 'Contact Us Form', page: CONTACT_PAGE },
      { id: 1102, name: `${webinar.name}.Registration Form`, page: WEBINAR_PAGE },
      { id: 1103, name: `${report.name}.Download Form`, page: REPORT_PAGE },
    ],
    webinars: programs
      .filter((p) => p.type === 'Event with Webinar')
      .slice(0, 3)
      .map((p) => p.name),
    importListName: seededLists(programs).find((l) => l.programId === ROLE.tradeShow)!.name,
  };
}

/** References of an instance without data (nothing is generated from them). */
export const NO_REFERENCES: SeededReferences = {
  programs: [],
  emails: [],
  forms: [],
  webinars: [],
  importListName: '',
};
