import { describe, expect, it } from 'vitest';
import { ApiClient, ApiRequestError } from './api.ts';

interface Seen {
  url: string;
  method: string;
  headers: Record<string, string>;
  body?: string;
}

function fakeFetch(respond: (req: Seen) => Response | Promise<Response>) {
  const seen: Seen[] = [];
  const f = (async (input: RequestInfo | URL, init?: RequestInit) => {
    const req: Seen = {
      url: String(input),
      method: init?.method ?? 'GET',
      headers: Object.fromEntries(Object.entries((init?.headers ?? {}) as Record<string, string>)),
    };
    if (typeof init?.body === 'string') req.body = init.body;
    seen.push(req);
    return respond(req);
  }) as typeof fetch;
  return { f, seen };
}

const json = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });

describe('ApiClient', () => {
  it('authenticates reads with the session token and asks for localized provider texts', async () => {
    const { f, seen } = fakeFetch((req) =>
      json(200, {
        data: req.url.endsWith('/integrations') ? [{ unique_key: 'm', provider: 'marketo' }, { bad: 1 }] : {},
      }),
    );
    const api = new ApiClient({ apiURL: 'https://t.test', lang: 'fr', getToken: () => 'tok', fetch: f });
    await api.getSession();
    expect(await api.getIntegrations()).toEqual([{ unique_key: 'm', provider: 'marketo' }]);
    await api.getProvider('marketo');
    expect(seen.map((s) => s.url)).toEqual([
      'https://t.test/connect/session',
      'https://t.test/integrations',
      'https://t.test/providers/marketo',
    ]);
    for (const s of seen) expect(s.headers.Authorization).toBe('Bearer tok');
    expect(seen[2]!.headers['Accept-Language']).toBe('fr');
  });

  it('posts the auth request like @nangohq/frontend', async () => {
    const { f, seen } = fakeFetch(() => json(200, { providerConfigKey: 'marketo', connectionId: 'c-1' }));
    const api = new ApiClient({ apiURL: 'https://t.test', lang: 'en', getToken: () => 'tok', fetch: f });
    const r = await api.auth('marketo', [['endpointURL', 'a.mktorest.com']], {
      client_id: 'i',
      client_secret: 's',
    });
    expect(r).toEqual({ providerConfigKey: 'marketo', connectionId: 'c-1' });
    expect(seen[0]).toMatchObject({
      method: 'POST',
      url: 'https://t.test/oauth2/auth/marketo?connect_session_token=tok&params[endpointURL]=a.mktorest.com',
      body: '{"client_id":"i","client_secret":"s"}',
    });
    expect(seen[0]!.headers['Content-Type']).toBe('application/json');
  });

  it('turns failures into ApiRequestError', async () => {
    const bad = fakeFetch(() =>
      json(400, { error: { code: 'invalid_client_secret', message: 'no', step: 'identity' } }),
    );
    const api = new ApiClient({ apiURL: 'https://t.test', lang: 'en', getToken: () => 't', fetch: bad.f });
    const err = await api.auth('marketo', [], {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiRequestError);
    expect((err as ApiRequestError).apiError).toEqual({
      status: 400,
      code: 'invalid_client_secret',
      message: 'no',
      step: 'identity',
    });

    const down = fakeFetch(() => Promise.reject(new TypeError('Failed to fetch')));
    const api2 = new ApiClient({ apiURL: 'https://t.test', lang: 'en', getToken: () => 't', fetch: down.f });
    const err2 = (await api2.getSession().catch((e: unknown) => e)) as ApiRequestError;
    expect(err2.apiError).toMatchObject({ status: 0, code: 'network_error' });

    const slow = fakeFetch(
      (req) =>
        new Promise<Response>((_resolve, reject) => {
          void req;
          setTimeout(() => reject(new Error('aborted')), 50);
        }),
    );
    const api3 = new ApiClient({
      apiURL: 'https://t.test',
      lang: 'en',
      getToken: () => 't',
      fetch: slow.f,
      readTimeoutMs: 1,
    });
    const err3 = (await api3.getSession().catch((e: unknown) => e)) as ApiRequestError;
    expect(err3.apiError.code).toBe('client_timeout');

    const noData = fakeFetch(() => json(200, {}));
    const api4 = new ApiClient({
      apiURL: 'https://t.test',
      lang: 'en',
      getToken: () => 't',
      fetch: noData.f,
    });
    await expect(api4.getSession()).rejects.toBeInstanceOf(ApiRequestError);
  });
});
