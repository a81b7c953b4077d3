import { z } from 'zod';
import type { RouteDef } from '../../../router.ts';
import { parseWith } from '../../../validate.ts';
import { ApiError } from '../../../errors.ts';
import { findFunction, runnableFunctionTypeSchema } from '../../../functions-view.ts';
import { functionParamsOf, functionsOf } from './shared.ts';

const querySchema = z.object({ type: runnableFunctionTypeSchema }).strict();

/**
 * `DELETE /integrations/{uniqueKey}/functions/{name}?type=sync|action` (Nango's `deleteFunction`).
 * Built-in functions cannot be removed: a known one answers 400 `function_managed_by_deploy` (Nango's code
 * for functions it does not let this route delete), an unknown one 404 `not_found`.
 */
export const deleteFunction: RouteDef = {
  method: 'DELETE',
  path: '/integrations/:uniqueKey/functions/:name',
  auth: 'secret',
  handler: async (ctx) => {
    const { type } = parseWith(querySchema, ctx.query, 'invalid_query_params');
    const { uniqueKey, name } = functionParamsOf(ctx);
    const { functions } = await functionsOf(ctx, uniqueKey);
    const fn = findFunction(functions, name, type);
    const howToStop =
      fn.type === 'sync'
        ? "pause a connection's sync with POST /sync/pause"
        : 'it runs only when triggered with POST /action/trigger';
    throw new ApiError(
      400,
      'function_managed_by_deploy',
      `The ${fn.type} "${fn.name}" is built into Tether and cannot be deleted; ${howToStop}.`,
    );
  },
};
