/**
 * The models Tether's syncs can write to the records cache. `GET /records` answers 400 `unknown_model` for a
 * model that is neither listed here nor present in the cache of the connection (so a typo gets a clear
 * error instead of an empty list). The sync engine adds its models here (or through `registerModel`).
 */

/** Marketo models (Nango-style PascalCase names, as `model=` of `GET /records`). */
export const MARKETO_MODELS = [
  'Lead',
  'LeadField',
  'ActivityType',
  'Activity',
  'DeletedLead',
  'StaticList',
  'StaticListMembership',
  'Program',
  'SmartCampaign',
] as const;

const known = new Set<string>(MARKETO_MODELS);

/** True if `model` (without variant) is a model some sync may write. */
export function isKnownModel(model: string): boolean {
  return known.has(model);
}

/** Adds a model name at runtime (e.g. a model defined by a custom sync). */
export function registerModel(model: string): void {
  known.add(model);
}

/** Every known model name, sorted. */
export function knownModels(): string[] {
  return [...known].sort();
}
