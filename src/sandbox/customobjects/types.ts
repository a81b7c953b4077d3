import { isoSeconds } from '../core/envelope.ts';

/**
 * The custom object types every sandbox instance has (the shared contract's seed): `car_c` and
 * `subscription_c`, both children of Lead through the link field `leadId`. Their list and describe
 * shapes follow Marketo's Custom Objects API.
 */

export type CoDataType =
  'string' | 'integer' | 'float' | 'boolean' | 'datetime' | 'date' | 'currency' | 'email' | 'text' | 'link';

export interface CoField {
  name: string;
  displayName: string;
  dataType: CoDataType;
  length?: number;
  /** False for the system fields and the dedupe fields (a record's key never changes). */
  updateable: boolean;
}

export interface CoType {
  name: string;
  displayName: string;
  description: string;
  dedupeFields: string[];
  /** Single-field search keys besides `marketoGUID` (the idField). */
  searchableFields: string[][];
  fields: CoField[];
}

export const ID_FIELD = 'marketoGUID';
/** The link field of both types: a lead id. */
export const LINK_FIELD = 'leadId';

const SYSTEM_HEAD: CoField[] = [
  { name: ID_FIELD, displayName: 'Marketo GUID', dataType: 'string', length: 36, updateable: false },
];
const SYSTEM_TAIL: CoField[] = [
  { name: LINK_FIELD, displayName: 'Lead', dataType: 'link', updateable: true },
  { name: 'createdAt', displayName: 'Created At', dataType: 'datetime', updateable: false },
  { name: 'updatedAt', displayName: 'Updated At', dataType: 'datetime', updateable: false },
];

export const CAR: CoType = {
  name: 'car_c',
  displayName: 'Car',
  description: 'Cars owned by a lead',
  dedupeFields: ['vin'],
  searchableFields: [['vin'], [ID_FIELD], [LINK_FIELD]],
  fields: [
    ...SYSTEM_HEAD,
    { name: 'vin', displayName: 'VIN', dataType: 'string', length: 255, updateable: false },
    { name: 'make', displayName: 'Make', dataType: 'string', length: 255, updateable: true },
    { name: 'model', displayName: 'Model', dataType: 'string', length: 255, updateable: true },
    { name: 'year', displayName: 'Year', dataType: 'integer', updateable: true },
    { name: 'price', displayName: 'Price', dataType: 'currency', updateable: true },
    ...SYSTEM_TAIL,
  ],
};

export const SUBSCRIPTION: CoType = {
  name: 'subscription_c',
  displayName: 'Subscription',
  description: 'Product subscriptions of a lead',
  dedupeFields: ['subscriptionId'],
  searchableFields: [['subscriptionId'], [ID_FIELD], [LINK_FIELD]],
  fields: [
    ...SYSTEM_HEAD,
    {
      name: 'subscriptionId',
      displayName: 'Subscription Id',
      dataType: 'string',
      length: 255,
      updateable: false,
    },
    { name: 'plan', displayName: 'Plan', dataType: 'string', length: 255, updateable: true },
    { name: 'seats', displayName: 'Seats', dataType: 'integer', updateable: true },
    { name: 'active', displayName: 'Active', dataType: 'boolean', updateable: true },
    { name: 'renewsAt', displayName: 'Renews At', dataType: 'date', updateable: true },
    ...SYSTEM_TAIL,
  ],
};

export const CO_TYPES: readonly CoType[] = [CAR, SUBSCRIPTION];

export function coType(name: string): CoType | undefined {
  return CO_TYPES.find((t) => t.name === name);
}

export function coField(type: CoType, name: string): CoField | undefined {
  return type.fields.find((f) => f.name === name);
}

/** What list answers for a type; `definedAt` is when the type was created (the seed's start). */
export function typeView(type: CoType, definedAt: number): Record<string, unknown> {
  return {
    name: type.name,
    displayName: type.displayName,
    description: type.description,
    createdAt: isoSeconds(definedAt),
    updatedAt: isoSeconds(definedAt),
    idField: ID_FIELD,
    dedupeFields: type.dedupeFields,
    searchableFields: type.searchableFields,
    relationships: [{ field: LINK_FIELD, type: 'parent', relatedTo: { name: 'Lead', field: 'id' } }],
  };
}

/** Describe: the list view plus the fields. */
export function describeView(type: CoType, definedAt: number): Record<string, unknown> {
  return {
    ...typeView(type, definedAt),
    fields: type.fields.map((f) => {
      const item: Record<string, unknown> = {
        name: f.name,
        displayName: f.displayName,
        dataType: f.dataType,
      };
      if (f.length !== undefined) item.length = f.length;
      item.updateable = f.updateable;
      return item;
    }),
  };
}
