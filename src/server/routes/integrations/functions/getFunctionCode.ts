import { z } from 'zod';
import type { RouteDef } from '../../../router.ts';
import { parseWith } from '../../../validate.ts';
import { ApiError } from '../../../errors.ts';
import { findFunction, functionSourcePath, runnableFunctionTypeSchema } from '../../../functions-view.ts';
import { functionParamsOf, functionsOf } from './shared.ts';

// Nango's `ScriptTypeLiteral`: only syncs and actions have code.
const querySchema = z.object({ type: runnableFunctionTypeSchema.optional() }).strict();

/**
 * `GET /integrations/{uniqueKey}/functions/{name}/code?type=` (Nango's `getFunctionCode`). Tether's
 * functions are compiled into the server: there is no deployed source to hand out, so a known function
 * answers 404 `not_found` saying where its source lives in Tether's repository (an unknown one: 404, a
 * shared name without type: 400 `ambiguous_function`, as `GET …/functions/{name}`).
 */
export const getFunctionCode: RouteDef = {
  method: 'GET',
  path: '/integrations/:uniqueKey/functions/:name/code',
  auth: 'secret',
  handler: async (ctx) => {
    const { type } = parseWith(querySchema, ctx.query, 'invalid_query_params');
    const { uniqueKey, name } = functionParamsOf(ctx);
    const { integration, functions } = await functionsOf(ctx, uniqueKey);
    const fn = findFunction(functions, name, type);
    const path = functionSourcePath(integration.provider, fn);
    const where = path ? `: its source is ${path} in Tether's repository` : '';
    throw new ApiError(
      404,
      'not_found',
      `The ${fn.type} "${fn.name}" is built into Tether and has no deployed code${where}.`,
    );
  },
};
