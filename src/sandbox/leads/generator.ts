import type { FieldValue, LeadRecord } from '../model.ts';
import {
  ISO_MAX_MS,
  ISO_MIN_MS,
  putBytes,
  putCell,
  putIsoDay,
  putIsoSeconds,
  putNull,
  putBool,
  putHundredths,
  putNumber,
  putStr,
  putUint,
} from '../bulk/bytes.ts';
import { LEAD_FIELDS } from './fields.ts';

/**
 * Procedural leads: every value of generated lead `id` is a pure function of (seed, id, count,
 * asOf), computed on demand from a cheap integer hash, so a million leads cost no memory.
 *
 * CONTRACT (the activities and bulk modules rely on it):
 *   createdAt(id) = asOf − SPAN + floor((id − 1) · SPAN / N), SPAN = spanMs (default 730 days):
 *   ascending with id;
 *   createdAt(id) ≤ updatedAt(id) ≤ asOf.
 */

export const SPAN_MS = 730 * 86_400_000;

/** What fixes a generated lead set. */
export interface LeadSeedInfo {
  seed: number;
  /** Number of generated leads N (ids 1..N). */
  leads: number;
  /** Epoch ms the generated history ends at. */
  asOf: number;
  /** Leads are created over this span before `asOf` (default {@link SPAN_MS}). */
  spanMs?: number;
}

/** Creation instant (epoch ms) of generated lead `id`. */
export function leadCreatedAt(id: number, info: LeadSeedInfo): number {
  const span = info.spanMs ?? SPAN_MS;
  return info.asOf - span + Math.floor(((id - 1) * span) / info.leads);
}

/**
 * How many generated leads exist at instant `t`: ids 1..k have createdAt < t, the others do not.
 * Activities use it to attach history only to leads that already existed.
 */
export function leadIdsCreatedBefore(t: number, info: LeadSeedInfo): number {
  const n = info.leads;
  if (n <= 0 || leadCreatedAt(1, info) >= t) return 0;
  // Estimate from the inverse formula, then settle on the exact boundary (float rounding).
  const span = info.spanMs ?? SPAN_MS;
  let k = Math.min(n, Math.max(1, Math.ceil(((t - (info.asOf - span)) * n) / span)));
  while (k > 0 && leadCreatedAt(k, info) >= t) k--;
  while (k < n && leadCreatedAt(k + 1, info) < t) k++;
  return k;
}

/** Last update instant (epoch ms) of generated lead `id`, before any API change. */
export function leadUpdatedAt(id: number, info: LeadSeedInfo): number {
  const created = leadCreatedAt(id, info);
  const s = mixSeed(info.seed);
  if (hash(s, id, SALT.updated) % 100 < 35) return created;
  return created + Math.floor(unit(hash(s, id, SALT.updatedFrac)) * (info.asOf - created));
}

// ---------------------------------------------------------------------------------------------
// Hashing

// Hashes stay int32 inside and come out as 30-bit values: V8 keeps those as small integers
// (no heap numbers, integer modulo), which makes a field draw a few nanoseconds.
function fmix(x: number): number {
  let h = x | 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h;
}

function mixSeed(seed: number): number {
  return fmix((seed | 0) ^ fmix(Math.floor(seed / 4294967296) | 0) ^ 0x6a09e667);
}

/** A 30-bit hash of (seed, id, salt): one independent draw per salt. */
function hash(seed32: number, id: number, salt: number): number {
  return fmix(fmix((id ^ seed32) + Math.imul(salt, 0x9e3779b9)) ^ Math.imul(salt + 1, 0x27d4eb2f)) >>> 2;
}

/** A hash as a fraction in [0, 1). */
function unit(h: number): number {
  return h / 1073741824;
}

const PAD2 = Array.from({ length: 60 }, (_, i) => String(i).padStart(2, '0'));
/** `HH:MM` by minute of the day, `:SSZ` by second: a time is two table reads. */
const HH_MM = Array.from({ length: 1440 }, (_, i) => `${PAD2[Math.floor(i / 60)]}:${PAD2[i % 60]}`);
const SS_Z = PAD2.map((ss) => `:${ss}Z`);
const dayPrefix = new Map<number, string>();
/** The last day looked up: consecutive leads are mostly created on the same day. */
let lastDay = NaN;
let lastPrefix = '';

/** `YYYY-MM-DDT` of a day number (days since the epoch), cached. */
function dayPrefixOf(day: number): string {
  if (day === lastDay) return lastPrefix;
  let prefix = dayPrefix.get(day);
  if (prefix === undefined) {
    // Room for every day the generated dates fall on (births span 40 years): a smaller cache
    // would be cleared over and over, each miss costing a Date#toISOString.
    if (dayPrefix.size > 32768) dayPrefix.clear();
    prefix = new Date(day * 86_400_000).toISOString().slice(0, 11);
    dayPrefix.set(day, prefix);
  }
  lastDay = day;
  lastPrefix = prefix;
  return prefix;
}

/**
 * `YYYY-MM-DDTHH:MM:SSZ` (the lead database's date format), several times faster than
 * `Date#toISOString`: the date part is cached per day, the time part read from tables.
 */
export function isoSecondsFast(ms: number): string {
  const secs = Math.floor(ms / 1000);
  const day = Math.floor(secs / 86400);
  const sod = secs - day * 86400;
  return dayPrefixOf(day) + HH_MM[Math.floor(sod / 60)]! + SS_Z[sod % 60]!;
}

/** `YYYY-MM-DD`: `isoSecondsFast(ms).slice(0, 10)` without the time part. */
function isoDayFast(ms: number): string {
  return dayPrefixOf(Math.floor(Math.floor(ms / 1000) / 86400)).slice(0, 10);
}

/**
 * `String(n)`, faster for the large integers of epoch milliseconds and ids offset by 10^14: those
 * are not int32, and V8 prints them through its shortest-double algorithm. Two int32 halves print
 * through the integer path.
 */
function intString(n: number): string {
  if (n >= 1e9 && n < 1e15 && Number.isInteger(n)) {
    const hi = Math.floor(n / 1e6);
    return String(hi) + low6(n - hi * 1e6);
  }
  return String(n);
}

/** Six digits, zero-padded. */
function low6(n: number): string {
  return String(1e6 + n).slice(1);
}

const SALT = {
  first: 1,
  last: 2,
  company: 3,
  city: 4,
  updated: 5,
  updatedFrac: 6,
  salutation: 7,
  middle: 8,
  title: 9,
  phone: 10,
  mobile: 11,
  fax: 12,
  address: 13,
  postal: 14,
  leadSource: 15,
  leadStatus: 16,
  rating: 17,
  role: 18,
  score: 19,
  relScore: 20,
  priority: 21,
  urgency: 22,
  flags: 23,
  birth: 24,
  source: 25,
  inferred: 26,
  cookie: 27,
  social: 28,
  crm: 29,
  owner: 30,
  tier: 31,
  interest: 32,
  customer: 33,
  renewal: 34,
  contract: 35,
  webinar: 36,
  partner: 37,
  personal: 38,
  companySize: 39,
  companyRevenue: 40,
  registration: 41,
} as const;

// ---------------------------------------------------------------------------------------------
// Value tables

function words(list: string): string[] {
  return list.split('|');
}

const FIRST_NAMES = words(
  'James|Mary|Robert|Patricia|John|Jennifer|Michael|Linda|David|Elizabeth|William|Barbara|' +
    'Richard|Susan|Joseph|Jessica|Thomas|Sarah|Charles|Karen|Daniel|Lisa|Matthew|Nancy|Anthony|' +
    'Sandra|Mark|Ashley|Steven|Emily|Paul|Michelle|Andrew|Amanda|Kevin|Melissa|Brian|Stephanie|' +
    'Jason|Rebecca|Ryan|Laura|Eric|Amy|Jacob|Angela|Nicholas|Anna|Tyler|Olivia|Aaron|Hannah|Priya|' +
    'Wei|Hiroshi|Yuki|Arjun|Ananya|Mohammed|Fatima|Lukas|Sophie|Jonas|Lea|Mateo|Lucía|José|Inés|' +
    'François|Chloé|Renée|Zoë|Björn|Jürgen|Ingrid|Lars|Sven|Astrid|Pedro|Camila|Diego|Valentina|' +
    'Liam|Noah|Emma|Ava|Chen|Mei|Kenji|Sakura|Rahul|Deepika|Oluwaseun|Amara|Kwame|Nia|Ethan|Grace|' +
    'Owen|Isla',
);

const LAST_NAMES = words(
  'Smith|Johnson|Williams|Brown|Jones|Garcia|Miller|Davis|Rodriguez|Martinez|Hernandez|Lopez|' +
    'Gonzalez|Wilson|Anderson|Thomas|Taylor|Moore|Jackson|Martin|Lee|Perez|Thompson|White|Harris|' +
    'Sanchez|Clark|Ramirez|Lewis|Robinson|Walker|Young|Allen|King|Wright|Scott|Torres|Nguyễn|Hill|' +
    "Flores|Green|Adams|Nelson|Baker|Hall|Rivera|Campbell|Mitchell|Carter|Roberts|O'Brien|" +
    "O'Connor|McDonald|MacLeod|Müller|Schmidt|Schneider|Fischer|Weber|Becker|Dubois|Lefèvre|" +
    'Moreau|García|Fernández|González|Rossi|Bianchi|Romano|Jansen|de Vries|van Dijk|Andersson|' +
    'Johansson|Nilsson|Sato|Suzuki|Takahashi|Tanaka|Watanabe|Wang|Li|Zhang|Liu|Chen|Patel|Sharma|' +
    'Singh|Kumar|Gupta|Silva|Santos|Oliveira|Souza|Costa|Okafor|Mensah|Kowalski|Nowak|Ivanova',
);

function asciiSlug(s: string): string {
  return s
    .normalize('NFD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z]/g, '');
}

const FIRST_SLUGS = FIRST_NAMES.map(asciiSlug);
const LAST_SLUGS = LAST_NAMES.map(asciiSlug);

const COMPANY_STEMS = words(
  'Northwind|Bluebird|Summit|Redwood|Cobalt|Pinnacle|Brightline|Harbor|Ironclad|Lumen|Meridian|' +
    'Nimbus|Oakridge|Polaris|Quantum|Riverstone|Silverline|Trailmark|Vertex|Waypoint|Zenith|Apex|' +
    'Beacon|Cascade|Driftwood|Evergreen|Foxglove|Granite|Helios|Ivory|Juniper|Keystone|Lakeside|' +
    'Mosaic|Northstar|Orchid|Prairie|Sterling|Tidewater|Unity',
);

/** Company name suffix and the industry it implies. */
const COMPANY_KINDS: [string, string][] = [
  ['Analytics', 'Software'],
  ['Logistics', 'Transportation'],
  ['Health', 'Healthcare'],
  ['Foods', 'Food & Beverage'],
  ['Robotics', 'Manufacturing'],
  ['Software', 'Software'],
  ['Capital', 'Financial Services'],
  ['Energy', 'Energy'],
  ['Media', 'Media'],
  ['Industries', 'Manufacturing'],
  ['Biotech', 'Biotechnology'],
  ['Retail', 'Retail'],
  ['Consulting', 'Consulting'],
  ['Telecom', 'Telecommunications'],
  ['Motors', 'Automotive'],
];
const COMPANY_FORMS = ['', '', ' Inc.', ' LLC', ' Ltd', ' Group', ' Corp.'];
const COMPANY_COUNT = COMPANY_STEMS.length * COMPANY_KINDS.length;
const COMPANY_NAMES: string[] = [];
const COMPANY_DOMAINS: string[] = [];
for (let c = 0; c < COMPANY_COUNT; c++) {
  const stem = COMPANY_STEMS[c % COMPANY_STEMS.length]!;
  const kind = COMPANY_KINDS[Math.floor(c / COMPANY_STEMS.length)]![0];
  COMPANY_NAMES.push(`${stem} ${kind}${COMPANY_FORMS[c % COMPANY_FORMS.length]}`);
  COMPANY_DOMAINS.push(`${stem}${kind}.example`.toLowerCase());
}
const COMPANY_SIZES = [8, 35, 120, 450, 1800, 7500, 42000];

/** city, state, country, postal template (# digit, @ letter), phone template, time zone, weight */
type City = [string, string | null, string, string, string, string, number];
const CITIES: City[] = [
  ['San Francisco', 'CA', 'United States', '941##', '+1 415-555-####', 'America/Los_Angeles', 6],
  ['New York', 'NY', 'United States', '100##', '+1 212-555-####', 'America/New_York', 8],
  ['Austin', 'TX', 'United States', '787##', '+1 512-555-####', 'America/Chicago', 4],
  ['Chicago', 'IL', 'United States', '606##', '+1 312-555-####', 'America/Chicago', 5],
  ['Seattle', 'WA', 'United States', '981##', '+1 206-555-####', 'America/Los_Angeles', 4],
  ['Boston', 'MA', 'United States', '021##', '+1 617-555-####', 'America/New_York', 4],
  ['Denver', 'CO', 'United States', '802##', '+1 303-555-####', 'America/Denver', 3],
  ['Atlanta', 'GA', 'United States', '303##', '+1 404-555-####', 'America/New_York', 3],
  ['Raleigh', 'NC', 'United States', '276##', '+1 919-555-####', 'America/New_York', 3],
  ['Toronto', 'ON', 'Canada', 'M5V #@#', '+1 416-555-####', 'America/Toronto', 4],
  ['Vancouver', 'BC', 'Canada', 'V6B #@#', '+1 604-555-####', 'America/Vancouver', 2],
  ['London', null, 'United Kingdom', 'EC1A #@@', '+44 20 7946 ####', 'Europe/London', 7],
  ['Manchester', null, 'United Kingdom', 'M1 #@@', '+44 161 496 ####', 'Europe/London', 3],
  ['Berlin', null, 'Germany', '101##', '+49 30 #######', 'Europe/Berlin', 4],
  ['München', 'Bayern', 'Germany', '803##', '+49 89 #######', 'Europe/Berlin', 4],
  ['Paris', null, 'France', '750##', '+33 1 ## ## ## ##', 'Europe/Paris', 4],
  ['Lyon', null, 'France', '690##', '+33 4 ## ## ## ##', 'Europe/Paris', 2],
  ['Amsterdam', null, 'Netherlands', '101# @@', '+31 20 ### ####', 'Europe/Amsterdam', 3],
  ['Madrid', null, 'Spain', '280##', '+34 91 ### ## ##', 'Europe/Madrid', 3],
  ['Stockholm', null, 'Sweden', '111 ##', '+46 8 ### ### ##', 'Europe/Stockholm', 1],
  ['São Paulo', 'SP', 'Brazil', '01310-###', '+55 11 ####-####', 'America/Sao_Paulo', 4],
  ['Mexico City', 'CDMX', 'Mexico', '066##', '+52 55 #### ####', 'America/Mexico_City', 2],
  ['Bengaluru', 'Karnataka', 'India', '5600##', '+91 80 #### ####', 'Asia/Kolkata', 4],
  ['Mumbai', 'Maharashtra', 'India', '4000##', '+91 22 #### ####', 'Asia/Kolkata', 2],
  ['Tokyo', null, 'Japan', '100-####', '+81 3-####-####', 'Asia/Tokyo', 4],
  ['Sydney', 'NSW', 'Australia', '2000', '+61 2 #### ####', 'Australia/Sydney', 3],
  ['Melbourne', 'VIC', 'Australia', '3000', '+61 3 #### ####', 'Australia/Melbourne', 2],
  ['Singapore', null, 'Singapore', '0189##', '+65 6### ####', 'Asia/Singapore', 2],
];
/** One slot per unit of weight: a weighted pick is one array read. */
const CITY_SLOTS: City[] = CITIES.flatMap((c) => Array.from({ length: c[6] }, () => c));

const REGION_OF_COUNTRY: Record<string, string> = {
  'United States': 'North America',
  Canada: 'North America',
  Brazil: 'LATAM',
  Mexico: 'LATAM',
  India: 'APAC',
  Japan: 'APAC',
  Australia: 'APAC',
  Singapore: 'APAC',
};

const STREETS = words(
  'Main St|Market St|Oak Ave|Maple Dr|Cedar Ln|Park Ave|Elm St|Pine St|Lake Rd|Hill St|' +
    'Mission St|Broadway|High St|King St|Queen St|River Rd|Sunset Blvd|Harbor Way',
);
const TITLES = words(
  'Marketing Manager|Director of Marketing|VP Marketing|CMO|Demand Generation Manager|' +
    'Marketing Operations Manager|Content Strategist|Product Marketing Manager|Growth Lead|' +
    'Sales Development Representative|Account Executive|VP Sales|Chief Revenue Officer|' +
    'Software Engineer|Engineering Manager|CTO|IT Director|Data Analyst|Business Analyst|' +
    'Operations Manager|CFO|Controller|HR Manager|Customer Success Manager|CEO|Founder|Consultant|' +
    'Project Manager|Procurement Specialist|Office Manager',
);
const SALUTATIONS = ['Mr.', 'Ms.', 'Dr.', 'Mrs.', 'Mx.'];
const LEAD_SOURCES = words(
  'Website|Trade Show|Webinar|Paid Search|Partner|List Import|Referral|Social Media|' + 'Content Syndication',
);
const LEAD_STATUSES = [
  'New',
  'Open',
  'Working',
  'Nurture',
  'Marketing Qualified',
  'Sales Qualified',
  'Disqualified',
];
const RATINGS = ['Hot', 'Warm', 'Cold'];
const ROLES = ['Decision Maker', 'Influencer', 'Evaluator', 'Economic Buyer', 'Technical Buyer'];
const INTERESTS = ['Analytics', 'Automation', 'Email Marketing', 'ABM', 'Mobile', 'Integrations'];
const PERSONAL_DOMAINS = ['mail.example', 'inbox.example', 'post.example'];
const PARTNER_DOMAINS = ['channelworks.example', 'resellhub.example', 'partnerly.example'];
const ORIGINAL_SOURCES: [string, string][] = [
  ['Web page visit', 'Web page visit'],
  ['Web form fillout', 'Contact Us Form'],
  ['List import', 'Trade show leads import'],
  ['Web service API', 'Web service API'],
];
const COOKIE_DOMAIN = 'www.sandbox.example';
const BIRTH_EPOCH = Date.UTC(1960, 0, 1);
const DAY_MS = 86_400_000;

const DIGIT_CHARS = Array.from({ length: 10 }, (_, i) => String(i));
const LETTER_CHARS = Array.from({ length: 26 }, (_, i) => String.fromCharCode(65 + i));

/** A template cut into literal text and runs of `#`/`@` (a run is a string of those only). */
const templateParts = new Map<string, string[]>();

function partsOf(template: string): string[] {
  let parts = templateParts.get(template);
  if (parts === undefined) {
    parts = template.match(/[#@]+|[^#@]+/g) ?? [];
    templateParts.set(template, parts);
  }
  return parts;
}

/**
 * Fill `#` with digits and `@` with capital letters drawn from `h`. Each run of placeholders is
 * built apart and appended whole: the result is a few string pieces rather than one per char.
 */
function fill(template: string, h: number): string {
  let x = h || 0x9e3779b9;
  let out = '';
  const parts = partsOf(template);
  for (let p = 0; p < parts.length; p++) {
    const part = parts[p]!;
    const c = part.charCodeAt(0);
    if (c !== 35 && c !== 64) {
      out += part;
      continue;
    }
    let run = '';
    for (let i = 0; i < part.length; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      run += part.charCodeAt(i) === 35 ? DIGIT_CHARS[(x >>> 2) % 10]! : LETTER_CHARS[(x >>> 2) % 26]!;
    }
    out += run;
  }
  return out;
}

function pick<T>(list: readonly T[], h: number): T {
  return list[h % list.length]!;
}

/**
 * An 18-character Salesforce-style id (`00Q…`) that embeds `n`, so a filter on it needs no scan.
 * The number sits in base 36 so the id survives case-insensitive comparison.
 */
function sfdcId(prefix: string, tag: string, n: number): string {
  const body = prefix + tag + n.toString(36).toUpperCase().padStart(9, '0');
  let h = 0x811c9dc5;
  for (let i = 0; i < body.length; i++) h = Math.imul(h ^ body.charCodeAt(i), 0x01000193);
  return body + fill('@@@', h);
}

function sfdcNumber(prefix: string, tag: string, value: string): number | undefined {
  const v = value.toUpperCase();
  if (v.length !== 18 || !v.startsWith(prefix + tag)) return undefined;
  const n = parseInt(v.slice(6, 15), 36);
  return Number.isFinite(n) ? n : undefined;
}

// ---------------------------------------------------------------------------------------------
// Generator

type FieldFn = (g: LeadGenerator, id: number) => FieldValue;

export class LeadGenerator {
  readonly s: number;
  /** Three characters that make this seed's Salesforce ids distinct from another seed's. */
  readonly sfdcTag: string;
  /** The Munchkin id the generated tracking cookies claim. */
  readonly cookieMunchkin: string;

  /** Per-company and per-owner values, computed once per seed (a few hundred entries). */
  readonly employees: number[] = [];
  readonly revenue: number[] = [];
  readonly accountIds: string[] = [];
  readonly ownerIds: string[] = [];
  /** The constant start of generated cookies. */
  readonly cookiePrefix: string;

  constructor(readonly info: LeadSeedInfo) {
    this.s = mixSeed(info.seed);
    this.sfdcTag = fill('#@@', this.s).slice(0, 3);
    this.cookieMunchkin = fill('###-@@@-###', fmix(this.s ^ 0x51ed));
    this.cookiePrefix = `id:${this.cookieMunchkin}&token:_mch-${COOKIE_DOMAIN}-`;
    for (let c = 0; c < COMPANY_COUNT; c++) {
      const employees = computeEmployees(this.s, c);
      const perHead = 120_000 + (hash(this.s, c, SALT.companyRevenue) % 230) * 1000;
      this.employees.push(employees);
      this.revenue.push(Math.round((employees * perHead) / 1000) * 1000);
      this.accountIds.push(sfdcId('001', this.sfdcTag, c + 1));
    }
    for (let o = 1; o <= OWNER_COUNT; o++) this.ownerIds.push(sfdcId('005', this.sfdcTag, o));
  }

  h(id: number, salt: number): number {
    return hash(this.s, id, salt);
  }

  /** Percent draw 0..99 for a salt. */
  pct(id: number, salt: number): number {
    return this.h(id, salt) % 100;
  }

  createdAt(id: number): number {
    return leadCreatedAt(id, this.info);
  }

  updatedAt(id: number): number {
    return leadUpdatedAt(id, this.info);
  }

  firstIdx(id: number): number {
    return this.h(id, SALT.first) % FIRST_NAMES.length;
  }

  lastIdx(id: number): number {
    return this.h(id, SALT.last) % LAST_NAMES.length;
  }

  company(id: number): number {
    return this.h(id, SALT.company) % COMPANY_COUNT;
  }

  city(id: number): City {
    return CITY_SLOTS[this.cityIdx(id)]!;
  }

  /** Index of the lead's city slot (cities take slots by weight). */
  cityIdx(id: number): number {
    return this.h(id, SALT.city) % CITY_SLOTS.length;
  }

  /** Whether the lead is synced with Salesforce, and as what. */
  crmType(id: number): 'Lead' | 'Contact' | null {
    const p = this.pct(id, SALT.crm);
    return p < 21 ? 'Lead' : p < 35 ? 'Contact' : null;
  }

  isCustomer(id: number): boolean {
    return this.pct(id, SALT.customer) < 15;
  }

  /** Every field of generated lead `id`, in describe order. */
  lead(id: number): LeadRecord {
    return buildLead(GENERATED_FNS, this, id);
  }

  /**
   * The export line of generated lead `id`: the values of `names` joined by `delimiter` and ended
   * by LF, each written as the bulk CSV encoder writes a value (null and empty as `null`, numbers
   * and booleans as `String()` gives them, strings as they are), returned as a byte string (one
   * char per byte of the line's UTF-8, for `Buffer#latin1Write`: a copy instead of a UTF-8
   * conversion). No generated value holds a quote, a line break or a delimiter (`,` `;` tab), so no
   * cell needs quoting (tables checked at load, see ASCII_TABLES). Building the line straight from
   * the field functions skips the record object, the per-cell quoting test and the join, which
   * took most of an export's time. A name the generator has no field function for (a field created
   * at run time, see leads/schema.ts) is empty on every generated lead: a constant `null` cell.
   */
  lineBuilder(names: readonly string[], delimiter: string): (id: number) => string {
    const { build, runs } = compiledLine(names, delimiter);
    // Texts of keyed column runs (see KEYED), per key: values depend on the seed, so per builder.
    const texts = Array.from({ length: runs }, (): string[] => []);
    return (id) => build(this, id, texts);
  }

  /**
   * {@link lineBuilder} writing into a buffer: `write(id, buf, at)` puts the line's bytes into `buf`
   * from `at` and returns the offset after them, beyond `buf.length` when they did not fit (the
   * stores past the end are dropped; write again into a larger buffer). Same bytes as the line.
   */
  lineWriter(names: readonly string[], delimiter: string): (id: number, buf: Buffer, at: number) => number {
    const { write, runs } = compiledWriter(names, delimiter);
    const texts = Array.from({ length: runs }, (): Uint8Array[] => []);
    // One scratch per writer, reused for every lead (see LeadScratch).
    const sc = new LeadScratch(seedBytesOf(this));
    return (id, buf, at) => write(this, id, buf, at, texts, sc);
  }

  /** One field of generated lead `id` (null for an unknown name). */
  value(id: number, name: string): FieldValue {
    const fn = GENERATED.get(name);
    return fn ? fn(this, id) : null;
  }

  /** Whether generated values of `name` embed the lead id (see {@link candidate}). */
  invertible(name: string): boolean {
    return INVERTIBLE.has(name);
  }

  /**
   * For an {@link invertible} field: the only generated lead that can hold `value` (the caller
   * still compares), or null when no generated lead can.
   */
  candidate(name: string, value: string): number | null {
    switch (name) {
      case 'email': {
        const m = /\.(\d{1,12})@[^@]+$/.exec(value);
        return m ? Number(m[1]) : null;
      }
      case 'cookies': {
        const m = /-(\d{5,15})$/.exec(value);
        return m ? Number(m[1]) - 10_000 : null;
      }
      case 'facebookId':
        return /^\d{15,18}$/.test(value) ? Number(value) - 100_000_000_000_000 : null;
      case 'linkedInId': {
        const m = /-([0-9a-z]{1,10})$/i.exec(value);
        return m ? parseInt(m[1]!, 36) : null;
      }
      case 'twitterId': {
        const m = /(\d{1,12})$/.exec(value);
        return m ? Number(m[1]) : null;
      }
      case 'sfdcLeadId':
        return sfdcNumber('00Q', this.sfdcTag, value) ?? null;
      case 'sfdcContactId':
        return sfdcNumber('003', this.sfdcTag, value) ?? null;
      case 'partnerEmail': {
        const m = /^partner\.(\d{1,12})@/i.exec(value);
        return m ? Number(m[1]) : null;
      }
      default:
        return null;
    }
  }

  /**
   * False when no generated lead can hold `key` (a lower-cased value) in field `name`, so a lookup
   * of a value that only the API could have stored skips the scan of every generated lead.
   */
  mayHold(name: string, key: string): boolean {
    switch (name) {
      case 'salesRegion':
        return REGION_KEYS.has(key);
      case 'productInterest':
        return INTEREST_KEYS.has(key);
      case 'accountTier':
        return key === '1' || key === '2' || key === '3' || key === '4';
      case 'leadPartitionId':
        return key === '1';
      case 'sfdcOpptyId':
        return false;
      case 'sfdcAccountId': {
        const n = sfdcNumber('001', this.sfdcTag, key);
        return n !== undefined && n >= 1 && n <= COMPANY_COUNT;
      }
      case 'sfdcLeadOwnerId': {
        const n = sfdcNumber('005', this.sfdcTag, key);
        return n !== undefined && n >= 1 && n <= OWNER_COUNT;
      }
      default:
        // A field created at run time has no generated values: only the API can have set it.
        return GENERATED.has(name);
    }
  }
}

const INVERTIBLE = new Set([
  'email',
  'cookies',
  'facebookId',
  'linkedInId',
  'twitterId',
  'sfdcLeadId',
  'sfdcContactId',
  'partnerEmail',
]);
const REGION_KEYS = new Set([...Object.values(REGION_OF_COUNTRY), 'EMEA'].map((r) => r.toLowerCase()));
const INTEREST_KEYS = new Set(INTERESTS.map((i) => i.toLowerCase()));
const OWNER_COUNT = 12;

function companyName(c: number): string {
  return COMPANY_NAMES[c]!;
}

function companyDomain(c: number): string {
  return COMPANY_DOMAINS[c]!;
}

function companyEmployees(g: LeadGenerator, c: number): number {
  return g.employees[c]!;
}

function computeEmployees(s: number, c: number): number {
  const h = hash(s, c, SALT.companySize);
  const base = COMPANY_SIZES[h % COMPANY_SIZES.length]!;
  return Math.max(2, Math.round(base * (0.6 + unit(hash(s, c, SALT.companySize + 100)) * 0.8)));
}

function email(g: LeadGenerator, id: number): string {
  const first = FIRST_SLUGS[g.firstIdx(id)]!;
  const last = LAST_SLUGS[g.lastIdx(id)]!;
  const domain =
    g.pct(id, SALT.personal) < 12
      ? pick(PERSONAL_DOMAINS, g.h(id, SALT.personal + 100))
      : companyDomain(g.company(id));
  return `${first}.${last}.${id}@${domain}`;
}

/** A generated lead's webinar instant: between its creation and its last update. */
function lastWebinar(g: LeadGenerator, id: number): string {
  const created = g.createdAt(id);
  return isoSecondsFast(created + Math.floor(unit(g.h(id, 218)) * (g.updatedAt(id) - created)));
}

// Conditional values are plain ternaries: a `nullUnless(cond, () => value)` helper allocated a
// closure per call, and export lines call these for every lead.

const FIELD_FNS: Record<string, FieldFn> = {
  company: (g, id) => companyName(g.company(id)),
  website: (g, id) => `www.${companyDomain(g.company(id))}`,
  annualRevenue: (g, id) => g.revenue[g.company(id)]!,
  numberOfEmployees: (g, id) => companyEmployees(g, g.company(id)),
  industry: (g, id) => COMPANY_KINDS[Math.floor(g.company(id) / COMPANY_STEMS.length)]![1],
  id: (_g, id) => id,
  createdAt: (g, id) => isoSecondsFast(g.createdAt(id)),
  updatedAt: (g, id) => isoSecondsFast(g.updatedAt(id)),
  salutation: (g, id) => (g.pct(id, SALT.salutation) < 30 ? pick(SALUTATIONS, g.h(id, 200)) : null),
  firstName: (g, id) => FIRST_NAMES[g.firstIdx(id)]!,
  middleName: (g, id) =>
    g.pct(id, SALT.middle) < 12 ? `${String.fromCharCode(65 + (g.h(id, 201) % 26))}.` : null,
  lastName: (g, id) => LAST_NAMES[g.lastIdx(id)]!,
  email,
  phone: (g, id) => (g.pct(id, SALT.phone) < 80 ? fill(g.city(id)[4], g.h(id, 202)) : null),
  mobilePhone: (g, id) => (g.pct(id, SALT.mobile) < 40 ? fill(g.city(id)[4], g.h(id, 203)) : null),
  fax: (g, id) => (g.pct(id, SALT.fax) < 10 ? fill(g.city(id)[4], g.h(id, 204)) : null),
  title: (g, id) => (g.pct(id, SALT.title) < 85 ? pick(TITLES, g.h(id, 205)) : null),
  dateOfBirth: (g, id) =>
    g.pct(id, SALT.birth) < 8 ? isoDayFast(BIRTH_EPOCH + (g.h(id, 206) % (40 * 365)) * DAY_MS) : null,
  address: (g, id) =>
    g.pct(id, SALT.address) < 75 ? `${1 + (g.h(id, 207) % 9800)} ${pick(STREETS, g.h(id, 208))}` : null,
  city: (g, id) => g.city(id)[0],
  state: (g, id) => g.city(id)[1],
  country: (g, id) => g.city(id)[2],
  postalCode: (g, id) => (g.pct(id, SALT.postal) < 85 ? fill(g.city(id)[3], g.h(id, 209)) : null),
  personTimeZone: (g, id) => g.city(id)[5],
  originalSourceType: (g, id) =>
    g.crmType(id) ? 'Salesforce.com' : pick(ORIGINAL_SOURCES, g.h(id, SALT.source))[0],
  originalSourceInfo: (g, id) =>
    g.crmType(id) ? g.crmType(id) : pick(ORIGINAL_SOURCES, g.h(id, SALT.source))[1],
  registrationSourceType: (g, id) =>
    g.pct(id, SALT.registration) < 50 ? pick(ORIGINAL_SOURCES, g.h(id, SALT.source))[0] : null,
  registrationSourceInfo: (g, id) =>
    g.pct(id, SALT.registration) < 50 ? pick(ORIGINAL_SOURCES, g.h(id, SALT.source))[1] : null,
  leadStatus: (g, id) => pick(LEAD_STATUSES, g.h(id, SALT.leadStatus)),
  leadSource: (g, id) => (g.pct(id, SALT.leadSource) < 90 ? pick(LEAD_SOURCES, g.h(id, 210)) : null),
  rating: (g, id) => (g.pct(id, SALT.rating) < 40 ? pick(RATINGS, g.h(id, 211)) : null),
  leadRole: (g, id) => (g.pct(id, SALT.role) < 30 ? pick(ROLES, g.h(id, 212)) : null),
  leadScore: (g, id) => Math.floor(unit(g.h(id, SALT.score)) ** 2 * 150),
  relativeScore: (g, id) => (g.pct(id, SALT.relScore) < 60 ? 1 + (g.h(id, 213) % 5) : null),
  priority: (g, id) => (g.pct(id, SALT.priority) < 40 ? g.h(id, 214) % 101 : null),
  urgency: (g, id) => (g.pct(id, SALT.urgency) < 40 ? Math.round(unit(g.h(id, 215)) * 10000) / 100 : null),
  unsubscribed: (g, id) => g.pct(id, SALT.flags) < 4,
  unsubscribedReason: (g, id) =>
    g.pct(id, SALT.flags) < 4 ? pick(['Unsubscribed via email link', 'Too many emails'], id) : null,
  doNotCall: (g, id) => g.pct(id, SALT.flags + 100) < 3,
  doNotCallReason: (g, id) => (g.pct(id, SALT.flags + 100) < 3 ? 'Requested by lead' : null),
  emailInvalid: (g, id) => g.pct(id, SALT.flags + 200) < 2,
  emailInvalidCause: (g, id) =>
    g.pct(id, SALT.flags + 200) < 2
      ? `550 5.1.1 <${email(g, id)}>: Recipient address rejected: User unknown`
      : null,
  inferredCompany: (g, id) => (g.pct(id, SALT.inferred) < 10 ? companyName(g.company(id)) : null),
  inferredCountry: (g, id) => (g.pct(id, SALT.inferred) < 10 ? g.city(id)[2] : null),
  anonymousIP: () => null,
  isAnonymous: () => false,
  acquisitionProgramId: () => null,
  cookies: (g, id) =>
    g.pct(id, SALT.cookie) < 60 ? `${g.cookiePrefix}${intString(g.createdAt(id))}-${10_000 + id}` : null,
  leadPartitionId: () => 1,
  facebookId: (g, id) => (g.pct(id, SALT.social) < 5 ? intString(100_000_000_000_000 + id) : null),
  linkedInId: (g, id) =>
    g.pct(id, SALT.social + 100) < 20
      ? `${FIRST_SLUGS[g.firstIdx(id)]}-${LAST_SLUGS[g.lastIdx(id)]}-${id.toString(36)}`
      : null,
  twitterId: (g, id) =>
    g.pct(id, SALT.social + 200) < 10
      ? `${FIRST_SLUGS[g.firstIdx(id)]}_${LAST_SLUGS[g.lastIdx(id)]}${id}`
      : null,
  sfdcType: (g, id) => g.crmType(id),
  sfdcLeadId: (g, id) => (g.crmType(id) === 'Lead' ? sfdcId('00Q', g.sfdcTag, id) : null),
  sfdcContactId: (g, id) => (g.crmType(id) === 'Contact' ? sfdcId('003', g.sfdcTag, id) : null),
  sfdcAccountId: (g, id) => (g.crmType(id) === 'Contact' ? g.accountIds[g.company(id)]! : null),
  sfdcLeadOwnerId: (g, id) =>
    g.crmType(id) !== null ? g.ownerIds[g.h(id, SALT.owner) % OWNER_COUNT]! : null,
  sfdcOpptyId: () => null,
  salesRegion: (g, id) => REGION_OF_COUNTRY[g.city(id)[2]] ?? 'EMEA',
  accountTier: (g, id) => (g.pct(id, SALT.tier) < 75 ? 1 + (g.h(id, 216) % 4) : null),
  productInterest: (g, id) => (g.pct(id, SALT.interest) < 70 ? pick(INTERESTS, g.h(id, 217)) : null),
  isCustomer: (g, id) => g.isCustomer(id),
  renewalDate: (g, id) =>
    g.isCustomer(id) ? isoDayFast(g.info.asOf + (g.h(id, SALT.renewal) % 365) * DAY_MS) : null,
  contractValue: (g, id) => (g.isCustomer(id) ? (50 + (g.h(id, SALT.contract) % 2450)) * 100 : null),
  lastWebinarAt: (g, id) => (g.pct(id, SALT.webinar) < 30 ? lastWebinar(g, id) : null),
  partnerEmail: (g, id) =>
    g.pct(id, SALT.partner) < 5 ? `partner.${id}@${pick(PARTNER_DOMAINS, g.h(id, 219))}` : null,
};

const GENERATED = new Map<string, FieldFn>(Object.entries(FIELD_FNS));

/** `String(c / 100)` by c: urgency printed without the shortest-double algorithm. */
const HUNDREDTHS: string[] = [];

/**
 * Export-line variants of field functions: the same text as `String(value)`, made cheaper (the
 * equivalence test in bulk/exports.identical.test.ts compares whole files).
 */
const LINE_FNS = new Map<string, FieldFn>([
  [
    'urgency',
    (g, id) => {
      const v = FIELD_FNS.urgency!(g, id);
      if (typeof v !== 'number') return v;
      const c = Math.round(v * 100);
      return c >= 0 && c <= 10000 && c / 100 === v ? (HUNDREDTHS[c] ??= String(v)) : String(v);
    },
  ],
]);
const GENERATED_NAMES: string[] = LEAD_FIELDS.map((f) => f.name);
const GENERATED_FNS: FieldFn[] = GENERATED_NAMES.map((name) => {
  const fn = GENERATED.get(name);
  if (!fn) throw new Error(`no generator for lead field '${name}'`);
  return fn;
});

/**
 * One object literal with every field: V8 then gives all leads a single hidden class. Adding the
 * 65 keys one by one through a computed name took most of the generation time (several µs).
 */
const buildLead = new Function(
  'fns',
  'g',
  'id',
  `return {${GENERATED_NAMES.map((name, i) => `${JSON.stringify(name)}: fns[${i}](g, id)`).join(', ')}};`,
) as (fns: FieldFn[], g: LeadGenerator, id: number) => LeadRecord;

/** Characters that would make a cell need quoting in any export format. */
const SPECIAL = /[",;\t\r\n]/;
/** Any char outside ASCII. */
const NON_ASCII = /[\u0080-\uffff]/;
const CITY_NAMES = CITIES.map((c) => c[0]);

/**
 * Fields whose values may hold non-ASCII characters (they come from these tables): the line builder
 * turns those values into byte strings.
 */
const NON_ASCII_FIELDS = new Set(['firstName', 'lastName', 'city']);
const NON_ASCII_TABLES = [FIRST_NAMES, LAST_NAMES, CITY_NAMES];

/**
 * Every other string a generated value is made of. Templates add only digits, ASCII letters, spaces
 * and `. @ - : & _ < > + /`, so with these checked no generated value needs quoting, and only
 * {@link NON_ASCII_FIELDS} can hold non-ASCII characters.
 */
const ASCII_TABLES = [
  FIRST_SLUGS,
  LAST_SLUGS,
  COMPANY_NAMES,
  COMPANY_DOMAINS,
  COMPANY_KINDS.flat(),
  CITIES.flatMap((c) => c.slice(1, 6).filter((v): v is string => typeof v === 'string')),
  Object.values(REGION_OF_COUNTRY),
  STREETS,
  TITLES,
  SALUTATIONS,
  LEAD_SOURCES,
  LEAD_STATUSES,
  RATINGS,
  ROLES,
  INTERESTS,
  PERSONAL_DOMAINS,
  PARTNER_DOMAINS,
  ORIGINAL_SOURCES.flat(),
  [COOKIE_DOMAIN],
];
if (
  ![...NON_ASCII_TABLES, ...ASCII_TABLES].every((table) => table.every((v) => !SPECIAL.test(v))) ||
  !ASCII_TABLES.every((table) => table.every((v) => !NON_ASCII.test(v)))
) {
  throw new Error('a generated lead value table breaks what the export line builder relies on');
}

/** UTF-8 bytes of a string as a byte string (one char per byte). */
function utf8ByteString(v: string): string {
  return NON_ASCII.test(v) ? Buffer.from(v, 'utf8').toString('latin1') : v;
}
const BYTE_STRINGS = new Map<string, string>(NON_ASCII_TABLES.flat().map((v) => [v, utf8ByteString(v)]));

/** A value of a {@link NON_ASCII_FIELDS} field as a byte string (table values precomputed). */
function byteString(v: FieldValue): FieldValue {
  return typeof v === 'string' ? (BYTE_STRINGS.get(v) ?? utf8ByteString(v)) : v;
}

type LineFn = (g: LeadGenerator, id: number, texts: string[][]) => string;
interface CompiledLine {
  build: LineFn;
  /** Number of keyed runs: the builder keeps one text cache per run. */
  runs: number;
}
/** Compiled line functions by delimiter and field list: exports reuse a handful of field lists. */
const compiledLines = new Map<string, CompiledLine>();
const MAX_COMPILED_LINES = 64;

/**
 * Fields whose value is a function of the lead's company or city alone (see FIELD_FNS). Adjacent
 * ones (company … industry lead the describe order; city, state, country follow each other) are
 * written as one text cached per company or city: a few hundred texts replace five values and
 * their delimiters per lead.
 */
const KEYED = new Map<string, 'company' | 'cityIdx'>([
  ['company', 'company'],
  ['website', 'company'],
  ['annualRevenue', 'company'],
  ['numberOfEmployees', 'company'],
  ['industry', 'company'],
  ['city', 'cityIdx'],
  ['state', 'cityIdx'],
  ['country', 'cityIdx'],
  ['personTimeZone', 'cityIdx'],
  ['salesRegion', 'cityIdx'],
]);

/** One cell as the compiled line writes it (without the delimiter). */
function cellText(name: string, v: FieldValue): string {
  if (v === null || v === '') return 'null';
  return '' + (NON_ASCII_FIELDS.has(name) ? byteString(v) : v);
}

/**
 * One function per field list, each field function held in its own constant: every call site
 * then sees one target, which V8 calls directly or inlines (a loop over an array of functions is
 * one megamorphic call site). Cells are appended as `v === null || v === '' ? 'null' : '' + v`
 * (`'' + v` is `String(v)` for the strings, numbers and booleans field functions return).
 */
function compiledLine(names: readonly string[], delimiter: string): CompiledLine {
  if (NON_ASCII.test(delimiter)) throw new Error(`unsupported export delimiter '${delimiter}'`);
  const key = `${delimiter}\u0000${names.join('\u0000')}`;
  const cached = compiledLines.get(key);
  if (cached !== undefined) return cached;
  const fns = names.map((name) => LINE_FNS.get(name) ?? GENERATED.get(name) ?? (() => null));
  /** Columns [from, to) of each keyed run. */
  const runs: { from: number; to: number }[] = [];
  const lines: string[] = [];
  for (let i = 0; i < fns.length; i++) lines.push(`const f${i} = fns[${i}];`);
  lines.push('return function exportLine(g, id, texts) {', '  let s;', '  let v;', '  let k;', '  let t;');
  for (let i = 0; i < fns.length;) {
    const keyFn = KEYED.get(names[i]!);
    if (keyFn !== undefined) {
      let to = i + 1;
      while (to < names.length && KEYED.get(names[to]!) === keyFn) to++;
      const r = runs.push({ from: i, to }) - 1;
      lines.push(`  k = g.${keyFn}(id);`, `  t = texts[${r}][k];`);
      lines.push(`  if (t === undefined) t = texts[${r}][k] = runText(g, id, ${r});`);
      lines.push(i === 0 ? '  s = t;' : '  s += t;');
      i = to;
      continue;
    }
    if (!GENERATED.has(names[i]!)) {
      // A field created at run time: no generated lead has a value, the cell is a constant.
      lines.push(i === 0 ? "  s = 'null';" : '  s += D_NULL;');
      i++;
      continue;
    }
    lines.push(NON_ASCII_FIELDS.has(names[i]!) ? `  v = bytes(f${i}(g, id));` : `  v = f${i}(g, id);`);
    if (i === 0) {
      lines.push(`  s = v === null || v === '' ? 'null' : '' + v;`);
    } else {
      // Delimiter and cell in one piece: a short sum is a flat copy, one rope node instead of two;
      // null and booleans take a constant.
      lines.push(
        `  s += v === null || v === '' ? D_NULL : v === true ? D_TRUE : v === false ? D_FALSE : D + v;`,
      );
    }
    i++;
  }
  lines.push("  return s + '\\n';", '};');
  const d = JSON.stringify(delimiter);
  lines.unshift(`const D = ${d}, D_NULL = ${d} + 'null', D_TRUE = ${d} + 'true', D_FALSE = ${d} + 'false';`);
  /** A run's text for the lead's company or city (leading delimiter unless it starts the line). */
  const runText = (g: LeadGenerator, id: number, r: number): string => {
    const { from, to } = runs[r]!;
    const cells: string[] = [];
    for (let i = from; i < to; i++) cells.push(cellText(names[i]!, fns[i]!(g, id)));
    // join makes a flat string: appending it later copies it whole.
    return (from === 0 ? '' : delimiter) + cells.join(delimiter);
  };
  const build = new Function('fns', 'bytes', 'runText', lines.join('\n'))(fns, byteString, runText) as LineFn;
  const compiled = { build, runs: runs.length };
  if (compiledLines.size >= MAX_COMPILED_LINES) compiledLines.clear();
  compiledLines.set(key, compiled);
  return compiled;
}

// ---------------------------------------------------------------------------------------------
// Export lines as bytes

/** UTF-8 bytes of a table string, as a plain Uint8Array (one element kind for every copy). */
function utf8Bytes(s: string): Uint8Array {
  return Uint8Array.from(Buffer.from(s, 'utf8'));
}

/** Bytes that embed the seed (Salesforce ids, cookie prefixes), made once per generator. */
interface SeedBytes {
  accountIds: Uint8Array[];
  ownerIds: Uint8Array[];
  cookiePrefix: Uint8Array;
  /** `00Q` / `003` followed by the seed's Salesforce tag: the first six chars of those ids. */
  leadHead: Uint8Array;
  contactHead: Uint8Array;
}
const seedBytes = new WeakMap<LeadGenerator, SeedBytes>();

function seedBytesOf(g: LeadGenerator): SeedBytes {
  let b = seedBytes.get(g);
  if (b === undefined) {
    b = {
      accountIds: g.accountIds.map(utf8Bytes),
      ownerIds: g.ownerIds.map(utf8Bytes),
      cookiePrefix: utf8Bytes(g.cookiePrefix),
      leadHead: utf8Bytes(`00Q${g.sfdcTag}`),
      contactHead: utf8Bytes(`003${g.sfdcTag}`),
    };
    seedBytes.set(g, b);
  }
  return b;
}

/**
 * Draws that several fields of one lead share (company, city, names, Salesforce type, dates…),
 * made once per lead by the compiled writer before its cells. One object per line writer, reused
 * for every lead: nothing is allocated per lead. Holds only what the writer's fields need (see
 * DRAWS); the others keep stale values no field reads.
 */
class LeadScratch {
  id = 0;
  company = 0;
  cityIdx = 0;
  city: City = CITY_SLOTS[0]!;
  firstIdx = 0;
  lastIdx = 0;
  /** Percent draw of {@link LeadGenerator.crmType}: < 21 Lead, < 35 Contact. */
  crm = 0;
  /** The hash that picks the original (and registration) source. */
  source = 0;
  registration = 0;
  // Epoch ms are doubles: start them as one so the field keeps one representation.
  createdAt = 0.5;
  updatedAt = 0.5;
  /** Percent draw of {@link LeadGenerator.isCustomer}: < 15 customer. */
  customer = 0;
  /** Percent draws of the unsubscribed, do-not-call and invalid-email flags. */
  unsubscribed = 0;
  doNotCall = 0;
  emailInvalid = 0;
  inferred = 0;

  constructor(readonly seed: SeedBytes) {}
}

/**
 * How the writer fills each scratch value, in dependency order (updatedAt reads createdAt). The
 * values are those of the field functions: the same hashes with the same salts.
 */
const DRAWS: [keyof LeadScratch, string][] = [
  ['company', 'sc.company = g.company(id);'],
  ['cityIdx', 'sc.cityIdx = g.cityIdx(id);\n  sc.city = citySlots[sc.cityIdx];'],
  ['firstIdx', 'sc.firstIdx = g.firstIdx(id);'],
  ['lastIdx', 'sc.lastIdx = g.lastIdx(id);'],
  ['crm', `sc.crm = g.pct(id, ${SALT.crm});`],
  ['source', `sc.source = g.h(id, ${SALT.source});`],
  ['registration', `sc.registration = g.pct(id, ${SALT.registration});`],
  ['createdAt', 'sc.createdAt = g.createdAt(id);'],
  ['updatedAt', 'sc.updatedAt = updatedAfter(g, id, sc.createdAt);'],
  ['customer', `sc.customer = g.pct(id, ${SALT.customer});`],
  ['unsubscribed', `sc.unsubscribed = g.pct(id, ${SALT.flags});`],
  ['doNotCall', `sc.doNotCall = g.pct(id, ${SALT.flags + 100});`],
  ['emailInvalid', `sc.emailInvalid = g.pct(id, ${SALT.flags + 200});`],
  ['inferred', `sc.inferred = g.pct(id, ${SALT.inferred});`],
];

/**
 * Writes one cell of the scratch's lead into `buf` at `at` (see bulk/bytes.ts: stores past the end
 * are dropped, the returned offset still counts them).
 */
type ByteFn = (g: LeadGenerator, sc: LeadScratch, buf: Buffer, at: number) => number;
/** A field's byte writer and the scratch values it reads. */
interface ByteField {
  draws: (keyof LeadScratch)[];
  write: ByteFn;
}

const bytesOf = (list: readonly string[]): Uint8Array[] => list.map(utf8Bytes);
const FIRST_BYTES = bytesOf(FIRST_NAMES);
const LAST_BYTES = bytesOf(LAST_NAMES);
const FIRST_SLUG_BYTES = bytesOf(FIRST_SLUGS);
const LAST_SLUG_BYTES = bytesOf(LAST_SLUGS);
const PERSONAL_DOMAIN_BYTES = bytesOf(PERSONAL_DOMAINS);
const PARTNER_DOMAIN_BYTES = bytesOf(PARTNER_DOMAINS);
const COMPANY_DOMAIN_BYTES = bytesOf(COMPANY_DOMAINS);
const COMPANY_NAME_BYTES = bytesOf(COMPANY_NAMES);
const COUNTRY_BYTES = bytesOf(CITY_SLOTS.map((c) => c[2]));
const SALUTATION_BYTES = bytesOf(SALUTATIONS);
const TITLE_BYTES = bytesOf(TITLES);
const STREET_BYTES = bytesOf(STREETS);
const LEAD_STATUS_BYTES = bytesOf(LEAD_STATUSES);
const LEAD_SOURCE_BYTES = bytesOf(LEAD_SOURCES);
const RATING_BYTES = bytesOf(RATINGS);
const ROLE_BYTES = bytesOf(ROLES);
const INTEREST_BYTES = bytesOf(INTERESTS);
const SOURCE_TYPE_BYTES = bytesOf(ORIGINAL_SOURCES.map((s) => s[0]));
const SOURCE_INFO_BYTES = bytesOf(ORIGINAL_SOURCES.map((s) => s[1]));
const UNSUBSCRIBED_BYTES = bytesOf(['Unsubscribed via email link', 'Too many emails']);
const SALESFORCE_BYTES = utf8Bytes('Salesforce.com');
const LEAD_BYTES = utf8Bytes('Lead');
const CONTACT_BYTES = utf8Bytes('Contact');
const DO_NOT_CALL_BYTES = utf8Bytes('Requested by lead');
const BOUNCE_HEAD = utf8Bytes('550 5.1.1 <');
const BOUNCE_TAIL = utf8Bytes('>: Recipient address rejected: User unknown');
const PARTNER_HEAD = utf8Bytes('partner.');
const LOWER_36 = utf8Bytes('0123456789abcdefghijklmnopqrstuvwxyz');
const UPPER_36 = utf8Bytes('0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ');
/** Salesforce ids hold the number as nine base-36 digits: above that the string path writes it. */
const SFDC_MAX = 36 ** 9;

function pickBytes(list: readonly Uint8Array[], h: number): Uint8Array {
  return list[h % list.length]!;
}

/** {@link leadUpdatedAt} from the lead's creation instant (the same draws). */
function updatedAfter(g: LeadGenerator, id: number, created: number): number {
  if (hash(g.s, id, SALT.updated) % 100 < 35) return created;
  return created + Math.floor(unit(hash(g.s, id, SALT.updatedFrac)) * (g.info.asOf - created));
}

/** `isoSecondsFast(ms)` as bytes. */
function putIsoMs(buf: Buffer, at: number, ms: number): number {
  return ms >= ISO_MIN_MS && ms < ISO_MAX_MS
    ? putIsoSeconds(buf, at, ms)
    : putStr(buf, at, isoSecondsFast(ms));
}

/** `isoDayFast(ms)` as bytes. */
function putIsoDayMs(buf: Buffer, at: number, ms: number): number {
  return ms >= ISO_MIN_MS && ms < ISO_MAX_MS
    ? putIsoDay(buf, at, Math.floor(Math.floor(ms / 1000) / 86400))
    : putStr(buf, at, isoDayFast(ms));
}

/** {@link fill} as bytes: the same draws, char by char (templates are ASCII). */
function putFill(buf: Buffer, at: number, template: string, h: number): number {
  let x = h || 0x9e3779b9;
  for (let i = 0; i < template.length; i++) {
    const c = template.charCodeAt(i);
    if (c === 35 || c === 64) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      buf[at++] = c === 35 ? 48 + ((x >>> 2) % 10) : 65 + ((x >>> 2) % 26);
    } else {
      buf[at++] = c;
    }
  }
  return at;
}

/** `n.toString(36)` of a safe integer n ≥ 0, with `digits` (lower or upper case). */
function putBase36(buf: Buffer, at: number, n: number, digits: Uint8Array): number {
  let len = 1;
  for (let t = n; t >= 36; t = Math.floor(t / 36)) len++;
  let x = n;
  for (let p = at + len - 1; p >= at; p--) {
    const q = Math.floor(x / 36);
    buf[p] = digits[x - q * 36]!;
    x = q;
  }
  return at + len;
}

/** Digits of a Salesforce id's number, most significant first. */
const SFDC_DIGITS = new Uint8Array(9);

/** {@link sfdcId} as bytes: `head` is its prefix and tag, `n` below {@link SFDC_MAX}. */
function putSfdcId(buf: Buffer, at: number, head: Uint8Array, n: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < head.length; i++) {
    const c = head[i]!;
    buf[at++] = c;
    h = Math.imul(h ^ c, 0x01000193);
  }
  let x = n;
  for (let p = 8; p >= 0; p--) {
    const q = Math.floor(x / 36);
    SFDC_DIGITS[p] = UPPER_36[x - q * 36]!;
    x = q;
  }
  for (let p = 0; p < 9; p++) {
    const c = SFDC_DIGITS[p]!;
    buf[at++] = c;
    h = Math.imul(h ^ c, 0x01000193);
  }
  return putFill(buf, at, '@@@', h);
}

/** `first.last.id@domain`, the email field. */
function putEmail(g: LeadGenerator, sc: LeadScratch, buf: Buffer, at: number): number {
  const id = sc.id;
  at = putBytes(buf, at, FIRST_SLUG_BYTES[sc.firstIdx]!);
  buf[at++] = 46; // .
  at = putBytes(buf, at, LAST_SLUG_BYTES[sc.lastIdx]!);
  buf[at++] = 46;
  at = putNumber(buf, at, id);
  buf[at++] = 64; // @
  const domain =
    g.pct(id, SALT.personal) < 12
      ? pickBytes(PERSONAL_DOMAIN_BYTES, g.h(id, SALT.personal + 100))
      : COMPANY_DOMAIN_BYTES[sc.company]!;
  return putBytes(buf, at, domain);
}

const byteField = (draws: (keyof LeadScratch)[], write: ByteFn): ByteField => ({ draws, write });
const NULL_FIELD = byteField([], (_g, _sc, buf, at) => putNull(buf, at));

/**
 * Byte variants of the field functions: each writes what `cellText` of FIELD_FNS gives, reading
 * the shared draws from the scratch (the equivalence test in generator.test.ts compares them with
 * {@link LeadGenerator.lineBuilder} on many leads and field lists). Company and city fields are
 * written as keyed runs (see KEYED). A name without an entry goes through its value and `putCell`.
 */
const BYTE_FIELDS = new Map<string, ByteField>([
  ['id', byteField([], (_g, sc, buf, at) => putNumber(buf, at, sc.id))],
  ['createdAt', byteField(['createdAt'], (_g, sc, buf, at) => putIsoMs(buf, at, sc.createdAt))],
  ['updatedAt', byteField(['createdAt', 'updatedAt'], (_g, sc, buf, at) => putIsoMs(buf, at, sc.updatedAt))],
  [
    'salutation',
    byteField([], (g, sc, buf, at) =>
      g.pct(sc.id, SALT.salutation) < 30
        ? putBytes(buf, at, pickBytes(SALUTATION_BYTES, g.h(sc.id, 200)))
        : putNull(buf, at),
    ),
  ],
  ['firstName', byteField(['firstIdx'], (_g, sc, buf, at) => putBytes(buf, at, FIRST_BYTES[sc.firstIdx]!))],
  [
    'middleName',
    byteField([], (g, sc, buf, at) => {
      if (g.pct(sc.id, SALT.middle) >= 12) return putNull(buf, at);
      buf[at] = 65 + (g.h(sc.id, 201) % 26);
      buf[at + 1] = 46; // .
      return at + 2;
    }),
  ],
  ['lastName', byteField(['lastIdx'], (_g, sc, buf, at) => putBytes(buf, at, LAST_BYTES[sc.lastIdx]!))],
  ['email', byteField(['firstIdx', 'lastIdx', 'company'], putEmail)],
  [
    'phone',
    byteField(['cityIdx'], (g, sc, buf, at) =>
      g.pct(sc.id, SALT.phone) < 80 ? putFill(buf, at, sc.city[4], g.h(sc.id, 202)) : putNull(buf, at),
    ),
  ],
  [
    'mobilePhone',
    byteField(['cityIdx'], (g, sc, buf, at) =>
      g.pct(sc.id, SALT.mobile) < 40 ? putFill(buf, at, sc.city[4], g.h(sc.id, 203)) : putNull(buf, at),
    ),
  ],
  [
    'fax',
    byteField(['cityIdx'], (g, sc, buf, at) =>
      g.pct(sc.id, SALT.fax) < 10 ? putFill(buf, at, sc.city[4], g.h(sc.id, 204)) : putNull(buf, at),
    ),
  ],
  [
    'title',
    byteField([], (g, sc, buf, at) =>
      g.pct(sc.id, SALT.title) < 85
        ? putBytes(buf, at, pickBytes(TITLE_BYTES, g.h(sc.id, 205)))
        : putNull(buf, at),
    ),
  ],
  [
    'dateOfBirth',
    byteField([], (g, sc, buf, at) =>
      g.pct(sc.id, SALT.birth) < 8
        ? putIsoDayMs(buf, at, BIRTH_EPOCH + (g.h(sc.id, 206) % (40 * 365)) * DAY_MS)
        : putNull(buf, at),
    ),
  ],
  [
    'address',
    byteField([], (g, sc, buf, at) => {
      if (g.pct(sc.id, SALT.address) >= 75) return putNull(buf, at);
      at = putUint(buf, at, 1 + (g.h(sc.id, 207) % 9800));
      buf[at++] = 32; // space
      return putBytes(buf, at, pickBytes(STREET_BYTES, g.h(sc.id, 208)));
    }),
  ],
  [
    'postalCode',
    byteField(['cityIdx'], (g, sc, buf, at) =>
      g.pct(sc.id, SALT.postal) < 85 ? putFill(buf, at, sc.city[3], g.h(sc.id, 209)) : putNull(buf, at),
    ),
  ],
  [
    'originalSourceType',
    byteField(['crm', 'source'], (_g, sc, buf, at) =>
      putBytes(buf, at, sc.crm < 35 ? SALESFORCE_BYTES : pickBytes(SOURCE_TYPE_BYTES, sc.source)),
    ),
  ],
  [
    'originalSourceInfo',
    byteField(['crm', 'source'], (_g, sc, buf, at) =>
      putBytes(
        buf,
        at,
        sc.crm < 21 ? LEAD_BYTES : sc.crm < 35 ? CONTACT_BYTES : pickBytes(SOURCE_INFO_BYTES, sc.source),
      ),
    ),
  ],
  [
    'registrationSourceType',
    byteField(['registration', 'source'], (_g, sc, buf, at) =>
      sc.registration < 50 ? putBytes(buf, at, pickBytes(SOURCE_TYPE_BYTES, sc.source)) : putNull(buf, at),
    ),
  ],
  [
    'registrationSourceInfo',
    byteField(['registration', 'source'], (_g, sc, buf, at) =>
      sc.registration < 50 ? putBytes(buf, at, pickBytes(SOURCE_INFO_BYTES, sc.source)) : putNull(buf, at),
    ),
  ],
  [
    'leadStatus',
    byteField([], (g, sc, buf, at) =>
      putBytes(buf, at, pickBytes(LEAD_STATUS_BYTES, g.h(sc.id, SALT.leadStatus))),
    ),
  ],
  [
    'leadSource',
    byteField([], (g, sc, buf, at) =>
      g.pct(sc.id, SALT.leadSource) < 90
        ? putBytes(buf, at, pickBytes(LEAD_SOURCE_BYTES, g.h(sc.id, 210)))
        : putNull(buf, at),
    ),
  ],
  [
    'rating',
    byteField([], (g, sc, buf, at) =>
      g.pct(sc.id, SALT.rating) < 40
        ? putBytes(buf, at, pickBytes(RATING_BYTES, g.h(sc.id, 211)))
        : putNull(buf, at),
    ),
  ],
  [
    'leadRole',
    byteField([], (g, sc, buf, at) =>
      g.pct(sc.id, SALT.role) < 30
        ? putBytes(buf, at, pickBytes(ROLE_BYTES, g.h(sc.id, 212)))
        : putNull(buf, at),
    ),
  ],
  [
    'leadScore',
    byteField([], (g, sc, buf, at) => putUint(buf, at, Math.floor(unit(g.h(sc.id, SALT.score)) ** 2 * 150))),
  ],
  [
    'relativeScore',
    byteField([], (g, sc, buf, at) =>
      g.pct(sc.id, SALT.relScore) < 60 ? putUint(buf, at, 1 + (g.h(sc.id, 213) % 5)) : putNull(buf, at),
    ),
  ],
  [
    'priority',
    byteField([], (g, sc, buf, at) =>
      g.pct(sc.id, SALT.priority) < 40 ? putUint(buf, at, g.h(sc.id, 214) % 101) : putNull(buf, at),
    ),
  ],
  [
    'urgency',
    byteField([], (g, sc, buf, at) =>
      g.pct(sc.id, SALT.urgency) < 40
        ? putHundredths(buf, at, Math.round(unit(g.h(sc.id, 215)) * 10000))
        : putNull(buf, at),
    ),
  ],
  ['unsubscribed', byteField(['unsubscribed'], (_g, sc, buf, at) => putBool(buf, at, sc.unsubscribed < 4))],
  [
    'unsubscribedReason',
    byteField(['unsubscribed'], (_g, sc, buf, at) =>
      sc.unsubscribed < 4 ? putBytes(buf, at, pickBytes(UNSUBSCRIBED_BYTES, sc.id)) : putNull(buf, at),
    ),
  ],
  ['doNotCall', byteField(['doNotCall'], (_g, sc, buf, at) => putBool(buf, at, sc.doNotCall < 3))],
  [
    'doNotCallReason',
    byteField(['doNotCall'], (_g, sc, buf, at) =>
      sc.doNotCall < 3 ? putBytes(buf, at, DO_NOT_CALL_BYTES) : putNull(buf, at),
    ),
  ],
  ['emailInvalid', byteField(['emailInvalid'], (_g, sc, buf, at) => putBool(buf, at, sc.emailInvalid < 2))],
  [
    'emailInvalidCause',
    byteField(['emailInvalid', 'firstIdx', 'lastIdx', 'company'], (g, sc, buf, at) => {
      if (sc.emailInvalid >= 2) return putNull(buf, at);
      at = putBytes(buf, at, BOUNCE_HEAD);
      return putBytes(buf, putEmail(g, sc, buf, at), BOUNCE_TAIL);
    }),
  ],
  [
    'inferredCompany',
    byteField(['inferred', 'company'], (_g, sc, buf, at) =>
      sc.inferred < 10 ? putBytes(buf, at, COMPANY_NAME_BYTES[sc.company]!) : putNull(buf, at),
    ),
  ],
  [
    'inferredCountry',
    byteField(['inferred', 'cityIdx'], (_g, sc, buf, at) =>
      sc.inferred < 10 ? putBytes(buf, at, COUNTRY_BYTES[sc.cityIdx]!) : putNull(buf, at),
    ),
  ],
  ['anonymousIP', NULL_FIELD],
  ['isAnonymous', byteField([], (_g, _sc, buf, at) => putBool(buf, at, false))],
  ['acquisitionProgramId', NULL_FIELD],
  [
    'cookies',
    byteField(['createdAt'], (g, sc, buf, at) => {
      if (g.pct(sc.id, SALT.cookie) >= 60) return putNull(buf, at);
      at = putBytes(buf, at, sc.seed.cookiePrefix);
      at = putNumber(buf, at, sc.createdAt);
      buf[at++] = 45; // -
      return putNumber(buf, at, 10_000 + sc.id);
    }),
  ],
  ['leadPartitionId', byteField([], (_g, _sc, buf, at) => putUint(buf, at, 1))],
  [
    'facebookId',
    byteField([], (g, sc, buf, at) =>
      g.pct(sc.id, SALT.social) < 5 ? putNumber(buf, at, 100_000_000_000_000 + sc.id) : putNull(buf, at),
    ),
  ],
  [
    'linkedInId',
    byteField(['firstIdx', 'lastIdx'], (g, sc, buf, at) => {
      if (g.pct(sc.id, SALT.social + 100) >= 20) return putNull(buf, at);
      at = putBytes(buf, at, FIRST_SLUG_BYTES[sc.firstIdx]!);
      buf[at++] = 45; // -
      at = putBytes(buf, at, LAST_SLUG_BYTES[sc.lastIdx]!);
      buf[at++] = 45;
      return putBase36(buf, at, sc.id, LOWER_36);
    }),
  ],
  [
    'twitterId',
    byteField(['firstIdx', 'lastIdx'], (g, sc, buf, at) => {
      if (g.pct(sc.id, SALT.social + 200) >= 10) return putNull(buf, at);
      at = putBytes(buf, at, FIRST_SLUG_BYTES[sc.firstIdx]!);
      buf[at++] = 95; // _
      at = putBytes(buf, at, LAST_SLUG_BYTES[sc.lastIdx]!);
      return putNumber(buf, at, sc.id);
    }),
  ],
  [
    'sfdcType',
    byteField(['crm'], (_g, sc, buf, at) =>
      sc.crm < 21
        ? putBytes(buf, at, LEAD_BYTES)
        : sc.crm < 35
          ? putBytes(buf, at, CONTACT_BYTES)
          : putNull(buf, at),
    ),
  ],
  [
    'sfdcLeadId',
    byteField(['crm'], (g, sc, buf, at) => {
      if (sc.crm >= 21) return putNull(buf, at);
      if (sc.id >= SFDC_MAX) return putStr(buf, at, sfdcId('00Q', g.sfdcTag, sc.id));
      return putSfdcId(buf, at, sc.seed.leadHead, sc.id);
    }),
  ],
  [
    'sfdcContactId',
    byteField(['crm'], (g, sc, buf, at) => {
      if (sc.crm < 21 || sc.crm >= 35) return putNull(buf, at);
      if (sc.id >= SFDC_MAX) return putStr(buf, at, sfdcId('003', g.sfdcTag, sc.id));
      return putSfdcId(buf, at, sc.seed.contactHead, sc.id);
    }),
  ],
  [
    'sfdcAccountId',
    byteField(['crm', 'company'], (_g, sc, buf, at) =>
      sc.crm >= 21 && sc.crm < 35 ? putBytes(buf, at, sc.seed.accountIds[sc.company]!) : putNull(buf, at),
    ),
  ],
  [
    'sfdcLeadOwnerId',
    byteField(['crm'], (g, sc, buf, at) =>
      sc.crm < 35
        ? putBytes(buf, at, sc.seed.ownerIds[g.h(sc.id, SALT.owner) % OWNER_COUNT]!)
        : putNull(buf, at),
    ),
  ],
  ['sfdcOpptyId', NULL_FIELD],
  [
    'accountTier',
    byteField([], (g, sc, buf, at) =>
      g.pct(sc.id, SALT.tier) < 75 ? putUint(buf, at, 1 + (g.h(sc.id, 216) % 4)) : putNull(buf, at),
    ),
  ],
  [
    'productInterest',
    byteField([], (g, sc, buf, at) =>
      g.pct(sc.id, SALT.interest) < 70
        ? putBytes(buf, at, pickBytes(INTEREST_BYTES, g.h(sc.id, 217)))
        : putNull(buf, at),
    ),
  ],
  ['isCustomer', byteField(['customer'], (_g, sc, buf, at) => putBool(buf, at, sc.customer < 15))],
  [
    'renewalDate',
    byteField(['customer'], (g, sc, buf, at) =>
      sc.customer < 15
        ? putIsoDayMs(buf, at, g.info.asOf + (g.h(sc.id, SALT.renewal) % 365) * DAY_MS)
        : putNull(buf, at),
    ),
  ],
  [
    'contractValue',
    byteField(['customer'], (g, sc, buf, at) =>
      sc.customer < 15 ? putUint(buf, at, (50 + (g.h(sc.id, SALT.contract) % 2450)) * 100) : putNull(buf, at),
    ),
  ],
  [
    'lastWebinarAt',
    byteField(['createdAt', 'updatedAt'], (g, sc, buf, at) => {
      if (g.pct(sc.id, SALT.webinar) >= 30) return putNull(buf, at);
      const created = sc.createdAt;
      return putIsoMs(buf, at, created + Math.floor(unit(g.h(sc.id, 218)) * (sc.updatedAt - created)));
    }),
  ],
  [
    'partnerEmail',
    byteField([], (g, sc, buf, at) => {
      if (g.pct(sc.id, SALT.partner) >= 5) return putNull(buf, at);
      at = putBytes(buf, at, PARTNER_HEAD);
      at = putNumber(buf, at, sc.id);
      buf[at++] = 64; // @
      return putBytes(buf, at, pickBytes(PARTNER_DOMAIN_BYTES, g.h(sc.id, 219)));
    }),
  ],
]);

/** Scratch values the keyed runs read, by key (see KEYED). */
const KEY_DRAW: Record<'company' | 'cityIdx', keyof LeadScratch> = { company: 'company', cityIdx: 'cityIdx' };

type WriterFn = (
  g: LeadGenerator,
  id: number,
  buf: Buffer,
  at: number,
  texts: Uint8Array[][],
  sc: LeadScratch,
) => number;
interface CompiledWriter {
  write: WriterFn;
  runs: number;
}
const compiledWriters = new Map<string, CompiledWriter>();
/** Fields per chunk function of a compiled writer (see compiledWriter). */
const CHUNK_FIELDS = 6;

/**
 * {@link compiledLine} writing bytes: the same cells in the same order. The shared draws the
 * fields need are made once into the scratch first; then each field's byte writer, held in its
 * own constant (one call target per site), writes its cell; keyed runs are copied from bytes
 * cached per company or city.
 */
function compiledWriter(names: readonly string[], delimiter: string): CompiledWriter {
  if (delimiter.length !== 1 || delimiter.charCodeAt(0) > 127) {
    throw new Error(`unsupported export delimiter '${delimiter}'`);
  }
  const key = `${delimiter}\u0000${names.join('\u0000')}`;
  const cached = compiledWriters.get(key);
  if (cached !== undefined) return cached;
  const fns = names.map((name) => LINE_FNS.get(name) ?? GENERATED.get(name) ?? (() => null));
  // A field created at run time (unknown to the generator) is empty on every generated lead.
  const byteFns = names.map(
    (name) => BYTE_FIELDS.get(name)?.write ?? (GENERATED.has(name) ? undefined : NULL_FIELD.write),
  );
  const needed = new Set<keyof LeadScratch>();
  for (const name of names) {
    const keyed = KEYED.get(name);
    if (keyed !== undefined) needed.add(KEY_DRAW[keyed]);
    for (const d of BYTE_FIELDS.get(name)?.draws ?? []) needed.add(d);
  }
  const runs: { from: number; to: number }[] = [];
  const lines: string[] = [];
  for (let i = 0; i < names.length; i++) {
    lines.push(byteFns[i] ? `const b${i} = byteFns[${i}];` : `const f${i} = fns[${i}];`);
  }
  // Cells go into chunk functions of a few fields each: V8 inlines the field functions and byte
  // writers of a small function, while one function for a whole line exhausts its inlining budget
  // after a few fields and calls the rest.
  let chunk = 0;
  let inChunk = 0;
  const open = () => lines.push(`function chunk${chunk}(g, sc, buf, at, texts) {`, '  let k;', '  let t;');
  open();
  for (let i = 0; i < names.length;) {
    if (inChunk >= CHUNK_FIELDS) {
      lines.push('  return at;', '}');
      chunk++;
      inChunk = 0;
      open();
    }
    inChunk++;
    if (i > 0) lines.push(`  buf[at++] = ${delimiter.charCodeAt(0)};`);
    const keyFn = KEYED.get(names[i]!);
    if (keyFn !== undefined) {
      let to = i + 1;
      while (to < names.length && KEYED.get(names[to]!) === keyFn) to++;
      const r = runs.push({ from: i, to }) - 1;
      lines.push(`  k = sc.${KEY_DRAW[keyFn]};`, `  t = texts[${r}][k];`);
      lines.push(`  if (t === undefined) t = texts[${r}][k] = runBytes(g, sc.id, ${r});`);
      lines.push('  at = putBytes(buf, at, t);');
      i = to;
      continue;
    }
    if (byteFns[i]) lines.push(`  at = b${i}(g, sc, buf, at);`);
    else if (NON_ASCII_FIELDS.has(names[i]!)) lines.push(`  at = putCell(buf, at, bytes(f${i}(g, sc.id)));`);
    else lines.push(`  at = putCell(buf, at, f${i}(g, sc.id));`);
    i++;
  }
  lines.push('  buf[at] = 10;', '  return at + 1;', '}');
  lines.push('return function exportBytes(g, id, buf, at, texts, sc) {', '  sc.id = id;');
  for (const [name, code] of DRAWS) if (needed.has(name)) lines.push(`  ${code}`);
  for (let c = 0; c <= chunk; c++) lines.push(`  at = chunk${c}(g, sc, buf, at, texts);`);
  lines.push('  return at;', '};');
  /** A run's bytes for the lead's company or city (cells joined by the delimiter). */
  const runBytes = (g: LeadGenerator, id: number, r: number): Uint8Array => {
    const { from, to } = runs[r]!;
    const cells: string[] = [];
    for (let i = from; i < to; i++) cells.push(cellText(names[i]!, fns[i]!(g, id)));
    return Uint8Array.from(Buffer.from(cells.join(delimiter), 'latin1'));
  };
  const write = new Function(
    'fns',
    'byteFns',
    'bytes',
    'runBytes',
    'putBytes',
    'putCell',
    'citySlots',
    'updatedAfter',
    lines.join('\n'),
  )(fns, byteFns, byteString, runBytes, putBytes, putCell, CITY_SLOTS, updatedAfter) as WriterFn;
  const compiled = { write, runs: runs.length };
  if (compiledWriters.size >= MAX_COMPILED_LINES) compiledWriters.clear();
  compiledWriters.set(key, compiled);
  return compiled;
}

/** Generators by seed info: a seed's per-company tables are computed once, not per export. */
const generators = new WeakMap<LeadSeedInfo, LeadGenerator>();

/** The generator of `info` (the lead database replaces its info object on every reseed). */
export function generatorFor(info: LeadSeedInfo): LeadGenerator {
  let g = generators.get(info);
  if (g === undefined) generators.set(info, (g = new LeadGenerator(info)));
  return g;
}
