import { MarketoError } from '../core/envelope.ts';
import type { Params } from '../core/route.ts';
import type { FieldDataType, FieldDef, LeadRecord } from '../model.ts';

/**
 * The lead schema of a sandbox instance: Marketo's standard lead fields plus a handful of custom
 * fields, in describe order. Ids, display names and SOAP names follow what a stock subscription
 * shows; custom fields get ids in a separate range, as Marketo assigns them later than standard ones.
 */

type Spec = [
  id: number,
  name: string,
  displayName: string,
  dataType: FieldDataType,
  length: number | null,
  soapName: string | null,
  readOnly: boolean,
];

// Filter/lookup keys Marketo accepts among standard fields (spec 5.2); custom fields qualify by type.
const SEARCHABLE_STANDARD = new Set([
  'id',
  'email',
  'cookies',
  'facebookId',
  'linkedInId',
  'twitterId',
  'leadPartitionId',
  'sfdcAccountId',
  'sfdcContactId',
  'sfdcLeadId',
  'sfdcLeadOwnerId',
  'sfdcOpptyId',
]);
const SEARCHABLE_CUSTOM_TYPES = new Set<FieldDataType>(['string', 'email', 'integer']);
const CRM_MANAGED = new Set([
  'sfdcType',
  'sfdcLeadId',
  'sfdcContactId',
  'sfdcAccountId',
  'sfdcLeadOwnerId',
  'sfdcOpptyId',
]);

const STANDARD: Spec[] = [
  [2, 'company', 'Company Name', 'string', 255, 'Company', false],
  [9, 'website', 'Website', 'url', 255, 'Website', false],
  [11, 'annualRevenue', 'Annual Revenue', 'currency', null, 'AnnualRevenue', false],
  [12, 'numberOfEmployees', 'Num Employees', 'integer', null, 'NumberOfEmployees', false],
  [13, 'industry', 'Industry', 'string', 255, 'Industry', false],
  [27, 'id', 'Id', 'integer', null, 'Id', true],
  [28, 'createdAt', 'Created At', 'datetime', null, 'CreatedAt', true],
  [29, 'updatedAt', 'Updated At', 'datetime', null, 'UpdatedAt', true],
  [45, 'salutation', 'Salutation', 'string', 255, 'Salutation', false],
  [48, 'firstName', 'First Name', 'string', 255, 'FirstName', false],
  [49, 'middleName', 'Middle Name', 'string', 255, 'MiddleName', false],
  [50, 'lastName', 'Last Name', 'string', 255, 'LastName', false],
  [51, 'email', 'Email Address', 'email', 255, 'Email', false],
  [52, 'phone', 'Phone Number', 'phone', 255, 'Phone', false],
  [53, 'mobilePhone', 'Mobile Phone Number', 'phone', 255, 'MobilePhone', false],
  [54, 'fax', 'Fax Number', 'phone', 255, 'Fax', false],
  [55, 'title', 'Job Title', 'string', 255, 'Title', false],
  [57, 'dateOfBirth', 'Date of Birth', 'date', null, 'DateofBirth', false],
  [58, 'address', 'Address', 'text', null, 'Address', false],
  [59, 'city', 'City', 'string', 255, 'City', false],
  [60, 'state', 'State', 'string', 255, 'State', false],
  [61, 'country', 'Country', 'string', 255, 'Country', false],
  [62, 'postalCode', 'Postal Code', 'string', 255, 'PostalCode', false],
  [63, 'personTimeZone', 'Person Time Zone', 'string', 255, 'PersonTimeZone', true],
  [64, 'originalSourceType', 'Original Source Type', 'string', 255, 'OriginalSourceType', true],
  [65, 'originalSourceInfo', 'Original Source Info', 'string', 255, 'OriginalSourceInfo', true],
  [66, 'registrationSourceType', 'Registration Source Type', 'string', 255, 'RegistrationSourceType', false],
  [67, 'registrationSourceInfo', 'Registration Source Info', 'string', 255, 'RegistrationSourceInfo', false],
  [70, 'leadStatus', 'Lead Status', 'string', 255, 'LeadStatus', false],
  [71, 'leadSource', 'Lead Source', 'string', 255, 'LeadSource', false],
  [72, 'rating', 'Lead Rating', 'string', 255, 'Rating', false],
  [73, 'leadRole', 'Role', 'string', 50, 'LeadRole', false],
  [74, 'leadScore', 'Lead Score', 'integer', null, 'LeadScore', false],
  [75, 'relativeScore', 'Relative Score', 'integer', null, 'RelativeScore', false],
  [76, 'priority', 'Priority', 'integer', null, 'Priority', false],
  [77, 'urgency', 'Urgency', 'float', null, 'Urgency', false],
  [78, 'unsubscribed', 'Unsubscribed', 'boolean', null, 'Unsubscribed', false],
  [79, 'unsubscribedReason', 'Unsubscribed Reason', 'text', null, 'UnsubscribedReason', false],
  [80, 'doNotCall', 'Do Not Call', 'boolean', null, 'DoNotCall', false],
  [81, 'doNotCallReason', 'Do Not Call Reason', 'string', 255, 'DoNotCallReason', false],
  [82, 'emailInvalid', 'Email Invalid', 'boolean', null, 'EmailInvalid', false],
  [83, 'emailInvalidCause', 'Email Invalid Cause', 'string', 255, 'EmailInvalidCause', false],
  [84, 'inferredCompany', 'Inferred Company', 'string', 255, 'InferredCompany', true],
  [85, 'inferredCountry', 'Inferred Country', 'string', 255, 'InferredCountry', true],
  [86, 'anonymousIP', 'Anonymous IP', 'string', 255, 'AnonymousIP', false],
  [87, 'isAnonymous', 'Anonymous', 'boolean', null, 'IsAnonymous', true],
  [88, 'acquisitionProgramId', 'Acquisition Program Id', 'integer', null, null, false],
  // Cookies are attached with Associate Lead, partitions with Update Partition: not through sync.
  [89, 'cookies', 'Cookies', 'string', 255, null, true],
  [90, 'leadPartitionId', 'Lead Partition Id', 'integer', null, null, true],
  [91, 'facebookId', 'Facebook Id', 'string', 255, 'FacebookId', false],
  [92, 'linkedInId', 'LinkedIn Id', 'string', 255, 'LinkedInId', false],
  [93, 'twitterId', 'Twitter Id', 'string', 255, 'TwitterId', false],
  [100, 'sfdcType', 'SFDC Type', 'string', 255, 'SFDCType', true],
  [101, 'sfdcLeadId', 'SFDC Lead Id', 'string', 18, 'SFDCLeadId', true],
  [102, 'sfdcContactId', 'SFDC Contact Id', 'string', 18, 'SFDCContactId', true],
  [103, 'sfdcAccountId', 'SFDC Account Id', 'string', 18, 'SFDCAccountId', true],
  [104, 'sfdcLeadOwnerId', 'SFDC Lead Owner Id', 'string', 18, 'SFDCLeadOwnerId', true],
  [105, 'sfdcOpptyId', 'SFDC Oppty Id', 'string', 18, 'SFDCOpptyId', true],
];

const CUSTOM: Spec[] = [
  [3001, 'salesRegion', 'Sales Region', 'string', 255, 'salesRegion', false],
  [3002, 'accountTier', 'Account Tier', 'integer', null, 'accountTier', false],
  [3003, 'productInterest', 'Product Interest', 'string', 255, 'productInterest', false],
  [3004, 'isCustomer', 'Is Customer', 'boolean', null, 'isCustomer', false],
  [3005, 'renewalDate', 'Renewal Date', 'date', null, 'renewalDate', false],
  [3006, 'contractValue', 'Contract Value', 'currency', null, 'contractValue', false],
  [3007, 'lastWebinarAt', 'Last Webinar Attended', 'datetime', null, 'lastWebinarAt', false],
  [3008, 'partnerEmail', 'Partner Contact Email', 'email', 255, 'partnerEmail', false],
];

function toDef(spec: Spec, custom: boolean): FieldDef {
  const [id, name, displayName, dataType, length, soapName, readOnly] = spec;
  const def: FieldDef = {
    id,
    name,
    displayName,
    dataType,
    readOnly,
    searchable: custom ? SEARCHABLE_CUSTOM_TYPES.has(dataType) : SEARCHABLE_STANDARD.has(name),
    custom,
    crmManaged: CRM_MANAGED.has(name),
  };
  if (length !== null) def.length = length;
  if (soapName !== null) def.soapName = soapName;
  return def;
}

/** Every lead field, standard then custom (the order describe lists them in). */
export const LEAD_FIELDS: readonly FieldDef[] = [
  ...STANDARD.map((s) => toDef(s, false)),
  ...CUSTOM.map((s) => toDef(s, true)),
];

export const FIELD_BY_NAME: ReadonlyMap<string, FieldDef> = new Map(LEAD_FIELDS.map((f) => [f.name, f]));

/** Data types a custom field may have (spec 5.1); `reference` and `formula` are Marketo's own. */
export const CUSTOM_DATA_TYPES: ReadonlySet<FieldDataType> = new Set<FieldDataType>([
  'string',
  'text',
  'email',
  'phone',
  'url',
  'integer',
  'float',
  'currency',
  'percent',
  'score',
  'boolean',
  'date',
  'datetime',
]);

/**
 * A custom field created through the field-schema API: writable, searchable by type like the stock
 * custom fields, and on the SOAP API under its REST name as those are.
 */
export function customFieldDef(
  id: number,
  name: string,
  displayName: string,
  dataType: FieldDataType,
  length: number | null,
): FieldDef {
  return toDef([id, name, displayName, dataType, length, name, false], true);
}

/** What resolves REST field names: the lead schema of one instance (its LeadDatabase). */
export interface FieldLookup {
  field(name: string): FieldDef | undefined;
}

/** What Get Lead by Id and Get Leads by Filter return when `fields` is omitted (spec 5.2). */
export const DEFAULT_FIELDS: readonly string[] = [
  'id',
  'email',
  'updatedAt',
  'createdAt',
  'firstName',
  'lastName',
];

/** `fields` names Marketo accepts although they are not lead fields; they read as null here. */
export const PSEUDO_FIELDS: ReadonlySet<string> = new Set(['ecids']);

/**
 * The `fields` parameter of a lead read: the requested names (defaults when absent), or a 1006
 * error naming the first one the instance's schema does not have.
 */
export function requestedFields(query: Params, schema: FieldLookup): string[] {
  const list = query.list('fields');
  if (list === undefined || list.length === 0) return [...DEFAULT_FIELDS];
  for (const name of list) {
    if (!schema.field(name) && !PSEUDO_FIELDS.has(name))
      throw new MarketoError('1006', `Field '${name}' not found`);
  }
  return list;
}

/**
 * A lead cut down to the requested fields, missing values as null. `id` always comes first:
 * Marketo returns it with every lead record whether or not it was asked for.
 */
export function projectLead(lead: LeadRecord, fields: readonly string[]): LeadRecord {
  const out: LeadRecord = { id: lead.id ?? null };
  for (const name of fields) {
    if (name !== 'id') out[name] = lead[name] ?? null;
  }
  return out;
}
