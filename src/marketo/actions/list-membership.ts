/**
 * Static list membership writes shared by `add-to-list` and `remove-from-list` (spec 5.6):
 * `POST` / `DELETE /rest/v1/lists/{listId}/leads.json` with `{"input":[{"id":…}]}`, 300 ids a call.
 * An unknown list fails the whole call (1013, from the first batch); per-lead outcomes are Marketo's
 * (skipped 1004 for an unknown lead, 1015 for a lead not in the list).
 */
import { z } from 'zod';
import type { MarketoItem } from '../models/api.ts';
import {
  LEAD_DB_BATCH,
  chunk,
  deleteChecked,
  idList,
  marketoId,
  postChecked,
  readOutcome,
  runBatches,
  type Reason,
} from './shared.ts';
import type { ActionIO } from './types.ts';

const MAX_IDS = 10_000;

export const listMembershipInput = z.object({
  listId: marketoId('listId'),
  leadIds: idList('lead id', MAX_IDS),
});
export type ListMembershipInput = z.infer<typeof listMembershipInput>;

export interface MembershipResult<S extends string> {
  id: number;
  status: S | 'skipped';
  reasons?: Reason[];
}

export function membershipResults<S extends string>(
  result: readonly MarketoItem[],
  batch: readonly number[],
  status: S,
): MembershipResult<S>[] {
  return batch.map((id, i) => {
    const o = readOutcome(result[i], [status]);
    return o.reasons ? { id, status: o.status, reasons: o.reasons } : { id, status: o.status };
  });
}

export function membershipPath(listId: number): string {
  return `/rest/v1/lists/${listId}/leads.json`;
}

/** Runs the batches of an add (`POST`) or a remove (`DELETE`); `status` is Marketo's success status. */
export async function changeMembership<S extends 'added' | 'removed'>(
  io: ActionIO,
  action: string,
  input: ListMembershipInput,
  status: S,
): Promise<MembershipResult<S>[]> {
  const path = membershipPath(input.listId);
  return runBatches(
    io,
    action,
    chunk(input.leadIds, LEAD_DB_BATCH),
    { noun: 'lead ids', verb: status === 'added' ? 'added to the list' : 'removed from the list' },
    async (batch) => {
      const body = { input: batch.map((id) => ({ id })) };
      const env =
        status === 'added' ? await postChecked(io, path, body) : await deleteChecked(io, path, body);
      return membershipResults(env.result, batch, status);
    },
  );
}
