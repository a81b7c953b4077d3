/**
 * `merge-leads`: Merge Leads (`POST /rest/v1/leads/{winnerId}/merge.json?leadId=|leadIds=&mergeInCRM=`,
 * spec 5.3): the winner keeps its values (its empty fields take the losers'), the losers are deleted.
 * An unknown lead fails the call with 1004.
 *
 * Output: `{winnerId, merged: loserIds}`. Not marked idempotent: the state after a repeat is the same,
 * but the repeat fails with 1004 (the losers are gone), which a retry would report as a failure.
 */
import { z } from 'zod';
import { withQuery } from '../models/api.ts';
import { MarketoSyncError } from '../models/types.ts';
import { marketoId, postChecked, readReasons } from './shared.ts';
import type { ActionDef } from './types.ts';

const MAX_LOSERS = 3;

export const mergeLeadsInput = z
  .object({
    winnerId: marketoId('winnerId'),
    loserIds: z
      .array(marketoId('loser id'))
      .min(1, 'give at least one loser id')
      .max(MAX_LOSERS, `at most ${MAX_LOSERS} loser ids per merge`),
    mergeInCRM: z.boolean().optional(),
  })
  .superRefine((v, ctx) => {
    if (v.loserIds.includes(v.winnerId))
      ctx.addIssue({ code: 'custom', path: ['loserIds'], message: 'the winner cannot be among the losers' });
    if (new Set(v.loserIds).size !== v.loserIds.length)
      ctx.addIssue({ code: 'custom', path: ['loserIds'], message: 'loser ids must be distinct' });
  });
export type MergeLeadsInput = z.infer<typeof mergeLeadsInput>;

export interface MergeLeadsOutput {
  winnerId: number;
  merged: number[];
}

/** The call's path: one loser as `leadId`, several as `leadIds` (Marketo's two documented forms). */
export function mergePath(input: MergeLeadsInput): string {
  const base = `/rest/v1/leads/${input.winnerId}/merge.json`;
  const losers = input.loserIds.length === 1 ? { leadId: input.loserIds[0] } : { leadIds: input.loserIds };
  return withQuery(base, { ...losers, mergeInCRM: input.mergeInCRM });
}

export const mergeLeads: ActionDef<MergeLeadsInput, MergeLeadsOutput> = {
  name: 'merge-leads',
  description:
    'Merge up to three Marketo leads into a winning lead (the losers are deleted), optionally merging ' +
    'them in the connected CRM too.',
  input: mergeLeadsInput,
  idempotent: false,
  async run(io, input) {
    const path = mergePath(input);
    // The parameters travel in the query; an empty JSON object keeps the POST a JSON request.
    const env = await postChecked(io, path, {});
    // A refused merge comes back as success with a skipped record (e.g. 1080 past 25 losers).
    const skipped = env.result.find((r) => r.status === 'skipped');
    if (skipped) {
      const reason = readReasons(skipped.reasons)[0] ?? {
        code: 'merge_skipped',
        message: 'Marketo skipped the merge',
      };
      throw new MarketoSyncError(reason.code, reason.message, path);
    }
    return { winnerId: input.winnerId, merged: [...input.loserIds] };
  },
};
