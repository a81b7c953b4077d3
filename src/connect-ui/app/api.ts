/**
 * The four API calls of the Connect UI, authenticated with the connect session token. No DOM: `fetch`
 * is injected so node tests can run it too.
 */
import { parseApiError, type ApiError } from './errors.ts';
import { buildAuthUrl } from './protocol.ts';
import type { ConnectSession, Integration, Provider } from './types.ts';

export class ApiRequestError extends Error {
  constructor(readonly apiError: ApiError) {
    super(apiError.message ?? apiError.code);
    this.name = 'ApiRequestError';
  }
}

export interface ApiClientOptions {
  apiURL: string;
  getToken: () => string;
  /** Sent as Accept-Language (provider texts come localized). */
  lang: string;
  fetch?: typeof fetch;
  /** Timeouts (ms): reads, and the auth request (which fetches a token and tests access). */
  readTimeoutMs?: number;
  authTimeoutMs?: number;
}

export interface AuthSuccess {
  providerConfigKey: string;
  connectionId: string;
  isPending?: boolean;
}

async function readJson(res: Response): Promise<unknown> {
  const text = await res.text();
  if (text === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

export class ApiClient {
  private readonly f: typeof fetch;

  constructor(private readonly opts: ApiClientOptions) {
    this.f = opts.fetch ?? ((input, init) => fetch(input, init));
  }

  private async call(
    method: 'GET' | 'POST',
    url: string,
    timeoutMs: number,
    headers: Record<string, string> = {},
    body?: string,
  ): Promise<unknown> {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), timeoutMs);
    let res: Response;
    try {
      const init: RequestInit = {
        method,
        headers: { Accept: 'application/json', ...headers },
        signal: controller.signal,
      };
      if (body !== undefined) init.body = body;
      res = await this.f(url, init);
    } catch (err) {
      const timedOut = controller.signal.aborted;
      throw new ApiRequestError({
        status: 0,
        code: timedOut ? 'client_timeout' : 'network_error',
        detail: err instanceof Error ? err.message : String(err),
      });
    } finally {
      clearTimeout(timer);
    }
    const json = await readJson(res);
    if (!res.ok) throw new ApiRequestError(parseApiError(res.status, json));
    if (json === undefined) {
      throw new ApiRequestError({
        status: res.status,
        code: 'unknown_error',
        message: 'The server sent no JSON.',
      });
    }
    return json;
  }

  private authHeaders(): Record<string, string> {
    return { Authorization: `Bearer ${this.opts.getToken()}` };
  }

  private async getData<T>(path: string, headers: Record<string, string> = {}): Promise<T> {
    const json = await this.call('GET', this.opts.apiURL + path, this.opts.readTimeoutMs ?? 30_000, {
      ...this.authHeaders(),
      ...headers,
    });
    const data = (json as { data?: unknown }).data;
    if (data === undefined || data === null) {
      throw new ApiRequestError({ status: 200, code: 'unknown_error', message: `No data in ${path}.` });
    }
    return data as T;
  }

  getSession(): Promise<ConnectSession> {
    return this.getData<ConnectSession>('/connect/session');
  }

  async getIntegrations(): Promise<Integration[]> {
    const data = await this.getData<unknown>('/integrations');
    return Array.isArray(data)
      ? data.filter(
          (i): i is Integration =>
            typeof i === 'object' &&
            i !== null &&
            typeof (i as Integration).unique_key === 'string' &&
            typeof (i as Integration).provider === 'string',
        )
      : [];
  }

  getProvider(provider: string): Promise<Provider> {
    return this.getData<Provider>(`/providers/${encodeURIComponent(provider)}`, {
      'Accept-Language': this.opts.lang,
    });
  }

  /** The auth request, exactly as @nangohq/frontend sends it for OAUTH2_CC. */
  async auth(
    providerConfigKey: string,
    params: readonly (readonly [string, string])[],
    credentials: Record<string, string>,
  ): Promise<AuthSuccess> {
    const url = buildAuthUrl(this.opts.apiURL, providerConfigKey, this.opts.getToken(), params);
    const json = (await this.call(
      'POST',
      url,
      this.opts.authTimeoutMs ?? 120_000,
      { 'Content-Type': 'application/json' },
      JSON.stringify(credentials),
    )) as Partial<AuthSuccess>;
    if (typeof json.connectionId !== 'string') {
      throw new ApiRequestError({
        status: 200,
        code: 'unknown_error',
        message: 'The server sent no connection id.',
      });
    }
    const out: AuthSuccess = {
      providerConfigKey:
        typeof json.providerConfigKey === 'string' ? json.providerConfigKey : providerConfigKey,
      connectionId: json.connectionId,
    };
    if (json.isPending === true) out.isPending = true;
    return out;
  }
}
