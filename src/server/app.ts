import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApiError } from './errors.ts';
import { isDatabaseBusy } from '../db/busy.ts';
import { CORS_HEADERS } from './cors.ts';
import { Router, type RouteContext } from './router.ts';
import { authenticate } from './auth.ts';
import { routes } from './routes/index.ts';
import type { AuthInfo, ServerDeps } from './deps.ts';
import type { QueryValue } from './query.ts';
import type { BrowserAsset } from '../browser-app.ts';

const JSON_LIMIT = 1024 * 1024;
/** Request line + headers: room for a 65 KiB URI (Marketo's asset API limit) and the usual headers. */
const MAX_HEADER_BYTES = 128 * 1024;

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
) {
  const payload = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, {
    ...CORS_HEADERS,
    ...(payload === '' ? {} : { 'Content-Type': 'application/json; charset=utf-8' }),
    'Content-Length': String(Buffer.byteLength(payload)),
    ...headers,
  });
  res.end(payload);
}

/** Read a JSON body: 415 for another content type, 413 past the limit, 400 for malformed JSON. */
function jsonReader(req: IncomingMessage): () => Promise<unknown> {
  let cached: Promise<unknown> | undefined;
  return () =>
    (cached ??= (async () => {
      const type = (req.headers['content-type'] ?? '').toLowerCase();
      if (type !== '' && !type.startsWith('application/json')) {
        throw new ApiError(
          415,
          'invalid_content_type',
          'The body must be JSON (Content-Type: application/json).',
        );
      }
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of req) {
        size += (chunk as Buffer).length;
        if (size > JSON_LIMIT) throw new ApiError(413, 'payload_too_large', 'The body is larger than 1 MiB.');
        chunks.push(chunk as Buffer);
      }
      const text = Buffer.concat(chunks).toString('utf8');
      if (text.trim() === '') return undefined;
      try {
        return JSON.parse(text) as unknown;
      } catch {
        throw new ApiError(400, 'invalid_json', 'The body is not valid JSON.');
      }
    })());
}

/**
 * A route's context. The query and the JSON reader are built on first use: most calls (the proxy)
 * never touch them, and the proxy is the path where per-call work shows.
 */
class Context implements RouteContext {
  auth: AuthInfo = undefined as unknown as AuthInfo;
  private parsedQuery: Record<string, QueryValue> | undefined;
  private reader: (() => Promise<unknown>) | undefined;

  constructor(
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    readonly deps: ServerDeps,
    readonly params: Record<string, string>,
    readonly search: string,
    readonly path: string,
  ) {}

  get query(): Record<string, QueryValue> {
    return (this.parsedQuery ??= Router.query(this.search));
  }

  json(): Promise<unknown> {
    return (this.reader ??= jsonReader(this.req))();
  }
}

/** The access log line of a request (info level). */
function logRequest(
  deps: ServerDeps,
  res: ServerResponse,
  method: string,
  path: string,
  started: number,
): void {
  res.on('finish', () => {
    // Paths only: query strings may carry session tokens.
    deps.log.info(
      { method, path, status: res.statusCode, ms: Math.round(performance.now() - started) },
      'request',
    );
  });
}

export function createTetherHandler(deps: ServerDeps) {
  const router = new Router();
  for (const r of routes) router.add(r);

  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    const search = q === -1 ? '' : url.slice(q + 1);
    const method = req.method ?? 'GET';
    // No listener (and no clock read) per request when the access log is off (level above info).
    if (deps.log.isLevelEnabled('info')) logRequest(deps, res, method, path, performance.now());
    try {
      if (method === 'OPTIONS') {
        res.writeHead(204, CORS_HEADERS);
        res.end();
        return;
      }
      if (method === 'GET' && (path === '/connect' || path.startsWith('/connect/'))) {
        if (serveConnectUi(deps, path, search, res)) return;
      }
      if (method === 'GET' && (path === '/dashboard' || path.startsWith('/dashboard/'))) {
        if (serveDashboard(deps, path, res)) return;
      }
      const { route, params } = router.match(method, path);
      const ctx = new Context(req, res, deps, params, search, path);
      if (route.auth !== 'none') {
        const auth = authenticate(deps, route.auth, req, ctx);
        ctx.auth = (auth instanceof Promise ? await auth : auth) as AuthInfo;
      }
      const reply = await route.handler(ctx);
      if (reply === undefined) return;
      sendJson(res, reply.status ?? 200, reply.body, reply.headers);
    } catch (err) {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (err instanceof ApiError) {
        // A body refused before its end (413) is still arriving: the connection cannot carry another
        // request (the rest of the body would be read as one), so it closes after the answer.
        sendJson(res, err.status, err.toBody(), err.status === 413 ? { Connection: 'close' } : {});
        return;
      }
      if (isDatabaseBusy(err)) {
        // Not a fault: the database was locked longer than its wait (another process, a checkpoint).
        deps.log.warn({ err, method, path }, 'database busy: answered 503');
        sendJson(
          res,
          503,
          {
            error: {
              code: 'database_busy',
              message: 'The database is busy. Try again in a moment.',
            },
          },
          { 'Retry-After': '1' },
        );
        return;
      }
      const id = crypto.randomUUID();
      deps.log.error({ err, id, method, path }, 'unhandled error');
      sendJson(res, 500, {
        error: { code: 'server_error', message: `An unexpected error occurred (reference ${id}).` },
      });
    }
  };
}

/** The Connect UI's static assets under `/connect/`. Returns false when the path is not one. */
function serveConnectUi(deps: ServerDeps, path: string, search: string, res: ServerResponse): boolean {
  if (path === '/connect') {
    res.writeHead(301, { Location: `/connect/${search ? `?${search}` : ''}` });
    res.end();
    return true;
  }
  const asset = deps.connectUi.get(path.slice('/connect'.length));
  if (!asset) return false;
  sendAsset(res, asset, {
    'Content-Security-Policy':
      "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: http: https:; connect-src *; frame-ancestors *",
  });
  return true;
}

/** A static asset of a browser app, with the headers every one gets plus the app's own. */
function sendAsset(res: ServerResponse, asset: BrowserAsset, headers: Record<string, string>): void {
  res.writeHead(200, {
    'Content-Type': asset.type,
    'Content-Length': String(Buffer.byteLength(asset.body)),
    'Cache-Control': 'no-cache',
    'Referrer-Policy': 'no-referrer',
    'X-Content-Type-Options': 'nosniff',
    ...headers,
  });
  res.end(asset.body);
}

/**
 * The dashboard's static assets under `/dashboard/`. Returns false when the path is not one. Stricter
 * than the Connect UI: the page holds the secret key, so it is never framed (clickjacking) and talks to
 * this origin only.
 */
function serveDashboard(deps: ServerDeps, path: string, res: ServerResponse): boolean {
  if (path === '/dashboard') {
    res.writeHead(301, { Location: '/dashboard/' });
    res.end();
    return true;
  }
  const asset = deps.dashboard.get(path.slice('/dashboard'.length));
  if (!asset) return false;
  sendAsset(res, asset, {
    'X-Frame-Options': 'DENY',
    'Content-Security-Policy':
      "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  });
  return true;
}

export interface ListeningServer {
  server: Server;
  url: string;
  close(): Promise<void>;
}

export async function listen(deps: ServerDeps, port: number, host: string): Promise<ListeningServer> {
  const handler = createTetherHandler(deps);
  // Node's default 16 KiB for the request line and headers would refuse (431) proxied GETs that
  // Marketo takes: the asset API accepts URIs up to 65 KiB.
  const server = createServer({ maxHeaderSize: MAX_HEADER_BYTES }, (req, res) => void handler(req, res));
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const addr = server.address() as AddressInfo;
  const shownHost =
    host === '0.0.0.0' || host === '::' ? 'localhost' : host.includes(':') ? `[${host}]` : host;
  return {
    server,
    url: `http://${shownHost}:${addr.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
