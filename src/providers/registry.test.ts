import { describe, expect, it } from 'vitest';
import {
  buildTokenRequest,
  createProviderRegistry,
  defineProvider,
  getProvider,
  interpolateUrl,
  localize,
  normalizeConnectionConfig,
  parseTokenResponse,
  preferredLanguages,
  providers,
  proxyBaseUrl,
  toNangoProvider,
  validateProviderDefinition,
  ProviderError,
} from './registry.ts';
import { marketoProvider } from './marketo.ts';

/** A generic OAUTH2_CC provider written as plain JSON data: no code change needed to support it. */
const exampleProvider = JSON.parse(
  JSON.stringify({
    name: 'example',
    display_name: 'Example API',
    auth_mode: 'OAUTH2_CC',
    categories: ['dev-tools'],
    docs: 'https://docs.example.com/tether',
    token_request: {
      url: 'https://${connectionConfig.subdomain}.example.com/oauth/token',
      method: 'POST',
      credentials_in: 'basic',
      params: { grant_type: 'client_credentials', audience: 'api://${connectionConfig.subdomain}' },
      token_field: 'token',
      expires_in_field: 'ttl',
    },
    proxy: {
      base_url: 'https://${connectionConfig.subdomain}.example.com/api',
      headers: { 'x-api-version': '2' },
    },
    connection_config: {
      subdomain: {
        type: 'string',
        title: { en: 'Subdomain', fr: 'Sous-domaine', de: 'Subdomäne' },
        description: { en: 'The part before .example.com', fr: 'La partie avant .example.com' },
        format: 'hostname',
        pattern: '^[a-z0-9-]+$',
        example: 'acme',
        suffix: '.example.com',
        order: 1,
        normalize: 'hostname',
      },
      region: {
        type: 'string',
        title: { en: 'Region' },
        description: { en: 'Data region' },
        order: 2,
        optional: true,
        default_value: 'eu',
      },
    },
    credentials: {
      client_id: { type: 'string', title: { en: 'Key' }, description: { en: 'API key id' } },
      client_secret: {
        type: 'string',
        title: { en: 'Secret' },
        description: { en: 'API key secret' },
        secret: true,
      },
    },
    connection_test: { method: 'GET', path: '/me' },
  }),
) as unknown;

describe('the shipped Marketo definition', () => {
  it('is valid and registered', () => {
    expect(validateProviderDefinition(marketoProvider)).toEqual([]);
    expect(getProvider('marketo')).toEqual(marketoProvider);
    expect(providers.list().map((p) => p.name)).toEqual(['marketo']);
    expect(getProvider('example')).toBeUndefined();
  });

  it("is served in Nango's providers.yaml shape, in English by default", () => {
    const p = toNangoProvider(marketoProvider, { publicUrl: 'https://tether.example.com/' });
    expect(p).toMatchObject({
      name: 'marketo',
      display_name: 'Marketo',
      auth_mode: 'OAUTH2_CC',
      categories: ['marketing'],
      token_url: 'https://${connectionConfig.identityURL}/identity/oauth/token',
      token_params: { grant_type: 'client_credentials' },
      body_format: 'query',
      proxy: { base_url: 'https://${connectionConfig.endpointURL}' },
      logo_url: 'https://tether.example.com/images/template-logos/marketo.svg',
      connection_config: {
        endpointURL: {
          type: 'string',
          title: 'Domain',
          format: 'hostname',
          example: 'xxx.mktorest.com',
          prefix: 'https://',
          suffix: '/',
          order: 1,
          doc_section: '#step-3-find-your-domain-and-identity-url',
        },
        identityURL: {
          title: 'Identity URL',
          suffix: '/identity/oauth/token',
          order: 2,
          doc_section: '#step-3-find-your-domain-and-identity-url',
        },
      },
      credentials: {
        client_id: { title: 'Client ID', doc_section: '#step-1-finding-marketo-client-id' },
        client_secret: {
          title: 'Client Secret',
          doc_section: '#step-2-get-your-client-secret',
          secret: true,
        },
      },
    });
    expect(p.credentials.client_id!.description).toContain('LaunchPoint');
    expect(p.credentials.client_id!.description).toContain('View Details');
    // Tether-internal keys do not leak into the Nango view.
    expect(JSON.stringify(p)).not.toContain('normalize');
    expect(p).not.toHaveProperty('token_request');
  });

  it('is served in French for Accept-Language: fr', () => {
    const p = toNangoProvider(marketoProvider, { languages: 'fr-FR,fr;q=0.9,en;q=0.8' });
    expect(p.connection_config.endpointURL!.title).toBe('Domaine');
    expect(p.credentials.client_id!.title).toBe('ID client');
    expect(p.credentials.client_secret!.description).toContain('Afficher les détails');
  });

  it('builds the Marketo token request: GET with query parameters', () => {
    const r = buildTokenRequest(
      marketoProvider,
      { endpointURL: '123-abc-456.mktorest.com', identityURL: '123-abc-456.mktorest.com' },
      { client_id: 'id 1', client_secret: 's&cret' },
    );
    expect(r.method).toBe('GET');
    expect(r.body).toBeUndefined();
    const u = new URL(r.url);
    expect(u.origin + u.pathname).toBe('https://123-abc-456.mktorest.com/identity/oauth/token');
    expect([...u.searchParams]).toEqual([
      ['grant_type', 'client_credentials'],
      ['client_id', 'id 1'],
      ['client_secret', 's&cret'],
    ]);
  });

  it('takes a sandbox base with its own scheme', () => {
    const config = {
      endpointURL: 'http://127.0.0.1:4010/123-ABC-456',
      identityURL: 'http://127.0.0.1:4010/123-ABC-456',
    };
    expect(proxyBaseUrl(marketoProvider, config)).toBe('http://127.0.0.1:4010/123-ABC-456');
    const r = buildTokenRequest(marketoProvider, config, { client_id: 'a', client_secret: 'b' });
    expect(r.url).toBe(
      'http://127.0.0.1:4010/123-ABC-456/identity/oauth/token?grant_type=client_credentials&client_id=a&client_secret=b',
    );
  });

  it('normalizes what the Connect UI sends', () => {
    expect(
      normalizeConnectionConfig(marketoProvider, {
        endpointURL: ' https://123-ABC-456.mktorest.com/rest ',
        identityURL: 'https://123-ABC-456.mktorest.com/identity',
      }),
    ).toEqual({
      ok: true,
      config: { endpointURL: '123-abc-456.mktorest.com', identityURL: '123-abc-456.mktorest.com' },
    });
    expect(
      normalizeConnectionConfig(marketoProvider, { endpointURL: '123-ABC-456.mktorest.com/rest' }),
    ).toEqual({
      ok: true,
      config: { endpointURL: '123-abc-456.mktorest.com', identityURL: '123-abc-456.mktorest.com' },
    });
    expect(
      normalizeConnectionConfig(marketoProvider, {
        endpointURL: '123-ABC-456.mktorest.com',
        identityURL: '999-ABC-456.mktorest.com',
      }),
    ).toMatchObject({ ok: false, code: 'host_mismatch', field: 'identityURL' });
    expect(normalizeConnectionConfig(marketoProvider, { endpointURL: 'x.mktorest.com/soap' })).toMatchObject({
      ok: false,
      code: 'wrong_path',
      field: 'endpointURL',
    });
    expect(normalizeConnectionConfig(marketoProvider, {})).toMatchObject({ ok: false, code: 'empty' });
    expect(
      normalizeConnectionConfig(
        marketoProvider,
        { endpointURL: 'http://127.0.0.1:9/123-ABC-456/rest' },
        { isAllowedHost: () => false },
      ),
    ).toMatchObject({ ok: false, code: 'host_not_allowed', field: 'endpointURL' });
  });
});

describe('a toy OAUTH2_CC provider, pure data', () => {
  const registry = createProviderRegistry([exampleProvider, marketoProvider]);
  const example = registry.get('example')!;

  it('validates and registers', () => {
    expect(validateProviderDefinition(exampleProvider)).toEqual([]);
    expect(registry.list().map((p) => p.name)).toEqual(['example', 'marketo']);
  });

  it('is served in the Nango shape with its own options', () => {
    const p = toNangoProvider(example, { languages: ['de'] });
    expect(p).toMatchObject({
      name: 'example',
      token_url: 'https://${connectionConfig.subdomain}.example.com/oauth/token',
      token_request_auth_method: 'basic',
      proxy: {
        base_url: 'https://${connectionConfig.subdomain}.example.com/api',
        headers: { 'x-api-version': '2' },
      },
      connection_config: {
        subdomain: {
          title: 'Subdomäne',
          description: 'The part before .example.com',
          pattern: '^[a-z0-9-]+$',
        },
        region: { optional: true, default_value: 'eu' },
      },
      logo_url: '/images/template-logos/example.svg',
    });
    expect(p.body_format).toBeUndefined();
  });

  it('builds a POST with Basic auth and form params', () => {
    const r = buildTokenRequest(example, { subdomain: 'acme' }, { client_id: 'k', client_secret: 's:x' });
    expect(r).toEqual({
      method: 'POST',
      url: 'https://acme.example.com/oauth/token',
      headers: {
        accept: 'application/json',
        authorization: `Basic ${Buffer.from('k:s%3Ax').toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: 'grant_type=client_credentials&audience=api%3A%2F%2Facme',
    });
    expect(proxyBaseUrl(example, { subdomain: 'acme' })).toBe('https://acme.example.com/api');
  });

  it('reads its token fields', () => {
    expect(parseTokenResponse(example, { token: 't', ttl: '60' })).toEqual({
      token: 't',
      expiresIn: 60,
      raw: { token: 't', ttl: '60' },
    });
    expect(() => parseTokenResponse(example, { access_token: 't' })).toThrow(ProviderError);
  });

  it('normalizes with its own rules', () => {
    expect(normalizeConnectionConfig(example, { subdomain: ' https://ACME/ ' })).toEqual({
      ok: true,
      config: { subdomain: 'acme', region: 'eu' },
    });
    expect(normalizeConnectionConfig(example, { subdomain: 'a.b' })).toMatchObject({
      ok: false,
      code: 'invalid_format',
      field: 'subdomain',
      message: 'Incorrect Subdomain',
    });
    expect(normalizeConnectionConfig(example, { region: 'us' })).toMatchObject({
      ok: false,
      code: 'missing_field',
      field: 'subdomain',
    });
  });

  it('reports a missing template value like Nango', () => {
    expect(() => buildTokenRequest(example, {}, { client_id: 'k', client_secret: 's' })).toThrow(
      /Missing Connection Config param\(s\): connectionConfig.subdomain/,
    );
  });
});

describe('definition validation', () => {
  const base = () => JSON.parse(JSON.stringify(exampleProvider)) as Record<string, Record<string, unknown>>;

  it('lists every problem', () => {
    const d = base();
    d.token_request!.url = 'https://${connectionConfig.nope}/token';
    d.token_request!.method = 'GET';
    d.token_request!.credentials_in = 'form';
    (d.connection_config!.subdomain as Record<string, unknown>).normalize = 'rot13';
    d.connection_test = { method: 'GET', path: '/me', classifier: 'astrology' };
    const problems = validateProviderDefinition(d);
    expect(problems).toEqual(
      expect.arrayContaining([
        "token_request.url: unknown connection_config field 'nope'",
        'token_request: a GET request has no form body',
        "connection_config.subdomain.normalize: unknown normalizer 'rot13'",
        "connection_test.classifier: unknown classifier 'astrology'",
      ]),
    );
    expect(() => defineProvider(d)).toThrow(ProviderError);
  });

  it('rejects schema errors, unknown keys and duplicates', () => {
    const d = base();
    d.auth_mode = 'OAUTH2' as never;
    (d as Record<string, unknown>).surprise = true;
    expect(validateProviderDefinition(d).length).toBeGreaterThanOrEqual(2);
    expect(() => createProviderRegistry([exampleProvider, exampleProvider])).toThrow(/duplicate provider/);
  });
});

describe('helpers', () => {
  it('preferredLanguages orders by q and ends with en', () => {
    expect(preferredLanguages('de;q=0.5, fr-CA, en;q=0.7')).toEqual(['fr-ca', 'en', 'de', 'en']);
    expect(preferredLanguages(undefined)).toEqual(['en']);
    expect(preferredLanguages('*')).toEqual(['en']);
  });

  it('localize falls back from region to language to English', () => {
    const t = { en: 'Hello', fr: 'Bonjour', 'pt-BR': 'Olá' };
    expect(localize(t, ['fr-ca'])).toBe('Bonjour');
    expect(localize(t, ['pt-br'])).toBe('Olá');
    expect(localize(t, ['ja'])).toBe('Hello');
  });

  it('interpolateUrl encodes unsafe values and refuses nothing silently', () => {
    expect(interpolateUrl('https://${connectionConfig.h}/x', { h: 'a b@evil.com' })).toBe(
      'https://a%20b%40evil.com/x',
    );
    expect(interpolateUrl('https://${connectionConfig.h}', { h: 'https://sb.local:1/ABC' })).toBe(
      'https://sb.local:1/ABC',
    );
    expect(() => interpolateUrl('https://${connectionConfig.h}', { h: '' })).toThrow(
      /Missing Connection Config/,
    );
  });
});
