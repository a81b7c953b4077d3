import { seededReferences } from '../assets/references.ts';
import type { Instance, SeedOptions } from '../core/instance.ts';
import type { ActivityRecord, FieldValue } from '../model.ts';
import {
  CHANGE_FIELD_POOLS,
  GENERATED_OTHER_TYPES,
  History,
  type ChangeField,
  type LeadLookup,
  type Position,
  type Stream,
} from './generator.ts';
import { ACTIVITY_TYPES, T } from './types.ts';
import { CustomActivityTypes } from './custom-types.ts';

export interface ActivityTypeDef {
  id: number;
  name: string;
  description: string;
  /** Custom (external) activity types have an API name. */
  apiName?: string;
  primaryAttribute?: { name: string; dataType: string };
  attributes: { name: string; dataType: string }[];
}

/** What a writer (sync leads, delete, list add/remove) records; id, GUID and date are assigned. */
export interface NewActivity {
  leadId: number;
  activityTypeId: number;
  activityDate?: number;
  campaignId?: number;
  primaryAttributeValueId?: number;
  primaryAttributeValue?: string;
  attributes?: { name: string; value: FieldValue; apiName?: string }[];
  fields?: { id: number; name: string; newValue: FieldValue; oldValue: FieldValue }[];
}

/** One bounded pass over the stream for the REST readers. */
export interface ScanRequest {
  /** Resume strictly after this position. */
  after: Position;
  /** Last instant to look at (inclusive): the caller's "now". */
  until: number;
  typeIds?: ReadonlySet<number>;
  leadIds?: ReadonlySet<number>;
  leadFilter?: (leadId: number) => boolean;
  /** Final check on the built record (e.g. which fields a change touched). */
  accept?: (rec: ActivityRecord) => boolean;
  /** Stop once this many activities matched. */
  limit: number;
  /** Stop after examining this many activities, matched or not (bounds the work of one call). */
  budget: number;
}

export interface ScanPage {
  items: ActivityRecord[];
  /** Position of the last examined activity (the input position when none was). */
  next: Position;
  /** Whether activities up to `until` remain after `next`. */
  more: boolean;
}

/** Fallback ids for fields the generator touches when the lead database does not know them. */
const FALLBACK_FIELD_ID = 5000;
const FALLBACK_SCORE = { id: 5100, displayName: 'Lead Score' };

/**
 * The activity log of one instance. CONTRACT (used by leads, lists and bulk): keep these
 * signatures.
 *
 * Seeded history is computed on demand (generator.ts); activities written through the API are
 * kept in an array sorted by (activityDate, id), with ids above every generated one.
 */
export class ActivityLog {
  /** Activity types as `activities/types.json` lists them; approved custom types join, deleted ones leave. */
  readonly types: ActivityTypeDef[] = freshTypes();
  /** Custom activity type metadata (drafts, approvals); keeps {@link types} in step. */
  readonly custom: CustomActivityTypes;

  private history: History;
  private appended: ActivityRecord[] = [];
  private nextId = 1;
  private changeFields: ChangeField[] | undefined;

  constructor(readonly inst: Instance) {
    this.history = new History({ leads: 0, seed: 0, asOf: 0, activitiesPerLead: 0 }, this.lookup());
    this.custom = new CustomActivityTypes(this.types, inst.clock);
    this.custom.reset(0);
  }

  seed(opts: Required<SeedOptions>): void {
    // A reseed is a fresh instance: custom types made through the API go with the old data.
    this.types.splice(0, this.types.length, ...freshTypes());
    this.custom.reset(opts.asOf);
    // The catalog is seeded first (Instance.seed): the history refers to its programs and campaigns.
    const assets = this.inst.assets;
    this.history = new History(
      opts,
      this.lookup(),
      seededReferences(assets.programs(), assets.smartCampaigns()),
    );
    this.appended = [];
    this.changeFields = undefined;
    this.nextId = this.history.size() + 1;
  }

  /** Append an activity that happened now (instance clock) unless `activityDate` is given. */
  record(input: NewActivity): ActivityRecord {
    const id = this.nextId++;
    const rec: ActivityRecord = {
      id,
      marketoGUID: String(id),
      leadId: input.leadId,
      activityDate: input.activityDate ?? this.inst.clock.now(),
      activityTypeId: input.activityTypeId,
      attributes: input.attributes ?? [],
    };
    if (input.campaignId !== undefined) rec.campaignId = input.campaignId;
    if (input.primaryAttributeValueId !== undefined)
      rec.primaryAttributeValueId = input.primaryAttributeValueId;
    if (input.primaryAttributeValue !== undefined) rec.primaryAttributeValue = input.primaryAttributeValue;
    if (input.fields !== undefined) rec.fields = input.fields;
    const list = this.appended;
    const last = list[list.length - 1];
    if (!last || last.activityDate <= rec.activityDate) list.push(rec);
    else list.splice(this.firstAppendedAfter({ time: rec.activityDate, id }), 0, rec);
    return rec;
  }

  /**
   * Activities with activityDate in [from, to), ascending by (activityDate, id), optionally only
   * the given type ids. Lazy: never materializes the whole history.
   */
  *iterate(filter: { from: number; to: number; typeIds?: number[] }): Iterable<ActivityRecord> {
    const typeIds = filter.typeIds ? new Set(filter.typeIds) : undefined;
    const streams = this.streams({ time: filter.from, id: 0 }, typeIds);
    for (let s = head(streams); s && s.time < filter.to; s = head(streams)) {
      if (!typeIds || typeIds.has(s.typeId)) yield s.materialize();
      s.advance();
    }
  }

  /** One page of the REST readers: matches after a position, with bounded work. */
  scan(req: ScanRequest): ScanPage {
    const streams = this.streams(req.after, req.typeIds);
    const items: ActivityRecord[] = [];
    let next = req.after;
    let examined = 0;
    let more = false;
    for (let s = head(streams); s && s.time <= req.until; s = head(streams)) {
      if (items.length >= req.limit || examined >= req.budget) {
        more = true;
        break;
      }
      examined++;
      next = { time: s.time, id: s.id };
      if (
        (!req.typeIds || req.typeIds.has(s.typeId)) &&
        (!req.leadIds || req.leadIds.has(s.leadId)) &&
        (!req.leadFilter || req.leadFilter(s.leadId))
      ) {
        const rec = s.materialize();
        if (!req.accept || req.accept(rec)) items.push(rec);
      }
      s.advance();
    }
    return { items, next, more };
  }

  /** The sources that can hold activities of `typeIds`, each positioned just after `after`. */
  private streams(after: Position, typeIds: ReadonlySet<number> | undefined): Stream[] {
    const out: Stream[] = [];
    if (!typeIds || typeIds.has(T.NEW_LEAD)) out.push(this.history.newLeadStream(after));
    if (!typeIds || [...typeIds].some((t) => GENERATED_OTHER_TYPES.has(t)))
      out.push(this.history.otherStream(after));
    out.push(this.appendedStream(after));
    return out;
  }

  private appendedStream(after: Position): Stream {
    const list = this.appended;
    let i = this.firstAppendedAfter(after);
    const s: Stream = {
      live: false,
      time: 0,
      id: 0,
      typeId: 0,
      leadId: 0,
      advance() {
        i++;
        load();
      },
      materialize: () => list[i]!,
    };
    function load(): void {
      const rec = list[i];
      s.live = rec !== undefined;
      if (!rec) return;
      s.time = rec.activityDate;
      s.id = rec.id;
      s.typeId = rec.activityTypeId;
      s.leadId = rec.leadId;
    }
    load();
    return s;
  }

  /** Index of the first appended activity strictly after `pos` in (date, id) order. */
  private firstAppendedAfter(pos: Position): number {
    const list = this.appended;
    let lo = 0;
    let hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const r = list[mid]!;
      if (r.activityDate < pos.time || (r.activityDate === pos.time && r.id <= pos.id)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private lookup(): LeadLookup {
    return {
      changeFields: () => (this.changeFields ??= this.resolveChangeFields()),
      scoreField: () => {
        const f = this.inst.leads.field('leadScore');
        return f ? { id: f.id, displayName: f.displayName } : FALLBACK_SCORE;
      },
      lead: (leadId) => this.inst.leads.get(leadId),
    };
  }

  /** The generator's field table, with the lead database's ids and names where it has the field. */
  private resolveChangeFields(): ChangeField[] {
    const found: ChangeField[] = [];
    for (const f of CHANGE_FIELD_POOLS) {
      const def = this.inst.leads.field(f.name);
      if (def) found.push({ ...f, id: def.id, displayName: def.displayName });
    }
    if (found.length > 0) return found;
    return CHANGE_FIELD_POOLS.map((f, i) => ({ ...f, id: FALLBACK_FIELD_ID + i }));
  }
}

function freshTypes(): ActivityTypeDef[] {
  return ACTIVITY_TYPES.map((t) => ({ ...t, attributes: [...t.attributes] }));
}

function head(streams: Stream[]): Stream | undefined {
  let best: Stream | undefined;
  for (const s of streams) {
    if (!s.live) continue;
    if (!best || s.time < best.time || (s.time === best.time && s.id < best.id)) best = s;
  }
  return best;
}
