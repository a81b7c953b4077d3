import type { ActivityRecord, FieldValue, LeadRecord } from '../model.ts';
import { hash, pick, unit } from './random.ts';
import { T } from './types.ts';
import type { Program } from '../assets/model.ts';
import { NO_REFERENCES, type SeededReferences } from '../assets/references.ts';
import { NOT_IN_PROGRAM, PROGRESSION_STATUSES } from '../assets/statuses.ts';
import { programMember } from '../membership/model.ts';
import type { LeadSeedInfo } from '../leads/generator.ts';

/**
 * The generated activity history of a seeded instance, computed on demand from (seed, index).
 *
 * Two interleaved sequences make it up:
 * - "New Lead" for every generated lead created inside the window; lead j's creation time follows
 *   the lead generator's formula `asOf − 730 d + floor((j−1)·730 d / N)`;
 * - "other" activities k = 0..G−1 spread evenly over the 90 days before `asOf`, each for a lead
 *   that already existed at its time, with a hash-chosen type.
 * An item's id is its rank in the merged (time, New-Lead-first) order, computable in O(1), so
 * ids grow with time and a page can start anywhere without replaying the history.
 */

export const DAY_MS = 86_400_000;
/** Generated leads are created over the two years before `asOf` (leads/generator.ts). */
export const LEAD_SPAN_MS = 730 * DAY_MS;
/** Generated activities cover the 90 days before `asOf`. */
export const HISTORY_SPAN_MS = 90 * DAY_MS;

export interface HistoryOptions {
  leads: number;
  seed: number;
  asOf: number;
  activitiesPerLead: number;
  /** Days over which the leads were created (leads/generator.ts; default 730). */
  spanDays?: number;
}

/** A resumable position in (activityDate, id) order: everything up to and including it is done. */
export interface Position {
  time: number;
  id: number;
}

/**
 * One ordered source of activities seen through its head item. Only the cheap fields are
 * computed while scanning; `materialize()` builds the record for items that pass the filters.
 */
export interface Stream {
  live: boolean;
  time: number;
  id: number;
  typeId: number;
  leadId: number;
  advance(): void;
  materialize(): ActivityRecord;
}

/** A lead field that generated "Change Data Value" activities may touch. */
export interface ChangeField {
  id: number;
  name: string;
  displayName: string;
  pool: string[];
}

/** What the generator needs from the lead database (kept narrow so it stays testable). */
export interface LeadLookup {
  changeFields(): ChangeField[];
  scoreField(): { id: number; displayName: string };
  /** The lead as the API reads it now (undefined when deleted or unknown). */
  lead(leadId: number): LeadRecord | undefined;
}

/** Type mix of the "other" sequence, in percent. */
const TYPE_WEIGHTS: [number, number][] = [
  [T.VISIT_WEBPAGE, 30],
  [T.SEND_EMAIL, 12],
  [T.EMAIL_DELIVERED, 11],
  [T.OPEN_EMAIL, 12],
  [T.CLICK_EMAIL, 5],
  [T.CLICK_LINK, 5],
  [T.FILL_OUT_FORM, 4],
  [T.CHANGE_DATA_VALUE, 8],
  [T.CHANGE_SCORE, 6],
  [T.CHANGE_PROGRAM_STATUS, 3],
  [T.EMAIL_BOUNCED, 1],
  [T.UNSUBSCRIBE_EMAIL, 1],
  [T.WATCH_WEBINAR_RECORDING, 2],
];
const TYPE_TABLE: number[] = TYPE_WEIGHTS.flatMap(([id, w]) => Array<number>(w).fill(id));

/** Types that the "other" sequence can produce (New Lead comes from its own sequence). */
export const GENERATED_OTHER_TYPES: ReadonlySet<number> = new Set(TYPE_WEIGHTS.map(([id]) => id));

const PAGES = [
  { id: 1021, url: '/', title: 'Home' },
  { id: 1022, url: '/pricing.html', title: 'Pricing' },
  { id: 1023, url: '/product/overview.html', title: 'Product Overview' },
  { id: 1024, url: '/blog/email-deliverability-checklist.html', title: 'Blog' },
  { id: 1025, url: '/resources/state-of-b2b-marketing-report.html', title: 'Report' },
  { id: 1026, url: '/contact-us.html', title: 'Contact Us' },
  { id: 1027, url: '/webinars/q1-product-launch.html', title: 'Webinar' },
  { id: 1028, url: '/customers.html', title: 'Customers' },
];
const SITE = 'www.example.com';
const LINKS = [
  { id: 1201, url: 'https://www.example.com/pricing.html', page: 1021 },
  { id: 1202, url: 'https://www.example.com/demo.html', page: 1023 },
  { id: 1203, url: 'https://www.example.com/resources.html', page: 1024 },
];
const AGENTS = [
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36',
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15',
  'Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148',
  'Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0',
];
const REFERRERS = ['https://www.google.com/', 'https://www.linkedin.com/', '', 'https://www.bing.com/'];
const NEW_LEAD_SOURCES = [
  { sourceType: 'Web form fillout', leadSource: 'Website' },
  { sourceType: 'List import', leadSource: 'Trade Show' },
  { sourceType: 'Salesforce.com', leadSource: 'Sales' },
  { sourceType: 'Web service API', leadSource: 'Partner' },
];

/** Salts keep the hash streams of different decisions independent. */
const SALT = { type: 1, lead: 2, detail: 3, detail2: 4, newLead: 5 } as const;

const attr = (name: string, value: FieldValue) => ({ name, value });

export class History {
  readonly n: number;
  readonly seed: number;
  readonly asOf: number;
  /** Creation time of lead 1. */
  private readonly c0: number;
  /** Span over which the leads were created, ending at `asOf`. */
  private readonly leadSpanMs: number;
  /** Start of the activity window. */
  readonly start: number;
  /** First lead created inside the window (N+1 when none). */
  readonly l0: number;
  /** Number of "other" activities. */
  readonly g: number;
  private readonly step: number;
  /** The generated leads as the lead database and program membership derive them. */
  private readonly leadInfo: LeadSeedInfo;

  constructor(
    opts: HistoryOptions,
    private readonly lookup: LeadLookup,
    /** Programs, emails, forms and lists the history refers to, from the seeded catalog. */
    private readonly refs: SeededReferences = NO_REFERENCES,
  ) {
    this.n = Math.max(0, Math.floor(opts.leads));
    this.seed = opts.seed | 0;
    this.asOf = opts.asOf;
    this.leadSpanMs = (opts.spanDays ?? 730) * DAY_MS;
    this.c0 = opts.asOf - this.leadSpanMs;
    this.start = opts.asOf - HISTORY_SPAN_MS;
    const enabled = this.n > 0 && opts.activitiesPerLead > 0;
    this.l0 = enabled ? this.firstLeadAtOrAfter(this.start) : this.n + 1;
    const newLeads = this.n + 1 - this.l0;
    this.g = enabled ? Math.max(0, Math.round(this.n * opts.activitiesPerLead) - newLeads) : 0;
    this.step = this.g > 0 ? HISTORY_SPAN_MS / this.g : 0;
    this.leadInfo = { seed: opts.seed, leads: opts.leads, asOf: opts.asOf, spanMs: this.leadSpanMs };
  }

  /** Number of generated activities; their ids are 1..size(). */
  size(): number {
    return this.n + 1 - this.l0 + this.g;
  }

  createdAt(leadId: number): number {
    return this.c0 + Math.floor(((leadId - 1) * this.leadSpanMs) / this.n);
  }

  /** Smallest lead id in [1, N+1] created at or after `t` (N+1: none). */
  firstLeadAtOrAfter(t: number): number {
    if (this.n === 0) return 1;
    let j = Math.ceil(((t - this.c0) * this.n) / this.leadSpanMs) + 1;
    j = Math.min(this.n + 1, Math.max(1, j));
    while (j > 1 && this.createdAt(j - 1) >= t) j--;
    while (j <= this.n && this.createdAt(j) < t) j++;
    return j;
  }

  otherTime(k: number): number {
    return this.start + Math.floor(k * this.step);
  }

  /** Smallest k in [0, G] whose time is at or after `t` (G: none). */
  firstOtherAtOrAfter(t: number): number {
    if (this.g === 0) return 0;
    let k = Math.ceil((t - this.start) / this.step);
    k = Math.min(this.g, Math.max(0, k));
    while (k > 0 && this.otherTime(k - 1) >= t) k--;
    while (k < this.g && this.otherTime(k) < t) k++;
    return k;
  }

  /** Id of lead j's New Lead activity: New Lead sorts before other activities of the same ms. */
  newLeadActivityId(j: number): number {
    return j - this.l0 + this.firstOtherAtOrAfter(this.createdAt(j)) + 1;
  }

  /** The New Lead sequence from just after `after`. */
  newLeadStream(after: Position): Stream {
    return skipTo(new NewLeadStream(this, Math.max(this.l0, this.firstLeadAtOrAfter(after.time))), after);
  }

  /** The "other" sequence from just after `after`. */
  otherStream(after: Position): Stream {
    return skipTo(new OtherStream(this, this.firstOtherAtOrAfter(after.time)), after);
  }

  /** Head fields of "other" activity k (the cheap part: time, id, lead, type). */
  loadOther(k: number, s: Stream): void {
    s.time = this.otherTime(k);
    // Leads that exist at this instant are 1..(first lead created after it) − 1.
    const nextLead = this.firstLeadAtOrAfter(s.time + 1);
    s.id = k + (nextLead - this.l0) + 1;
    s.leadId = 1 + pick(hash(this.seed, SALT.lead, k), nextLead - 1);
    s.typeId = TYPE_TABLE[pick(hash(this.seed, SALT.type, k), TYPE_TABLE.length)]!;
  }

  newLead(leadId: number, id: number, time: number): ActivityRecord {
    const src = NEW_LEAD_SOURCES[pick(hash(this.seed, SALT.newLead, leadId), NEW_LEAD_SOURCES.length)]!;
    const attributes = [
      attr('Created Date', new Date(time).toISOString().slice(0, 10)),
      attr('Lead Source', src.leadSource),
      attr('Source Type', src.sourceType),
    ];
    const form = this.refs.forms[0];
    if (src.sourceType === 'Web form fillout' && form) attributes.push(attr('Form Name', form.name));
    if (src.sourceType === 'List import') attributes.push(attr('List Name', this.refs.importListName));
    if (src.sourceType === 'Web service API') attributes.push(attr('API Method Name', 'syncLead'));
    return {
      id,
      marketoGUID: String(id),
      leadId,
      activityDate: time,
      activityTypeId: T.NEW_LEAD,
      attributes,
      fields: [],
    };
  }

  other(k: number, head: Stream): ActivityRecord {
    const h = hash(this.seed, SALT.detail, k);
    const h2 = hash(this.seed, SALT.detail2, k);
    const rec: ActivityRecord = {
      id: head.id,
      marketoGUID: String(head.id),
      leadId: head.leadId,
      activityDate: head.time,
      activityTypeId: head.typeId,
      attributes: [],
    };
    switch (head.typeId) {
      case T.VISIT_WEBPAGE: {
        const page = PAGES[h % PAGES.length]!;
        rec.primaryAttributeValueId = page.id;
        rec.primaryAttributeValue = SITE + page.url;
        const utm = (h2 >>> 8) % 3 === 0 ? 'utm_source=newsletter&utm_medium=email' : '';
        rec.attributes.push(
          attr('Client IP Address', ipOf(h)),
          attr('Query Parameters', utm),
          attr('Referrer URL', referrerOf(h2)),
          attr('User Agent', agentOf(h2)),
          attr('Webpage URL', page.url),
        );
        break;
      }
      case T.FILL_OUT_FORM: {
        const forms = this.refs.forms;
        if (forms.length === 0) break;
        const form = forms[h % forms.length]!;
        rec.primaryAttributeValueId = form.id;
        rec.primaryAttributeValue = form.name;
        rec.attributes.push(
          attr('Client IP Address', ipOf(h)),
          attr('Form Fields', 'a:2:{s:9:"FirstName";s:0:"";s:5:"Email";s:0:"";}'),
          attr('Referrer URL', referrerOf(h2)),
          attr('User Agent', agentOf(h2)),
          attr('Webpage ID', form.page),
        );
        break;
      }
      case T.CLICK_LINK: {
        const link = LINKS[h % LINKS.length]!;
        rec.primaryAttributeValueId = link.id;
        rec.primaryAttributeValue = link.url;
        rec.attributes.push(
          attr('Client IP Address', ipOf(h)),
          attr('Referrer URL', referrerOf(h2)),
          attr('User Agent', agentOf(h2)),
          attr('Webpage ID', link.page),
        );
        break;
      }
      case T.SEND_EMAIL:
      case T.EMAIL_DELIVERED:
        this.mailing(rec, h, h2);
        break;
      case T.OPEN_EMAIL:
        this.mailing(rec, h, h2);
        emailClient(rec, h2);
        rec.attributes.push(attr('Is Bot Activity', false));
        break;
      case T.CLICK_EMAIL: {
        this.mailing(rec, h, h2);
        emailClient(rec, h2);
        const link = LINKS[h2 % LINKS.length]!;
        rec.attributes.push(attr('Link', link.url), attr('Link ID', link.id), attr('Is Bot Activity', false));
        break;
      }
      case T.EMAIL_BOUNCED:
        this.mailing(rec, h, h2);
        rec.attributes.push(
          attr('Category', '1'),
          attr('Details', '550 5.1.1 User unknown'),
          attr('Subcategory', '1003'),
        );
        break;
      case T.UNSUBSCRIBE_EMAIL:
        this.mailing(rec, h, h2);
        rec.attributes.push(attr('Client IP Address', ipOf(h)), attr('User Agent', agentOf(h2)));
        break;
      case T.CHANGE_DATA_VALUE:
        this.changeDataValue(rec, h, h2);
        break;
      case T.CHANGE_SCORE: {
        const score = this.lookup.scoreField();
        const delta = [5, 10, 15, -5, 20][h % 5]!;
        const old = (h2 % 20) * 5;
        rec.primaryAttributeValueId = score.id;
        rec.primaryAttributeValue = score.displayName;
        rec.attributes.push(
          attr('Change Value', delta > 0 ? `+${delta}` : String(delta)),
          attr('New Value', old + delta),
          attr('Old Value', old),
          attr('Reason', delta > 0 ? 'Visited pricing page' : 'Inactivity decay'),
        );
        break;
      }
      case T.CHANGE_PROGRAM_STATUS:
        this.changeProgramStatus(rec, h, h2);
        break;
      case T.WATCH_WEBINAR_RECORDING: {
        const seconds = 60 + (h2 % 3000);
        const webinars = this.refs.webinars;
        if (webinars.length > 0) rec.primaryAttributeValue = webinars[h % webinars.length]!;
        rec.attributes.push(
          attr('Seconds Watched', seconds),
          attr('Completion Percent', Math.round((seconds / 3600) * 1000) / 10),
          attr('Platform', 'ON24'),
        );
        break;
      }
    }
    return rec;
  }

  /** Email activities: the mailing as primary attribute, the campaign that sent it, and the send run. */
  private mailing(rec: ActivityRecord, h: number, h2: number): void {
    const emails = this.refs.emails;
    if (emails.length === 0) return;
    const email = emails[h % emails.length]!;
    rec.primaryAttributeValueId = email.id;
    rec.primaryAttributeValue = email.name;
    if (email.campaignId !== undefined) rec.campaignId = email.campaignId;
    rec.attributes.push(
      attr('Campaign Run ID', 5000 + (h2 % 900)),
      attr('Choice Number', 0),
      attr('Step ID', 7),
    );
  }

  /**
   * A program status change that agrees with program membership (membership/model.ts): for a
   * program the lead had joined by then, a step of its channel's progression up to the status the
   * lead has now; otherwise the lead left a program that existed then ("Not in Program"), which a
   * later membership does not contradict either.
   */
  private changeProgramStatus(rec: ActivityRecord, h: number, h2: number): void {
    const at = rec.activityDate;
    const joined: [Program, number][] = [];
    for (const p of this.refs.programs) {
      const m = programMember(this.leadInfo, p, rec.leadId);
      if (!m || m.membershipDate > at) continue;
      const current = PROGRESSION_STATUSES[p.type].findIndex((st) => st.name === m.progressionStatus);
      joined.push([p, Math.max(1, current + 1)]);
    }
    let program: Program;
    let from: number;
    let to: number;
    if (joined.length > 0) {
      const [p, current] = joined[h % joined.length]!;
      program = p;
      to = 1 + (h2 % current);
      from = to - 1;
    } else {
      const existing = this.refs.programs.filter((p) => p.createdAt <= at);
      if (existing.length === 0) return;
      program = existing[h % existing.length]!;
      from = 1 + (h2 % PROGRESSION_STATUSES[program.type].length);
      to = 0;
    }
    // Index 0 is "Not in Program"; the channel's statuses follow in progression order.
    const statuses = [{ name: NOT_IN_PROGRAM, success: false }, ...PROGRESSION_STATUSES[program.type]];
    rec.primaryAttributeValueId = program.id;
    rec.primaryAttributeValue = program.name;
    rec.attributes.push(
      attr('Acquired By', from === 0),
      attr('New Status', statuses[to]!.name),
      attr('New Status ID', program.id * 10 + to),
      attr('Old Status', statuses[from]!.name),
      attr('Old Status ID', program.id * 10 + from),
      attr('Reason', 'Changed by Smart Campaign'),
      attr('Success', statuses[to]!.success),
    );
  }

  private changeDataValue(rec: ActivityRecord, h: number, h2: number): void {
    const fields = this.lookup.changeFields();
    if (fields.length === 0) return;
    // The newest change of a field must agree with the lead as the API reads it, so prefer a
    // field the lead has a value for and report that value.
    let f = fields[h % fields.length]!;
    let current: FieldValue | undefined;
    const lead = this.lookup.lead(rec.leadId);
    for (let i = 0; i < fields.length; i++) {
      const candidate = fields[(h + i) % fields.length]!;
      const v = lead?.[candidate.name];
      if (v !== undefined && v !== null && v !== '') {
        f = candidate;
        current = v;
        break;
      }
    }
    const newValue = current ?? f.pool[h2 % f.pool.length]!;
    const old = unit(hash(this.seed, SALT.detail2, h)) < 0.25 ? null : f.pool[(h2 >>> 3) % f.pool.length]!;
    const oldValue = old === newValue ? null : old;
    rec.primaryAttributeValueId = f.id;
    rec.primaryAttributeValue = f.displayName;
    rec.attributes.push(
      attr('New Value', newValue),
      attr('Old Value', oldValue),
      attr('Reason', 'Changed by Smart Campaign'),
      attr('Source', 'Marketo Flow Action'),
    );
    rec.fields = [{ id: f.id, name: f.name, newValue, oldValue }];
  }
}

function ipOf(h: number): string {
  return `${64 + (h & 127)}.${(h >>> 7) & 255}.${(h >>> 15) & 255}.${1 + ((h >>> 23) % 254)}`;
}

function agentOf(h2: number): string {
  return AGENTS[h2 % AGENTS.length]!;
}

function referrerOf(h2: number): string {
  return REFERRERS[(h2 >>> 4) % REFERRERS.length]!;
}

/** Opens and clicks: the reader's device. */
function emailClient(rec: ActivityRecord, h2: number): void {
  const agent = agentOf(h2);
  const mobile = agent.includes('iPhone');
  rec.attributes.push(
    attr('Device', mobile ? 'iPhone' : 'Desktop'),
    attr('Is Mobile Device', mobile),
    attr('Platform', agent.includes('Windows') ? 'Windows' : agent.includes('Mac') ? 'Mac OS' : 'Other'),
    attr('User Agent', agent),
  );
}

/** Skip the items at `after.time` already handed out (ids up to `after.id`). */
function skipTo(s: Stream, after: Position): Stream {
  while (s.live && s.time === after.time && s.id <= after.id) s.advance();
  return s;
}

class NewLeadStream implements Stream {
  live = false;
  time = 0;
  id = 0;
  readonly typeId = T.NEW_LEAD;
  leadId = 0;

  constructor(
    private readonly h: History,
    private j: number,
  ) {
    this.load();
  }

  advance(): void {
    this.j++;
    this.load();
  }

  materialize(): ActivityRecord {
    return this.h.newLead(this.leadId, this.id, this.time);
  }

  private load(): void {
    this.live = this.j <= this.h.n;
    if (!this.live) return;
    this.leadId = this.j;
    this.time = this.h.createdAt(this.j);
    this.id = this.h.newLeadActivityId(this.j);
  }
}

class OtherStream implements Stream {
  live = false;
  time = 0;
  id = 0;
  typeId = 0;
  leadId = 0;

  constructor(
    private readonly h: History,
    private k: number,
  ) {
    this.load();
  }

  advance(): void {
    this.k++;
    this.load();
  }

  materialize(): ActivityRecord {
    return this.h.other(this.k, this);
  }

  private load(): void {
    this.live = this.k < this.h.g;
    if (this.live) this.h.loadOther(this.k, this);
  }
}

/** Fields that generated "Change Data Value" activities touch, with plausible values. */
export const CHANGE_FIELD_POOLS: { name: string; displayName: string; pool: string[] }[] = [
  {
    name: 'title',
    displayName: 'Job Title',
    pool: [
      'Marketing Manager',
      'VP Marketing',
      'Director of Demand Generation',
      'Marketing Operations Analyst',
    ],
  },
  {
    name: 'leadStatus',
    displayName: 'Lead Status',
    pool: ['Open', 'Contacted', 'Qualified', 'Nurture', 'Unqualified'],
  },
  {
    name: 'phone',
    displayName: 'Phone Number',
    pool: ['+1 415 555 0134', '+1 312 555 0188', '+44 20 7946 0321'],
  },
  { name: 'city', displayName: 'City', pool: ['Chicago', 'San Francisco', 'Austin', 'London', 'Boston'] },
  {
    name: 'industry',
    displayName: 'Industry',
    pool: ['Software', 'Financial Services', 'Healthcare', 'Manufacturing', 'Education'],
  },
];
