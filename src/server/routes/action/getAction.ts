import type { RouteDef } from '../../router.ts';
import { ApiError } from '../../errors.ts';
import { requireEmptyQuery } from '../connections/schemas.ts';
import { getActionRun } from '../../../db/action-runs.ts';

const ID = /^[0-9a-fA-F-]{1,64}$/;

/**
 * `GET /action/:id` (Nango's `getAsyncActionResult`): the result of an async run of the environment.
 * 200 with its output once it succeeded; 500 with its error once it failed (`{error: {code, message}}`,
 * the stored code, e.g. `marketo_error` with `upstream`); 404 `not_found` when there is no such run here
 * or it has not finished (the message says which, and for a run parked until a daily budget or quota resets,
 * until when).
 */
export const getAction: RouteDef = {
  method: 'GET',
  path: '/action/:id',
  auth: 'secret',
  handler: async (ctx) => {
    requireEmptyQuery(ctx);
    const id = ctx.params.id ?? '';
    const run = ID.test(id)
      ? await getActionRun(ctx.deps.store.ctx, ctx.auth.environment.id, id.toLowerCase())
      : undefined;
    if (!run) throw new ApiError(404, 'not_found', `There is no action run "${id}" in this environment.`);
    if (run.status === 'success') return { body: run.output };
    if (run.status === 'failure') {
      const error = run.error ?? { code: 'action_failed', message: 'The action failed.' };
      throw new ApiError(500, error.code || 'action_failed', error.message, error.extra ?? {});
    }
    // A parked run answers as any pending run (Nango's 404); only the message says what it waits for.
    const state = run.waiting
      ? `waiting until ${run.waiting.until}: ${run.waiting.reason.message}`
      : run.status === 'pending'
        ? 'waiting for its turn'
        : 'running';
    throw new ApiError(404, 'not_found', `The action run "${id}" has not finished yet (${state}).`);
  },
};
