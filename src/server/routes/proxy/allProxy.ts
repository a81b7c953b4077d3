import type { RouteDef } from '../../router.ts';
import { ApiError } from '../../errors.ts';
import { proxyCall, type ProxyRequest } from '../../../engine/proxy.ts';

/** `Retry-On` absent: shared, never written to. */
const NO_STATUSES: readonly number[] = Object.freeze([]);

const CONNECTION_ID = /^[a-zA-Z0-9,.;:=+~[\]|@${}"'\\/_ -]{1,255}$/;
const KEY = /^[a-zA-Z0-9~:.@ _-]{1,255}$/;
/** Upstream bodies: Marketo takes 1 MB (10 MB for bulk imports). */
const MAX_BODY = 10 * 1024 * 1024;

/** `Nango-Proxy-<Name>` headers never sent upstream. */
const NOT_FORWARDED = new Set([
  'authorization',
  'host',
  'content-length',
  'transfer-encoding',
  'connection',
  'keep-alive',
  'upgrade',
  'te',
  'trailer',
  'proxy-authorization',
  // The HTTP client refuses it (it would answer 502 for the caller's header); 100-continue is hop-by-hop.
  'expect',
]);

function header(ctx: { req: { headers: Record<string, string | string[] | undefined> } }, name: string) {
  const v = ctx.req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function invalid(path: string, message: string): ApiError {
  return new ApiError(400, 'invalid_headers', message, {
    errors: [{ code: 'invalid', message, path: [path] }],
  });
}

/** Longest queueing a caller may ask for with `Tether-Max-Wait-Ms`. */
const MAX_WAIT_CAP_MS = 300_000;

/**
 * `ANY /proxy/*` with Nango's headers: Connection-Id, Provider-Config-Key, Retries, Retry-On,
 * Base-Url-Override (refused unless empty), Nango-Proxy-<Name> (forwarded as <Name>). Tether adds
 * one optional header, `Tether-Max-Wait-Ms`: how long the call may queue for the instance's rate and
 * concurrency limits (default 30 s) before 429 `too_many_requests` with `Retry-After`.
 * Every 429 (quota, budget, capacity) carries `Retry-After` in seconds.
 */
export const allProxy: RouteDef = {
  method: '*',
  path: '/proxy/*',
  auth: 'secret',
  handler: async (ctx) => {
    const connectionId = header(ctx, 'connection-id');
    const key = header(ctx, 'provider-config-key');
    if (!connectionId || !CONNECTION_ID.test(connectionId))
      throw invalid('connection-id', 'Connection-Id is missing or invalid');
    if (!key || !KEY.test(key))
      throw invalid('provider-config-key', 'Provider-Config-Key is missing or invalid');
    const retriesRaw = header(ctx, 'retries') ?? '0';
    if (!/^\d{1,2}$/.test(retriesRaw)) throw invalid('retries', 'Retries must be a number from 0 to 99');
    const retryOnRaw = header(ctx, 'retry-on') ?? '';
    if (retryOnRaw !== '' && !/^\d+(,\d+)*$/.test(retryOnRaw))
      throw invalid('retry-on', 'Retry-On must be a comma list of statuses');
    const maxWaitRaw = header(ctx, 'tether-max-wait-ms');
    if (maxWaitRaw !== undefined && (!/^\d{1,6}$/.test(maxWaitRaw) || Number(maxWaitRaw) > MAX_WAIT_CAP_MS))
      throw invalid(
        'tether-max-wait-ms',
        `Tether-Max-Wait-Ms must be a number of ms from 0 to ${MAX_WAIT_CAP_MS}`,
      );
    const override = header(ctx, 'base-url-override') ?? '';
    if (override !== '') {
      throw new ApiError(
        400,
        'base_url_override_disabled',
        'Base URL overrides are disabled: calls go to the connection’s own instance.',
      );
    }

    const headers: Record<string, string> = {};
    const given = ctx.req.headers;
    // Node gives header names in lower case.
    for (const name in given) {
      const value = given[name];
      if (typeof value !== 'string') continue;
      if (name.startsWith('nango-proxy-')) {
        const upstreamName = name.slice('nango-proxy-'.length);
        if (upstreamName === '') throw invalid(name, 'A Nango-Proxy-* header needs a name after the prefix');
        // The token is Tether's business (a caller cannot replace it); framing is the HTTP client's.
        if (!NOT_FORWARDED.has(upstreamName)) headers[upstreamName] = value;
      } else if (name === 'content-type' || name === 'range' || name === 'if-range' || name === 'accept') {
        headers[name] = value;
      }
    }

    let body: Buffer | undefined;
    const method = ctx.req.method ?? 'GET';
    if (method !== 'GET' && method !== 'HEAD') {
      const chunks: Buffer[] = [];
      let size = 0;
      try {
        for await (const chunk of ctx.req) {
          size += (chunk as Buffer).length;
          if (size > MAX_BODY)
            throw new ApiError(413, 'payload_too_large', 'The body is larger than 10 MiB.');
          chunks.push(chunk as Buffer);
        }
      } catch (err) {
        // A caller that goes away mid-upload is not a server error (it was logged as one).
        if (err instanceof ApiError || !ctx.req.destroyed) throw err;
        throw new ApiError(499, 'client_closed', 'The caller closed the connection.');
      }
      if (size > 0) body = Buffer.concat(chunks);
    }

    // The raw path (still percent-encoded), as the caller wrote it.
    let rest = ctx.path.slice('/proxy'.length);
    if (rest.startsWith('//')) rest = `/${rest.replace(/^\/+/, '')}`;
    else if (!rest.startsWith('/')) rest = `/${rest}`;
    const endpoint = ctx.search ? `${rest}?${ctx.search}` : rest;
    const call: ProxyRequest = {
      environment: ctx.auth.environment,
      providerConfigKey: key,
      connectionId,
      method,
      endpoint,
      headers,
      body,
      retries: Number(retriesRaw),
      retryOn: retryOnRaw === '' ? NO_STATUSES : retryOnRaw.split(',').map(Number),
      priority: 'interactive',
    };
    if (maxWaitRaw !== undefined) call.maxWaitMs = Number(maxWaitRaw);
    try {
      await proxyCall(ctx.deps, call, ctx.res);
    } catch (err) {
      // The error body says `retry_after`; HTTP clients read the header.
      const retryAfter = err instanceof ApiError ? err.extra.retry_after : undefined;
      if (typeof retryAfter === 'number' && !ctx.res.headersSent) {
        ctx.res.setHeader('Retry-After', String(retryAfter));
      }
      throw err;
    }
    return undefined;
  },
};
