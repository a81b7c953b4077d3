/**
 * Hash routes of the dashboard (`#/connections/marketo/abc`): the state a reload or back/forward must
 * restore. Pure: no DOM. Path segments are URI-encoded so that any connection id round-trips.
 */

export type Route =
  | { name: 'integrations' }
  | { name: 'connections'; search: string; page: number }
  | { name: 'connection'; integration: string; connectionId: string }
  | { name: 'run'; integration: string; connectionId: string; runId: string }
  | { name: 'connect-link' }
  | { name: 'not-found'; hash: string };

export const DEFAULT_ROUTE: Route = { name: 'connections', search: '', page: 0 };

function decode(segment: string): string | null {
  try {
    return decodeURIComponent(segment);
  } catch {
    return null;
  }
}

/** Read a `location.hash` (with or without the leading `#`). An empty hash is the default screen. */
export function parseRoute(hash: string): Route {
  const raw = hash.replace(/^#/, '');
  const q = raw.indexOf('?');
  const pathPart = q === -1 ? raw : raw.slice(0, q);
  const query = new URLSearchParams(q === -1 ? '' : raw.slice(q + 1));
  const segments = pathPart.split('/').filter((s) => s !== '');
  const parts = segments.map(decode);
  if (parts.some((p) => p === null || p === '')) return { name: 'not-found', hash: raw };
  const p = parts as string[];
  if (p.length === 0) return DEFAULT_ROUTE;
  if (p[0] === 'integrations' && p.length === 1) return { name: 'integrations' };
  if (p[0] === 'connect-link' && p.length === 1) return { name: 'connect-link' };
  if (p[0] === 'connections') {
    if (p.length === 1) {
      const page = Number(query.get('page') ?? '0');
      return {
        name: 'connections',
        search: (query.get('search') ?? '').trim(),
        page: Number.isInteger(page) && page >= 0 && page <= 1_000_000 ? page : 0,
      };
    }
    if (p.length === 3) return { name: 'connection', integration: p[1]!, connectionId: p[2]! };
    if (p.length === 5 && p[3] === 'runs' && /^[1-9]\d{0,15}$/.test(p[4]!)) {
      return { name: 'run', integration: p[1]!, connectionId: p[2]!, runId: p[4]! };
    }
  }
  return { name: 'not-found', hash: raw };
}

const enc = encodeURIComponent;

/** The hash (with `#`) of a route; `parseRoute(formatRoute(r))` gives `r` back. */
export function formatRoute(route: Route): string {
  switch (route.name) {
    case 'integrations':
      return '#/integrations';
    case 'connect-link':
      return '#/connect-link';
    case 'connections': {
      const q = new URLSearchParams();
      if (route.search !== '') q.set('search', route.search);
      if (route.page > 0) q.set('page', String(route.page));
      const qs = q.toString();
      return `#/connections${qs ? `?${qs}` : ''}`;
    }
    case 'connection':
      return `#/connections/${enc(route.integration)}/${enc(route.connectionId)}`;
    case 'run':
      return `#/connections/${enc(route.integration)}/${enc(route.connectionId)}/runs/${enc(route.runId)}`;
    case 'not-found':
      return `#${route.hash}`;
  }
}

/** Which top navigation entry a route belongs to (for `aria-current`). */
export function sectionOf(route: Route): 'integrations' | 'connections' | 'connect-link' | null {
  switch (route.name) {
    case 'integrations':
      return 'integrations';
    case 'connections':
    case 'connection':
    case 'run':
      return 'connections';
    case 'connect-link':
      return 'connect-link';
    case 'not-found':
      return null;
  }
}
