import type { ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import type { ServerDeps } from '../server/deps.ts';
import type { Environment } from '../db/environments.ts';
import { getConnection, type ConnectionWithCredentials } from '../db/connections.ts';
import { proxyBaseUrl } from '../providers/registry.ts';
import { TRAFFIC_PROFILES } from '../providers/traffic.ts';
import { ApiError } from '../server/errors.ts';
import { getValidCredentials, RefreshError } from './tokens.ts';
import { isOutboundError, readResponseBody, type OutboundResponse } from './outbound.ts';
import { isTrafficError, retryPolicy, type CallOutcome, type Permit, type Priority } from './traffic.ts';

/**
 * The proxy: one call from the customer's product to the provider, done right. Valid token
 * (refreshed once on 601/602), per-instance traffic control shared by every connection and every
 * Tether job on that instance (queue rather than fail), retries by the provider's classification,
 * the daily quota and budget, long GET URLs as POST `_method=GET`, and pass-through of status,
 * body and the relevant headers — streamed both ways for files.
 */
export interface ProxyRequest {
  environment: Environment;
  providerConfigKey: string;
  connectionId: string;
  method: string;
  /** Path and query below `/proxy`, e.g. `/rest/v1/leads.json?filterType=id&filterValues=1`. */
  endpoint: string;
  /** Headers for the provider (Nango-Proxy-* with the prefix stripped, Content-Type, Range). */
  headers: Record<string, string>;
  body: Buffer | undefined;
  /** Nango's `Retries`: retries the caller allows for non-idempotent calls. */
  retries: number;
  /** Nango's `Retry-On`: HTTP statuses that are worth a retry. */
  retryOn: number[];
  priority: Priority;
  maxWaitMs?: number;
}

/** Response headers worth passing back (Nango passes a few; files need their range headers). */
const PASS_HEADERS = [
  'content-type',
  'content-length',
  'content-range',
  'accept-ranges',
  'content-disposition',
  'x-request-id',
  'x-correlation-id',
  'retry-after',
];

/** JSON bodies are read whole to classify them; larger or non-JSON bodies stream untouched. */
const MAX_CLASSIFIED_BODY = 16 * 1024 * 1024;

export interface ProxyOutcome {
  status: number;
  attempts: number;
  codes: string[];
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Where the call goes: the provider base joined with the endpoint (`/v1/...` means `/rest/v1/...`). */
export function upstreamUrl(base: string, endpoint: string): string {
  let path = endpoint.startsWith('/') ? endpoint : `/${endpoint}`;
  if (path.startsWith(base)) path = path.slice(base.length);
  const baseUrl = new URL(base);
  const basePath = baseUrl.pathname.replace(/\/+$/, '');
  if (basePath !== '' && path.startsWith(basePath + '/')) path = path.slice(basePath.length);
  if (/^\/(v1|asset)\//.test(path)) path = `/rest${path}`;
  return base + path;
}

export async function proxyCall(
  deps: ServerDeps,
  req: ProxyRequest,
  res: ServerResponse,
): Promise<ProxyOutcome> {
  let connection: ConnectionWithCredentials | undefined = await getConnection(
    deps.store.ctx,
    req.environment.id,
    req.providerConfigKey,
    req.connectionId,
  );
  if (!connection) throw new ApiError(400, 'server_error', 'Failed to get connection');
  const provider = deps.providers.get(connection.provider);
  const profile = TRAFFIC_PROFILES[connection.provider];
  const traffic = deps.traffic.get(connection.provider);
  if (!provider || !profile || !traffic) {
    throw new ApiError(400, 'unsupported_provider', `The proxy does not support '${connection.provider}'.`);
  }
  const config: Record<string, string> = {};
  for (const [k, v] of Object.entries(connection.connectionConfig)) if (typeof v === 'string') config[k] = v;
  const base = proxyBaseUrl(provider, config);
  const instanceKey = profile.instanceKey(config);
  let url = upstreamUrl(base, req.endpoint);
  let method = req.method.toUpperCase();
  let body = req.body;
  const headers: Record<string, string> = { ...req.headers };
  // Long GETs: Marketo answers 414 past 8 KB; the documented way is POST + _method=GET + form body.
  if (method === 'GET' && profile.maxUriBytes !== undefined && Buffer.byteLength(url) > profile.maxUriBytes) {
    const u = new URL(url);
    body = Buffer.from(u.searchParams.toString());
    url = `${u.origin}${u.pathname}?_method=GET`;
    method = 'POST';
    headers['content-type'] = 'application/x-www-form-urlencoded';
  }
  const idempotent = req.method.toUpperCase() === 'GET' || req.method.toUpperCase() === 'HEAD';
  const codes: string[] = [];
  let forceRefresh = false;
  let refreshed = false;

  for (let attempt = 0; ; attempt++) {
    try {
      connection = await getValidCredentials(deps, connection, {
        force: forceRefresh,
        environment: req.environment,
      });
    } catch (err) {
      if (err instanceof RefreshError) throw new ApiError(err.status, err.code, err.message);
      throw err;
    }
    forceRefresh = false;
    const token = typeof connection.credentials?.token === 'string' ? connection.credentials.token : '';

    let permit: Permit;
    try {
      permit = await traffic.acquire({
        instanceKey,
        connectionId: String(connection.id),
        priority: req.priority,
        ...(req.maxWaitMs !== undefined ? { maxWaitMs: req.maxWaitMs } : {}),
      });
    } catch (err) {
      if (isTrafficError(err)) throw trafficApiError(err);
      throw err;
    }

    let upstream: OutboundResponse;
    try {
      upstream = await deps.outbound.request({
        method,
        url,
        headers: { ...headers, authorization: `Bearer ${token}` },
        ...(body !== undefined ? { body } : {}),
        timeoutMs: 120_000,
      });
    } catch (err) {
      if (!isOutboundError(err)) {
        permit.release({ kind: 'fail', code: 'exception' });
        throw err;
      }
      const outcome: CallOutcome = err.retryable
        ? { kind: 'transient', code: err.code }
        : { kind: 'fail', code: err.code };
      permit.release(outcome);
      codes.push(err.code);
      const d = retryPolicy(outcome, { method: req.method, idempotent, callerRetries: req.retries, attempt });
      if (d.retry) {
        await sleep(d.delayMs);
        continue;
      }
      throw new ApiError(
        err.code === 'timeout' ? 504 : 502,
        `upstream_${err.code}`,
        `The call to ${provider.display_name} failed: ${err.message}`,
      );
    }

    const type = String(upstream.headers['content-type'] ?? '');
    const length = Number(upstream.headers['content-length'] ?? NaN);
    const classify = type.includes('json') && !(length > MAX_CLASSIFIED_BODY) && upstream.status !== 206;
    let buffered: Buffer | undefined;
    let json: unknown;
    if (classify) {
      try {
        buffered = await readResponseBody(
          { headers: { ...upstream.headers, 'content-encoding': undefined }, body: upstream.body },
          MAX_CLASSIFIED_BODY,
        );
        json = JSON.parse(buffered.toString('utf8'));
      } catch {
        json = undefined;
      }
    }
    let outcome = profile.outcome(
      { status: upstream.status, ...(json !== undefined ? { body: json } : {}) },
      Date.now(),
    );
    if (outcome.kind === 'ok' && req.retryOn.includes(upstream.status)) {
      outcome = { kind: 'transient', code: `http_${upstream.status}` };
    }
    if (outcome.kind !== 'ok') codes.push(outcome.code);

    if (outcome.kind === 'auth' && !refreshed) {
      // 601/602: the token died under us. Drop it, fetch a new one, replay once.
      permit.release(outcome);
      upstream.body.resume();
      refreshed = true;
      forceRefresh = true;
      continue;
    }
    if (outcome.kind === 'quota_spent') {
      permit.release(outcome);
      upstream.body.resume();
      const resetAt = outcome.resetAt ?? Date.now() + 3600_000;
      throw new ApiError(
        429,
        'marketo_daily_quota_exhausted',
        `The instance's daily API quota is spent; it resets at ${new Date(resetAt).toISOString()}.`,
        {
          reset_at: new Date(resetAt).toISOString(),
        },
      );
    }
    const decision = retryPolicy(outcome, {
      method: req.method,
      idempotent,
      callerRetries: req.retries,
      attempt,
    });
    if (decision.retry) {
      permit.release(outcome);
      upstream.body.resume();
      await sleep(decision.delayMs);
      continue;
    }

    const out: Record<string, string> = {};
    for (const h of PASS_HEADERS) {
      const v = upstream.headers[h];
      if (typeof v === 'string') out[h] = v;
    }
    if (buffered !== undefined) {
      out['content-length'] = String(buffered.length);
      res.writeHead(upstream.status, out);
      res.end(buffered);
      permit.release(outcome);
    } else {
      const encoding = upstream.headers['content-encoding'];
      if (typeof encoding === 'string') out['content-encoding'] = encoding;
      res.writeHead(upstream.status, out);
      // Files stream through; the call stays in flight (Marketo counts it) until the last byte.
      try {
        await pipeline(upstream.body, res);
        permit.release(outcome);
      } catch {
        permit.release({ kind: 'transient', code: 'stream_aborted' });
        upstream.body.destroy();
        res.destroy();
      }
    }
    return { status: upstream.status, attempts: attempt + 1, codes };
  }
}

function trafficApiError(err: {
  code: string;
  message: string;
  retryAfterMs?: number | undefined;
  resetAt?: number | undefined;
}): ApiError {
  const retryAfter =
    err.retryAfterMs !== undefined ? Math.max(1, Math.ceil(err.retryAfterMs / 1000)) : undefined;
  const extra: Record<string, unknown> = {};
  if (err.resetAt !== undefined) extra.reset_at = new Date(err.resetAt).toISOString();
  if (retryAfter !== undefined) extra.retry_after = retryAfter;
  switch (err.code) {
    case 'quota_exhausted':
      return new ApiError(429, 'marketo_daily_quota_exhausted', err.message, extra);
    case 'budget_exhausted':
      return new ApiError(429, 'daily_budget_exhausted', err.message, extra);
    case 'capacity_timeout':
      return new ApiError(429, 'too_many_requests', err.message, extra);
    default:
      return new ApiError(503, err.code, err.message, extra);
  }
}
