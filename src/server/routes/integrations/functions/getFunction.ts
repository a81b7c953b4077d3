import { z } from 'zod';
import type { RouteDef } from '../../../router.ts';
import { parseWith } from '../../../validate.ts';
import { findFunction, functionTypeSchema } from '../../../functions-view.ts';
import { functionParamsOf, functionsOf } from './shared.ts';

const querySchema = z.object({ type: functionTypeSchema.optional() }).strict();

/**
 * `GET /integrations/{uniqueKey}/functions/{name}?type=` (Nango's `getFunction`) → `{data:
 * ListedNangoFunction}`; 404 `not_found` for an unknown name, 400 `ambiguous_function` if a sync and an
 * action share the name and no type is given.
 */
export const getFunction: RouteDef = {
  method: 'GET',
  path: '/integrations/:uniqueKey/functions/:name',
  auth: 'secret',
  handler: async (ctx) => {
    const { type } = parseWith(querySchema, ctx.query, 'invalid_query_params');
    const { uniqueKey, name } = functionParamsOf(ctx);
    const { functions } = await functionsOf(ctx, uniqueKey);
    return { body: { data: findFunction(functions, name, type) } };
  },
};
