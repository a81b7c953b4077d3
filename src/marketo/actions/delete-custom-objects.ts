/**
 * `delete-custom-objects`: Delete Custom Objects (`POST /rest/v1/customobjects/{apiName}/delete.json`)
 * for up to 3,000 keys of one type, 300 a call. A key is the record's dedupe fields (`deleteBy`
 * dedupeFields, the default: e.g. `{vin: "…"}`) or `{marketoGUID}` (`deleteBy` idField).
 *
 * Output: `{results: [{index, marketoGUID?, status: 'deleted'|'skipped', reasons?}], deleted, skipped}`
 * in input order (a record that does not exist is skipped with Marketo's reason, 1013). Idempotent: a
 * second run skips what the first deleted.
 */
import { z } from 'zod';
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
import { DEDUPE_BY, apiNameSchema, customObjectPath, guidOf } from './upsert-custom-objects.ts';

const MAX_KEYS = 3_000;

const key = z
  .record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,254}$/, 'key fields are API names'), fieldValue)
  .refine((r) => Object.keys(r).length > 0, 'a key needs at least one field');

export const deleteCustomObjectsInput = z
  .object({
    apiName: apiNameSchema,
    deleteBy: z
      .enum(DEDUPE_BY, { error: `deleteBy is one of ${DEDUPE_BY.join(', ')}` })
      .optional()
      .describe('dedupeFields (default): keys are dedupe fields; idField: keys are {marketoGUID}.'),
    keys: z.array(key).min(1, 'give at least one key').max(MAX_KEYS, `at most ${MAX_KEYS} keys per call`),
  })
  .superRefine((v, ctx) => {
    if (v.deleteBy !== 'idField') return;
    v.keys.forEach((k, i) => {
      if (typeof k.marketoGUID !== 'string' || k.marketoGUID === '') {
        ctx.addIssue({
          code: 'custom',
          path: ['keys', i],
          message: "with deleteBy 'idField' every key is {marketoGUID: '…'}",
        });
      }
    });
  });

export type DeleteCustomObjectsInput = z.infer<typeof deleteCustomObjectsInput>;

export interface DeleteCustomObjectResult {
  index: number;
  marketoGUID?: string;
  status: 'deleted' | 'skipped';
  reasons?: Reason[];
}

export interface DeleteCustomObjectsOutput {
  results: DeleteCustomObjectResult[];
  deleted: number;
  skipped: number;
}

export const deleteCustomObjects: ActionDef<DeleteCustomObjectsInput, DeleteCustomObjectsOutput> = {
  name: 'delete-custom-objects',
  description:
    'Delete records of one Marketo custom object type by dedupe fields or marketoGUID, 300 per call, with a ' +
    'per-record status (deleted, or skipped with reasons such as 1013 not found). Safe to repeat.',
  input: deleteCustomObjectsInput,
  idempotent: true,
  async run(io, input) {
    const path = customObjectPath(input.apiName, '/delete.json');
    const results = await runBatches(
      io,
      'delete-custom-objects',
      chunkByBytes(input.keys, LEAD_DB_BATCH, MAX_BODY_BYTES),
      { noun: 'records', verb: 'deleted' },
      async (batch, offset) => {
        const env = await postChecked(io, path, { deleteBy: input.deleteBy ?? 'dedupeFields', input: batch });
        return batch.map((_, i): DeleteCustomObjectResult => {
          const item = env.result[i];
          const { status, reasons } = readOutcome(item, ['deleted'] as const);
          const r: DeleteCustomObjectResult = { index: offset + i, status };
          const guid = guidOf(item);
          if (guid !== undefined) r.marketoGUID = guid;
          if (reasons) r.reasons = reasons;
          return r;
        });
      },
    );
    return { results, ...countStatuses(results, ['deleted', 'skipped'] as const) };
  },
};
