import type { FieldDef } from '../model.ts';
import { FIELD_BY_NAME, LEAD_FIELDS, PSEUDO_FIELDS } from './fields.ts';

/**
 * The lead schema of one instance: the stock field table plus what the field-schema API did on this
 * instance (spec 5.1 "Field schema"). The stock FieldDefs are shared by every instance, so they are
 * never changed in place: an update replaces the instance's entry with a changed copy. Created fields
 * are appended (describe order = creation order) and never removed, as Marketo never deletes fields;
 * only a reseed goes back to the stock table.
 */
export class LeadSchema {
  private list: FieldDef[] = [...LEAD_FIELDS];
  private byName = new Map<string, FieldDef>(FIELD_BY_NAME);
  /** Fields created at run time, in creation order: the lead generator has values for none of them. */
  private runtime: FieldDef[] = [];

  /** Every field in describe order: standard, stock custom, then created ones. */
  get fields(): readonly FieldDef[] {
    return this.list;
  }

  /** The fields created through the API since the last reseed. */
  get created(): readonly FieldDef[] {
    return this.runtime;
  }

  /** A field by REST name (case-sensitive, as Marketo). */
  field(name: string): FieldDef | undefined {
    return this.byName.get(name);
  }

  /** Back to the stock table (a reseed: the instance starts over). */
  reset(): void {
    this.list = [...LEAD_FIELDS];
    this.byName = new Map(FIELD_BY_NAME);
    this.runtime = [];
  }

  /**
   * Whether a new field may not take REST name `name`: a field has it in any letter case (two
   * names differing only in case would be one field to a person reading describe), or Marketo
   * reserves it as a pseudo field of lead reads.
   */
  nameTaken(name: string): boolean {
    const lower = name.toLowerCase();
    if ([...PSEUDO_FIELDS].some((p) => p.toLowerCase() === lower)) return true;
    return this.list.some((f) => f.name.toLowerCase() === lower);
  }

  /** Whether another field than `except` already shows `displayName` (display names are unique). */
  displayNameTaken(displayName: string, except?: string): boolean {
    const lower = displayName.toLowerCase();
    return this.list.some((f) => f.name !== except && f.displayName.toLowerCase() === lower);
  }

  /** The id a new custom field gets: after every custom id so far (custom ids are a range of their own). */
  nextCustomId(): number {
    let max = 0;
    for (const f of this.list) if (f.custom && f.id > max) max = f.id;
    return max + 1;
  }

  /** Append a created field (the caller checked its name and display name). */
  add(def: FieldDef): void {
    this.list.push(def);
    this.byName.set(def.name, def);
    this.runtime.push(def);
  }

  /** Replace the field of the same name with an updated copy, keeping its place. */
  replace(def: FieldDef): void {
    const i = this.list.findIndex((f) => f.name === def.name);
    if (i === -1) throw new Error(`no lead field '${def.name}'`);
    this.list[i] = def;
    this.byName.set(def.name, def);
    const r = this.runtime.findIndex((f) => f.name === def.name);
    if (r !== -1) this.runtime[r] = def;
  }
}
