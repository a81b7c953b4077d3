/**
 * Outbound safety for every call Tether makes to Marketo (identity, REST, bulk).
 *
 * Policy:
 *  - `https://*.mktorest.com` (port 443) is allowed; every other host only if its `host:port` is in the
 *    allowlist (TETHER_ALLOWED_HOSTS, e.g. the sandbox `127.0.0.1:4010`); allowlisted hosts may use plain HTTP
 *    and skip the address checks below.
 *  - For a non-allowlisted name the address is checked AFTER resolution, inside the socket's `lookup`
 *    (so a DNS answer that changes between a check and the connection cannot slip through): loopback,
 *    private (RFC 1918, CGNAT, ULA), link-local, unspecified, multicast/reserved and cloud metadata
 *    addresses are refused. IP literals and local names (`localhost`, `*.internal`) are refused up front.
 *  - Redirects are never followed: a 3xx is returned as is.
 *  - Every call has a connect timeout (DNS + TCP + TLS) and a total timeout (until the body is read).
 *  - One keep-alive pool per origin (undici: a leaner client than node:http, measurably so on the proxy).
 *
 * Errors are {@link OutboundError} with a distinct `code`; callers map codes to user messages.
 */
import type http from 'node:http';
import dns from 'node:dns';
import net from 'node:net';
import zlib from 'node:zlib';
import { Readable } from 'node:stream';
import { Pool, util as undiciUtil, type Dispatcher } from 'undici';

export type OutboundErrorCode =
  | 'invalid_url'
  | 'host_not_allowed'
  | 'private_address'
  | 'dns_not_found'
  | 'connection_refused'
  | 'timeout'
  | 'tls_error'
  | 'network_error'
  | 'aborted'
  | 'response_too_large';

const RETRYABLE: ReadonlySet<OutboundErrorCode> = new Set(['connection_refused', 'timeout', 'network_error']);

export class OutboundError extends Error {
  readonly code: OutboundErrorCode;
  /** The OS / OpenSSL code behind it (ECONNRESET, CERT_HAS_EXPIRED…), when any. */
  readonly osCode: string | undefined;
  /** `hostname:port` of the target. */
  readonly target: string | undefined;
  /** Worth retrying the same call later (refused, timed out, reset). */
  readonly retryable: boolean;

  constructor(
    code: OutboundErrorCode,
    message: string,
    opts: { osCode?: string; target?: string; cause?: unknown } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'OutboundError';
    this.code = code;
    this.osCode = opts.osCode;
    this.target = opts.target;
    this.retryable = RETRYABLE.has(code);
  }
}

export function isOutboundError(err: unknown): err is OutboundError {
  return err instanceof OutboundError;
}

// ---------------------------------------------------------------------------------------------------
// Addresses

const blocked = new net.BlockList();
// IPv4
blocked.addSubnet('0.0.0.0', 8, 'ipv4'); // "this network", unspecified
blocked.addSubnet('10.0.0.0', 8, 'ipv4'); // RFC 1918
blocked.addSubnet('100.64.0.0', 10, 'ipv4'); // CGNAT (also Alibaba metadata 100.100.100.200)
blocked.addSubnet('127.0.0.0', 8, 'ipv4'); // loopback
blocked.addSubnet('169.254.0.0', 16, 'ipv4'); // link-local, cloud metadata 169.254.169.254
blocked.addSubnet('172.16.0.0', 12, 'ipv4'); // RFC 1918
blocked.addSubnet('192.0.0.0', 24, 'ipv4'); // IETF protocol assignments (incl. Oracle metadata 192.0.0.192)
blocked.addSubnet('192.0.2.0', 24, 'ipv4'); // TEST-NET-1
blocked.addSubnet('192.168.0.0', 16, 'ipv4'); // RFC 1918
blocked.addSubnet('198.18.0.0', 15, 'ipv4'); // benchmarking
blocked.addSubnet('198.51.100.0', 24, 'ipv4'); // TEST-NET-2
blocked.addSubnet('203.0.113.0', 24, 'ipv4'); // TEST-NET-3
blocked.addSubnet('224.0.0.0', 4, 'ipv4'); // multicast
blocked.addSubnet('240.0.0.0', 4, 'ipv4'); // reserved, broadcast
// IPv6
blocked.addAddress('::', 'ipv6'); // unspecified
blocked.addAddress('::1', 'ipv6'); // loopback
blocked.addSubnet('fc00::', 7, 'ipv6'); // ULA (incl. AWS metadata fd00:ec2::254)
blocked.addSubnet('fe80::', 10, 'ipv6'); // link-local
blocked.addSubnet('fec0::', 10, 'ipv6'); // site-local (deprecated)
blocked.addSubnet('ff00::', 8, 'ipv6'); // multicast
blocked.addSubnet('100::', 64, 'ipv6'); // discard
blocked.addSubnet('2001:db8::', 32, 'ipv6'); // documentation

/** IPv4 embedded in an IPv6 address that routes to it (mapped, compatible, NAT64, 6to4), or null. */
function embeddedIpv4(ip6: string): string | null {
  const groups = expandIpv6(ip6);
  if (!groups) return null;
  const v4 = (hi: number, lo: number) => `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  const zero = (from: number, to: number) => groups.slice(from, to).every((g) => g === 0);
  // ::ffff:a.b.c.d (mapped), ::a.b.c.d (compatible), ::ffff:0:a.b.c.d (translated)
  if (zero(0, 5) && (groups[5] === 0xffff || groups[5] === 0)) return v4(groups[6]!, groups[7]!);
  if (zero(0, 4) && groups[4] === 0xffff && groups[5] === 0) return v4(groups[6]!, groups[7]!);
  // 64:ff9b::a.b.c.d and 64:ff9b:1::/48 (NAT64)
  if (groups[0] === 0x64 && groups[1] === 0xff9b) return v4(groups[6]!, groups[7]!);
  // 2002:AABB:CCDD::/16 (6to4)
  if (groups[0] === 0x2002) return v4(groups[1]!, groups[2]!);
  return null;
}

function expandIpv6(ip: string): number[] | null {
  let s = ip.toLowerCase();
  const zone = s.indexOf('%');
  if (zone !== -1) s = s.slice(0, zone);
  // trailing dotted quad
  const m = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (m) {
    if (net.isIPv4(m[2]!) === false) return null;
    const [a, b, c, d] = m[2]!.split('.').map(Number) as [number, number, number, number];
    s = `${m[1]}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const halves = s.split('::');
  if (halves.length > 2) return null;
  const parse = (part: string) => (part === '' ? [] : part.split(':').map((g) => parseInt(g, 16)));
  const head = parse(halves[0]!);
  const tail = halves.length === 2 ? parse(halves[1]!) : [];
  const fill = 8 - head.length - tail.length;
  if (halves.length === 1 ? head.length !== 8 : fill < 0) return null;
  const groups = [...head, ...Array<number>(halves.length === 2 ? fill : 0).fill(0), ...tail];
  return groups.some((g) => Number.isNaN(g) || g < 0 || g > 0xffff) ? null : groups;
}

/**
 * Why an address may not be contacted, or null if it is a public unicast address. Accepts IPv4 and
 * IPv6 (with or without brackets / zone id).
 */
export function blockedAddressReason(address: string): string | null {
  let ip = address.trim();
  if (ip.startsWith('[') && ip.endsWith(']')) ip = ip.slice(1, -1);
  const family = net.isIP(ip.split('%')[0]!);
  if (family === 4) return blocked.check(ip, 'ipv4') ? 'private or reserved IPv4 address' : null;
  if (family === 6) {
    const v4 = embeddedIpv4(ip);
    if (v4 !== null && blocked.check(v4, 'ipv4')) return 'IPv6 address embedding a private IPv4 address';
    return blocked.check(ip.split('%')[0]!, 'ipv6') ? 'private or reserved IPv6 address' : null;
  }
  return 'not an IP address';
}

/** Names that designate local or cloud-internal machines whatever DNS says. */
function isLocalName(hostname: string): boolean {
  const h = hostname.toLowerCase().replace(/\.$/, '');
  return (
    h === 'localhost' ||
    h.endsWith('.localhost') ||
    h === 'localhost.localdomain' ||
    h === 'metadata' ||
    h.endsWith('.internal') ||
    h.endsWith('.local') ||
    h === 'ip6-localhost' ||
    h === 'ip6-loopback'
  );
}

// ---------------------------------------------------------------------------------------------------
// Policy

export interface OutboundPolicyOptions {
  /**
   * `host:port` entries (`127.0.0.1:4010`, `[::1]:4010`, `sandbox.example:443`) that may be contacted over
   * HTTP or HTTPS without address checks. An entry without a port allows the host on any port.
   * A string is split on commas and whitespace (TETHER_ALLOWED_HOSTS format).
   */
  allowedHosts?: Iterable<string> | string;
  /** Domain suffixes allowed over HTTPS on port 443 (default `['.mktorest.com']`). */
  allowedSuffixes?: readonly string[];
}

/** Parse TETHER_ALLOWED_HOSTS (comma or whitespace separated `host:port`). */
export function parseAllowedHosts(value: string | undefined | null): string[] {
  return (value ?? '')
    .split(/[\s,]+/)
    .map((s) => s.trim().toLowerCase())
    .filter((s) => s !== '')
    .map((s) => s.replace(/^[a-z]+:\/\//, '').replace(/\/.*$/, ''));
}

export interface UrlDecision {
  url: URL;
  /** `hostname:port` with the effective port. */
  target: string;
  allowlisted: boolean;
}

export class OutboundPolicy {
  private readonly exact = new Set<string>();
  private readonly anyPort = new Set<string>();
  readonly suffixes: readonly string[];

  constructor(opts: OutboundPolicyOptions = {}) {
    const entries =
      typeof opts.allowedHosts === 'string' ? parseAllowedHosts(opts.allowedHosts) : opts.allowedHosts;
    for (const raw of entries ?? []) {
      const e = raw.trim().toLowerCase();
      if (e === '') continue;
      const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(e);
      if (!m) throw new Error(`invalid allowed host '${raw}' (expected host:port)`);
      if (m[2] === undefined) this.anyPort.add(m[1]!);
      else this.exact.add(`${m[1]}:${Number(m[2])}`);
    }
    this.suffixes = (opts.allowedSuffixes ?? ['.mktorest.com']).map((s) => s.toLowerCase());
  }

  /** Is `hostname:port` in the allowlist? (Same key format as urls.ts `hostPort`.) */
  isAllowlisted(hostPort: string): boolean {
    const key = hostPort.toLowerCase();
    if (this.exact.has(key)) return true;
    const i = key.lastIndexOf(':');
    return i > 0 && this.anyPort.has(key.slice(0, i));
  }

  /** Check a URL before any connection; throws {@link OutboundError}. */
  check(input: string | URL): UrlDecision {
    let url: URL;
    try {
      url = typeof input === 'string' ? new URL(input) : input;
    } catch {
      throw new OutboundError('invalid_url', 'not a valid URL');
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      throw new OutboundError('invalid_url', `unsupported scheme ${url.protocol}`);
    }
    if (url.username !== '' || url.password !== '') {
      throw new OutboundError('invalid_url', 'URLs with credentials are not allowed');
    }
    const hostname = url.hostname.toLowerCase();
    const port = url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port);
    const target = `${hostname}:${port}`;
    if (this.isAllowlisted(target)) return { url, target, allowlisted: true };

    const bare = hostname.startsWith('[') ? hostname.slice(1, -1) : hostname;
    if (net.isIP(bare) !== 0) {
      if (blockedAddressReason(bare) !== null) {
        throw new OutboundError('private_address', `${hostname} is a private or reserved address`, {
          target,
        });
      }
      throw new OutboundError('host_not_allowed', `IP addresses are not allowed (${hostname})`, { target });
    }
    if (isLocalName(hostname)) {
      throw new OutboundError('private_address', `${hostname} designates a local or internal machine`, {
        target,
      });
    }
    const name = hostname.replace(/\.$/, '');
    if (!this.suffixes.some((s) => name.endsWith(s) && name.length > s.length)) {
      throw new OutboundError('host_not_allowed', `${hostname} is not an allowed host`, { target });
    }
    if (url.protocol !== 'https:') {
      throw new OutboundError('host_not_allowed', `plain HTTP to ${hostname} is not allowed`, { target });
    }
    if (port !== 443) {
      throw new OutboundError('host_not_allowed', `port ${port} is not allowed for ${hostname}`, { target });
    }
    return { url, target, allowlisted: false };
  }
}

// ---------------------------------------------------------------------------------------------------
// Guarded DNS lookup

/** Resolve a name to all its addresses (default: the OS resolver, like `dns.lookup(all)`). */
export type Resolver = (hostname: string, family: 0 | 4 | 6) => Promise<dns.LookupAddress[]>;

const systemResolver: Resolver = (hostname, family) => dns.promises.lookup(hostname, { all: true, family });

/**
 * A `lookup` for `net.connect` that refuses the connection if any resolved address is blocked. Runs at
 * connect time, for every new socket.
 */
export function guardedLookup(resolve: Resolver = systemResolver): net.LookupFunction {
  return (hostname, options, callback) => {
    const family = options.family === 4 || options.family === 6 ? options.family : 0;
    resolve(hostname, family).then(
      (addresses) => {
        if (addresses.length === 0) {
          const e = Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
          callback(e, '', 0);
          return;
        }
        const bad = addresses.find((a) => blockedAddressReason(a.address) !== null);
        if (bad) {
          callback(
            new OutboundError('private_address', `${hostname} resolves to a private or reserved address`, {
              target: hostname,
            }),
            '',
            0,
          );
          return;
        }
        if (options.all) callback(null, addresses);
        else callback(null, addresses[0]!.address, addresses[0]!.family);
      },
      (err: NodeJS.ErrnoException) => callback(err, '', 0),
    );
  };
}

// ---------------------------------------------------------------------------------------------------
// Requests

export interface OutboundRequestOptions {
  method?: string;
  url: string;
  headers?: Record<string, string | string[] | undefined>;
  body?: string | Uint8Array | Readable;
  /** Total time for the call, body included (default 30 s). */
  timeoutMs?: number;
  /** Time to get a connected socket: DNS + TCP + TLS (default min(10 s, timeoutMs)). */
  connectTimeoutMs?: number;
  signal?: AbortSignalLike;
}

export interface OutboundResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** The raw body (not decompressed). Consume or destroy it; the total timeout keeps running until it ends. */
  body: Readable;
  /**
   * The whole raw body when every byte already arrived, nothing read it yet and it is at most `max`
   * bytes; it is then consumed (no stream is ever built for it). Undefined otherwise: read `body`.
   */
  takeComplete?(max: number): Buffer | undefined;
}

export interface OutboundClientOptions extends OutboundPolicyOptions {
  /** Resolver used for non-allowlisted names (tests inject one). */
  resolve?: Resolver;
  defaultTimeoutMs?: number;
  defaultConnectTimeoutMs?: number;
  /** Sockets per origin (Marketo allows 10 calls in flight per instance). */
  maxSocketsPerOrigin?: number;
  /** Agents kept (one per origin); the least recently used is closed beyond this. */
  maxOrigins?: number;
}

const TLS_CODE_RE =
  /^(ERR_TLS_|ERR_SSL_|CERT_|UNABLE_TO_|DEPTH_ZERO_|SELF_SIGNED_|HOSTNAME_MISMATCH|ERR_OSSL_)/;

/** Map a Node network error to an {@link OutboundError}. */
export function toOutboundError(err: unknown, target?: string): OutboundError {
  if (err instanceof OutboundError) return err;
  const e = err as NodeJS.ErrnoException & { reason?: string };
  const code = typeof e?.code === 'string' ? e.code : undefined;
  const msg = (m: string) => (target ? `${m} (${target})` : m);
  const opts = { osCode: code, target, cause: err };
  switch (code) {
    case 'ENOTFOUND':
    case 'EAI_NONAME':
    case 'EAI_NODATA':
      return new OutboundError('dns_not_found', msg('host name not found'), opts);
    case 'ECONNREFUSED':
      return new OutboundError('connection_refused', msg('connection refused'), opts);
    case 'ETIMEDOUT':
    case 'ESOCKETTIMEDOUT':
      return new OutboundError('timeout', msg('timed out'), opts);
    case 'EPROTO':
      return new OutboundError('tls_error', msg('TLS handshake failed'), opts);
  }
  if (code && TLS_CODE_RE.test(code)) return new OutboundError('tls_error', msg(`TLS error ${code}`), opts);
  return new OutboundError('network_error', msg(`network error${code ? ` ${code}` : ''}`), opts);
}

// ---------------------------------------------------------------------------------------------------
// Cancellation and coarse deadlines (cheap enough for the proxy's hot path)

/** A listener of {@link AbortSignalLike}: a function or an object with `handleEvent` (no closure needed). */
export type AbortListener = (() => void) | { handleEvent(): void };

/** What calls need of an AbortSignal: an AbortSignal fits, and so does the cheaper {@link Cancellation}. */
export interface AbortSignalLike {
  readonly aborted: boolean;
  readonly reason?: unknown;
  addEventListener(type: 'abort', listener: AbortListener, options?: { once?: boolean }): void;
  removeEventListener(type: 'abort', listener: AbortListener): void;
}

/** Resolves after `ms`, or at once when `signal` aborts (or has aborted). */
export function abortableSleep(ms: number, signal: AbortSignalLike): Promise<void> {
  if (ms <= 0 || signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

/**
 * A one-shot cancellation that is its own signal. An AbortController costs an EventTarget and its
 * bookkeeping: a measurable share of a proxied call, which needs one per call and per attempt.
 * Listeners run once, in the order added; one added after the abort never runs (as with AbortSignal).
 */
export class Cancellation implements AbortSignalLike {
  aborted = false;
  reason: unknown = undefined;
  private listeners: AbortListener[] | undefined;

  addEventListener(_type: 'abort', listener: AbortListener): void {
    if (this.aborted) return;
    (this.listeners ??= []).push(listener);
  }

  removeEventListener(_type: 'abort', listener: AbortListener): void {
    const list = this.listeners;
    if (!list) return;
    const i = list.indexOf(listener);
    if (i !== -1) list.splice(i, 1);
  }

  abort(reason?: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason ?? new Error('aborted');
    const list = this.listeners;
    this.listeners = undefined;
    if (!list) return;
    for (const l of list) {
      try {
        if (typeof l === 'function') l();
        else l.handleEvent();
      } catch {
        // a listener's failure must not stop the others (nor crash the process)
      }
    }
  }
}

/** Something with a deadline on the coarse clock: `expire()` runs once `expiresAt` (epoch ms) passed. */
export interface Expiring {
  expiresAt: number;
  expire(): void;
}

/**
 * Deadlines with a resolution of `resolutionMs` for long timeouts (minutes, hours): one interval
 * sweeps them all, where a timer per call (armed, then cleared on nearly every call) costs more than
 * a proxied call's own work. Unref'd: pending deadlines never keep the process alive.
 */
export class CoarseTimers {
  private readonly items = new Set<Expiring>();
  private interval: NodeJS.Timeout | undefined;

  constructor(private readonly resolutionMs = 1_000) {}

  add(item: Expiring): void {
    this.items.add(item);
    if (!this.interval) {
      this.interval = setInterval(() => this.sweep(), this.resolutionMs);
      this.interval.unref();
    }
  }

  delete(item: Expiring): void {
    this.items.delete(item);
  }

  get size(): number {
    return this.items.size;
  }

  private sweep(): void {
    if (this.items.size === 0) {
      // Stopped lazily: under load the set empties and fills again between sweeps.
      clearInterval(this.interval);
      this.interval = undefined;
      return;
    }
    const now = Date.now();
    for (const item of this.items) {
      if (item.expiresAt > now) continue;
      this.items.delete(item);
      try {
        item.expire();
      } catch {
        // one deadline's failure must not stop the sweep
      }
    }
  }
}

/** The process-wide coarse clock (1 s). */
export const coarseTimers = new CoarseTimers();

/** Timeouts at least this long go on the coarse clock (a second more or less does not matter there). */
const COARSE_FROM_MS = 60_000;

// ---------------------------------------------------------------------------------------------------
// The client

/** What a checked origin resolves to (cached: the policy's answer depends on the origin only). */
interface Origin {
  target: string;
  allowlisted: boolean;
  protocol: 'http:' | 'https:';
  /** Without IPv6 brackets (what `net.connect` wants). */
  hostname: string;
  port: number;
  /** `url.host`: the Host header. */
  host: string;
  agentKey: string;
}

/**
 * `scheme://authority` then a path and query that `new URL()` would leave as they are: no dot segment,
 * no character it percent-encodes or strips, no credentials, no fragment. Anything else takes the slow
 * path through `new URL()`, so both paths send the same request line.
 */
const SIMPLE_URL = /^(https?:\/\/[^/?#\\@\s]+)(\/[\w\-.~!$&()*+,;=:@/%?]*)$/;
const DOT_SEGMENT = /\/\.|%2e/i;

function originOf(url: URL, target: string, allowlisted: boolean): Origin {
  const hostname = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  const protocol = url.protocol === 'https:' ? 'https:' : 'http:';
  return {
    target,
    allowlisted,
    protocol,
    hostname,
    port: url.port === '' ? (protocol === 'https:' ? 443 : 80) : Number(url.port),
    host: url.host,
    agentKey: `${url.protocol}//${url.host}`,
  };
}

/** Connect timeouts at least this long go on the coarse clock too (10 s or 11 s makes no difference). */
const COARSE_CONNECT_FROM_MS = 5_000;

/**
 * Response headers that Node's own client keeps once (a duplicate is dropped): the same object
 * shape as `IncomingMessage.headers`, so callers see no difference.
 */
const SINGLE_HEADERS = new Set([
  'content-type',
  'content-length',
  'user-agent',
  'referer',
  'host',
  'authorization',
  'proxy-authorization',
  'if-modified-since',
  'if-unmodified-since',
  'from',
  'location',
  'max-forwards',
  'retry-after',
  'etag',
  'last-modified',
  'server',
  'age',
  'expires',
]);

/** Raw header pairs (as undici gives them) to `IncomingHttpHeaders`, merged the way Node merges them. */
function headersOf(raw: Buffer[]): http.IncomingHttpHeaders {
  const out: Record<string, string | string[]> = {};
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = undiciUtil.headerNameToString(raw[i]!);
    const value = raw[i + 1]!.toString('latin1');
    const seen = out[name];
    if (seen === undefined) out[name] = name === 'set-cookie' ? [value] : value;
    else if (Array.isArray(seen)) seen.push(value);
    else if (!SINGLE_HEADERS.has(name)) out[name] = `${seen}${name === 'cookie' ? '; ' : ', '}${value}`;
  }
  return out as http.IncomingHttpHeaders;
}

/**
 * A response body. `complete` (every byte arrived, as on `IncomingMessage`) and `bytesRead` (bytes
 * received so far; it stops moving under backpressure, since the socket stops reading) let callers
 * take a small body at once and watch a long one without a listener per chunk.
 */
export class UpstreamBody extends Readable {
  complete = false;
  bytesRead = 0;

  constructor(private readonly call: Pending) {
    super();
  }

  override _read(): void {
    this.call.resumeUpstream();
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    this.call.bodyGone(err);
    callback(err);
  }
}

/**
 * One call between `request()` and the end of its response, and undici's handler for it: deadlines,
 * abort and settling without closures.
 */
class Pending implements Expiring {
  settled = false;
  private finished = false;
  private connected = false;
  private body: UpstreamBody | undefined;
  /**
   * The body before anyone asked for a stream: chunks that came with or right after the headers
   * (a small JSON answer arrives whole in one socket read, so it never needs a Readable, nor the
   * ticks a Readable schedules). Past {@link EAGER_BODY_BYTES} a stream takes over.
   */
  private early: Buffer[] | undefined;
  private earlySize = 0;
  /** Every byte of the body arrived (onComplete) while no stream existed. */
  private earlyComplete = false;
  /** The body failed while no stream existed: the stream, once asked for, fails with it. */
  private earlyError: Error | undefined;
  /** The caller took the whole body (takeComplete): a stream asked for later is empty. */
  private taken = false;
  private abortUpstream: ((err: Error) => void) | undefined;
  private resumeFn: (() => void) | undefined;
  private paused = false;
  /** Why the call was cut before undici handed us its abort function. */
  private cutBefore: Error | undefined;
  private timer: NodeJS.Timeout | undefined;
  private connectTimer: NodeJS.Timeout | undefined;
  expiresAt = 0;
  private readonly coarse: boolean;
  private readonly deadline: number;
  private readonly connectDeadline: number;

  constructor(
    readonly target: string,
    readonly timeoutMs: number,
    readonly connectTimeoutMs: number,
    readonly signal: AbortSignalLike | undefined,
    readonly resolve: (r: OutboundResponse) => void,
    readonly reject: (e: unknown) => void,
  ) {
    const now = Date.now();
    this.deadline = now + timeoutMs;
    this.connectDeadline = now + connectTimeoutMs;
    // The proxy's calls (hours of total timeout, seconds to connect) cost one Set entry, no timer.
    this.coarse = timeoutMs >= COARSE_FROM_MS && connectTimeoutMs >= COARSE_CONNECT_FROM_MS;
    if (this.coarse) {
      this.expiresAt = Math.min(this.deadline, this.connectDeadline);
      coarseTimers.add(this);
    } else {
      this.timer = setTimeout(onTotalTimeout, timeoutMs, this);
      // The connect deadline covers DNS, TCP, TLS and (unlike Node's agent) a wait for a pooled socket.
      if (connectTimeoutMs < timeoutMs)
        this.connectTimer = setTimeout(onConnectTimeout, connectTimeoutMs, this);
    }
    signal?.addEventListener('abort', this, { once: true });
  }

  fail(err: OutboundError): void {
    this.cleanup();
    if (!this.settled) {
      this.settled = true;
      this.cut(err);
      this.reject(err);
    } else if (this.body) {
      if (!this.body.destroyed) this.body.destroy(err); // aborts the upstream call through _destroy
    } else if (!this.earlyComplete && !this.taken && this.earlyError === undefined) {
      this.earlyError = err;
      this.early = undefined;
      this.cut(err);
    }
  }

  private cut(err: Error): void {
    if (this.abortUpstream) this.abortUpstream(err);
    else this.cutBefore ??= err;
  }

  cleanup(): void {
    if (this.finished) return;
    this.finished = true;
    if (this.coarse) coarseTimers.delete(this);
    else {
      clearTimeout(this.timer);
      if (this.connectTimer) clearTimeout(this.connectTimer);
    }
    this.signal?.removeEventListener('abort', this);
  }

  /** The signal aborted. */
  handleEvent(): void {
    this.fail(new OutboundError('aborted', 'the call was aborted', { target: this.target }));
  }

  /** A coarse deadline passed: the connect one (not connected yet) or the total one. */
  expire(): void {
    if (!this.connected && Date.now() >= this.connectDeadline) return this.connectTimedOut();
    if (Date.now() >= this.deadline) return this.totalTimedOut();
    this.expiresAt = this.deadline;
    coarseTimers.add(this);
  }

  totalTimedOut(): void {
    this.fail(
      new OutboundError('timeout', `no complete answer within ${this.timeoutMs} ms`, { target: this.target }),
    );
  }

  connectTimedOut(): void {
    this.fail(
      new OutboundError('timeout', `could not connect within ${this.connectTimeoutMs} ms`, {
        target: this.target,
      }),
    );
  }

  /** The body wants more: undici reads the socket again if it had stopped for backpressure. */
  resumeUpstream(): void {
    if (!this.paused) return;
    this.paused = false;
    this.resumeFn?.();
  }

  bodyGone(err: Error | null): void {
    this.cleanup();
    if (this.body && !this.body.complete && err !== this.earlyError)
      this.cut(err ?? new Error('the response body was destroyed'));
  }

  // -- undici's handler ----------------------------------------------------------------------------

  onConnect(abort: (err?: Error) => void): void {
    this.connected = true;
    if (this.cutBefore) return abort(this.cutBefore);
    this.abortUpstream = abort;
    if (this.coarse) this.expiresAt = this.deadline;
    else if (this.connectTimer) {
      clearTimeout(this.connectTimer);
      this.connectTimer = undefined;
    }
  }

  /** The body as a stream, built on first use from what arrived so far. */
  stream(): UpstreamBody {
    if (this.body) return this.body;
    const body = new UpstreamBody(this);
    // An unconsumed body that errors (e.g. the total timeout) must not crash the process.
    body.on('error', noop);
    this.body = body;
    body.bytesRead = this.earlySize;
    const early = this.early;
    this.early = undefined;
    if (this.earlyError !== undefined) {
      body.destroy(this.earlyError);
      return body;
    }
    let open = true;
    if (early && !this.taken) for (const chunk of early) open = body.push(chunk);
    if (this.earlyComplete || this.taken) {
      body.complete = true;
      body.push(null);
    } else if (!open) this.paused = true;
    return body;
  }

  /** See {@link OutboundResponse.takeComplete}. */
  takeComplete(max: number): Buffer | undefined {
    if (this.body || !this.earlyComplete || this.taken || this.earlySize > max) return undefined;
    this.taken = true;
    const early = this.early;
    this.early = undefined;
    if (!early) return Buffer.alloc(0);
    return early.length === 1 ? early[0]! : Buffer.concat(early, this.earlySize);
  }

  onHeaders(status: number, rawHeaders: Buffer[], resume: () => void): boolean {
    if (this.settled) return false;
    this.settled = true;
    this.resumeFn = resume;
    this.resolve(new UpstreamResponse(status, headersOf(rawHeaders), this));
    return true;
  }

  onData(chunk: Buffer): boolean {
    const body = this.body;
    if (!body) {
      (this.early ??= []).push(chunk);
      this.earlySize += chunk.length;
      if (this.earlySize <= EAGER_BODY_BYTES) return true;
      // Nobody asked yet and it keeps coming: a stream takes over (and its backpressure with it).
      this.stream();
      return !this.paused;
    }
    body.bytesRead += chunk.length;
    if (body.push(chunk)) return true;
    this.paused = true;
    return false;
  }

  onComplete(): void {
    this.cleanup();
    const body = this.body;
    if (!body) {
      this.earlyComplete = true;
      return;
    }
    body.complete = true;
    body.push(null);
  }

  onError(err: Error): void {
    if (this.finished) return; // ended, cut or abandoned: already settled
    this.fail(toOutboundError(err, this.target));
  }
}

/** Bytes held for a body nobody asked for yet before a stream (with backpressure) takes over. */
const EAGER_BODY_BYTES = 64 * 1024;

/** What `request()` resolves to: the body stream is built only if someone asks for it. */
class UpstreamResponse implements OutboundResponse {
  constructor(
    readonly status: number,
    readonly headers: http.IncomingHttpHeaders,
    private readonly pending: Pending,
  ) {}

  get body(): Readable {
    return this.pending.stream();
  }

  takeComplete(max: number): Buffer | undefined {
    return this.pending.takeComplete(max);
  }
}

function noop(): void {}

function onTotalTimeout(p: Pending): void {
  p.totalTimedOut();
}

function onConnectTimeout(p: Pending): void {
  p.connectTimedOut();
}

/** Request headers undici refuses or sets itself (framing is the client's business). */
const DROPPED_HEADERS = new Set([
  'host',
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
]);

export class OutboundClient {
  readonly policy: OutboundPolicy;
  /** One undici pool per origin (keep-alive, `maxSockets` connections), least recently used first. */
  private readonly pools = new Map<string, Pool>();
  /** Checked origins of simple URLs (see {@link SIMPLE_URL}); refusals are not cached. */
  private readonly origins = new Map<string, Origin>();
  private readonly lookup: net.LookupFunction;
  private readonly defaultTimeoutMs: number;
  private readonly defaultConnectTimeoutMs: number;
  private readonly maxSockets: number;
  private readonly maxOrigins: number;

  constructor(opts: OutboundClientOptions = {}) {
    this.policy = new OutboundPolicy(opts);
    this.lookup = guardedLookup(opts.resolve);
    this.defaultTimeoutMs = opts.defaultTimeoutMs ?? 30_000;
    this.defaultConnectTimeoutMs = opts.defaultConnectTimeoutMs ?? 10_000;
    this.maxSockets = opts.maxSocketsPerOrigin ?? 10;
    this.maxOrigins = opts.maxOrigins ?? 1_000;
  }

  private poolFor(origin: Origin): Pool {
    const key = origin.agentKey;
    const found = this.pools.get(key);
    if (found) {
      if (this.pools.size > 1) {
        this.pools.delete(key);
        this.pools.set(key, found);
      }
      return found;
    }
    const connect: Record<string, unknown> = { timeout: this.defaultConnectTimeoutMs };
    // Allowlisted hosts skip the address checks; everything else resolves through the guard.
    if (!origin.allowlisted) connect.lookup = this.lookup;
    const pool = new Pool(key, {
      connections: this.maxSockets,
      pipelining: 1,
      // Our own deadlines apply (total, and the proxy's idle watch): undici's are off.
      headersTimeout: 0,
      bodyTimeout: 0,
      // Idle sockets: the server's Keep-Alive hint when it gives one, else 30 s; never over 60 s.
      keepAliveTimeout: 30_000,
      keepAliveMaxTimeout: 60_000,
      connect,
    });
    // Connection failures reach the call they concern; the pool's event needs no listener of its own.
    pool.on('connectionError', noop);
    this.pools.set(key, pool);
    if (this.pools.size > this.maxOrigins) {
      const [oldKey, old] = this.pools.entries().next().value as [string, Pool];
      this.pools.delete(oldKey);
      old.destroy().catch(noop);
    }
    return pool;
  }

  /** The policy's decision and the request path for a URL; throws {@link OutboundError}. */
  private resolve(url: string): { origin: Origin; path: string } {
    const m = SIMPLE_URL.exec(url);
    if (m && !DOT_SEGMENT.test(m[2]!) && !m[2]!.endsWith('?')) {
      let origin = this.origins.get(m[1]!);
      if (!origin) {
        const d = this.policy.check(m[1]!);
        origin = originOf(d.url, d.target, d.allowlisted);
        if (this.origins.size >= this.maxOrigins) this.origins.clear();
        this.origins.set(m[1]!, origin);
      }
      return { origin, path: m[2]! };
    }
    const d = this.policy.check(url);
    return { origin: originOf(d.url, d.target, d.allowlisted), path: `${d.url.pathname}${d.url.search}` };
  }

  /** Make one call. Resolves once the response headers arrive (any status, 3xx included). */
  request(opts: OutboundRequestOptions): Promise<OutboundResponse> {
    let origin: Origin;
    let path: string;
    try {
      ({ origin, path } = this.resolve(opts.url));
    } catch (err) {
      return Promise.reject(toOutboundError(err));
    }
    const target = origin.target;
    const timeoutMs = opts.timeoutMs ?? this.defaultTimeoutMs;
    const connectTimeoutMs = Math.min(opts.connectTimeoutMs ?? this.defaultConnectTimeoutMs, timeoutMs);
    // Flat header list (name, value, …); undici writes the Host header and the body's length itself.
    const headers: (string | string[])[] = [];
    const given = opts.headers;
    if (given) {
      for (const k in given) {
        const v = given[k];
        if (v === undefined) continue;
        if (DROPPED_HEADERS.has(k) || DROPPED_HEADERS.has(k.toLowerCase())) continue;
        headers.push(k, v);
      }
    }
    const signal = opts.signal;

    return new Promise<OutboundResponse>((resolve, reject) => {
      if (signal?.aborted) {
        reject(new OutboundError('aborted', 'the call was aborted', { target }));
        return;
      }
      const p = new Pending(target, timeoutMs, connectTimeoutMs, signal, resolve, reject);
      const body = opts.body;
      try {
        this.poolFor(origin).dispatch(
          {
            origin: origin.agentKey,
            path,
            method: (opts.method ?? 'GET').toUpperCase() as Dispatcher.HttpMethod,
            headers: headers as string[],
            body: body === undefined ? null : body,
          },
          p as unknown as Dispatcher.DispatchHandler,
        );
      } catch (err) {
        // e.g. a header value undici refuses: the caller's mistake, rejected as is
        p.cleanup();
        if (!p.settled) {
          p.settled = true;
          reject(err);
        }
      }
    });
  }

  /** Close every pooled connection. */
  close(): void {
    for (const pool of this.pools.values()) pool.destroy().catch(noop);
    this.pools.clear();
    this.origins.clear();
  }
}

// ---------------------------------------------------------------------------------------------------
// Bodies and JSON

/**
 * Read a whole response body (decompressing gzip/deflate/br per Content-Encoding), at most `maxBytes`
 * after decompression. Throws `response_too_large` beyond it.
 */
export async function readResponseBody(
  res: Pick<OutboundResponse, 'headers' | 'body'>,
  maxBytes = 16 * 1024 * 1024,
): Promise<Buffer> {
  const encoding = String(res.headers['content-encoding'] ?? '')
    .trim()
    .toLowerCase();
  let stream: Readable = res.body;
  if (encoding === 'gzip' || encoding === 'x-gzip') stream = res.body.pipe(zlib.createGunzip());
  else if (encoding === 'deflate') stream = res.body.pipe(zlib.createInflate());
  else if (encoding === 'br') stream = res.body.pipe(zlib.createBrotliDecompress());
  if (stream !== res.body) res.body.on('error', (err) => stream.destroy(err));
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of stream) {
      const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
      size += buf.length;
      if (size > maxBytes) {
        res.body.destroy();
        throw new OutboundError('response_too_large', `response body larger than ${maxBytes} bytes`);
      }
      chunks.push(buf);
    }
  } catch (err) {
    if (err instanceof OutboundError) throw err;
    const e = err as { code?: string };
    if (e?.code?.startsWith('Z_') || e?.code?.startsWith('ERR_BROTLI')) {
      throw new OutboundError('network_error', 'could not decompress the response body', { cause: err });
    }
    throw toOutboundError(err);
  }
  return Buffer.concat(chunks);
}

export interface OutboundJsonOptions extends Omit<OutboundRequestOptions, 'body'> {
  /** Sent as `application/json`. */
  json?: unknown;
  body?: string | Uint8Array;
  maxBytes?: number;
}

export interface OutboundJsonResponse<T = unknown> {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** Parsed body, or undefined when it is not JSON (see `text`). */
  json: T | undefined;
  text: string;
}

/** A call whose answer is read whole and parsed as JSON if it is JSON (any status). */
export async function requestJson<T = unknown>(
  request: (opts: OutboundRequestOptions) => Promise<OutboundResponse>,
  opts: OutboundJsonOptions,
): Promise<OutboundJsonResponse<T>> {
  const headers: Record<string, string | string[] | undefined> = {
    accept: 'application/json',
    'accept-encoding': 'gzip',
    ...opts.headers,
  };
  let body = opts.body;
  if (opts.json !== undefined) {
    body = JSON.stringify(opts.json);
    if (!Object.keys(headers).some((k) => k.toLowerCase() === 'content-type')) {
      headers['content-type'] = 'application/json';
    }
  }
  const res = await request({ ...opts, headers, body });
  const buf = await readResponseBody(res, opts.maxBytes);
  const text = buf.toString('utf8');
  let json: T | undefined;
  try {
    json = text.trim() === '' ? undefined : (JSON.parse(text) as T);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, json, text };
}

// ---------------------------------------------------------------------------------------------------
// Process-wide default client

let defaultClient: OutboundClient | undefined;

/** (Re)configure the process-wide client, e.g. from config at startup. Closes the previous one. */
export function configureOutbound(opts: OutboundClientOptions): OutboundClient {
  defaultClient?.close();
  defaultClient = new OutboundClient(opts);
  return defaultClient;
}

/** The process-wide client; defaults to TETHER_ALLOWED_HOSTS from the environment. */
export function getOutboundClient(): OutboundClient {
  defaultClient ??= new OutboundClient({ allowedHosts: process.env.TETHER_ALLOWED_HOSTS ?? '' });
  return defaultClient;
}

/** One outbound call through the process-wide client. */
export function outboundRequest(opts: OutboundRequestOptions): Promise<OutboundResponse> {
  return getOutboundClient().request(opts);
}

/** One outbound JSON call through the process-wide client. */
export function outboundJson<T = unknown>(opts: OutboundJsonOptions): Promise<OutboundJsonResponse<T>> {
  return requestJson<T>(outboundRequest, opts);
}
