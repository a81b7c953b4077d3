import type { RouteDef } from '../../router.ts';
import { ApiError } from '../../errors.ts';
import { preferredLanguages, toNangoProvider } from '../../../providers/registry.ts';

/** `GET /providers/{provider}`: the definition that drives the Connect UI form, localized. */
export const getProvider: RouteDef = {
  method: 'GET',
  path: '/providers/:provider',
  auth: 'secret_or_session',
  handler: (ctx) => {
    const def = ctx.deps.providers.get(ctx.params.provider!);
    if (!def) throw new ApiError(404, 'not_found', `Unknown provider '${ctx.params.provider}'.`);
    const languages = preferredLanguages(ctx.req.headers['accept-language']);
    return { body: { data: toNangoProvider(def, { languages, publicUrl: ctx.deps.config.publicUrl }) } };
  },
};
