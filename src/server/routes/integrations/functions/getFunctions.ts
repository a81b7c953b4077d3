import type { RouteDef } from '../../../router.ts';
import { parseWith } from '../../../validate.ts';
import { filterFunctions, functionListQuerySchema, pageOf } from '../../../functions-view.ts';
import { functionsOf } from './shared.ts';

/**
 * `GET /integrations/{uniqueKey}/functions?type=&search=&page=&limit=` (Nango's `listFunctions`) →
 * `{data: ListedNangoFunction[], pagination: {total, page, limit}}`: the integration's provider's built-in
 * syncs and actions (see functions-view.ts), filtered, then paged (`page` 0-based, `total` after filters).
 */
export const getFunctions: RouteDef = {
  method: 'GET',
  path: '/integrations/:uniqueKey/functions',
  auth: 'secret',
  handler: async (ctx) => {
    const q = parseWith(functionListQuerySchema, ctx.query, 'invalid_query_params');
    const { functions } = await functionsOf(ctx);
    const matching = filterFunctions(functions, q);
    return {
      body: {
        data: pageOf(matching, q.page, q.limit),
        pagination: { total: matching.length, page: q.page, limit: q.limit },
      },
    };
  },
};
