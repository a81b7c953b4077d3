import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { posix } from 'node:path';
import { exportFilesRemoved } from '../bulk/exports.ts';
import { Instance, IdentityError, type SeedOptions } from './instance.ts';
import type { Limits, Settings } from './config.ts';
import { makeRequestId, MarketoError, MESSAGES, type EnvelopeBody } from './envelope.ts';
import { readBody, sendGatewayError, sendJson, JSON_TYPE } from './http.ts';
import { compileRoute, Params, RAW, type CompiledRoute, type RequestContext, type Route } from './route.ts';
import { allRoutes } from '../routes.ts';
import { handleControl } from '../control/api.ts';

const MUNCHKIN_RE = /^\d{3}-[a-z]{3}-\d{3}$/i;

export interface InstanceOptions {
  munchkinId?: string;
  limits?: Limits;
  settings?: Partial<Settings>;
  seed?: SeedOptions;
}

/** The process-wide sandbox: several Marketo instances behind one HTTP listener. */
export class Sandbox {
  readonly instances = new Map<string, Instance>();
  private readonly routes: CompiledRoute[];
  private readonly staticRoutes = new Map<string, CompiledRoute[]>();
  private readonly server: Server;
  baseUrl = '';

  constructor(routes: Route[] = allRoutes) {
    this.routes = routes.map(compileRoute);
    for (const r of this.routes) {
      if (r.names.length === 0) {
        const list = this.staticRoutes.get(r.path) ?? [];
        list.push(r);
        this.staticRoutes.set(r.path, list);
      }
    }
    // Asset-API URIs may reach 65 KiB (spec section 4): Node's default 16 KiB header cap would
    // refuse them with 431 before the sandbox could judge them.
    this.server = createServer({ maxHeaderSize: 128 * 1024 }, (req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        // Never crash on a request: answer 611 if nothing was sent yet.
        console.error('sandbox: unhandled error', err);
        if (!res.headersSent) sendJson(req, res, 200, failure(this.anyClock(), '611'));
        else res.destroy();
      });
    });
    this.server.keepAliveTimeout = 65_000;
  }

  private anyClock(): number {
    return Date.now();
  }

  async listen(port = 0, host = '127.0.0.1'): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => resolve());
    });
    const addr = this.server.address() as AddressInfo;
    this.baseUrl = `http://${host}:${addr.port}`;
  }

  async close(): Promise<void> {
    for (const inst of this.instances.values()) inst.bulk.reset();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    await exportFilesRemoved();
  }

  createInstance(opts: InstanceOptions = {}): Instance {
    let id = opts.munchkinId?.toUpperCase();
    if (id !== undefined && !MUNCHKIN_RE.test(id)) throw new Error(`bad Munchkin ID '${id}'`);
    if (id === undefined) {
      do id = randomMunchkin();
      while (this.instances.has(id));
    }
    if (this.instances.has(id)) throw new Error(`instance ${id} already exists`);
    const inst = new Instance(id, opts);
    this.instances.set(id, inst);
    return inst;
  }

  deleteInstance(id: string): boolean {
    const inst = this.instances.get(id.toUpperCase());
    if (!inst) return false;
    inst.bulk.reset();
    return this.instances.delete(id.toUpperCase());
  }

  /** The Admin > Web Services URLs of an instance. */
  urls(inst: Instance): { endpoint: string; identity: string } {
    return {
      endpoint: `${this.baseUrl}/${inst.munchkinId}/rest`,
      identity: `${this.baseUrl}/${inst.munchkinId}/identity`,
    };
  }

  get adminUrl(): string {
    return `${this.baseUrl}/_sandbox`;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    let rawPath = q === -1 ? url : url.slice(0, q);
    const search = q === -1 ? '' : url.slice(q + 1);

    if (rawPath.startsWith('/_sandbox')) {
      await handleControl(this, req, res, rawPath.slice('/_sandbox'.length) || '/', search);
      return;
    }

    // Instance by path prefix (`/<munchkin>/rest/...`) or by Host (`<munchkin>.mktorest.com`).
    let inst: Instance | undefined;
    // Bytes of the `/<munchkin>` prefix: on Marketo the instance is the host, not part of the URI.
    let prefixBytes = 0;
    const second = rawPath.indexOf('/', 1);
    const first = second === -1 ? rawPath.slice(1) : rawPath.slice(1, second);
    if (MUNCHKIN_RE.test(first)) {
      inst = this.instances.get(first.toUpperCase());
      prefixBytes = 1 + first.length;
      rawPath = second === -1 ? '/' : rawPath.slice(second);
    } else {
      const host = (req.headers.host ?? '').split(':')[0]!.toLowerCase();
      const sub = host.endsWith('.mktorest.com') ? host.slice(0, -'.mktorest.com'.length) : '';
      if (MUNCHKIN_RE.test(sub)) inst = this.instances.get(sub.toUpperCase());
    }
    if (!inst) {
      res.writeHead(404, { 'Content-Type': 'text/plain' });
      res.end('Unknown Marketo instance');
      return;
    }
    // Clients such as node-marketo build `/rest/../bulk/v1/...`; the gateway normalises it.
    if (rawPath.includes('/.')) rawPath = posix.normalize(rawPath);

    const uri = inst.limits.uri;
    const maxUri = rawPath.startsWith('/rest/asset/') ? uri.assetMaxBytes : uri.maxBytes;
    if (uri.enabled && Buffer.byteLength(url) - prefixBytes > maxUri) {
      inst.counters.error('414', inst.clock.now());
      req.resume();
      sendGatewayError(res, 414);
      return;
    }

    if (rawPath === '/identity/oauth/token') {
      await this.identity(inst, req, res, search);
      return;
    }
    await this.api(inst, req, res, rawPath, search);
  }

  private async identity(
    inst: Instance,
    req: IncomingMessage,
    res: ServerResponse,
    search: string,
  ): Promise<void> {
    inst.counters.identityCalls++;
    const params = Params.fromSearch(search);
    if (req.method === 'POST') {
      const body = await readBody(req, 64 * 1024);
      const type = req.headers['content-type'] ?? '';
      if (body && body.length > 0 && type.includes('application/x-www-form-urlencoded'))
        params.addSearch(body.toString('utf8'));
    } else {
      req.resume();
    }
    const noStore = { 'Cache-Control': 'no-store', Pragma: 'no-cache' };
    if (req.method !== 'GET' && req.method !== 'POST') {
      sendJson(req, res, 405, {
        error: 'method_not_allowed',
        error_description: `Request method '${req.method}' not supported`,
      });
      return;
    }
    const fault = inst.faults.take('/identity/oauth/token', true);
    if (fault && (await this.applyFault(inst, fault, req, res, null))) return;

    const grant = params.get('grant_type');
    if (grant === undefined || grant === '') {
      sendJson(
        req,
        res,
        400,
        { error: 'invalid_request', error_description: 'Missing grant type' },
        { headers: noStore },
      );
      return;
    }
    if (grant !== 'client_credentials') {
      sendJson(
        req,
        res,
        400,
        { error: 'unsupported_grant_type', error_description: `Unsupported grant type: ${grant}` },
        { headers: noStore },
      );
      return;
    }
    const clientId = params.get('client_id') ?? '';
    try {
      const t = inst.issueToken(clientId, params.get('client_secret') ?? '');
      sendJson(
        req,
        res,
        200,
        { access_token: t.token, token_type: 'bearer', expires_in: t.expiresIn, scope: t.scope },
        { headers: noStore },
      );
    } catch (err) {
      if (!(err instanceof IdentityError)) throw err;
      const body =
        err.kind === 'unknown_client'
          ? { error: 'unauthorized', error_description: `No client with requested id: ${clientId}` }
          : { error: 'invalid_client', error_description: 'Bad client credentials' };
      sendJson(req, res, 401, body, { headers: noStore });
    }
  }

  /**
   * Apply a non-slow fault. Returns true when the fault answered the call. `release` is called
   * when a dropped or failed call had been admitted.
   */
  private async applyFault(
    inst: Instance,
    fault: { kind: string; code?: string; status?: number; delayMs?: number },
    req: IncomingMessage,
    res: ServerResponse,
    gzip: boolean | null,
  ): Promise<boolean> {
    const now = inst.clock.now();
    switch (fault.kind) {
      case 'error':
        inst.counters.error(fault.code!, now);
        sendJson(req, res, 200, failure(now, fault.code!), { gzip: gzip ?? false });
        return true;
      case 'http':
        inst.counters.error(String(fault.status), now);
        sendGatewayError(res, fault.status!);
        return true;
      case 'drop':
        inst.counters.droppedConnections++;
        req.socket.destroy();
        return true;
      case 'slow':
        await new Promise((r) => setTimeout(r, fault.delayMs));
        return false;
    }
    return false;
  }

  private async api(
    inst: Instance,
    req: IncomingMessage,
    res: ServerResponse,
    path: string,
    search: string,
  ): Promise<void> {
    const gzip = inst.settings.gzip && !path.startsWith('/bulk/');
    const reply = (status: number, body: unknown) => sendJson(req, res, status, body, { gzip });
    const fail = (code: string, message?: string) => {
      const now = inst.clock.now();
      inst.counters.error(code, now);
      reply(200, failure(now, code, message));
    };

    // Body first: a request is answered only after it has been read (or refused as too large).
    const max = inst.limits.body.enabled ? inst.limits.body.maxBytes : 64 * 1024 * 1024;
    const declared = Number(req.headers['content-length'] ?? '0');
    if (declared > max) {
      inst.counters.error('413', inst.clock.now());
      req.resume();
      sendGatewayError(res, 413);
      return;
    }
    let raw: Buffer | null = null;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      raw = await readBody(req, max);
      if (raw === null) {
        inst.counters.error('413', inst.clock.now());
        sendGatewayError(res, 413);
        return;
      }
    } else {
      req.resume();
    }

    const query = Params.fromSearch(search);
    let method = req.method ?? 'GET';
    const contentType = (req.headers['content-type'] ?? '').toLowerCase();
    const isForm = contentType.startsWith('application/x-www-form-urlencoded');
    const form = new Params();
    if (raw && raw.length > 0 && isForm) form.addSearch(raw.toString('utf8'));
    // `POST ...?_method=GET` with the query in an urlencoded body stands for a long GET (spec 3, 414);
    // some clients (node-marketo) put `_method=GET` in the body instead.
    if (method === 'POST' && (query.get('_method') ?? form.get('_method'))?.toUpperCase() === 'GET') {
      method = 'GET';
      for (const k of form.keys()) for (const v of form.list(k) ?? []) query.add(k, v);
    }

    // Token: header, or the legacy access_token parameter unless the instance refuses it.
    const auth = req.headers.authorization;
    let token: string | undefined;
    if (auth !== undefined && /^bearer /i.test(auth)) token = auth.slice(7).trim();
    else if (!inst.settings.rejectQueryToken) token = query.get('access_token') ?? form.get('access_token');
    if (token === undefined || token === '') return fail('600');
    const service = inst.checkToken(token);
    if (typeof service === 'string') return fail(service);
    const user = inst.users.get(service.user)!;

    const fault = inst.faults.take(path, false);
    if (fault && fault.kind !== 'slow' && (await this.applyFault(inst, fault, req, res, gzip))) return;

    const refused = inst.limiter.admit(inst.clock.now());
    if (refused) {
      const msg =
        refused === '606'
          ? `Max rate limit '${inst.limits.rate.max}' exceeded with in '${Math.round(inst.limits.rate.windowMs / 1000)}' secs`
          : refused === '615'
            ? `Concurrent access limit '${inst.limits.concurrency.max}' reached`
            : undefined;
      return fail(refused, msg);
    }
    let released = false;
    const release = () => {
      if (!released) {
        released = true;
        inst.limiter.release();
      }
    };
    res.once('close', release);
    try {
      if (fault?.kind === 'slow') await new Promise((r) => setTimeout(r, fault.delayMs));

      const match = this.match(method, path);
      const endpointKey = match.route ? `${method} ${match.route.path}` : `${method} ${path}`;
      inst.counters.call(endpointKey, user.email, inst.clock.now());
      if (!match.route) {
        if (match.methodMismatch) return fail('605', `Request method '${method}' not supported`);
        return fail('610');
      }
      const route = match.route;
      if (
        inst.settings.ipAllowlist &&
        !inst.settings.ipAllowlist.includes(normalizeIp(req.socket.remoteAddress))
      ) {
        return fail('603');
      }
      if (route.permission && !route.permission.some((p) => inst.permissionsOf(user).has(p)))
        return fail('603');

      let body: unknown;
      if (route.body === 'json' || (route.body === 'any' && raw && raw.length > 0 && !isForm)) {
        // A JSON `POST …?_method=GET` (custom object queries by compound key) keeps its JSON body.
        const jsonGet = req.method === 'POST' && contentType.startsWith('application/json');
        if ((method === 'POST' || method === 'DELETE' || jsonGet) && raw && raw.length > 0) {
          if (!contentType.startsWith('application/json')) return fail('612');
          try {
            body = JSON.parse(raw.toString('utf8'));
          } catch {
            return fail('609');
          }
        }
      } else if (route.body === 'form' && method === 'POST' && raw && raw.length > 0 && !isForm) {
        return fail('612');
      }

      const ctx: RequestContext = {
        inst,
        user,
        clientId: service.clientId,
        method,
        path,
        params: match.params,
        query,
        body,
        form,
        contentType,
        requestId: makeRequestId(inst.clock.now()),
        req,
        res,
      };
      let result: Awaited<ReturnType<Route['handler']>>;
      try {
        result = await route.handler(ctx);
      } catch (err) {
        if (err instanceof MarketoError) {
          inst.counters.error(err.code, inst.clock.now());
          const env: EnvelopeBody = {
            requestId: ctx.requestId,
            success: false,
            errors: [{ code: err.code, message: err.message }],
          };
          if (route.asset) env.warnings = [];
          return reply(200, env);
        }
        throw err;
      }
      if (result === RAW) return;
      const env: Record<string, unknown> = { requestId: ctx.requestId, success: result.success ?? true };
      if (route.asset) {
        env.errors = [];
        env.warnings = [];
      }
      Object.assign(env, result);
      env.success = result.success ?? true;
      reply(200, env);
    } catch (err) {
      console.error('sandbox: handler error', err);
      if (!res.headersSent) fail('611');
      else res.destroy();
    } finally {
      if (res.writableEnded) release();
    }
  }

  private match(
    method: string,
    path: string,
  ): { route?: CompiledRoute; params: Record<string, string>; methodMismatch: boolean } {
    let methodMismatch = false;
    const statics = this.staticRoutes.get(path);
    if (statics) {
      for (const r of statics) if (r.method === method) return { route: r, params: {}, methodMismatch };
      methodMismatch = true;
    }
    for (const r of this.routes) {
      if (r.names.length === 0) continue;
      const m = r.regex.exec(path);
      if (!m) continue;
      if (r.method !== method) {
        methodMismatch = true;
        continue;
      }
      const params: Record<string, string> = {};
      try {
        r.names.forEach((n, i) => (params[n] = decodeURIComponent(m[i + 1]!)));
      } catch {
        // A malformed escape names no resource: 610, not a retryable 611.
        return { params: {}, methodMismatch: false };
      }
      return { route: r, params, methodMismatch };
    }
    return { params: {}, methodMismatch };
  }
}

function failure(now: number, code: string, message?: string): EnvelopeBody {
  return {
    requestId: makeRequestId(now),
    success: false,
    errors: [{ code, message: message ?? MESSAGES[code] ?? 'Error' }],
  };
}

function normalizeIp(ip: string | undefined): string {
  if (!ip) return '';
  return ip.startsWith('::ffff:') ? ip.slice(7) : ip;
}

function randomMunchkin(): string {
  const d = () => String(Math.floor(Math.random() * 1000)).padStart(3, '0');
  const l = () =>
    Array.from({ length: 3 }, () => String.fromCharCode(65 + Math.floor(Math.random() * 26))).join('');
  return `${d()}-${l()}-${d()}`;
}

export { JSON_TYPE };
