import { randomUUID } from 'node:crypto';
import type { Instance, SeedOptions } from '../core/instance.ts';
import type { FieldValue } from '../model.ts';
import { CoGenerator, type CoRecord } from './generator.ts';
import { CO_TYPES, type CoType } from './types.ts';

/**
 * The custom object records of one instance: generated records (see generator.ts) with an overlay of
 * what the API wrote (changed generated records, deleted ones, records it created), per type. Memory
 * grows with the writes only.
 *
 * A record is visible while its lead exists: deleting a lead takes its records with it, as Marketo
 * cascades the delete to child custom objects. Writes never record lead activities (Marketo logs
 * none for custom objects) and leave the lead's updatedAt alone.
 */

interface Overlay {
  /** Generated records the API changed, whole, by GUID. */
  changed: Map<string, CoRecord>;
  /** Deleted generated records (GUIDs); deleted API records simply leave `created`. */
  deleted: Set<string>;
  /** Records the API created, by GUID, in creation order. */
  created: Map<string, CoRecord>;
  /** Lower-cased dedupe value → GUID, for created records. */
  byDedupe: Map<string, string>;
  /** Lead id → GUIDs of stored (changed or created) records linked to it. */
  byLead: Map<number, Set<string>>;
}

function emptyOverlay(): Overlay {
  return {
    changed: new Map(),
    deleted: new Set(),
    created: new Map(),
    byDedupe: new Map(),
    byLead: new Map(),
  };
}

function copy(rec: CoRecord): CoRecord {
  return { ...rec, values: { ...rec.values } };
}

export class CustomObjectStore {
  private gen = new CoGenerator({ seed: 1, leads: 0, asOf: 0 });
  private overlays = new Map<string, Overlay>();
  /** When the types were defined: the start of the seeded history (list/describe createdAt). */
  definedAt = 0;

  constructor(readonly inst: Instance) {}

  /** Follow a reseed of the lead database (call after it). */
  seed(opts: Required<SeedOptions>): void {
    this.gen = new CoGenerator(this.inst.leads.seedInfo);
    this.overlays = new Map(CO_TYPES.map((t) => [t.name, emptyOverlay()]));
    this.definedAt = Math.floor((opts.asOf - opts.spanDays * 86_400_000) / 1000) * 1000;
  }

  get types(): readonly CoType[] {
    return CO_TYPES;
  }

  private overlay(type: CoType): Overlay {
    let o = this.overlays.get(type.name);
    if (!o) this.overlays.set(type.name, (o = emptyOverlay()));
    return o;
  }

  private visible(rec: CoRecord | undefined): CoRecord | undefined {
    return rec && this.inst.leads.exists(rec.leadId) ? rec : undefined;
  }

  /** A live record by GUID (any case). */
  byGuid(type: CoType, guid: string): CoRecord | undefined {
    const key = guid.trim().toLowerCase();
    const o = this.overlay(type);
    const created = o.created.get(key);
    if (created) return this.visible(created);
    if (o.deleted.has(key)) return undefined;
    const changed = o.changed.get(key);
    if (changed) return this.visible(changed);
    const pos = this.gen.parseGuid(type, key);
    return pos ? this.visible(this.gen.record(type, pos.leadId, pos.index)) : undefined;
  }

  /** A live record by its dedupe value (single dedupe field; strings compare case-insensitively). */
  byDedupe(type: CoType, value: string): CoRecord | undefined {
    const o = this.overlay(type);
    const guid = o.byDedupe.get(value.trim().toLowerCase());
    if (guid !== undefined) return this.byGuid(type, guid);
    const pos = this.gen.parseDedupe(type, value);
    return pos ? this.byGuid(type, this.gen.guid(type, pos.leadId, pos.index)) : undefined;
  }

  /** Live records linked to a lead: generated ones first (by index), then stored ones. */
  byLead(type: CoType, leadId: number): CoRecord[] {
    if (!this.inst.leads.exists(leadId)) return [];
    const o = this.overlay(type);
    const out: CoRecord[] = [];
    const seen = new Set<string>();
    for (let i = 0, n = this.gen.count(type, leadId); i < n; i++) {
      const rec = this.byGuid(type, this.gen.guid(type, leadId, i));
      if (rec && rec.leadId === leadId) {
        out.push(rec);
        seen.add(rec.marketoGUID);
      }
    }
    for (const guid of o.byLead.get(leadId) ?? []) {
      const rec = this.byGuid(type, guid);
      if (rec && rec.leadId === leadId && !seen.has(guid)) out.push(rec);
    }
    return out;
  }

  /** Live records whose updatedAt is in [from, to), lazily; generated ones in lead id order first. */
  *updatedIn(type: CoType, range: { from: number; to: number }): Iterable<CoRecord> {
    const o = this.overlay(type);
    const leads = this.inst.leads;
    const touched = o.changed.size + o.deleted.size > 0;
    const last = this.gen.leadsBefore(range.to);
    for (let id = 1; id <= last; id++) {
      const n = this.gen.count(type, id);
      if (n === 0 || !leads.exists(id)) continue;
      for (let i = 0; i < n; i++) {
        const at = this.gen.updatedAt(type, id, i);
        if (at < range.from || at >= range.to) continue;
        if (touched) {
          const guid = this.gen.guid(type, id, i);
          if (o.changed.has(guid) || o.deleted.has(guid)) continue;
        }
        yield this.gen.record(type, id, i);
      }
    }
    for (const stored of [o.changed, o.created]) {
      for (const rec of [...stored.values()]) {
        if (rec.updatedAt >= range.from && rec.updatedAt < range.to && leads.exists(rec.leadId)) yield rec;
      }
    }
  }

  /** Live records of the given leads, in the leads' order. */
  *ofLeads(type: CoType, leadIds: Iterable<number>): Iterable<CoRecord> {
    for (const id of leadIds) yield* this.byLead(type, id);
  }

  /** Store a new record (values validated by the caller, the dedupe value among them). */
  create(type: CoType, leadId: number, values: Record<string, FieldValue>): CoRecord {
    const o = this.overlay(type);
    const now = Math.floor(this.inst.clock.now() / 1000) * 1000;
    const rec: CoRecord = { marketoGUID: randomUUID(), leadId, createdAt: now, updatedAt: now, values: {} };
    for (const f of type.fields) {
      if (Object.hasOwn(values, f.name)) rec.values[f.name] = values[f.name]!;
    }
    o.created.set(rec.marketoGUID, rec);
    const dedupe = rec.values[type.dedupeFields[0]!];
    if (typeof dedupe === 'string') o.byDedupe.set(dedupe.toLowerCase(), rec.marketoGUID);
    this.link(o, rec.leadId, rec.marketoGUID);
    return rec;
  }

  /**
   * Apply validated changes (data fields, and `leadId` when given) to a live record; updatedAt moves
   * to now when anything changed. Returns the record as stored.
   */
  update(type: CoType, current: CoRecord, values: Record<string, FieldValue>, leadId?: number): CoRecord {
    const o = this.overlay(type);
    const guid = current.marketoGUID;
    const stored = o.created.get(guid) ?? o.changed.get(guid) ?? copy(current);
    let changed = false;
    for (const [name, value] of Object.entries(values)) {
      if ((stored.values[name] ?? null) === value) continue;
      stored.values[name] = value;
      changed = true;
    }
    if (leadId !== undefined && leadId !== stored.leadId) {
      this.unlink(o, stored.leadId, guid);
      stored.leadId = leadId;
      changed = true;
    }
    if (!changed) return stored;
    stored.updatedAt = Math.max(stored.createdAt, Math.floor(this.inst.clock.now() / 1000) * 1000);
    if (!o.created.has(guid)) o.changed.set(guid, stored);
    this.link(o, stored.leadId, guid);
    return stored;
  }

  /** Delete a live record. */
  remove(type: CoType, rec: CoRecord): void {
    const o = this.overlay(type);
    const guid = rec.marketoGUID;
    this.unlink(o, rec.leadId, guid);
    if (o.created.delete(guid)) {
      const dedupe = rec.values[type.dedupeFields[0]!];
      if (typeof dedupe === 'string') o.byDedupe.delete(dedupe.toLowerCase());
      return;
    }
    o.changed.delete(guid);
    o.deleted.add(guid);
  }

  private link(o: Overlay, leadId: number, guid: string): void {
    let set = o.byLead.get(leadId);
    if (!set) o.byLead.set(leadId, (set = new Set()));
    set.add(guid);
  }

  private unlink(o: Overlay, leadId: number, guid: string): void {
    const set = o.byLead.get(leadId);
    if (!set) return;
    set.delete(guid);
    if (set.size === 0) o.byLead.delete(leadId);
  }
}
