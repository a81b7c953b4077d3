import type { ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { EngineDeps } from './deps.ts';
import type { Environment } from '../db/environments.ts';
import { nowOf, type DbContext } from '../db/context.ts';
import { getConnection, getConnectionById, type ConnectionWithCredentials } from '../db/connections.ts';
import { getIntegration } from '../db/integrations.ts';
import { proxyBaseUrl } from '../providers/registry.ts';
import type { ProviderDefinition } from '../providers/types.ts';
import { mayOverrideGet, TRAFFIC_PROFILES, type TrafficProfile } from '../providers/traffic.ts';
import { ApiError } from '../api-error.ts';
import { cachesOf, TtlCache } from './lookup-cache.ts';
import {
  BACKOFF_MS,
  EXPIRY_MARGIN_MS,
  getValidCredentials,
  inBackoff,
  isFresh,
  RefreshError,
} from './tokens.ts';
import {
  Cancellation,
  coarseTimers,
  isOutboundError,
  readResponseBody,
  abortableSleep,
  type Expiring,
  type OutboundRequestOptions,
  type OutboundResponse,
} from './outbound.ts';
import {
  isTrafficError,
  retryPolicy,
  type AcquireRequest,
  type CallOutcome,
  type Permit,
  type Priority,
  type TrafficController,
} from './traffic.ts';

/**
 * The proxy: one call from the customer's product to the provider, done right. Valid token
 * (renewed once per dead token on 601/602, one identity call for a whole burst), per-instance
 * traffic control shared by every connection and every Tether job on that instance (queue rather
 * than fail, bounded wait), retries by the provider's classification (reads always, writes only as
 * many as `Retries` asks), the daily quota (607 blocks the instance until its reset) and budget,
 * long GET URLs as POST `_method=GET`, and pass-through of status, body and the relevant headers.
 * Response bodies stream (a bulk file of hundreds of MB is never held); only JSON bodies up to
 * 16 MB are read whole, to classify them. Request bodies are buffered by the route (≤ 10 MB,
 * Marketo's largest) because a replay after 601/602 or a retry must send them again.
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
  retryOn: readonly number[];
  priority: Priority;
  /** Longest wait for a traffic permit (default: the controller's, 30 s) before 429 + Retry-After. */
  maxWaitMs?: number;
}

/** Response headers worth passing back (Nango passes a few; files need their range headers). */
const PASS_HEADERS = [
  'content-type',
  'content-length',
  'content-range',
  'accept-ranges',
  'content-disposition',
  'etag',
  'last-modified',
  'x-request-id',
  'x-correlation-id',
  'retry-after',
];

/** JSON bodies up to this size are read whole to classify them; larger or non-JSON bodies stream untouched. */
const MAX_CLASSIFIED_BODY = 16 * 1024 * 1024;
/** Decompressed size allowed for a classified body. */
const MAX_DECODED_BODY = 64 * 1024 * 1024;
/**
 * Longest wait for response headers. Marketo's slowest call (Get Paging Token) may take 300 s before
 * it answers 604 itself; anything longer is a hung connection.
 */
export const HEADERS_TIMEOUT_MS = 330_000;
/** Longest silence while a body flows (a 500 MB bulk file takes minutes, but never stalls). */
export const IDLE_TIMEOUT_MS = 120_000;
/** Hard bound on one call, body included (the outbound client's total timeout). */
const MAX_CALL_MS = 6 * 3600_000;

export interface ProxyOutcome {
  status: number;
  attempts: number;
  codes: string[];
}

/** Path part of each base (`new URL()` once per base, not once per call). */
const basePaths = new Map<string, string>();

function basePathOf(base: string): string {
  let p = basePaths.get(base);
  if (p === undefined) {
    p = new URL(base).pathname.replace(/\/+$/, '');
    if (basePaths.size >= 1_000) basePaths.clear();
    basePaths.set(base, p);
  }
  return p;
}

/** Where the call goes: the provider base joined with the endpoint (`/v1/...` means `/rest/v1/...`). */
export function upstreamUrl(base: string, endpoint: string): string {
  let path = endpoint.startsWith('/') ? endpoint : `/${endpoint}`;
  if (path.startsWith(base)) path = path.slice(base.length);
  const basePath = basePathOf(base);
  if (basePath !== '' && path.startsWith(basePath + '/')) path = path.slice(basePath.length);
  if (/^\/(v1|asset)\//.test(path)) path = `/rest${path}`;
  return base + path;
}

const tokenOf = (c: ConnectionWithCredentials): string =>
  typeof c.credentials?.token === 'string' ? c.credentials.token : '';

// ---------------------------------------------------------------------------------------------------
// Renewal after 601/602: one identity call per dead token

interface Renewal {
  dead: string;
  flight: Promise<ConnectionWithCredentials>;
  /** When the flight failed (epoch ms), if it did. */
  failedAt: number | undefined;
}

/** Per store (several Tethers may share a process in tests), then connection pk. */
const renewals = new WeakMap<object, Map<number, Renewal>>();

/**
 * A fresh token for a connection whose token `dead` was just refused (601/602). A burst of calls that
 * all went out with the same token shares one identity call: callers that learn of the death while
 * the renewal runs join it; callers that learn of it afterwards find the new token stored and use it;
 * callers that learn of it after the renewal failed get the same failure (for the refresh backoff),
 * so a revoked service is asked once, not once per call.
 */
async function renewAfter(
  deps: EngineDeps,
  connection: ConnectionWithCredentials,
  dead: string,
  environment: Environment,
): Promise<ConnectionWithCredentials> {
  let map = renewals.get(deps.store);
  if (!map) renewals.set(deps.store, (map = new Map()));
  const known = (): Promise<ConnectionWithCredentials> | undefined => {
    const r = map.get(connection.id);
    if (!r || r.dead !== dead) return undefined;
    if (r.failedAt !== undefined && nowOf(deps.store.ctx).getTime() - r.failedAt >= BACKOFF_MS)
      return undefined;
    return r.flight;
  };
  const joined = known();
  if (joined) return joined;
  const latest = await getConnectionById(deps.store.ctx, connection.id);
  if (!latest) throw new ApiError(400, 'server_error', 'Failed to get connection');
  const again = known(); // someone started a renewal while we read
  if (again) return again;
  if (tokenOf(latest) !== dead && isFresh(latest, nowOf(deps.store.ctx))) return latest;
  const renewal: Renewal = {
    dead,
    flight: getValidCredentials(deps, latest, { force: true, environment }),
    failedAt: undefined,
  };
  map.set(connection.id, renewal);
  renewal.flight.catch(() => {
    renewal.failedAt = nowOf(deps.store.ctx).getTime();
  });
  return renewal.flight;
}

// ---------------------------------------------------------------------------------------------------
// Per-connection facts, computed once per connection object (not once per call)

interface Target {
  deps: EngineDeps;
  provider: ProviderDefinition;
  profile: TrafficProfile;
  traffic: TrafficController;
  base: string;
  instanceKey: string;
  /** `credentials.expires_at` in epoch ms; null when absent or not a date. */
  expiresAt: number | null;
}

const targets = new WeakMap<ConnectionWithCredentials, Target>();

function targetOf(deps: EngineDeps, connection: ConnectionWithCredentials): Target {
  const known = targets.get(connection);
  if (known && known.deps === deps) return known;
  const provider = deps.providers.get(connection.provider);
  const profile = TRAFFIC_PROFILES[connection.provider];
  const traffic = deps.traffic.get(connection.provider);
  if (!provider || !profile || !traffic) {
    throw new ApiError(400, 'unsupported_provider', `The proxy does not support '${connection.provider}'.`);
  }
  const config: Record<string, string> = {};
  for (const [k, v] of Object.entries(connection.connectionConfig)) if (typeof v === 'string') config[k] = v;
  const raw = connection.credentials?.expires_at;
  const parsed = typeof raw === 'string' ? Date.parse(raw) : NaN;
  const target: Target = {
    deps,
    provider,
    profile,
    traffic,
    base: proxyBaseUrl(provider, config),
    instanceKey: profile.instanceKey(config),
    expiresAt: Number.isNaN(parsed) ? null : parsed,
  };
  targets.set(connection, target);
  return target;
}

/**
 * The connection's token can be used as is: what `getValidCredentials` would answer without a
 * refresh (not exhausted, not backing off, fresh), decided without a promise. Anything else goes
 * through the token manager.
 */
function usableAsIs(connection: ConnectionWithCredentials, target: Target, now: number): boolean {
  if (connection.refreshExhausted || tokenOf(connection) === '') return false;
  if (connection.lastRefreshFailure !== null && inBackoff(connection, new Date(now))) return false;
  return target.expiresAt === null || target.expiresAt - now > EXPIRY_MARGIN_MS;
}

// ---------------------------------------------------------------------------------------------------
// Bodies and deadlines

/**
 * Read a body until it ends or passes `max` bytes, consuming nothing more: the rest stays in the
 * (paused) stream for a later pipe.
 */
function readUpTo(
  body: Readable,
  max: number,
): Promise<{ chunks: Buffer[]; size: number; complete: boolean }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = () => {
      body.off('data', onData);
      body.off('end', onEnd);
      body.off('error', onError);
      body.off('close', onClose);
    };
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      size += chunk.length;
      if (size > max) {
        body.pause();
        cleanup();
        resolve({ chunks, size, complete: false });
      }
    };
    const onEnd = () => {
      cleanup();
      resolve({ chunks, size, complete: true });
    };
    const onError = (err: Error) => {
      cleanup();
      reject(err);
    };
    const onClose = () => {
      cleanup();
      reject(Object.assign(new Error('the connection closed before the body ended'), { code: 'ECONNRESET' }));
    };
    body.on('data', onData);
    body.once('end', onEnd);
    body.once('error', onError);
    body.once('close', onClose);
  });
}

/** A response body that arrived whole with its headers (the usual small JSON answer), taken at once. */
function takeWhole(body: Readable): Buffer | undefined {
  const b = body as Readable & { complete?: boolean };
  if (b.complete !== true || b.readableFlowing !== null || b.readableLength > MAX_CLASSIFIED_BODY) {
    return undefined;
  }
  if (b.readableLength === 0) {
    body.resume(); // lets it end (and the socket go back to the pool)
    return Buffer.alloc(0);
  }
  const whole = body.read() as Buffer | null;
  return whole ?? undefined;
}

/**
 * What shows a body's progress: the outbound client's body counts the bytes it received (and stops
 * counting under backpressure, as the socket stops reading); a Node response has its socket.
 */
function progressOf(body: Readable): { bytesRead: number } | null | undefined {
  const b = body as Readable & { bytesRead?: unknown; socket?: { bytesRead: number } | null };
  return typeof b.bytesRead === 'number' ? (b as { bytesRead: number }) : b.socket;
}

/**
 * One attempt's guard: aborts the upstream call when the caller goes away or a deadline passes
 * (HEADERS_TIMEOUT_MS for the headers, then IDLE_TIMEOUT_MS of silence while the body flows). On the
 * coarse clock: a timer per attempt, armed then cleared on nearly every call, cost more than the rest.
 */
class AttemptGuard extends Cancellation implements Expiring {
  fired = false;
  expiresAt: number;
  private released = false;

  constructor(
    private readonly gone: Cancellation,
    private readonly permit: Permit,
  ) {
    super();
    this.expiresAt = Date.now() + HEADERS_TIMEOUT_MS;
    coarseTimers.add(this);
    gone.addEventListener('abort', this);
  }

  /** Bytes the upstream socket had read at the last look, while a body streams. */
  private streaming: { socket: { bytesRead: number }; seen: number } | undefined;

  /** The headers came: from now on IDLE_TIMEOUT_MS of silence is the deadline. */
  answered(): void {
    this.expiresAt = Date.now() + IDLE_TIMEOUT_MS;
  }

  /**
   * A body streams from `socket` (or the body itself): the deadline moves whenever it has read more, checked when the
   * deadline comes (nothing per chunk). Under backpressure the socket stops reading too, so a caller
   * that stops reading for IDLE_TIMEOUT_MS is cut like a stalled upstream, as before.
   */
  stream(socket: { bytesRead: number } | null | undefined): void {
    if (socket) this.streaming = { socket, seen: socket.bytesRead };
  }

  /** A deadline passed. */
  expire(): void {
    const s = this.streaming;
    if (s && s.socket.bytesRead !== s.seen) {
      s.seen = s.socket.bytesRead;
      this.expiresAt = Date.now() + IDLE_TIMEOUT_MS;
      coarseTimers.add(this);
      return;
    }
    this.fired = true;
    this.abort(new Error('timeout'));
  }

  /** The caller went away. */
  handleEvent(): void {
    this.abort(this.gone.reason);
  }

  /** Free the traffic slot with the call's outcome, and stop guarding. Idempotent. */
  release(outcome: CallOutcome): void {
    if (this.released) return;
    this.released = true;
    coarseTimers.delete(this);
    this.gone.removeEventListener('abort', this);
    this.permit.release(outcome);
  }
}

// ---------------------------------------------------------------------------------------------------
// The call

interface Call {
  deps: EngineDeps;
  req: ProxyRequest;
  res: ServerResponse;
  target: Target;
  method: string;
  url: string;
  headers: Record<string, string>;
  body: Buffer | undefined;
  /** The caller's method is a read (a long GET sent as POST stays one). */
  idempotent: boolean;
  isHead: boolean;
  /** Aborted when the caller goes away. */
  gone: Cancellation;
  acquire: AcquireRequest;
  codes: string[];
}

/** What one attempt came to. */
type Attempt =
  | { kind: 'answered'; status: number }
  | { kind: 'retry'; delayMs: number }
  /** 601/602: renew the token and replay. */
  | { kind: 'replay'; dead: string };

/**
 * How long a proxied call may reuse a connection read by an earlier call. Short on purpose: a token
 * renewed meanwhile is found anyway (the token manager re-reads inside its flight, and a 601/602 is
 * replayed), and a deleted or reconnected connection is seen within this time.
 */
const CONNECTION_CACHE_MS = 1_000;

interface Lookups {
  integrations: TtlCache<string, true>;
  connections: TtlCache<string, ConnectionWithCredentials>;
}

const newLookups = (): Lookups => ({
  integrations: new TtlCache<string, true>(5_000),
  connections: new TtlCache<string, ConnectionWithCredentials>(CONNECTION_CACHE_MS),
});

/**
 * A connection or an integration was deleted: later proxied calls must not reuse what the lookups
 * cached (a deleted connection's credentials would still be used for up to CONNECTION_CACHE_MS).
 * Deletes are rare: everything is forgotten.
 */
export function forgetProxyLookups(deps: Pick<EngineDeps, 'store'>): void {
  const caches = cachesOf(deps.store, 'proxy-lookups', newLookups);
  caches.integrations.clear();
  caches.connections.clear();
}

const kCall = Symbol('proxy.call');
type CallCarrier = { [kCall]?: Call | undefined };

/** The caller went away: stop queueing, stop calling, free the slot. */
function onCallerClose(this: ServerResponse): void {
  const call = (this as CallCarrier)[kCall];
  if (call && !this.writableFinished) call.gone.abort(new Error('the caller closed the connection'));
}

export async function proxyCall(
  deps: EngineDeps,
  req: ProxyRequest,
  res: ServerResponse,
): Promise<ProxyOutcome> {
  const ctx = deps.store.ctx;
  const caches = cachesOf(deps.store, 'proxy-lookups', newLookups);
  const integrationKey = `${req.environment.id}\u0000${req.providerConfigKey}`;
  if (!caches.integrations.get(integrationKey)) {
    if (!(await getIntegration(ctx, req.environment.id, req.providerConfigKey))) {
      throw new ApiError(
        404,
        'unknown_provider_config',
        'Provider config not found for the given provider config key. Please make sure the provider config exists in the Nango dashboard.',
      );
    }
    caches.integrations.set(integrationKey, true);
  }
  const connectionKey = `${integrationKey}\u0000${req.connectionId}`;
  let connection: ConnectionWithCredentials | undefined = caches.connections.get(connectionKey);
  if (!connection) {
    connection = await getConnection(ctx, req.environment.id, req.providerConfigKey, req.connectionId);
    if (!connection) throw new ApiError(400, 'server_error', 'Failed to get connection');
    // Cached from the read, not from each use: a deleted or reconnected connection is seen in time.
    caches.connections.set(connectionKey, connection);
  }
  const target = targetOf(deps, connection);
  let url = upstreamUrl(target.base, req.endpoint);
  const callerMethod = req.method.toUpperCase();
  let method = callerMethod;
  let body = req.body;
  let headers = req.headers;
  // Long GETs: Marketo answers 414 past 8 KB; the documented way is POST + _method=GET + form body.
  const maxUri = target.profile.maxUriBytes;
  if (
    method === 'GET' &&
    maxUri !== undefined &&
    url.length > maxUri / 3 &&
    Buffer.byteLength(url) > maxUri &&
    mayOverrideGet(target.profile, url)
  ) {
    const u = new URL(url);
    body = Buffer.from(u.searchParams.toString());
    url = `${u.origin}${u.pathname}?_method=GET`;
    method = 'POST';
    headers = { ...headers };
    for (const k of Object.keys(headers)) if (k.toLowerCase() === 'content-type') delete headers[k];
    headers['content-type'] = 'application/x-www-form-urlencoded';
  }
  // A write without a body still says so (Content-Length: 0, not an empty chunked body).
  if (body === undefined && method !== 'GET' && method !== 'HEAD') body = Buffer.alloc(0);

  const gone = new Cancellation();
  const call: Call = {
    deps,
    req,
    res,
    target,
    method,
    url,
    headers,
    body,
    idempotent: callerMethod === 'GET' || callerMethod === 'HEAD',
    isHead: callerMethod === 'HEAD',
    gone,
    acquire: {
      instanceKey: target.instanceKey,
      connectionId: String(connection.id),
      priority: req.priority,
      signal: gone,
    },
    codes: [],
  };
  if (req.maxWaitMs !== undefined) call.acquire.maxWaitMs = req.maxWaitMs;
  (res as CallCarrier)[kCall] = call;
  res.on('close', onCallerClose);
  let dead: string | undefined;
  let replayed = false;
  const connectionPk = connection.id;
  const startedAt = Date.now();
  let status = 500;
  let attempts = 0;
  try {
    // `attempt` counts retries (the backoff's exponent and bound); a replay after 601/602 is not one.
    for (let calls = 1, attempt = 0; ; calls++) {
      if (dead !== undefined || !usableAsIs(connection, targetOf(deps, connection), nowMs(ctx))) {
        const before: ConnectionWithCredentials = connection;
        try {
          connection =
            dead === undefined
              ? await getValidCredentials(deps, connection, { environment: req.environment })
              : await renewAfter(deps, connection, dead, req.environment);
        } catch (err) {
          // The stored state changed (failure, backoff): the next call must read it, not our copy.
          caches.connections.forget(connectionKey);
          if (err instanceof RefreshError) throw new ApiError(err.status, err.code, err.message);
          throw err;
        }
        if (connection !== before) caches.connections.set(connectionKey, connection);
      }
      dead = undefined;
      attempts = calls;
      const result = await attemptOnce(call, connection, attempt, !replayed);
      if (result.kind === 'answered') {
        status = result.status;
        return { status: result.status, attempts: calls, codes: call.codes };
      }
      if (result.kind === 'replay') {
        replayed = true;
        dead = result.dead;
        continue;
      }
      attempt++;
      await abortableSleep(result.delayMs, gone);
      if (gone.aborted) throw new ApiError(499, 'client_closed', 'The caller closed the connection.');
    }
  } catch (err) {
    status = err instanceof ApiError ? err.status : 500;
    throw err;
  } finally {
    res.removeListener('close', onCallerClose);
    (res as CallCarrier)[kCall] = undefined;
    // The redacted request log: what was called, how it ended, never a secret.
    deps.requestLog.record({
      connectionId: connectionPk,
      providerConfigKey: req.providerConfigKey,
      method: req.method,
      path: req.endpoint,
      status,
      codes: call.codes,
      durationMs: Date.now() - startedAt,
      attempts,
      at: startedAt,
    });
  }
}

/** Whether (and after how long) to retry this call after `outcome`. */
function decide(call: Call, outcome: CallOutcome, attempt: number): { retry: boolean; delayMs: number } {
  return retryPolicy(outcome, {
    method: call.req.method,
    idempotent: call.idempotent,
    callerRetries: call.req.retries,
    attempt,
  });
}

/** The store's clock in epoch ms (tests move it), without a Date when it is the real one. */
function nowMs(ctx: DbContext): number {
  return ctx.now ? ctx.now().getTime() : Date.now();
}

async function attemptOnce(
  call: Call,
  connection: ConnectionWithCredentials,
  attempt: number,
  mayReplay: boolean,
): Promise<Attempt> {
  const { deps, req, res, target, codes } = call;
  const { traffic, profile } = target;
  const ctx = deps.store.ctx;
  let permit = traffic.tryAcquire(call.acquire);
  if (!permit) {
    try {
      permit = await traffic.acquire(call.acquire);
    } catch (err) {
      if (isTrafficError(err)) throw trafficApiError(err);
      throw err;
    }
  }

  const guard = new AttemptGuard(call.gone, permit);

  try {
    // While we queued, another call may have renewed the token: use the newest.
    let token = tokenOf(connection);
    if (permit.queuedMs > 0) {
      const latest = await getConnectionById(ctx, connection.id);
      if (latest && tokenOf(latest) !== token && isFresh(latest, nowOf(ctx))) token = tokenOf(latest);
    }

    let upstream: OutboundResponse;
    let buffered: Buffer | undefined;
    let decoded = false;
    let prefix: Buffer | undefined;
    let json: unknown;
    try {
      const options: OutboundRequestOptions = {
        method: call.method,
        url: call.url,
        headers: { ...call.headers, authorization: `Bearer ${token}` },
        timeoutMs: MAX_CALL_MS,
        signal: guard,
      };
      if (call.body !== undefined) options.body = call.body;
      upstream = await deps.outbound.request(options);
      guard.answered();
      const headers = upstream.headers;
      const type = headers['content-type'];
      const lengthHeader = headers['content-length'];
      const length = lengthHeader === undefined ? NaN : Number(lengthHeader);
      const classify =
        type !== undefined &&
        type.includes('json') &&
        !(length > MAX_CLASSIFIED_BODY) &&
        upstream.status !== 206 &&
        !call.isHead;
      if (classify) {
        // A small answer usually came whole with its headers: taken as it is, no stream built.
        let raw = upstream.takeComplete
          ? upstream.takeComplete(MAX_CLASSIFIED_BODY)
          : takeWhole(upstream.body);
        let complete = true;
        if (raw === undefined) {
          const read = await readUpTo(upstream.body, MAX_CLASSIFIED_BODY);
          raw = Buffer.concat(read.chunks, read.size);
          complete = read.complete;
        }
        if (complete) {
          if (headers['content-encoding'] === undefined) {
            buffered = raw;
            decoded = true;
          } else {
            try {
              buffered = await readResponseBody({ headers, body: Readable.from([raw]) }, MAX_DECODED_BODY);
              decoded = true;
            } catch {
              buffered = raw; // not decodable: pass the bytes on as they came
            }
          }
          // Most answers cannot change the outcome (a Marketo success): no parse for those.
          if (profile.okWithoutParse?.(upstream.status, buffered) !== true) {
            try {
              json = JSON.parse(buffered.toString('utf8'));
            } catch {
              json = undefined;
            }
          }
        } else {
          prefix = raw; // too large to classify: stream it
        }
      }
    } catch (err) {
      if (call.gone.aborted) {
        guard.release({ kind: 'fail', code: 'client_closed' });
        throw new ApiError(499, 'client_closed', 'The caller closed the connection.');
      }
      const e = err as { code?: unknown; message?: unknown };
      const known = guard.fired || isOutboundError(err) || typeof e?.code === 'string';
      if (!known) {
        guard.release({ kind: 'fail', code: 'exception' });
        throw err;
      }
      const code = guard.fired ? 'timeout' : isOutboundError(err) ? err.code : 'network_error';
      const retryable = guard.fired || !isOutboundError(err) || err.retryable;
      const outcome: CallOutcome = retryable ? { kind: 'transient', code } : { kind: 'fail', code };
      guard.release(outcome);
      codes.push(code);
      const d = decide(call, outcome, attempt);
      if (d.retry) return { kind: 'retry', delayMs: d.delayMs };
      const detail = guard.fired
        ? `no answer within ${Math.round(HEADERS_TIMEOUT_MS / 1000)} s`
        : String(e?.message ?? 'network error');
      throw new ApiError(
        code === 'timeout' ? 504 : 502,
        `upstream_${code}`,
        `The call to ${call.target.provider.display_name} failed: ${detail}`,
      );
    }

    const answered = upstream.status;
    if (answered < 100 || answered > 599) {
      // Not an HTTP status (undici passes any three digits): no answer a caller could read.
      guard.release({ kind: 'fail', code: 'invalid_status' });
      if (buffered === undefined) upstream.body.resume();
      codes.push('invalid_status');
      throw new ApiError(
        502,
        'upstream_invalid_status',
        `The call to ${call.target.provider.display_name} failed: it answered HTTP status ${answered}.`,
      );
    }
    let outcome = profile.outcome(
      json !== undefined ? { status: answered, body: json } : { status: answered },
      nowMs(ctx),
    );
    // Retry-On names statuses worth a retry: it upgrades a pass-through (2xx-4xx) answer, never
    // overrides what the provider's codes mean (601/602, 606/615, 607).
    if ((outcome.kind === 'ok' || outcome.kind === 'fail') && req.retryOn.includes(answered)) {
      outcome = { kind: 'transient', code: `http_${answered}` };
    }
    if (outcome.kind !== 'ok') codes.push(outcome.code);

    if (outcome.kind === 'auth' && mayReplay) {
      // 601/602: the token died under us. Renew it (once for the whole burst) and replay once.
      guard.release(outcome);
      // A body read whole is already consumed; anything else is drained so the socket is reused.
      if (buffered === undefined) upstream.body.resume();
      return { kind: 'replay', dead: token };
    }
    if (outcome.kind === 'quota_spent') {
      // Releasing with this outcome blocks the instance until the reset: later calls get 429 at once.
      guard.release(outcome);
      if (buffered === undefined) upstream.body.resume();
      const now = nowOf(ctx).getTime();
      const resetAt = outcome.resetAt ?? now + 3600_000;
      throw new ApiError(
        429,
        'marketo_daily_quota_exhausted',
        `The instance's daily API quota is spent; it resets at ${new Date(resetAt).toISOString()}.`,
        {
          reset_at: new Date(resetAt).toISOString(),
          retry_after: Math.max(1, Math.ceil((resetAt - now) / 1000)),
        },
      );
    }
    if (outcome.kind !== 'ok') {
      const decision = decide(call, outcome, attempt);
      if (decision.retry) {
        guard.release(outcome);
        if (buffered === undefined) upstream.body.resume();
        return { kind: 'retry', delayMs: decision.delayMs };
      }
    }

    const out: Record<string, string> = {};
    for (const h of PASS_HEADERS) {
      const v = upstream.headers[h];
      if (typeof v === 'string') out[h] = v;
    }
    const encoding = upstream.headers['content-encoding'];
    if (buffered !== undefined) {
      if (!decoded && typeof encoding === 'string') out['content-encoding'] = encoding;
      out['content-length'] = String(buffered.length);
      res.writeHead(answered, out);
      res.end(buffered);
      guard.release(outcome);
      return { kind: 'answered', status: answered };
    }
    if (typeof encoding === 'string') out['content-encoding'] = encoding;
    res.writeHead(answered, out);
    if (prefix) res.write(prefix);
    // Files stream through; the call stays in flight (Marketo counts it) until the last byte. A body
    // that stalls longer than IDLE_TIMEOUT_MS is cut (the caller sees a short body).
    guard.stream(progressOf(upstream.body));
    try {
      await pipeline(upstream.body, res);
      guard.release(outcome);
    } catch {
      guard.release({ kind: 'transient', code: 'stream_aborted' });
      upstream.body.destroy();
      res.destroy();
    }
    return { kind: 'answered', status: answered };
  } catch (err) {
    guard.release({ kind: 'fail', code: 'exception' });
    throw err;
  }
}

/** A traffic-control refusal as the HTTP error the proxy (and a sync action trigger) answers. */
export function trafficApiError(err: {
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
      return new ApiError(
        429,
        'marketo_daily_quota_exhausted',
        `The instance's daily API quota is spent; it resets at ${String(extra.reset_at)}.`,
        extra,
      );
    case 'budget_exhausted':
      return new ApiError(429, 'daily_budget_exhausted', err.message, extra);
    case 'capacity_timeout':
      return new ApiError(
        429,
        'too_many_requests',
        `The instance is busy (rate or concurrency limit): ${err.message}. Retry after ${retryAfter ?? 1} s.`,
        extra,
      );
    case 'aborted':
      return new ApiError(499, 'client_closed', 'The caller closed the connection.');
    default:
      return new ApiError(503, err.code, err.message, extra);
  }
}
