import type { Instance, SeedOptions } from '../core/instance.ts';
import { isoSeconds } from '../core/envelope.ts';
import type { FieldDef, FieldValue, LeadRecord } from '../model.ts';
import { LeadGenerator, leadIdsCreatedBefore, type LeadSeedInfo } from './generator.ts';
import { LeadSchema } from './schema.ts';

/** Activity type ids the lead database writes (spec 5.5). */
const NEW_LEAD = 12;
const CHANGE_DATA_VALUE = 13;
const DELETE_LEAD = 37;
const API_SOURCE = 'Web service API';

/** Who changes the database, for the activities the change records. */
export interface WriteSource {
  /** Marketo's name of the API method, e.g. `syncLead`. */
  apiMethodName: string;
  /** API user email. */
  user?: string;
}

/** What the API stored for a lead: changed fields of a generated lead, or every set field of a new one. */
interface Stored {
  values: LeadRecord;
  createdAt: number;
  updatedAt: number;
}

/** Values a lead created through the API starts with when the caller does not set them. */
const CREATE_DEFAULTS: LeadRecord = {
  leadPartitionId: 1,
  unsubscribed: false,
  doNotCall: false,
  emailInvalid: false,
  isAnonymous: false,
  isCustomer: false,
  leadScore: 0,
  originalSourceType: API_SOURCE,
  originalSourceInfo: API_SOURCE,
};

/** Comparable form of a searchable value: strings compare case-insensitively, as Marketo does. */
export function searchKey(value: FieldValue | undefined): string | undefined {
  if (value === null || value === undefined || value === '') return undefined;
  return typeof value === 'string' ? value.toLowerCase() : String(value);
}

/**
 * The lead database of one instance. CONTRACT (used by activities, lists and bulk): keep these
 * signatures.
 *
 * Leads 1..N are generated on demand from the seed; the API's changes live in an overlay (changed
 * fields of generated leads, whole records of leads it created with ids after N, the set of
 * deleted ids), so memory grows with what the API wrote, never with N.
 */
export class LeadDatabase {
  /** This instance's lead fields: the stock table plus fields created through the schema API. */
  readonly schema = new LeadSchema();
  private info: LeadSeedInfo;
  private gen: LeadGenerator;
  /** Changed fields of generated leads (ids ≤ N). */
  private readonly overlay = new Map<number, Stored>();
  /** Leads created through the API (ids > N), in ascending id order (insertion order). */
  private readonly created = new Map<number, Stored>();
  /** Deleted generated leads; deleted API-created leads simply leave `created`. */
  private readonly deleted = new Set<number>();
  /** Searchable field → value key → ids, for values the API stored (generated values are computed). */
  private readonly index = new Map<string, Map<string, Set<number>>>();
  private nextId = 1;

  constructor(readonly inst: Instance) {
    this.info = { seed: 1, leads: 0, asOf: inst.clock.now() };
    this.gen = new LeadGenerator(this.info);
  }

  /** Replace all leads with `opts.leads` generated leads, ids 1..N, on the stock schema. */
  seed(opts: Required<SeedOptions>): void {
    this.schema.reset();
    this.info = { seed: opts.seed, leads: opts.leads, asOf: opts.asOf, spanMs: opts.spanDays * 86_400_000 };
    this.gen = new LeadGenerator(this.info);
    this.overlay.clear();
    this.created.clear();
    this.deleted.clear();
    this.index.clear();
    this.nextId = opts.leads + 1;
  }

  /** What the generated leads derive from; with the generator's pure functions it gives createdAt etc. */
  get seedInfo(): LeadSeedInfo {
    return this.info;
  }

  /** Lead fields in describe order (standard, custom, then those created at run time). */
  get fields(): readonly FieldDef[] {
    return this.schema.fields;
  }

  /** A field by REST name (case-sensitive, as Marketo). */
  field(name: string): FieldDef | undefined {
    return this.schema.field(name);
  }

  /** Live (not deleted) leads. */
  count(): number {
    return this.info.leads - this.deleted.size + this.created.size;
  }

  /** Highest lead id ever assigned. */
  maxId(): number {
    return this.nextId - 1;
  }

  exists(id: number): boolean {
    if (!Number.isInteger(id)) return false;
    if (id >= 1 && id <= this.info.leads) return !this.deleted.has(id);
    return this.created.has(id);
  }

  /** Every field of a live lead (null for empty values), or undefined. */
  get(id: number): LeadRecord | undefined {
    if (!this.exists(id)) return undefined;
    if (id <= this.info.leads) {
      const lead = this.gen.lead(id);
      const stored = this.overlay.get(id);
      if (stored) {
        Object.assign(lead, stored.values);
        lead.updatedAt = isoSeconds(stored.updatedAt);
      }
      // The generator has no value for fields created at run time: empty unless the API set one.
      for (const f of this.schema.created) lead[f.name] ??= null;
      return lead;
    }
    const stored = this.created.get(id)!;
    const lead: LeadRecord = {};
    for (const f of this.fields) lead[f.name] = stored.values[f.name] ?? null;
    lead.id = id;
    lead.createdAt = isoSeconds(stored.createdAt);
    lead.updatedAt = isoSeconds(stored.updatedAt);
    return lead;
  }

  /**
   * A live lead cut down to `names` (`id` first, then the names in order; null for empty or
   * unknown names), or undefined. Cheaper than {@link get}: computes only the requested fields.
   */
  read(id: number, names: readonly string[]): LeadRecord | undefined {
    if (!this.exists(id)) return undefined;
    const out: LeadRecord = { id };
    for (const name of names) if (name !== 'id') out[name] = this.valueOf(id, name);
    return out;
  }

  /**
   * Export lines of leads the API never touched (byte strings, see
   * {@link LeadGenerator.lineBuilder}). `untouched(id)` tells whether `id` is such a lead; for any
   * other (changed, deleted or API-created) the caller encodes {@link read} instead. Follows a
   * reseed: lines always come from the current seed.
   */
  generatedLines(
    names: readonly string[],
    delimiter: string,
  ): { untouched(id: number): boolean; line(id: number): string } {
    let gen = this.gen;
    let build = gen.lineBuilder(names, delimiter);
    return {
      untouched: (id) => id >= 1 && id <= this.info.leads && !this.deleted.has(id) && !this.overlay.has(id),
      line: (id) => {
        if (gen !== this.gen) build = (gen = this.gen).lineBuilder(names, delimiter);
        return build(id);
      },
    };
  }

  /** One field of a live lead (the caller checked it exists). */
  valueOf(id: number, name: string): FieldValue {
    if (id <= this.info.leads) {
      const stored = this.overlay.get(id);
      if (stored) {
        if (name === 'updatedAt') return isoSeconds(stored.updatedAt);
        if (Object.hasOwn(stored.values, name)) return stored.values[name]!;
      }
      return this.gen.value(id, name);
    }
    const stored = this.created.get(id)!;
    if (name === 'id') return id;
    if (name === 'createdAt') return isoSeconds(stored.createdAt);
    if (name === 'updatedAt') return isoSeconds(stored.updatedAt);
    return stored.values[name] ?? null;
  }

  /** Creation instant of a live lead in epoch ms. */
  createdAtMs(id: number): number {
    return id <= this.info.leads ? this.gen.createdAt(id) : this.created.get(id)!.createdAt;
  }

  /** Last update instant of a live lead in epoch ms. */
  updatedAtMs(id: number): number {
    if (id <= this.info.leads) return this.overlay.get(id)?.updatedAt ?? this.gen.updatedAt(id);
    return this.created.get(id)!.updatedAt;
  }

  /**
   * Live leads in ascending id order, optionally only those whose createdAt / updatedAt (epoch ms)
   * fall in [from, to). Lazy: never materializes all leads.
   */
  *iterate(filter: {
    createdAt?: { from: number; to: number };
    updatedAt?: { from: number; to: number };
  }): Iterable<LeadRecord> {
    for (const id of this.ids(filter)) {
      // A consumer may pause between leads (bulk export) while the API deletes some.
      const lead = this.get(id);
      if (lead) yield lead;
    }
  }

  /** Ids of live leads, ascending, filtered as {@link iterate}. */
  *ids(
    filter: { createdAt?: { from: number; to: number }; updatedAt?: { from: number; to: number } } = {},
  ): Iterable<number> {
    const { createdAt, updatedAt } = filter;
    const inRange = (ms: number, r: { from: number; to: number } | undefined) =>
      r === undefined || (ms >= r.from && ms < r.to);
    // Generated createdAt grows with id: the createdAt window is one contiguous id range.
    let lo = 1;
    let hi = this.info.leads;
    if (createdAt) {
      lo = leadIdsCreatedBefore(createdAt.from, this.info) + 1;
      hi = leadIdsCreatedBefore(createdAt.to, this.info);
    }
    for (let id = lo; id <= hi; id++) {
      if (this.deleted.has(id)) continue;
      if (updatedAt && !inRange(this.updatedAtMs(id), updatedAt)) continue;
      yield id;
    }
    for (const [id, stored] of this.created) {
      if (inRange(stored.createdAt, createdAt) && inRange(stored.updatedAt, updatedAt)) yield id;
    }
  }

  /**
   * Ids of live leads whose searchable field `name` equals one of `values` (strings compare
   * case-insensitively), ascending. Stops once more than `limit` matched, so a caller can tell
   * "too many" without a full count.
   */
  find(name: string, values: readonly string[], limit: number): number[] {
    const f = this.field(name);
    if (!f) return [];
    const numeric = f.dataType === 'integer';
    const keys = new Set<string>();
    for (const v of values) {
      if (numeric) {
        if (/^-?\d+$/.test(v.trim())) keys.add(String(Number(v)));
      } else if (v !== '') keys.add(v.toLowerCase());
    }
    if (keys.size === 0) return [];

    if (name === 'id') {
      const ids = [...keys].map(Number).filter((id) => this.exists(id));
      return ids.sort((a, b) => a - b).slice(0, limit + 1);
    }

    const found = new Set<number>();
    const byValue = this.index.get(name);
    if (byValue) {
      for (const key of keys) for (const id of byValue.get(key) ?? []) found.add(id);
    }
    const n = this.info.leads;
    const generatedMatches = (id: number) =>
      id >= 1 &&
      id <= n &&
      !this.deleted.has(id) &&
      !this.overridden(id, name) &&
      keys.has(searchKey(this.gen.value(id, name)) ?? '');

    if (this.gen.invertible(name)) {
      for (const v of values) {
        const id = this.gen.candidate(name, v);
        if (id !== null && generatedMatches(id)) found.add(id);
      }
    } else if ([...keys].some((key) => this.gen.mayHold(name, key))) {
      for (let id = 1; id <= n && found.size <= limit; id++) {
        if (generatedMatches(id)) found.add(id);
      }
    }
    // Past the limit the slice is not the lowest ids, only proof that there are too many.
    return [...found].sort((a, b) => a - b).slice(0, limit + 1);
  }

  /** Create a lead from validated values; records New Lead. Returns its id. */
  create(values: LeadRecord, source: WriteSource): number {
    const id = this.nextId++;
    const now = this.inst.clock.now();
    // Defaults first: read-only ones (partition, source) only the system sets; the caller's
    // values were validated and stripped of read-only fields by the sync logic.
    const stored: Stored = { values: { ...CREATE_DEFAULTS }, createdAt: now, updatedAt: now };
    for (const [name, value] of Object.entries(values)) {
      if (value !== null && !this.field(name)?.readOnly) stored.values[name] = value;
    }
    this.created.set(id, stored);
    for (const [name, value] of Object.entries(stored.values)) this.indexAdd(name, value, id);
    const attributes: { name: string; value: FieldValue }[] = [
      { name: 'Source Type', value: API_SOURCE },
      { name: 'API Method Name', value: source.apiMethodName },
    ];
    if (source.user !== undefined) attributes.push({ name: 'Modifying User', value: source.user });
    this.inst.activities.record({
      leadId: id,
      activityTypeId: NEW_LEAD,
      activityDate: now,
      attributes,
      fields: [],
    });
    return id;
  }

  /**
   * Apply validated values to a live lead: each changed field records a Change Data Value and
   * moves updatedAt to now; unchanged values record nothing. Read-only fields are ignored, unless
   * `system` (a call that owns one, e.g. Associate Lead and `cookies`). Returns the number of fields
   * that changed.
   */
  update(id: number, values: LeadRecord, _source: WriteSource, system = false): number {
    if (!this.exists(id)) return 0;
    const now = this.inst.clock.now();
    let changed = 0;
    for (const [name, value] of Object.entries(values)) {
      const f = this.field(name);
      if (!f || (f.readOnly && !system) || name === 'id') continue;
      const old = this.valueOf(id, name);
      if (old === value) continue;
      let stored = id <= this.info.leads ? this.overlay.get(id) : this.created.get(id);
      if (!stored) {
        stored = { values: {}, createdAt: this.gen.createdAt(id), updatedAt: this.gen.updatedAt(id) };
        this.overlay.set(id, stored);
      }
      this.indexRemove(name, old, id);
      stored.values[name] = value;
      this.indexAdd(name, value, id);
      stored.updatedAt = now;
      changed++;
      this.inst.activities.record({
        leadId: id,
        activityTypeId: CHANGE_DATA_VALUE,
        activityDate: now,
        primaryAttributeValueId: f.id,
        primaryAttributeValue: f.displayName,
        attributes: [
          { name: 'New Value', value },
          { name: 'Old Value', value: old },
          { name: 'Reason', value: API_SOURCE },
          { name: 'Source', value: API_SOURCE },
        ],
        fields: [{ id: f.id, name, newValue: value, oldValue: old }],
      });
    }
    return changed;
  }

  /** Delete a live lead; records Delete Lead. False when there is no such lead. */
  remove(id: number, _source: WriteSource): boolean {
    if (!this.exists(id)) return false;
    const first = this.valueOf(id, 'firstName');
    const last = this.valueOf(id, 'lastName');
    const name = [first, last].filter((v) => v !== null && v !== '').join(' ');
    this.inst.activities.record({
      leadId: id,
      activityTypeId: DELETE_LEAD,
      activityDate: this.inst.clock.now(),
      primaryAttributeValueId: id,
      primaryAttributeValue: name,
      attributes: [{ name: 'Remove from CRM', value: false }],
    });
    const stored = id <= this.info.leads ? this.overlay.get(id) : this.created.get(id);
    if (stored)
      for (const [field, value] of Object.entries(stored.values)) this.indexRemove(field, value, id);
    if (id <= this.info.leads) {
      this.overlay.delete(id);
      this.deleted.add(id);
    } else {
      this.created.delete(id);
    }
    return true;
  }

  /** Whether the API stored its own value of `name` for generated lead `id`. */
  private overridden(id: number, name: string): boolean {
    const stored = this.overlay.get(id);
    return stored !== undefined && Object.hasOwn(stored.values, name);
  }

  private indexAdd(name: string, value: FieldValue, id: number): void {
    const key = searchKey(value);
    if (key === undefined || !this.field(name)?.searchable) return;
    let byValue = this.index.get(name);
    if (!byValue) this.index.set(name, (byValue = new Map()));
    let ids = byValue.get(key);
    if (!ids) byValue.set(key, (ids = new Set()));
    ids.add(id);
  }

  private indexRemove(name: string, value: FieldValue, id: number): void {
    const key = searchKey(value);
    if (key === undefined) return;
    const byValue = this.index.get(name);
    const ids = byValue?.get(key);
    if (!ids) return;
    ids.delete(id);
    if (ids.size === 0) byValue!.delete(key);
  }
}
