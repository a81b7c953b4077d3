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
 *
 * {@link providerDownload} is the streamed variant for files (Marketo bulk export files): the same
 * credentials, traffic, retries and pauses, but it resolves at the response headers and the traffic
 * permit stays held until the body ends, fails or is cancelled (Marketo counts the call in flight until
 * its last byte). Nothing of a file is buffered beyond the chunk being handed out.
 */
import { Readable } from 'node:stream';
import zlib from 'node:zlib';
import type { EngineDeps } from './deps.ts';
import type { ConnectionWithCredentials } from '../db/connections.ts';
import { nowOf } from '../db/context.ts';
import { proxyBaseUrl } from '../providers/registry.ts';
import type { ProviderDefinition } from '../providers/types.ts';
import { mayOverrideGet, TRAFFIC_PROFILES, type TrafficProfile } from '../providers/traffic.ts';
import { upstreamUrl } from './proxy.ts';
import { getValidCredentials } from './tokens.ts';
import { isOutboundError, readResponseBody, type OutboundResponse } from './outbound.ts';
import {
  isTrafficError,
  retryPolicy,
  type CallOutcome,
  type Permit,
  type Priority,
  type RetryContext,
  type TrafficController,
} from './traffic.ts';

/** Whether `outcome` is worth another attempt (traffic.ts's policy); if so, after waiting its backoff. */
async function retryAfterBackoff(
  outcome: CallOutcome,
  ctx: RetryContext,
  signal: AbortSignal | undefined,
): Promise<boolean> {
  const d = retryPolicy(outcome, ctx);
  if (d.retry) await sleep(d.delayMs, signal);
  return d.retry;
}

export type ProviderCallDeps = Pick<
  EngineDeps,
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

/** Where a connection's calls go and what governs them. */
interface Target {
  provider: ProviderDefinition;
  profile: TrafficProfile;
  traffic: TrafficController;
  base: string;
  instanceKey: string;
}

function stringConfig(connection: ConnectionWithCredentials): Record<string, string> {
  const config: Record<string, string> = {};
  for (const [k, v] of Object.entries(connection.connectionConfig)) if (typeof v === 'string') config[k] = v;
  return config;
}

function targetOf(deps: ProviderCallDeps, connection: ConnectionWithCredentials): Target {
  const provider = deps.providers.get(connection.provider);
  const profile = TRAFFIC_PROFILES[connection.provider];
  const traffic = deps.traffic.get(connection.provider);
  if (!provider || !profile || !traffic) {
    throw new ProviderCallError(
      'unsupported_provider',
      `Calls to '${connection.provider}' are not supported.`,
    );
  }
  const config = stringConfig(connection);
  return {
    provider,
    profile,
    traffic,
    base: proxyBaseUrl(provider, config),
    instanceKey: profile.instanceKey(config),
  };
}

/**
 * The provider instance a connection belongs to (Marketo: its instance root, one per Munchkin ID): every
 * connection to the instance shares it, as traffic control does. Falls back to the connection itself for
 * a provider without a traffic profile.
 */
export function connectionInstanceKey(connection: ConnectionWithCredentials): string {
  const profile = TRAFFIC_PROFILES[connection.provider];
  return profile ? profile.instanceKey(stringConfig(connection)) : `${connection.provider}:${connection.id}`;
}

export async function providerCall(
  deps: ProviderCallDeps,
  connection: ConnectionWithCredentials,
  req: ProviderCallRequest,
  opts: ProviderCallOptions = {},
): Promise<unknown> {
  const { provider, profile, traffic, base, instanceKey } = targetOf(deps, connection);
  const priority = opts.priority ?? 'background';
  const signal = opts.signal;

  const headers: Record<string, string> = { accept: 'application/json', ...req.headers };
  let method = req.method.toUpperCase();
  let url = upstreamUrl(base, req.path);
  let body = encodeBody(req.body, headers);
  const idempotent = method === 'GET' || method === 'HEAD';
  if (
    method === 'GET' &&
    profile.maxUriBytes !== undefined &&
    Buffer.byteLength(url) > profile.maxUriBytes &&
    mayOverrideGet(profile, url)
  ) {
    const u = new URL(url);
    body = u.searchParams.toString();
    url = `${u.origin}${u.pathname}?_method=GET`;
    method = 'POST';
    headers['content-type'] = 'application/x-www-form-urlencoded';
  }

  const backedOff = (outcome: CallOutcome, attempt: number): Promise<boolean> =>
    retryAfterBackoff(
      outcome,
      { method: req.method, idempotent, callerRetries: opts.retries ?? 0, attempt },
      signal,
    );

  let current = connection;
  let forceRefresh = false;
  let refreshed = false;
  for (let attempt = 0; ; attempt++) {
    if (signal?.aborted) throw new ProviderCallError('aborted', 'The call was aborted.');
    const start = await startAttempt(deps, traffic, current, forceRefresh, {
      instanceKey,
      priority,
      signal,
      opts,
      now: () => nowOf(deps.store.ctx).getTime(),
    });
    current = start.connection;
    forceRefresh = false;
    const { token, permit } = start;

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
      nowOf(deps.store.ctx).getTime(),
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
      throw quotaPause(deps, traffic, instanceKey, outcome);
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
/**
 * How every attempt of a call or a download begins: valid credentials (renewed when `forceRefresh`, after
 * an auth outcome), reported through `onConnection` when they changed, then a traffic permit.
 */
async function startAttempt(
  deps: ProviderCallDeps,
  traffic: NonNullable<ReturnType<ProviderCallDeps['traffic']['get']>>,
  connection: ConnectionWithCredentials,
  forceRefresh: boolean,
  req: {
    instanceKey: string;
    priority: Priority;
    signal: AbortSignal | undefined;
    opts: Pick<ProviderCallOptions, 'maxWaitMs' | 'onConnection'>;
    /** Epoch ms on Tether's clock. */
    now: () => number;
  },
): Promise<{ connection: ConnectionWithCredentials; token: string; permit: Permit }> {
  const renewed = await getValidCredentials(deps, connection, { force: forceRefresh });
  if (renewed !== connection) req.opts.onConnection?.(renewed);
  const token = typeof renewed.credentials?.token === 'string' ? renewed.credentials.token : '';
  const permit = await acquire(traffic, {
    instanceKey: req.instanceKey,
    connectionId: String(renewed.id),
    priority: req.priority,
    maxWaitMs: req.opts.maxWaitMs ?? (req.priority === 'background' ? DEFAULT_BACKGROUND_WAIT_MS : 30_000),
    signal: req.signal,
    // Interactive callers get the refusal; background callers wait again.
    waitAgain: req.priority === 'background',
    now: req.now,
  });
  return { connection: renewed, token, permit };
}

async function acquire(
  traffic: NonNullable<ReturnType<ProviderCallDeps['traffic']['get']>>,
  req: {
    instanceKey: string;
    connectionId: string;
    priority: Priority;
    maxWaitMs: number;
    signal: AbortSignal | undefined;
    waitAgain: boolean;
    /** Epoch ms on Tether's clock. */
    now: () => number;
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
        const resetAt = err.resetAt ?? req.now() + 3600_000;
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

/** The {@link PausedUntil} for a spent daily quota (the instance is blocked by the permit's release). */
function quotaPause(
  deps: ProviderCallDeps,
  traffic: TrafficController,
  instanceKey: string,
  outcome: Extract<CallOutcome, { kind: 'quota_spent' }>,
): PausedUntil {
  const resetAt =
    outcome.resetAt ?? traffic.status(instanceKey).blockedUntil ?? nowOf(deps.store.ctx).getTime() + 3600_000;
  return new PausedUntil(
    resetAt,
    'quota_exhausted',
    `The daily API quota of the instance is spent (${outcome.code}); it resets at ${new Date(resetAt).toISOString()}.`,
    'instance',
  );
}

// ---------------------------------------------------------------------------------------------------
// Streamed downloads

export interface ProviderDownloadRequest {
  /** Path (and query) below the provider's base URL, e.g. `/bulk/v1/leads/export/<id>/file.json`. */
  path: string;
  /** Bytes `start`..`end` (inclusive; open-ended without `end`): a `Range` header. */
  range?: { start: number; end?: number };
  headers?: Record<string, string>;
}

export interface ProviderDownloadOptions extends Omit<ProviderCallOptions, 'maxBodyBytes' | 'timeoutMs'> {
  /** Longest wait for the response headers (default 330 s, Marketo's slowest answer plus a margin). */
  headersTimeoutMs?: number;
  /** Longest silence of the provider while the body is awaited (default 120 s). */
  idleTimeoutMs?: number;
}

/** A file being downloaded: read `body` to the end or `cancel()` it (the traffic permit is held until then). */
export interface ProviderDownload {
  status: number;
  /** Response headers, lower-case names (a decoded `content-encoding` is removed with its length). */
  headers: Record<string, string>;
  body: AsyncIterable<Uint8Array>;
  /** Stops the download and frees its permit; harmless after the end or twice. */
  cancel(): void;
}

const DOWNLOAD_HEADERS_TIMEOUT_MS = 330_000;
const DOWNLOAD_IDLE_TIMEOUT_MS = 120_000;
/** The outbound client's bound on a whole call: a 500 MB file takes minutes, the idle watchdog guards stalls. */
const DOWNLOAD_MAX_CALL_MS = 6 * 3600_000;
/**
 * A JSON answer to a file request is classified when it fits here (Marketo's error envelopes, e.g. 601/602/606
 * with HTTP 200, are a few hundred bytes); anything longer is a file that happens to be labelled JSON.
 */
const ENVELOPE_PEEK_BYTES = 64 * 1024;

/** Aborts the attempt when a deadline passes (headers, then the silence between chunks). */
class Watchdog {
  fired = false;
  private timer: ReturnType<typeof setTimeout> | undefined;
  constructor(private readonly ctl: AbortController) {}
  arm(ms: number): void {
    this.clear();
    this.timer = setTimeout(() => {
      this.fired = true;
      this.ctl.abort(new Error('timeout'));
    }, ms);
  }
  clear(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}

/** The decoded body stream (gzip, deflate, br per Content-Encoding), or the raw one. */
function decodedStream(raw: Readable, encoding: string): Readable {
  const e = encoding.trim().toLowerCase();
  const decoder =
    e === 'gzip' || e === 'x-gzip'
      ? zlib.createGunzip()
      : e === 'deflate'
        ? zlib.createInflate()
        : e === 'br'
          ? zlib.createBrotliDecompress()
          : undefined;
  if (!decoder) return raw;
  raw.on('error', (err) => decoder.destroy(err));
  decoder.on('close', () => raw.destroy());
  return raw.pipe(decoder);
}

/**
 * Reads at most `max` bytes of a body (more only within the last chunk), leaving the rest in the stream:
 * what was read and whether the body ended.
 */
async function peek(it: AsyncIterator<Buffer>, max: number): Promise<{ head: Buffer; complete: boolean }> {
  const chunks: Buffer[] = [];
  let size = 0;
  while (size <= max) {
    const r = await it.next();
    if (r.done) return { head: Buffer.concat(chunks, size), complete: true };
    chunks.push(r.value);
    size += r.value.length;
  }
  return { head: Buffer.concat(chunks, size), complete: false };
}

function headersOf(raw: OutboundResponse['headers'], decoded: boolean): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw)) {
    if (v === undefined) continue;
    out[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : v;
  }
  if (decoded) {
    // The bytes handed out are the decoded ones: the wire's encoding and length no longer describe them.
    delete out['content-encoding'];
    delete out['content-length'];
  }
  return out;
}

/**
 * One streamed GET of a provider file (see the module comment). Resolves at the response headers with any
 * HTTP status the provider's classification does not retry (a 404 "file not available" is the caller's to
 * read); a JSON envelope that asks for a new token (Marketo 601/602 with HTTP 200) renews it and replays
 * once; rate and concurrency limit hits and transient failures are retried as reads; a spent quota or budget
 * throws {@link PausedUntil}. `opts.signal` aborts the wait, the request and the body.
 */
export async function providerDownload(
  deps: ProviderCallDeps,
  connection: ConnectionWithCredentials,
  req: ProviderDownloadRequest,
  opts: ProviderDownloadOptions = {},
): Promise<ProviderDownload> {
  const { provider, profile, traffic, base, instanceKey } = targetOf(deps, connection);
  const priority = opts.priority ?? 'background';
  const signal = opts.signal;
  const url = upstreamUrl(base, req.path);
  const headers: Record<string, string> = { accept: '*/*', ...req.headers };
  if (req.range) headers.range = `bytes=${req.range.start}-${req.range.end ?? ''}`;
  const headersTimeoutMs = opts.headersTimeoutMs ?? DOWNLOAD_HEADERS_TIMEOUT_MS;
  const idleTimeoutMs = opts.idleTimeoutMs ?? DOWNLOAD_IDLE_TIMEOUT_MS;
  const now = () => nowOf(deps.store.ctx).getTime();
  const where = `${provider.display_name} ${req.path.split('?')[0]}`;

  const backedOff = (outcome: CallOutcome, attempt: number): Promise<boolean> =>
    retryAfterBackoff(outcome, { method: 'GET', idempotent: true, attempt }, signal);

  let current = connection;
  let forceRefresh = false;
  let refreshed = false;
  for (let attempt = 0; ; attempt++) {
    if (signal?.aborted) throw new ProviderCallError('aborted', 'The download was aborted.');
    const start = await startAttempt(deps, traffic, current, forceRefresh, {
      instanceKey,
      priority,
      signal,
      opts,
      now,
    });
    current = start.connection;
    forceRefresh = false;
    const { token, permit } = start;

    // One controller per attempt: the caller's signal, the watchdog and cancel() all end the request.
    const ctl = new AbortController();
    const watchdog = new Watchdog(ctl);
    const onAbort = () => ctl.abort(signal?.reason);
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
    let released = false;
    const release = (outcome: CallOutcome) => {
      if (released) return;
      released = true;
      watchdog.clear();
      signal?.removeEventListener('abort', onAbort);
      permit.release(outcome);
    };
    /** Why a request or a body failed, as a code. */
    const failureCode = (err: unknown): string =>
      signal?.aborted
        ? 'aborted'
        : watchdog.fired
          ? 'timeout'
          : isOutboundError(err)
            ? err.code
            : 'network_error';

    opts.onAttempt?.();
    let upstream: OutboundResponse;
    let stream: Readable;
    let chunks: AsyncIterator<Buffer>;
    let head: Buffer | undefined;
    let outcome: CallOutcome;
    try {
      watchdog.arm(headersTimeoutMs);
      upstream = await deps.outbound.request({
        method: 'GET',
        url,
        headers: { ...headers, authorization: `Bearer ${token}` },
        timeoutMs: DOWNLOAD_MAX_CALL_MS,
        signal: ctl.signal,
      });
      watchdog.arm(idleTimeoutMs);
      const encoding = String(upstream.headers['content-encoding'] ?? '');
      stream = decodedStream(upstream.body, encoding);
      // One iterator for the peek and the hand-back: a second one on the same stream would race it.
      chunks = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
      let envelope: unknown;
      const type = String(upstream.headers['content-type'] ?? '');
      if (type.includes('json') && upstream.status !== 206) {
        const peeked = await peek(chunks, ENVELOPE_PEEK_BYTES);
        head = peeked.head;
        if (peeked.complete) {
          try {
            envelope = JSON.parse(head.toString('utf8')) as unknown;
          } catch {
            envelope = undefined;
          }
        }
      }
      outcome = profile.outcome(
        {
          status: upstream.status,
          ...(typeof envelope === 'object' && envelope !== null ? { body: envelope } : {}),
        },
        now(),
      );
    } catch (err) {
      const code = failureCode(err);
      ctl.abort(); // a body that failed while peeked is not read further
      if (
        !isOutboundError(err) &&
        !watchdog.fired &&
        !signal?.aborted &&
        typeof (err as { code?: unknown })?.code !== 'string'
      ) {
        release({ kind: 'fail', code: 'exception' });
        throw err;
      }
      const retryable =
        code === 'timeout' || code === 'network_error' || (isOutboundError(err) && err.retryable);
      const failed: CallOutcome = retryable ? { kind: 'transient', code } : { kind: 'fail', code };
      release(failed);
      if (code === 'aborted') throw new ProviderCallError('aborted', 'The download was aborted.');
      if (await backedOff(failed, attempt)) continue;
      throw new ProviderCallError(`upstream_${code}`, `The download from ${where} failed (${code}).`);
    }

    if (outcome.kind !== 'ok') {
      const done = () => {
        release(outcome);
        stream.destroy();
        upstream.body.destroy();
      };
      if (outcome.kind === 'auth') {
        done();
        if (!refreshed) {
          refreshed = true;
          forceRefresh = true;
          continue;
        }
        throw new ProviderCallError(
          'unauthorized',
          `${provider.display_name} refused the access token even after a refresh (${outcome.code}).`,
          upstream.status,
        );
      }
      if (outcome.kind === 'quota_spent') {
        done();
        throw quotaPause(deps, traffic, instanceKey, outcome);
      }
      const d = retryPolicy(outcome, { method: 'GET', idempotent: true, attempt });
      if (d.retry) {
        done();
        await sleep(d.delayMs, signal);
        continue;
      }
    }
    return streamed(upstream, stream, chunks, head, outcome, {
      release,
      watchdog,
      idleTimeoutMs,
      failureCode,
      where,
    });
  }
}

/** The hand-back: a body that frees the permit when it ends, fails or is cancelled. */
function streamed(
  upstream: OutboundResponse,
  stream: Readable,
  it: AsyncIterator<Buffer>,
  head: Buffer | undefined,
  outcome: CallOutcome,
  h: {
    release: (outcome: CallOutcome) => void;
    watchdog: Watchdog;
    idleTimeoutMs: number;
    failureCode: (err: unknown) => string;
    where: string;
  },
): ProviderDownload {
  let cancelled = false;
  const stop = () => {
    stream.destroy();
    upstream.body.destroy();
  };
  // A body nobody reads still ends: the idle watchdog destroys it, and the permit goes with it.
  stream.once('close', () => {
    h.release(stream.readableEnded ? outcome : { kind: 'transient', code: 'stream_aborted' });
  });
  h.watchdog.arm(h.idleTimeoutMs);
  async function* body(): AsyncGenerator<Uint8Array> {
    try {
      if (head && head.length > 0) {
        h.watchdog.clear(); // the caller's time with a chunk is not the provider's silence
        yield head;
      }
      while (!cancelled) {
        h.watchdog.arm(h.idleTimeoutMs);
        const r = await it.next();
        h.watchdog.clear();
        if (r.done) break;
        yield r.value;
      }
      h.release(outcome);
    } catch (err) {
      if (cancelled) return;
      const code = h.failureCode(err);
      h.release({ kind: 'transient', code: 'stream_aborted' });
      throw new ProviderCallError(
        code === 'aborted' ? 'aborted' : `upstream_${code}`,
        code === 'aborted'
          ? 'The download was aborted.'
          : `The download from ${h.where} broke off (${code}).`,
      );
    } finally {
      // The caller stopped early (break, return, throw in its loop): nothing more will be read.
      if (!stream.readableEnded) stop();
      h.release(outcome);
    }
  }
  return {
    status: upstream.status,
    headers: headersOf(upstream.headers, stream !== upstream.body),
    body: body(),
    cancel: () => {
      if (cancelled) return;
      cancelled = true;
      stop();
      h.release(outcome);
    },
  };
}
