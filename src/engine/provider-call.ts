/**
 * One call to a connection's provider made by Tether itself (syncs, later actions), not by a customer
 * through the proxy: the same token manager and per-instance traffic control, as background work by
 * default, answered as parsed JSON.
 *
 * - Credentials: {@link getValidCredentials}; an `auth` outcome (401, Marketo 601/602) forces one refresh
 *   and replays the call once.
 * - Traffic: a permit from the provider's controller for the connection's instance before every attempt
 *   (the connection's daily budget and Tether's share of the instance quota included); retries by
 *   {@link retryPolicy} (rate/concurrency limit hits, transient failures of reads). Background waits for
 *   capacity are long and renewed: background work queues, it does not fail for a busy instance.
 * - Spent budget or quota: the daily quota answered spent (Marketo 607), or traffic control refusing with
 *   `budget_exhausted` / `quota_exhausted`, throws {@link PausedUntil} with the reset time: the caller pauses
 *   until then instead of failing.
 * - Answers: a 2xx body is returned (parsed JSON, or text when it is not JSON) even when the provider's
 *   envelope says `success:false` (the caller reads its codes, e.g. Marketo 1003 or 702); a 4xx/5xx that is
 *   not retried (or no longer) throws {@link ProviderCallError}.
 * - GET URLs above the provider's limit go as POST with `_method=GET` and a form body (as the proxy does).
 */
import type { ServerDeps } from '../server/deps.ts';
import type { ConnectionWithCredentials } from '../db/connections.ts';
import { proxyBaseUrl } from '../providers/registry.ts';
import { TRAFFIC_PROFILES } from '../providers/traffic.ts';
import { upstreamUrl } from './proxy.ts';
import { getValidCredentials } from './tokens.ts';
import { isOutboundError, readResponseBody, type OutboundResponse } from './outbound.ts';
import { isTrafficError, retryPolicy, type CallOutcome, type Permit, type Priority } from './traffic.ts';

export type ProviderCallDeps = Pick<
  ServerDeps,
  'store' | 'outbound' | 'providers' | 'webhooks' | 'log' | 'traffic'
>;

export interface ProviderCallRequest {
  method: string;
  /** Path (and query) below the provider's base URL, e.g. `/rest/v1/lists.json?batchSize=300`. */
  path: string;
  /** JSON-encoded unless a string or a Buffer. */
  body?: unknown;
  headers?: Record<string, string>;
}

export interface ProviderCallOptions {
  priority?: Priority;
  signal?: AbortSignal;
  /** Longest wait for capacity per acquire (default 60 s for background work, then it waits again). */
  maxWaitMs?: number;
  /** Retries of a non-idempotent call after transient failures (default 0; reads retry anyway). */
  retries?: number;
  /** Called before every attempt sent to the provider (API call accounting). */
  onAttempt?: () => void;
  /** Called with the connection after its credentials were renewed (keep it for the next call). */
  onConnection?: (connection: ConnectionWithCredentials) => void;
  /** Largest body read (default 64 MiB). */
  maxBodyBytes?: number;
  timeoutMs?: number;
}

/** The call cannot be made before `resetAt`: the daily quota or a budget is spent. */
export class PausedUntil extends Error {
  constructor(
    readonly resetAt: number,
    readonly reason: 'budget_exhausted' | 'quota_exhausted',
    message: string,
    readonly scope?: 'connection' | 'instance',
  ) {
    super(message);
    this.name = 'PausedUntil';
  }
}

export function isPausedUntil(err: unknown): err is PausedUntil {
  return err instanceof PausedUntil;
}

/** A call that failed for good (after the retries it deserved). */
export class ProviderCallError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status?: number,
    readonly body?: unknown,
  ) {
    super(message);
    this.name = 'ProviderCallError';
  }
}

const DEFAULT_BACKGROUND_WAIT_MS = 60_000;
const DEFAULT_MAX_BODY = 64 * 1024 * 1024;

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  if (ms <= 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(new ProviderCallError('aborted', 'The call was aborted.'));
    };
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function encodeBody(body: unknown, headers: Record<string, string>): string | Buffer | undefined {
  if (body === undefined) return undefined;
  if (typeof body === 'string' || Buffer.isBuffer(body)) return body;
  if (!Object.keys(headers).some((k) => k.toLowerCase() === 'content-type')) {
    headers['content-type'] = 'application/json';
  }
  return JSON.stringify(body);
}

function parseBody(buf: Buffer, contentType: string): unknown {
  const text = buf.toString('utf8');
  if (contentType.includes('json') || /^\s*[[{]/.test(text)) {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      return text;
    }
  }
  return text;
}

export async function providerCall(
  deps: ProviderCallDeps,
  connection: ConnectionWithCredentials,
  req: ProviderCallRequest,
  opts: ProviderCallOptions = {},
): Promise<unknown> {
  const provider = deps.providers.get(connection.provider);
  const profile = TRAFFIC_PROFILES[connection.provider];
  const traffic = deps.traffic.get(connection.provider);
  if (!provider || !profile || !traffic) {
    throw new ProviderCallError(
      'unsupported_provider',
      `Calls to '${connection.provider}' are not supported.`,
    );
  }
  const config: Record<string, string> = {};
  for (const [k, v] of Object.entries(connection.connectionConfig)) if (typeof v === 'string') config[k] = v;
  const base = proxyBaseUrl(provider, config);
  const instanceKey = profile.instanceKey(config);
  const priority = opts.priority ?? 'background';
  const signal = opts.signal;

  const headers: Record<string, string> = { accept: 'application/json', ...req.headers };
  let method = req.method.toUpperCase();
  let url = upstreamUrl(base, req.path);
  let body = encodeBody(req.body, headers);
  const idempotent = method === 'GET' || method === 'HEAD';
  if (method === 'GET' && profile.maxUriBytes !== undefined && Buffer.byteLength(url) > profile.maxUriBytes) {
    const u = new URL(url);
    body = u.searchParams.toString();
    url = `${u.origin}${u.pathname}?_method=GET`;
    method = 'POST';
    headers['content-type'] = 'application/x-www-form-urlencoded';
  }

  /** Whether the outcome is worth another attempt; if so, after its backoff. */
  const backedOff = async (outcome: CallOutcome, attempt: number): Promise<boolean> => {
    const d = retryPolicy(outcome, {
      method: req.method,
      idempotent,
      callerRetries: opts.retries ?? 0,
      attempt,
    });
    if (d.retry) await sleep(d.delayMs, signal);
    return d.retry;
  };

  let current = connection;
  let forceRefresh = false;
  let refreshed = false;
  for (let attempt = 0; ; attempt++) {
    if (signal?.aborted) throw new ProviderCallError('aborted', 'The call was aborted.');
    const renewed = await getValidCredentials(deps, current, { force: forceRefresh });
    if (renewed !== current) {
      current = renewed;
      opts.onConnection?.(renewed);
    }
    forceRefresh = false;
    const token = typeof current.credentials?.token === 'string' ? current.credentials.token : '';

    const permit = await acquire(traffic, {
      instanceKey,
      connectionId: String(current.id),
      priority,
      maxWaitMs: opts.maxWaitMs ?? (priority === 'background' ? DEFAULT_BACKGROUND_WAIT_MS : 30_000),
      signal,
      // Interactive callers get the refusal; background callers wait again.
      waitAgain: priority === 'background',
    });

    opts.onAttempt?.();
    let upstream: OutboundResponse;
    try {
      upstream = await deps.outbound.request({
        method,
        url,
        headers: { ...headers, authorization: `Bearer ${token}` },
        ...(body !== undefined ? { body } : {}),
        timeoutMs: opts.timeoutMs ?? 120_000,
        ...(signal ? { signal } : {}),
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
      if (err.code === 'aborted') throw new ProviderCallError('aborted', 'The call was aborted.');
      if (await backedOff(outcome, attempt)) continue;
      throw new ProviderCallError(
        `upstream_${err.code}`,
        `The call to ${provider.display_name} failed: ${err.message}`,
      );
    }

    let parsed: unknown;
    try {
      const buf = await readResponseBody(upstream, opts.maxBodyBytes ?? DEFAULT_MAX_BODY);
      parsed = parseBody(buf, String(upstream.headers['content-type'] ?? ''));
    } catch (err) {
      const code = isOutboundError(err) ? err.code : 'read_failed';
      const outcome: CallOutcome =
        isOutboundError(err) && err.retryable ? { kind: 'transient', code } : { kind: 'fail', code };
      permit.release(outcome);
      if (await backedOff(outcome, attempt)) continue;
      throw new ProviderCallError(
        `upstream_${code}`,
        `Reading the answer of ${provider.display_name} failed.`,
      );
    }

    const outcome = profile.outcome(
      { status: upstream.status, ...(typeof parsed === 'object' && parsed !== null ? { body: parsed } : {}) },
      Date.now(),
    );
    permit.release(outcome);

    if (outcome.kind === 'auth') {
      if (!refreshed) {
        refreshed = true;
        forceRefresh = true;
        continue;
      }
      throw new ProviderCallError(
        'unauthorized',
        `${provider.display_name} refused the access token even after a refresh (${outcome.code}).`,
        upstream.status,
        parsed,
      );
    }
    if (outcome.kind === 'quota_spent') {
      const resetAt = outcome.resetAt ?? traffic.status(instanceKey).blockedUntil ?? Date.now() + 3600_000;
      throw new PausedUntil(
        resetAt,
        'quota_exhausted',
        `The daily API quota of the instance is spent (${outcome.code}); it resets at ${new Date(resetAt).toISOString()}.`,
        'instance',
      );
    }
    if (await backedOff(outcome, attempt)) continue;
    if (upstream.status >= 200 && upstream.status < 300) return parsed;
    throw new ProviderCallError(
      outcome.kind === 'ok' ? `http_${upstream.status}` : outcome.code,
      `${provider.display_name} answered HTTP ${upstream.status} to ${method} ${req.path.split('?')[0]}.`,
      upstream.status,
      parsed,
    );
  }
}

/** A permit, or {@link PausedUntil} for a spent budget or quota. Background callers wait again on timeouts. */
async function acquire(
  traffic: NonNullable<ReturnType<ProviderCallDeps['traffic']['get']>>,
  req: {
    instanceKey: string;
    connectionId: string;
    priority: Priority;
    maxWaitMs: number;
    signal: AbortSignal | undefined;
    waitAgain: boolean;
  },
): Promise<Permit> {
  while (true) {
    try {
      return await traffic.acquire({
        instanceKey: req.instanceKey,
        connectionId: req.connectionId,
        priority: req.priority,
        maxWaitMs: req.maxWaitMs,
        ...(req.signal ? { signal: req.signal } : {}),
      });
    } catch (err) {
      if (!isTrafficError(err)) throw err;
      if (err.code === 'budget_exhausted' || err.code === 'quota_exhausted') {
        const resetAt = err.resetAt ?? Date.now() + 3600_000;
        throw new PausedUntil(
          resetAt,
          err.code,
          `${err.message}; it resets at ${new Date(resetAt).toISOString()}.`,
          err.scope,
        );
      }
      if (err.code === 'capacity_timeout' && req.waitAgain && !req.signal?.aborted) continue;
      throw new ProviderCallError(err.code, err.message);
    }
  }
}
