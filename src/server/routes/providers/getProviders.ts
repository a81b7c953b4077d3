import type { RouteDef } from '../../router.ts';
import { preferredLanguages, toNangoProvider } from '../../../providers/registry.ts';

/** `GET /providers`: every provider Tether knows, in Nango's providers.yaml shape. */
export const getProviders: RouteDef = {
  method: 'GET',
  path: '/providers',
  auth: 'secret_or_session',
  handler: (ctx) => {
    const languages = preferredLanguages(ctx.req.headers['accept-language']);
    const search = typeof ctx.query.search === 'string' ? ctx.query.search.toLowerCase() : '';
    const data = ctx.deps.providers
      .list()
      .filter(
        (p) => search === '' || p.name.includes(search) || p.display_name.toLowerCase().includes(search),
      )
      .map((p) => toNangoProvider(p, { languages, publicUrl: ctx.deps.config.publicUrl }));
    return { body: { data } };
  },
};
