/**
 * The command line's HTTP client for Tether's API (Node's fetch). Every failure becomes a {@link CliError}
 * with a snake_case code and a one-line message: Tether's own `{error: {code, message}}`, or a code for
 * the transport (connection refused, unknown host, timeout, not Tether). The secret key goes only into the
 * Authorization header; verbose lines show method, URL and status.
 */

export class CliError extends Error {
  constructor(
    readonly code: string,
    message: string,
    /** 1 for failures, 2 for usage errors. */
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** A validated base URL without a trailing slash (a path prefix, e.g. behind a reverse proxy, is kept). */
export function parseBaseUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new CliError('invalid_url', `'${raw}' is not a URL (expected e.g. http://localhost:3003)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new CliError(
      'invalid_url',
      `the Tether URL must start with http:// or https:// (got ${url.protocol})`,
    );
  }
  if (url.username !== '' || url.password !== '') {
    throw new CliError('invalid_url', 'the Tether URL must not hold a user name or password');
  }
  if (url.search !== '' || url.hash !== '') {
    throw new CliError('invalid_url', 'the Tether URL must not have a query string or fragment');
  }
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
}

export interface RequestOptions {
  query?: Record<string, string | undefined>;
  headers?: Record<string, string>;
  /** Sent as JSON. */
  json?: unknown;
  /** Sent as is. */
  body?: Uint8Array<ArrayBuffer>;
  timeoutMs?: number;
}

/** The cause of a fetch failure, as Node reports it (`TypeError: fetch failed` with a `cause`). */
function transportError(err: unknown, baseUrl: string, timeoutMs: number): CliError {
  if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')) {
    return new CliError(
      'timeout',
      `Tether at ${baseUrl} did not answer within ${Math.round(timeoutMs / 1000)} s`,
    );
  }
  const cause = err instanceof Error ? (err as Error & { cause?: unknown }).cause : undefined;
  const code =
    typeof cause === 'object' && cause !== null && 'code' in cause && typeof cause.code === 'string'
      ? cause.code
      : undefined;
  const hint = 'Is it running? Set the address with --url or TETHER_URL.';
  switch (code) {
    case 'ECONNREFUSED':
      return new CliError(
        'connection_refused',
        `cannot connect to Tether at ${baseUrl} (connection refused). ${hint}`,
      );
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new CliError('host_not_found', `cannot resolve the host of ${baseUrl}. ${hint}`);
    case 'ECONNRESET':
    case 'UND_ERR_SOCKET':
      return new CliError('connection_reset', `Tether at ${baseUrl} closed the connection`);
    default: {
      const detail =
        code ?? (cause instanceof Error ? cause.message : err instanceof Error ? err.message : '');
      return new CliError(
        'connection_failed',
        `cannot reach Tether at ${baseUrl}${detail ? ` (${detail})` : ''}`,
      );
    }
  }
}

/** Tether's error envelope, or a generic error naming the status. */
export function errorFromBody(status: number, text: string): CliError {
  try {
    const body = JSON.parse(text) as unknown;
    if (typeof body === 'object' && body !== null && 'error' in body) {
      const e = body.error;
      if (typeof e === 'object' && e !== null && 'code' in e && typeof e.code === 'string') {
        const message = 'message' in e && typeof e.message === 'string' ? e.message : `HTTP ${status}`;
        return new CliError(e.code, message);
      }
    }
  } catch {
    // not JSON: below
  }
  const snippet = text.trim().replace(/\s+/g, ' ').slice(0, 200);
  return new CliError(`http_${status}`, `HTTP ${status}${snippet ? `: ${snippet}` : ''}`);
}

export class ApiClient {
  constructor(
    readonly baseUrl: string,
    private readonly secretKey: string | undefined,
    private readonly verbose?: (line: string) => void,
    private readonly defaultTimeoutMs = 60_000,
  ) {}

  /** The raw response (any status); the caller reads or streams the body. */
  async send(method: string, path: string, opts: RequestOptions = {}): Promise<Response> {
    const url = new URL(this.baseUrl + path);
    for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined) url.searchParams.set(k, v);
    const headers = new Headers(opts.headers);
    if (this.secretKey !== undefined) headers.set('authorization', `Bearer ${this.secretKey}`);
    let body: Uint8Array<ArrayBuffer> | string | undefined = opts.body;
    if (opts.json !== undefined) {
      body = JSON.stringify(opts.json);
      if (!headers.has('content-type')) headers.set('content-type', 'application/json');
    }
    const timeoutMs = opts.timeoutMs ?? this.defaultTimeoutMs;
    const started = Date.now();
    this.verbose?.(`> ${method} ${url.href}`);
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        headers,
        body: body ?? null,
        // A redirect is reported, never followed: the key must go only where the operator pointed it.
        redirect: 'manual',
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (err) {
      throw transportError(err, this.baseUrl, timeoutMs);
    }
    this.verbose?.(`< ${res.status} ${res.statusText} (${Date.now() - started} ms)`);
    if (res.status >= 300 && res.status < 400) {
      await res.body?.cancel();
      const to = res.headers.get('location');
      throw new CliError(
        'redirected',
        `${this.baseUrl} answered a redirect${to ? ` to ${to}` : ''}: pass Tether's own address with --url`,
      );
    }
    return res;
  }

  /** The parsed JSON answer of a 2xx; anything else throws a CliError. */
  async json(method: string, path: string, opts: RequestOptions = {}): Promise<unknown> {
    const res = await this.send(method, path, opts);
    let text: string;
    try {
      text = await res.text();
    } catch (err) {
      throw transportError(err, this.baseUrl, opts.timeoutMs ?? this.defaultTimeoutMs);
    }
    if (!res.ok) throw errorFromBody(res.status, text);
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw new CliError(
        'invalid_response',
        `${this.baseUrl} answered ${method} ${path} with something other than JSON: is it a Tether server?`,
      );
    }
  }
}
