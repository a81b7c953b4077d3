/**
 * `add-to-list`: Add to List (`POST /rest/v1/lists/{listId}/leads.json`, spec 5.6), up to 10,000 lead
 * ids, 300 a call.
 *
 * Output: `{listId, results: [{id, status: 'added'|'skipped', reasons?}], added, skipped}` in input
 * order. Idempotent: adding a member again answers `added` and changes nothing.
 */
import { countStatuses } from './shared.ts';
import {
  changeMembership,
  listMembershipInput,
  type ListMembershipInput,
  type MembershipResult,
} from './list-membership.ts';
import type { ActionDef } from './types.ts';

export interface AddToListOutput {
  listId: number;
  results: MembershipResult<'added'>[];
  added: number;
  skipped: number;
}

export const addToList: ActionDef<ListMembershipInput, AddToListOutput> = {
  name: 'add-to-list',
  description:
    'Add Marketo leads to a static list by id, 300 per call, with a per-lead status (added, or skipped ' +
    'with reasons such as 1004 Lead not found). Safe to repeat.',
  input: listMembershipInput,
  idempotent: true,
  async run(io, input) {
    const results = await changeMembership(io, 'add-to-list', input, 'added');
    return { listId: input.listId, results, ...countStatuses(results, ['added', 'skipped'] as const) };
  },
};
