/**
 * `upsert-custom-objects`: Sync Custom Objects (`POST /rest/v1/customobjects/{apiName}.json`) for up to
 * 3,000 records of one type, 300 a call (fewer when the records are large: the body stays under 1 MB).
 *
 * Output: `{results: [{index, marketoGUID?, status: 'created'|'updated'|'skipped', reasons?}], created,
 * updated, skipped}`; `index` is the record's position in `input.records`, `reasons` Marketo's (1003
 * invalid value, 1004 not found for updateOnly, 1005 already exists for createOnly, 1006 unknown field,
 * a link to a lead that does not exist…).
 *
 * Idempotent for every action: records are found again by their dedupe fields (or marketoGUID), so a
 * second run updates the same records (createOnly skips them with 1005).
 */
import { z } from 'zod';
import type { MarketoItem } from '../models/api.ts';
import {
  LEAD_DB_BATCH,
  MAX_BODY_BYTES,
  chunkByBytes,
  countStatuses,
  fieldValue,
  postChecked,
  readOutcome,
  runBatches,
  type Reason,
} from './shared.ts';
import type { ActionDef } from './types.ts';

export const CUSTOM_OBJECT_ACTIONS = ['createOrUpdate', 'createOnly', 'updateOnly'] as const;
export const DEDUPE_BY = ['dedupeFields', 'idField'] as const;

const MAX_RECORDS = 3_000;
const FIELD_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,254}$/;

/** A custom object type's API name (e.g. `car_c`). */
export const apiNameSchema = z
  .string()
  .regex(/^[A-Za-z][A-Za-z0-9_]{0,99}$/, 'apiName is a custom object API name such as car_c');

export function customObjectPath(apiName: string, suffix = '.json'): string {
  return `/rest/v1/customobjects/${encodeURIComponent(apiName)}${suffix}`;
}

const record = z
  .record(
    z.string().regex(FIELD_NAME, 'field names are the API names describe lists, such as vin or leadId'),
    fieldValue,
  )
  .refine((r) => Object.keys(r).length > 0, 'a record needs at least one field');

export const upsertCustomObjectsInput = z.object({
  apiName: apiNameSchema,
  records: z
    .array(record)
    .min(1, 'give at least one record')
    .max(MAX_RECORDS, `at most ${MAX_RECORDS} records per call`),
  action: z
    .enum(CUSTOM_OBJECT_ACTIONS, { error: `action is one of ${CUSTOM_OBJECT_ACTIONS.join(', ')}` })
    .optional()
    .describe('Default createOrUpdate.'),
  dedupeBy: z
    .enum(DEDUPE_BY, { error: `dedupeBy is one of ${DEDUPE_BY.join(', ')}` })
    .optional()
    .describe('How existing records are found: dedupeFields (default) or idField (marketoGUID).'),
});

export type UpsertCustomObjectsInput = z.infer<typeof upsertCustomObjectsInput>;

export interface CustomObjectResult {
  index: number;
  marketoGUID?: string;
  status: 'created' | 'updated' | 'skipped';
  reasons?: Reason[];
}

export interface UpsertCustomObjectsOutput {
  results: CustomObjectResult[];
  created: number;
  updated: number;
  skipped: number;
}

/** Marketo's record key in a result item, when it gives one. */
export function guidOf(item: MarketoItem | undefined): string | undefined {
  const g = item?.marketoGUID;
  return typeof g === 'string' && g !== '' ? g : undefined;
}

/** Results of one batch from Marketo's `result` (input order), numbered from `offset`. */
export function customObjectResults(
  result: readonly MarketoItem[],
  size: number,
  offset: number,
): CustomObjectResult[] {
  const out: CustomObjectResult[] = [];
  for (let i = 0; i < size; i++) {
    const { status, reasons } = readOutcome(result[i], ['created', 'updated'] as const);
    const r: CustomObjectResult = { index: offset + i, status };
    const guid = guidOf(result[i]);
    if (guid !== undefined) r.marketoGUID = guid;
    if (reasons) r.reasons = reasons;
    out.push(r);
  }
  return out;
}

export const upsertCustomObjects: ActionDef<UpsertCustomObjectsInput, UpsertCustomObjectsOutput> = {
  name: 'upsert-custom-objects',
  description:
    'Create or update records of one Marketo custom object type (Sync Custom Objects), 300 per call, with ' +
    'a per-record status (created, updated, skipped with reasons) and marketoGUID. Safe to repeat.',
  input: upsertCustomObjectsInput,
  idempotent: true,
  async run(io, input) {
    const path = customObjectPath(input.apiName);
    const results = await runBatches(
      io,
      'upsert-custom-objects',
      chunkByBytes(input.records, LEAD_DB_BATCH, MAX_BODY_BYTES),
      { noun: 'records', verb: 'written' },
      async (batch, offset) => {
        const body = {
          action: input.action ?? 'createOrUpdate',
          dedupeBy: input.dedupeBy ?? 'dedupeFields',
          input: batch,
        };
        const env = await postChecked(io, path, body);
        return customObjectResults(env.result, batch.length, offset);
      },
    );
    return { results, ...countStatuses(results, ['created', 'updated', 'skipped'] as const) };
  },
};
