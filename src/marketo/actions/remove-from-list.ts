/**
 * `remove-from-list`: Remove from List (`DELETE /rest/v1/lists/{listId}/leads.json` with a JSON body,
 * spec 5.6), up to 10,000 lead ids, 300 a call.
 *
 * Output: `{listId, results: [{id, status: 'removed'|'skipped', reasons?}], removed, skipped}` in input
 * order (a lead not in the list is skipped with 1015, an unknown lead with 1004). Idempotent.
 */
import { countStatuses } from './shared.ts';
import {
  changeMembership,
  listMembershipInput,
  type ListMembershipInput,
  type MembershipResult,
} from './list-membership.ts';
import type { ActionDef } from './types.ts';

export interface RemoveFromListOutput {
  listId: number;
  results: MembershipResult<'removed'>[];
  removed: number;
  skipped: number;
}

export const removeFromList: ActionDef<ListMembershipInput, RemoveFromListOutput> = {
  name: 'remove-from-list',
  description:
    'Remove Marketo leads from a static list by id, 300 per call, with a per-lead status (removed, or ' +
    'skipped with reasons such as 1015 Lead not in list). Safe to repeat.',
  input: listMembershipInput,
  idempotent: true,
  async run(io, input) {
    const results = await changeMembership(io, 'remove-from-list', input, 'removed');
    return { listId: input.listId, results, ...countStatuses(results, ['removed', 'skipped'] as const) };
  },
};
