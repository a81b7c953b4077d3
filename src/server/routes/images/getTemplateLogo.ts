import type { RouteDef } from '../../router.ts';
import { ApiError } from '../../errors.ts';

/**
 * Logos drawn for Tether (not Adobe's artwork): small inline SVGs keyed by provider name. Marketo: a
 * purple tile with three rising bars.
 */
const LOGOS: Record<string, string> = {
  marketo: [
    '<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64" viewBox="0 0 64 64" role="img" aria-label="Marketo">',
    '<rect width="64" height="64" rx="14" fill="#5c4c9f"/>',
    '<path d="M14 50V30l9-5v25z" fill="#fff" opacity=".75"/>',
    '<path d="M27.5 50V22l9-5v33z" fill="#fff" opacity=".88"/>',
    '<path d="M41 50V14l9-5v41z" fill="#fff"/>',
    '</svg>',
  ].join(''),
};

/** `GET /images/template-logos/{name}.svg` (no auth): the logo `integrationView`/`toNangoProvider` link to. */
export const getTemplateLogo: RouteDef = {
  method: 'GET',
  path: '/images/template-logos/:name.svg',
  auth: 'none',
  handler: (ctx) => {
    const name = ctx.params.name!;
    const svg = Object.hasOwn(LOGOS, name) ? LOGOS[name] : undefined;
    if (svg === undefined || !ctx.deps.providers.get(name)) {
      throw new ApiError(404, 'not_found', `No logo for '${name}'.`);
    }
    ctx.res.writeHead(200, {
      'Content-Type': 'image/svg+xml; charset=utf-8',
      'Content-Length': String(Buffer.byteLength(svg)),
      'Cache-Control': 'public, max-age=86400',
      'Access-Control-Allow-Origin': '*',
      'X-Content-Type-Options': 'nosniff',
      'Content-Security-Policy': "default-src 'none'",
    });
    ctx.res.end(svg);
    return undefined;
  },
};
