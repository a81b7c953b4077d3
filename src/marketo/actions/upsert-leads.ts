/**
 * `upsert-leads`: Sync Leads (`POST /rest/v1/leads.json`, spec 5.3) for up to 10,000 leads, 300 a call
 * (fewer when the records are large: the body stays under 1 MB).
 *
 * Output: `{results: [{index, id?, status: 'created'|'updated'|'skipped', reasons?: [{code, message}]}],
 * created, updated, skipped}`; `index` is the lead's position in `input.leads`, `reasons` Marketo's
 * (1004 updateOnly miss, 1005 createOnly hit, 1006 unknown field, 1007 several matches…).
 *
 * Idempotent when `action` is createOrUpdate or updateOnly (the lookup field finds the same leads the
 * second time) and for createOnly (the second run skips with 1005); createDuplicate creates new leads on
 * every run, so that one is not.
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

export const UPSERT_ACTIONS = ['createOrUpdate', 'createOnly', 'updateOnly', 'createDuplicate'] as const;
export type UpsertAction = (typeof UPSERT_ACTIONS)[number];

const MAX_LEADS = 10_000;
const FIELD_NAME = /^[A-Za-z_][A-Za-z0-9_.]{0,254}$/;

const lead = z
  .record(
    z.string().regex(FIELD_NAME, 'field names are REST API names such as email or firstName'),
    fieldValue,
  )
  .refine((r) => Object.keys(r).length > 0, 'a lead needs at least one field');

export const upsertLeadsInput = z
  .object({
    leads: z
      .array(lead)
      .min(1, 'give at least one lead')
      .max(MAX_LEADS, `at most ${MAX_LEADS} leads per call`),
    action: z
      .enum(UPSERT_ACTIONS, { error: `action is one of ${UPSERT_ACTIONS.join(', ')}` })
      .optional()
      .describe('Default createOrUpdate.'),
    lookupField: z
      .string()
      .regex(FIELD_NAME, 'lookupField is a REST field name such as email')
      .optional()
      .describe('Field that finds existing leads (Marketo default: email); id only with updateOnly.'),
    partitionName: z.string().min(1).max(255).optional(),
  })
  .superRefine((v, ctx) => {
    // Spec 5.3: Marketo looks leads up by id only to update them.
    if (v.lookupField === 'id' && (v.action ?? 'createOrUpdate') !== 'updateOnly') {
      ctx.addIssue({
        code: 'custom',
        path: ['lookupField'],
        message: "lookupField 'id' is only allowed with action 'updateOnly'",
      });
    }
  });

export type UpsertLeadsInput = z.infer<typeof upsertLeadsInput>;

const STATUSES = ['created', 'updated'] as const;

export interface UpsertLeadResult {
  index: number;
  id?: number;
  status: 'created' | 'updated' | 'skipped';
  reasons?: Reason[];
}

export interface UpsertLeadsOutput {
  results: UpsertLeadResult[];
  created: number;
  updated: number;
  skipped: number;
}

/** The Sync Leads body for one batch (keys Marketo does not need are left out). */
export function syncLeadsBody(input: UpsertLeadsInput, batch: readonly Record<string, unknown>[]) {
  const body: Record<string, unknown> = { action: input.action ?? 'createOrUpdate' };
  if (input.lookupField !== undefined) body.lookupField = input.lookupField;
  if (input.partitionName !== undefined) body.partitionName = input.partitionName;
  body.input = batch;
  return body;
}

/** Results of one batch from Marketo's `result` (input order), numbered from `offset`. */
export function upsertResults(
  result: readonly MarketoItem[],
  size: number,
  offset: number,
): UpsertLeadResult[] {
  const out: UpsertLeadResult[] = [];
  for (let i = 0; i < size; i++) out.push({ index: offset + i, ...readOutcome(result[i], STATUSES) });
  return out;
}

export const upsertLeads: ActionDef<UpsertLeadsInput, UpsertLeadsOutput> = {
  name: 'upsert-leads',
  description:
    'Create or update Marketo leads (Sync Leads), 300 per call, with a per-lead status (created, updated, ' +
    'skipped with reasons). Safe to repeat with createOrUpdate, updateOnly or createOnly; not with createDuplicate.',
  input: upsertLeadsInput,
  idempotent: false,
  // The lookup finds the same leads again (createOnly skips them with 1005); createDuplicate adds anew.
  idempotentFor: (input) => (input.action ?? 'createOrUpdate') !== 'createDuplicate',
  async run(io, input) {
    const batches = chunkByBytes(input.leads, LEAD_DB_BATCH, MAX_BODY_BYTES);
    const results = await runBatches(
      io,
      'upsert-leads',
      batches,
      { noun: 'leads', verb: 'written' },
      async (batch, offset) => {
        const env = await postChecked(io, '/rest/v1/leads.json', syncLeadsBody(input, batch));
        return upsertResults(env.result, batch.length, offset);
      },
    );
    const counts = countStatuses(results, ['created', 'updated', 'skipped'] as const);
    return { results, ...counts };
  },
};
