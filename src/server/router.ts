import type { IncomingMessage, ServerResponse } from 'node:http';
import { ApiError } from './errors.ts';
import { parseQuery, type QueryValue } from './query.ts';
import type { AuthInfo, ServerDeps } from './deps.ts';

/**
 * How a route authenticates: the environment secret key, a connect session token (header, or the
 * `connect_session_token` query parameter on the auth route), either, or nothing.
 */
export type AuthKind = 'secret' | 'session' | 'secret_or_session' | 'none';

export interface Reply {
  status?: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export interface RouteContext {
  req: IncomingMessage;
  res: ServerResponse;
  deps: ServerDeps;
  params: Record<string, string>;
  query: Record<string, QueryValue>;
  /** The raw search string (after `?`), for routes that forward it. */
  search: string;
  path: string;
  /** Set by the auth step (undefined on `none` routes). */
  auth: AuthInfo;
  /** Read and parse the JSON body (415 for a non-JSON content type, 400 for bad JSON). */
  json(): Promise<unknown>;
}

export interface RouteDef {
  method: string;
  /** `/connections/:connectionId`; a trailing `*` matches the rest (proxy). */
  path: string;
  auth: AuthKind;
  /** Return a reply, or undefined when the handler wrote the response itself (streams). */
  handler(ctx: RouteContext): Promise<Reply | undefined> | Reply | undefined;
}

interface Compiled extends RouteDef {
  regex: RegExp;
  names: string[];
  /** The path's first segment when it is literal (`proxy` for `/proxy/*`), else null. */
  segment: string | null;
}

/** `proxy` for `/proxy/rest/v1/x`, `` for `/`. */
function firstSegment(path: string): string {
  const end = path.indexOf('/', 1);
  return end === -1 ? path.slice(1) : path.slice(1, end);
}

export class Router {
  private readonly routes: Compiled[] = [];
  /**
   * The routes that can match a path, by its first segment, in the order added: a route matches only
   * paths that start with its literal first segment, so a proxied call tries one regex, not all of them.
   */
  private readonly bySegment = new Map<string, Compiled[]>();

  private candidates(path: string): Compiled[] {
    const seg = firstSegment(path);
    let list = this.bySegment.get(seg);
    if (!list) {
      list = this.routes.filter((r) => r.segment === null || r.segment === seg);
      if (this.bySegment.size >= 1_000) this.bySegment.clear(); // paths are the caller's: stay bounded
      this.bySegment.set(seg, list);
    }
    return list;
  }

  add(route: RouteDef): this {
    const names: string[] = [];
    let pattern = route.path
      .replace(/[.+?^${}()|[\]\\]/g, '\\$&')
      .replace(/:([a-zA-Z_]+)/g, (_m, n: string) => {
        names.push(n);
        return '([^/]+)';
      });
    if (pattern.endsWith('*')) {
      names.push('rest');
      pattern = pattern.slice(0, -1) + '(.*)';
    }
    // Nango's SDK calls `/records/?model=…`: accept one trailing slash on every route.
    const seg = route.path.startsWith('/') ? firstSegment(route.path) : '';
    const literal = route.path.startsWith('/') && !/[:*]/.test(seg);
    this.routes.push({
      ...route,
      regex: new RegExp(`^${pattern}/?$`),
      names,
      segment: literal ? seg : null,
    });
    this.bySegment.clear();
    return this;
  }

  match(method: string, path: string): { route: Compiled; params: Record<string, string> } {
    let pathMatched = false;
    for (const r of this.candidates(path)) {
      const m = r.regex.exec(path);
      if (!m) continue;
      if (r.method !== method && r.method !== '*') {
        pathMatched = true;
        continue;
      }
      const params: Record<string, string> = {};
      for (let i = 0; i < r.names.length; i++) {
        const n = r.names[i]!;
        const raw = m[i + 1]!;
        try {
          // Most segments have no escape: no decoding (the proxy's `rest` is a whole path).
          params[n] = raw.includes('%') ? decodeURIComponent(raw) : raw;
        } catch {
          throw new ApiError(400, 'invalid_uri_params', `Malformed URL parameter '${n}'`);
        }
      }
      return { route: r, params };
    }
    if (pathMatched) throw new ApiError(405, 'method_not_allowed', `${method} is not allowed on ${path}`);
    throw new ApiError(404, 'not_found', `No route for ${method} ${path}`);
  }

  static query(search: string): Record<string, QueryValue> {
    return parseQuery(search);
  }
}
