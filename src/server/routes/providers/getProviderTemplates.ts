import type { RouteDef } from '../../router.ts';
import { ApiError } from '../../errors.ts';
import { providerFunctions, registriesOf } from '../../functions-view.ts';
import { requireEmptyQuery } from '../connections/schemas.ts';

/**
 * `GET /providers/{provider}/templates` (Nango's `getProviderTemplates`) → `{data: (NangoSyncFunction |
 * NangoActionFunction)[]}`: the provider's built-in syncs and actions, in the order that gives their ids
 * (see functions-view.ts). Every integration of the provider has all of them.
 */
export const getProviderTemplates: RouteDef = {
  method: 'GET',
  path: '/providers/:provider/templates',
  auth: 'secret',
  handler: (ctx) => {
    requireEmptyQuery(ctx);
    const def = ctx.deps.providers.get(ctx.params.provider!);
    if (!def) throw new ApiError(404, 'not_found', `Unknown provider '${ctx.params.provider}'.`);
    return { body: { data: providerFunctions(registriesOf(ctx), def.name) } };
  },
};
