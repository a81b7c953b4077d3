/**
 * Shared data contracts of the Marketo sandbox. The HTTP layer, the lead database, the activity log
 * and the bulk-extract jobs meet here; each side depends on these shapes, not on the others' code.
 */

/** A REST field value as Marketo serializes it (dates are ISO strings `YYYY-MM-DDTHH:MM:SSZ`). */
export type FieldValue = string | number | boolean | null;

/** A lead as a map of REST field name to value. Fields with no value are absent or null. */
export type LeadRecord = Record<string, FieldValue>;

export type FieldDataType =
  | 'string'
  | 'text'
  | 'email'
  | 'phone'
  | 'url'
  | 'integer'
  | 'float'
  | 'currency'
  | 'percent'
  | 'score'
  | 'boolean'
  | 'date'
  | 'datetime'
  | 'reference'
  | 'formula';

/** One lead field, the source of describe, describe2 and the searchable-field rules. */
export interface FieldDef {
  id: number;
  /** REST API name, e.g. `firstName`. */
  name: string;
  displayName: string;
  dataType: FieldDataType;
  length?: number;
  /** SOAP name (absent when the field is REST-only). */
  soapName?: string;
  readOnly: boolean;
  /** Usable as `filterType` on Get Leads by Filter Type and as `lookupField`. */
  searchable: boolean;
  custom: boolean;
  crmManaged?: boolean;
  /**
   * Field-schema attributes (spec 5.1 "Field schema"); absent on the stock table, where
   * leads/schema.ts supplies the defaults.
   */
  description?: string | null;
  hidden?: boolean;
  htmlEncodingInEmail?: boolean;
  sensitive?: boolean;
}

/** One activity as the REST activities endpoint returns it (before field selection). */
export interface ActivityRecord {
  /** Numeric id; grows with time. */
  id: number;
  marketoGUID: string;
  leadId: number;
  /** Epoch milliseconds (the API prints ISO `…Z`). */
  activityDate: number;
  activityTypeId: number;
  campaignId?: number;
  primaryAttributeValueId?: number;
  primaryAttributeValue?: string;
  /** `apiName` only on custom activities, whose attributes have one (spec 5.5 `attributes[].apiName?`). */
  attributes: { name: string; value: FieldValue; apiName?: string }[];
  /** Lead-change activities (12, 13) carry the changed fields. */
  fields?: { id: number; name: string; newValue: FieldValue; oldValue: FieldValue }[];
}

/** Time source of one instance; tests move it forward through the control API. */
export interface Clock {
  now(): number;
}
