import type { FieldValue } from '../model.ts';
import { hash, pick, unit } from '../activities/random.ts';
import { leadCreatedAt, leadIdsCreatedBefore, type LeadSeedInfo } from '../leads/generator.ts';
import { CAR, SUBSCRIPTION, type CoType } from './types.ts';

/**
 * Procedural custom object records: each generated lead owns 0–2 cars and 0–1 subscriptions, a
 * pure function of (seed, type, lead id, index), so reading any record, or all records of a window,
 * stores nothing. Keys are invertible: a marketoGUID, a VIN or a subscription id names its lead and
 * index, so lookups never scan.
 */

/** One record: system fields apart, data fields in `values` (by field name). */
export interface CoRecord {
  marketoGUID: string;
  leadId: number;
  /** Epoch ms, whole seconds (what REST shows is what bulk windows compare). */
  createdAt: number;
  updatedAt: number;
  values: Record<string, FieldValue>;
}

interface Recipe {
  salt: number;
  /** Type code in the GUID's second group. */
  code: string;
  /** Records of a lead from a uniform draw u ∈ [0,1). */
  count(u: number): number;
  dedupe(leadId: number, index: number, h: (salt: number) => number): string;
  /** (leadId, index) a dedupe value was made from, when it has the generated shape. */
  parseDedupe(value: string): { leadId: number; index: number } | undefined;
  values(h: (salt: number) => number, created: number): Record<string, FieldValue>;
}

const MAKES: { make: string; wmi: string; models: string[] }[] = [
  { make: 'Toyota', wmi: 'JT2', models: ['Corolla', 'Camry', 'RAV4', 'Prius'] },
  { make: 'Honda', wmi: 'JHM', models: ['Civic', 'Accord', 'CR-V', 'Fit'] },
  { make: 'Ford', wmi: '1FA', models: ['Focus', 'Mustang', 'Escape', 'F-150'] },
  { make: 'Tesla', wmi: '5YJ', models: ['Model 3', 'Model S', 'Model Y'] },
  { make: 'BMW', wmi: 'WBA', models: ['320i', 'X3', 'i4'] },
  { make: 'Volkswagen', wmi: 'WVW', models: ['Golf', 'Passat', 'Tiguan'] },
  { make: 'Subaru', wmi: 'JF1', models: ['Outback', 'Forester', 'Impreza'] },
];
/** VIN characters (no I, O, Q). */
const VIN_CHARS = 'ABCDEFGHJKLMNPRSTUVWXYZ0123456789';
const PLANS: { plan: string; maxSeats: number }[] = [
  { plan: 'Starter', maxSeats: 5 },
  { plan: 'Team', maxSeats: 50 },
  { plan: 'Business', maxSeats: 250 },
  { plan: 'Enterprise', maxSeats: 5000 },
];
const YEAR_MS = 365 * 86_400_000;
const MAX_LEAD = 99_999_999;

const RECIPES = new Map<string, Recipe>([
  [
    CAR.name,
    {
      salt: 0x0c01,
      code: '0c01',
      // 24% one car, 3% two: 0.30 cars per lead.
      count: (u) => (u < 0.24 ? 1 : u < 0.27 ? 2 : 0),
      dedupe: (leadId, index, h) => {
        const m = MAKES[pick(h(1), MAKES.length)]!;
        let mid = '';
        for (let i = 0; i < 5; i++) mid += VIN_CHARS[pick(h(20 + i), VIN_CHARS.length)];
        return `${m.wmi}${mid}${index}${String(leadId).padStart(8, '0')}`;
      },
      parseDedupe: (value) => {
        const m = /^[A-Z0-9]{8}(\d)(\d{8})$/i.exec(value);
        return m ? { leadId: Number(m[2]), index: Number(m[1]) } : undefined;
      },
      values: (h) => {
        const m = MAKES[pick(h(1), MAKES.length)]!;
        return {
          make: m.make,
          model: m.models[pick(h(2), m.models.length)]!,
          year: 2008 + pick(h(3), 18),
          price: 12_000 + Math.round(unit(h(4)) * 7_300_000) / 100,
        };
      },
    },
  ],
  [
    SUBSCRIPTION.name,
    {
      salt: 0x0c02,
      code: '0c02',
      count: (u) => (u < 0.2 ? 1 : 0),
      dedupe: (leadId, index) => `SUB-${String(leadId).padStart(8, '0')}-${index}`,
      parseDedupe: (value) => {
        const m = /^SUB-(\d{8})-(\d)$/i.exec(value);
        return m ? { leadId: Number(m[1]), index: Number(m[2]) } : undefined;
      },
      values: (h, created) => {
        const p = PLANS[pick(h(1), PLANS.length)]!;
        // Renewal: the first yearly anniversary of creation after a random point within a year.
        const renews = created + YEAR_MS * (1 + pick(h(3), 2));
        return {
          plan: p.plan,
          seats: 1 + pick(h(2), p.maxSeats),
          active: pick(h(4), 100) < 75,
          renewsAt: new Date(renews).toISOString().slice(0, 10),
        };
      },
    },
  ],
]);

const GUID_RE = /^([0-9a-f]{8})-([0-9a-f]{4})-4([0-9a-f]{3})-8([0-9a-f]{3})-([0-9a-f]{12})$/;

function hex(n: number, width: number): string {
  return n.toString(16).padStart(width, '0').slice(-width);
}

export class CoGenerator {
  constructor(readonly info: LeadSeedInfo) {}

  private recipe(type: CoType): Recipe {
    return RECIPES.get(type.name)!;
  }

  private draw(type: CoType, leadId: number, index: number): (salt: number) => number {
    const { seed } = this.info;
    const base = this.recipe(type).salt * 64;
    const n = leadId * 8 + index;
    return (salt) => hash(seed, base + salt, n);
  }

  /** Records of generated lead `leadId` (0 for ids outside 1..N). */
  count(type: CoType, leadId: number): number {
    if (!Number.isSafeInteger(leadId) || leadId < 1 || leadId > this.info.leads || leadId > MAX_LEAD)
      return 0;
    return this.recipe(type).count(unit(hash(this.info.seed, this.recipe(type).salt, leadId)));
  }

  guid(type: CoType, leadId: number, index: number): string {
    const h = this.draw(type, leadId, index);
    return `${hex(h(90), 8)}-${this.recipe(type).code}-4${hex(index, 3)}-8${hex(h(91), 3)}-${hex(leadId, 12)}`;
  }

  /** The generated record's instants: created within the lead's lifetime, updated at or after it. */
  private times(type: CoType, leadId: number, index: number): { createdAt: number; updatedAt: number } {
    const h = this.draw(type, leadId, index);
    const born = leadCreatedAt(leadId, this.info);
    const asOf = this.info.asOf;
    const createdAt = Math.ceil((born + Math.floor(unit(h(10)) * (asOf - born))) / 1000) * 1000;
    const updatedAt =
      pick(h(11), 100) < 40
        ? createdAt
        : Math.max(createdAt, Math.floor((createdAt + unit(h(12)) * (asOf - createdAt)) / 1000) * 1000);
    return { createdAt, updatedAt };
  }

  /** Generated record `index` of lead `leadId` (the caller checked index < count). */
  record(type: CoType, leadId: number, index: number): CoRecord {
    const h = this.draw(type, leadId, index);
    const recipe = this.recipe(type);
    const { createdAt, updatedAt } = this.times(type, leadId, index);
    const values: Record<string, FieldValue> = {
      [type.dedupeFields[0]!]: recipe.dedupe(leadId, index, h),
      ...recipe.values(h, createdAt),
    };
    return { marketoGUID: this.guid(type, leadId, index), leadId, createdAt, updatedAt, values };
  }

  updatedAt(type: CoType, leadId: number, index: number): number {
    return this.times(type, leadId, index).updatedAt;
  }

  /** Generated records of a lead. */
  recordsOf(type: CoType, leadId: number): CoRecord[] {
    const out: CoRecord[] = [];
    for (let i = 0, n = this.count(type, leadId); i < n; i++) out.push(this.record(type, leadId, i));
    return out;
  }

  /** (leadId, index) of a generated GUID, or undefined for anything else. */
  parseGuid(type: CoType, guid: string): { leadId: number; index: number } | undefined {
    const m = GUID_RE.exec(guid.trim().toLowerCase());
    if (!m || m[2] !== this.recipe(type).code) return undefined;
    const leadId = parseInt(m[5]!, 16);
    const index = parseInt(m[3]!, 16);
    if (index >= this.count(type, leadId)) return undefined;
    return this.guid(type, leadId, index) === guid.trim().toLowerCase() ? { leadId, index } : undefined;
  }

  /** (leadId, index) of a generated dedupe value (case-insensitive), or undefined. */
  parseDedupe(type: CoType, value: string): { leadId: number; index: number } | undefined {
    const key = this.recipe(type).parseDedupe(value.trim());
    if (!key || key.index >= this.count(type, key.leadId)) return undefined;
    const made = this.recipe(type).dedupe(key.leadId, key.index, this.draw(type, key.leadId, key.index));
    return made.toLowerCase() === value.trim().toLowerCase() ? key : undefined;
  }

  /**
   * Generated lead ids that may own a record updated before `to`: a record is created no earlier
   * than its lead, so leads created at or after `to` have none.
   */
  leadsBefore(to: number): number {
    return Math.min(leadIdsCreatedBefore(to, this.info), MAX_LEAD);
  }
}
