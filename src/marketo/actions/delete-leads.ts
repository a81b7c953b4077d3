/**
 * `delete-leads`: Delete Leads (`POST /rest/v1/leads/delete.json`, spec 5.3) for up to 10,000 ids, 300
 * a call.
 *
 * Output: `{results: [{id, status: 'deleted'|'skipped', reasons?: [{code, message}]}], deleted, skipped}`
 * in input order (an unknown or already deleted lead is skipped with 1004). Idempotent: a second run
 * skips what the first deleted.
 */
import { z } from 'zod';
import type { MarketoItem } from '../models/api.ts';
import {
  LEAD_DB_BATCH,
  chunk,
  countStatuses,
  idList,
  postChecked,
  readOutcome,
  runBatches,
  type Reason,
} from './shared.ts';
import type { ActionDef } from './types.ts';

const MAX_IDS = 10_000;

export const deleteLeadsInput = z.object({ ids: idList('lead id', MAX_IDS) });
export type DeleteLeadsInput = z.infer<typeof deleteLeadsInput>;

export interface DeleteLeadResult {
  id: number;
  status: 'deleted' | 'skipped';
  reasons?: Reason[];
}

export interface DeleteLeadsOutput {
  results: DeleteLeadResult[];
  deleted: number;
  skipped: number;
}

/** Results of one batch in input order; the id is the one asked for (Marketo may leave it out). */
export function deleteResults(result: readonly MarketoItem[], batch: readonly number[]): DeleteLeadResult[] {
  return batch.map((id, i) => {
    const o = readOutcome(result[i], ['deleted'] as const);
    return o.reasons ? { id, status: o.status, reasons: o.reasons } : { id, status: o.status };
  });
}

export const deleteLeads: ActionDef<DeleteLeadsInput, DeleteLeadsOutput> = {
  name: 'delete-leads',
  description:
    'Delete Marketo leads by id, 300 per call, with a per-lead status (deleted, or skipped with reasons ' +
    'such as 1004 Lead not found). Safe to repeat.',
  input: deleteLeadsInput,
  idempotent: true,
  async run(io, input) {
    const results = await runBatches(
      io,
      'delete-leads',
      chunk(input.ids, LEAD_DB_BATCH),
      { noun: 'lead ids', verb: 'deleted' },
      async (batch) => {
        const body = { input: batch.map((id) => ({ id })) };
        const env = await postChecked(io, '/rest/v1/leads/delete.json', body);
        return deleteResults(env.result, batch);
      },
    );
    return { results, ...countStatuses(results, ['deleted', 'skipped'] as const) };
  },
};
