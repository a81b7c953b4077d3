import { z } from 'zod';
import type { RouteDef } from '../../../router.ts';
import { parseWith } from '../../../validate.ts';
import { ApiError } from '../../../errors.ts';
import { nowOf } from '../../../../db/context.ts';
import { updateFunctionSettings, type FunctionSettings } from '../../../../db/integration-functions.ts';
import { findFunction, functionTypeSchema } from '../../../functions-view.ts';
import { functionParamsOf, functionsOf } from './shared.ts';

const querySchema = z.object({ type: functionTypeSchema.optional() }).strict();

const bodySchema = z
  .object({ enabled: z.boolean().optional(), auto_start: z.boolean().optional() })
  .strict()
  .refine((b) => b.enabled !== undefined || b.auto_start !== undefined, {
    message: 'Give at least one of enabled, auto_start',
  });

/**
 * `PATCH /integrations/{uniqueKey}/functions/{name}?type=` `{enabled?, auto_start?}` (Tether's extension of
 * Nango's functions API) → `{data: ListedNangoFunction}` as `GET …/functions/{name}` then answers.
 * - `enabled: false`: a sync runs for none of the integration's connections (the scheduler skips it and
 *   stops a run in progress; `/sync/trigger` and `/sync/start` naming it answer 404 `disabled_resource`;
 *   its records stay readable); an action answers 404 `disabled_resource`, and its async runs already
 *   queued fail with that code when the queue takes them. `true` makes it run again.
 * - `auto_start` (syncs only, else 400 `invalid_body`): false creates the sync paused for connections
 *   made from now on (started with `POST /sync/start`); existing connections keep their schedule.
 * Unknown integration or function: 404 `not_found` (as `GET`).
 */
export const patchFunction: RouteDef = {
  method: 'PATCH',
  path: '/integrations/:uniqueKey/functions/:name',
  auth: 'secret',
  handler: async (ctx) => {
    const { type } = parseWith(querySchema, ctx.query, 'invalid_query_params');
    const { uniqueKey, name } = functionParamsOf(ctx);
    const body = parseWith(bodySchema, await ctx.json(), 'invalid_body');
    const { integration, functions } = await functionsOf(ctx, uniqueKey);
    const fn = findFunction(functions, name, type);
    if (fn.type !== 'sync' && body.auto_start !== undefined) {
      throw new ApiError(
        400,
        'invalid_body',
        `auto_start applies to syncs only; "${fn.name}" is an ${fn.type}.`,
      );
    }
    const patch: Partial<FunctionSettings> = {};
    if (body.enabled !== undefined) patch.enabled = body.enabled;
    if (body.auto_start !== undefined) patch.autoStart = body.auto_start;
    const store = ctx.deps.store.ctx;
    await updateFunctionSettings(store, {
      integrationId: integration.id,
      type: fn.type,
      name: fn.name,
      patch,
      now: nowOf(store),
    });
    // Disabled: the next tick stops its runs; enabled again: it may be due at once.
    if (fn.type === 'sync' && body.enabled !== undefined) ctx.deps.syncs?.wake();
    const { functions: updated } = await functionsOf(ctx, uniqueKey);
    return { body: { data: findFunction(updated, fn.name, fn.type) } };
  },
};
