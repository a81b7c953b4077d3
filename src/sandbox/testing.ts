import { startSandbox, type RunningSandbox, type StartOptions } from './index.ts';

/**
 * Test helpers that drive a sandbox from outside, over HTTP only, as a Marketo client would.
 * `api()` fetches a token through the identity endpoint the first time and reuses it.
 */
export interface TestSandbox extends RunningSandbox {
  /** Base of this instance: `http://127.0.0.1:PORT/<munchkin>` (rest, bulk and identity live below). */
  base: string;
  token(): Promise<string>;
  /** Call a Marketo path below the instance root (e.g. `/rest/v1/leads.json?...`) with the token. */
  api(path: string, init?: RequestInit & { json?: unknown }): Promise<Response>;
  /** `api()` and parse the JSON body. */
  apiJson<T = MarketoBody>(path: string, init?: RequestInit & { json?: unknown }): Promise<T>;
  /** Call the control API (`/_sandbox` + path) with a JSON body; returns parsed JSON and status. */
  control<T = Record<string, unknown>>(
    method: string,
    path: string,
    body?: unknown,
  ): Promise<{ status: number; body: T }>;
}

export interface MarketoBody {
  requestId: string;
  success: boolean;
  result?: Record<string, unknown>[];
  errors?: { code: string; message: string }[];
  warnings?: unknown[];
  moreResult?: boolean;
  nextPageToken?: string;
  [k: string]: unknown;
}

export async function startTestSandbox(opts: StartOptions = {}): Promise<TestSandbox> {
  const running = await startSandbox({ port: 0, ...opts });
  const base = running.endpoint.replace(/\/rest$/, '');
  let cached: string | undefined;
  const token = async () => {
    if (cached) return cached;
    const url = `${running.identity}/oauth/token?grant_type=client_credentials&client_id=${encodeURIComponent(running.clientId)}&client_secret=${encodeURIComponent(running.clientSecret)}`;
    const res = await fetch(url);
    const body = (await res.json()) as { access_token: string };
    cached = body.access_token;
    return cached;
  };
  const api = async (path: string, init: RequestInit & { json?: unknown } = {}) => {
    const headers = new Headers(init.headers);
    if (!headers.has('authorization')) headers.set('authorization', `Bearer ${await token()}`);
    let body = init.body;
    if (init.json !== undefined) {
      body = JSON.stringify(init.json);
      if (!headers.has('content-type')) headers.set('content-type', 'application/json');
    }
    return fetch(base + path, { ...init, headers, body });
  };
  return {
    ...running,
    base,
    token,
    api,
    apiJson: async <T>(path: string, init?: RequestInit & { json?: unknown }) =>
      (await (await api(path, init)).json()) as T,
    control: async <T>(method: string, path: string, body?: unknown) => {
      const res = await fetch(running.admin + path, {
        method,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: res.status, body: (await res.json()) as T };
    },
  };
}

/**
 * A test's own Marketo tokens: `TestSandbox.api()` keeps its first token, which dies when a test moves
 * the clocks; {@link rest} fetches a new one after 601/602.
 */
const restTokens = new WeakMap<TestSandbox, string>();

/** A Marketo call of the test itself, with a new token after 601/602; throws on `success:false`. */
export async function rest<T extends Record<string, unknown> = Record<string, unknown>>(
  sb: TestSandbox,
  path: string,
  json?: unknown,
): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    let token = restTokens.get(sb);
    if (!token) {
      const q = new URLSearchParams({
        grant_type: 'client_credentials',
        client_id: sb.clientId,
        client_secret: sb.clientSecret,
      });
      const res = await fetch(`${sb.identity}/oauth/token?${q}`);
      token = ((await res.json()) as { access_token: string }).access_token;
      restTokens.set(sb, token);
    }
    const res = await fetch(sb.base + path, {
      method: json === undefined ? 'GET' : 'POST',
      headers: {
        authorization: `Bearer ${token}`,
        ...(json === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(json === undefined ? {} : { body: JSON.stringify(json) }),
    });
    const body = (await res.json()) as T & { success?: boolean; errors?: { code: string }[] };
    const code = body.success === false ? body.errors?.[0]?.code : undefined;
    if ((code === '601' || code === '602') && attempt === 0) {
      restTokens.delete(sb);
      continue;
    }
    if (body.success === false) throw new Error(`${path}: ${JSON.stringify(body.errors)}`);
    return body;
  }
}

/**
 * A new API user whose role has exactly `permissions`, with its API service (control API: role, user,
 * service); `name` names all three (default: a random one). Returns the service's credentials.
 */
export async function serviceWith(
  sb: TestSandbox,
  permissions: string[],
  name = `api-${Math.random().toString(36).slice(2, 8)}`,
): Promise<{ clientId: string; clientSecret: string }> {
  const m = `/instances/${sb.munchkinId}`;
  await sb.control('POST', `${m}/roles`, { name, permissions });
  await sb.control('POST', `${m}/users`, { email: `${name}@x.test`, role: name });
  const svc = await sb.control<{ clientId: string; clientSecret: string }>('POST', `${m}/services`, {
    name,
    user: `${name}@x.test`,
  });
  return svc.body;
}

/** An access token of a new API user whose role has exactly `permissions` ({@link serviceWith}). */
export async function tokenOfNewUser(sb: TestSandbox, permissions: string[], name?: string): Promise<string> {
  const svc = await serviceWith(sb, permissions, name);
  const q = new URLSearchParams({
    grant_type: 'client_credentials',
    client_id: svc.clientId,
    client_secret: svc.clientSecret,
  });
  const res = await fetch(`${sb.identity}/oauth/token?${q}`);
  return ((await res.json()) as { access_token: string }).access_token;
}
