import { describe, expect, it } from 'vitest';
import { marketoProvider } from '../../providers/marketo.ts';
import { toNangoProvider } from '../../providers/registry.ts';
import {
  autofillPairs,
  buildFields,
  collectAuthRequest,
  deriveHost,
  docUrlFor,
  hasPath,
  hasScheme,
  isSupportedAuthMode,
  previewUrl,
  safeHttpUrl,
} from './form-model.ts';
import { translator } from './i18n.ts';
import type { Provider } from './types.ts';

const t = translator('en');
const marketo = toNangoProvider(marketoProvider, { languages: 'en' }) as unknown as Provider;

describe('buildFields (Marketo, from GET /providers/marketo data)', () => {
  it('lists credentials then connection_config by order, with texts from the provider', () => {
    const fields = buildFields(marketo, { t });
    expect(fields.map((f) => f.name)).toEqual(['client_id', 'client_secret', 'endpointURL', 'identityURL']);
    const [id, secret, domain, identity] = fields;
    expect(id).toMatchObject({ group: 'credentials', title: 'Client ID', secret: false, required: true });
    expect(id!.description).toContain('LaunchPoint');
    expect(id!.docUrl).toBe(
      'https://nango.dev/docs/integrations/all/marketo/connect#step-1-finding-marketo-client-id',
    );
    expect(secret).toMatchObject({ title: 'Client Secret', secret: true, required: true });
    expect(domain).toMatchObject({
      group: 'params',
      title: 'Domain',
      example: 'xxx.mktorest.com',
      prefix: 'https://',
      suffix: '/',
      format: 'hostname',
      required: true,
      hidden: false,
    });
    expect(domain!.description).toContain('Web Services');
    expect(domain!.docUrl).toMatch(/#step-3-find-your-domain-and-identity-url$/);
    expect(identity).toMatchObject({
      title: 'Identity URL',
      suffix: '/identity/oauth/token',
      required: false,
    });
  });

  it('uses the localized texts the server sent', () => {
    const fr = toNangoProvider(marketoProvider, { languages: 'fr' }) as unknown as Provider;
    const fields = buildFields(fr, { t: translator('fr') });
    expect(fields.map((f) => f.title)).toEqual(['ID client', 'Secret client', 'Domaine', "URL d'identité"]);
  });

  it('hides fields preconfigured by integrations_config_defaults and keeps their value', () => {
    const fields = buildFields(marketo, {
      t,
      presets: { endpointURL: '123-abc-456.mktorest.com', identityURL: '', other: 'x' },
    });
    const domain = fields.find((f) => f.name === 'endpointURL')!;
    const identity = fields.find((f) => f.name === 'identityURL')!;
    expect(domain).toMatchObject({ hidden: true, preset: '123-abc-456.mktorest.com' });
    expect(identity.hidden).toBe(false);
  });

  it('falls back to default credential texts when the provider has no credentials block (Nango entry)', () => {
    const bare: Provider = {
      name: 'marketo',
      auth_mode: 'OAUTH2_CC',
      connection_config: { endpointURL: { type: 'string', title: 'Domain', order: 1, format: 'hostname' } },
    };
    const fields = buildFields(bare, { t });
    expect(fields.slice(0, 2).map((f) => [f.title, f.secret])).toEqual([
      ['Client ID', false],
      ['Client Secret', true],
    ]);
  });

  it('renders a different provider from its data alone (no code change)', () => {
    const acme: Provider = {
      name: 'acme',
      display_name: 'Acme CRM',
      auth_mode: 'OAUTH2_CC',
      docs_connect: 'https://docs.acme.test/connect',
      credentials: {
        client_id: { type: 'string', title: 'App key', description: 'Settings > Apps', doc_section: '#keys' },
        client_secret: { type: 'string', title: 'App secret', description: 'Shown once', secret: true },
      },
      connection_config: {
        region: { type: 'string', title: 'Region', description: 'eu or us', order: 2, optional: true },
        subdomain: {
          type: 'string',
          title: 'Subdomain',
          description: 'acme.test prefix',
          order: 1,
          pattern: '^[a-z]+$',
        },
        tenant: { type: 'string', title: 'Tenant', description: '', order: 3, automated: true },
        plan: {
          type: 'string',
          title: 'Plan',
          description: '',
          order: 4,
          hidden: true,
          default_value: 'pro',
        },
      },
    };
    const fields = buildFields(acme, { t });
    expect(fields.map((f) => f.name)).toEqual(['client_id', 'client_secret', 'subdomain', 'region', 'plan']);
    expect(fields[0]!.title).toBe('App key');
    expect(fields[0]!.docUrl).toBe('https://docs.acme.test/connect#keys');
    expect(fields.find((f) => f.name === 'plan')).toMatchObject({
      hidden: true,
      required: false,
      initial: 'pro',
    });
    expect(autofillPairs(fields).size).toBe(0);
  });

  it('knows which auth modes it can submit', () => {
    expect(isSupportedAuthMode('OAUTH2_CC')).toBe(true);
    expect(isSupportedAuthMode('OAUTH2')).toBe(false);
    expect(isSupportedAuthMode(undefined)).toBe(false);
  });
});

describe('autofill', () => {
  it('pairs a later host field with the first one when formats and examples match', () => {
    const pairs = autofillPairs(buildFields(marketo, { t }));
    expect([...pairs]).toEqual([['identityURL', 'endpointURL']]);
  });

  it('does not pair host fields with different examples, nor hidden ones', () => {
    const p: Provider = {
      name: 'x',
      auth_mode: 'OAUTH2_CC',
      connection_config: {
        api: { title: 'API host', format: 'hostname', example: 'api.x.test', order: 1 },
        auth: { title: 'Auth host', format: 'hostname', example: 'login.x.test', order: 2 },
      },
    };
    expect(autofillPairs(buildFields(p, { t })).size).toBe(0);
    expect(autofillPairs(buildFields(marketo, { t, presets: { endpointURL: 'a.mktorest.com' } })).size).toBe(
      0,
    );
  });

  it('derives the host of what Marketo admin pages show', () => {
    expect(deriveHost('https://123-ABC-456.mktorest.com/rest')).toBe('123-abc-456.mktorest.com');
    expect(deriveHost('https://123-ABC-456.mktorest.com/identity')).toBe('123-abc-456.mktorest.com');
    expect(deriveHost(' 123-abc-456.mktorest.com/identity/oauth/token/ ')).toBe('123-abc-456.mktorest.com');
    expect(deriveHost('123-abc-456.mktorest.com/')).toBe('123-abc-456.mktorest.com');
    expect(deriveHost('https://123-abc-456.mktorest.com/rest?x=1#y')).toBe('123-abc-456.mktorest.com');
    expect(deriveHost('http://127.0.0.1:4010/123-ABC-456/rest')).toBe('http://127.0.0.1:4010/123-ABC-456');
    expect(deriveHost('')).toBe('');
    expect(deriveHost('https://')).toBe('');
  });
});

describe('preview and adornments', () => {
  const [, , domain, identity] = buildFields(marketo, { t });

  it('shows the address the server will use', () => {
    expect(previewUrl(domain!, 'https://123-ABC-456.mktorest.com/rest')).toBe(
      'https://123-abc-456.mktorest.com/',
    );
    expect(previewUrl(identity!, 'https://123-ABC-456.mktorest.com/identity')).toBe(
      'https://123-abc-456.mktorest.com/identity/oauth/token',
    );
    expect(previewUrl(identity!, 'http://127.0.0.1:4010/123-ABC-456')).toBe(
      'http://127.0.0.1:4010/123-ABC-456/identity/oauth/token',
    );
    expect(previewUrl(identity!, '  ')).toBeNull();
    expect(previewUrl({ format: undefined }, 'abc')).toBeNull();
  });

  it('knows when a value brings its own scheme or path', () => {
    expect(hasScheme('https://a.b')).toBe(true);
    expect(hasScheme('a.b')).toBe(false);
    expect(hasPath('a.b/rest')).toBe(true);
    expect(hasPath('https://a.b/')).toBe(false);
    expect(hasPath('https://a.b')).toBe(false);
  });
});

describe('collectAuthRequest', () => {
  it('sends credentials in the body and params in field order, as typed', () => {
    const fields = buildFields(marketo, { t });
    const values = new Map([
      ['client_id', 'id-1'],
      ['client_secret', ' s3cret '],
      ['endpointURL', 'https://123-ABC-456.mktorest.com/rest'],
      ['identityURL', ''],
    ]);
    expect(collectAuthRequest(fields, values)).toEqual({
      credentials: { client_id: 'id-1', client_secret: ' s3cret ' },
      params: [['endpointURL', 'https://123-ABC-456.mktorest.com/rest']],
    });
  });

  it('sends preconfigured values', () => {
    const fields = buildFields(marketo, {
      t,
      presets: { endpointURL: 'a.mktorest.com', identityURL: 'a.mktorest.com' },
    });
    const r = collectAuthRequest(fields, new Map([['endpointURL', 'ignored']]));
    expect(r.params).toEqual([
      ['endpointURL', 'a.mktorest.com'],
      ['identityURL', 'a.mktorest.com'],
    ]);
    expect(r.credentials).toEqual({ client_id: '', client_secret: '' });
  });
});

describe('links', () => {
  it('accepts only http(s) URLs', () => {
    expect(safeHttpUrl('javascript:alert(1)')).toBeUndefined();
    expect(safeHttpUrl('https://a.test/x')).toBe('https://a.test/x');
    expect(safeHttpUrl('/images/x.svg', 'http://h.test/connect/')).toBe('http://h.test/images/x.svg');
    expect(safeHttpUrl(undefined)).toBeUndefined();
  });

  it('joins the guide and a section', () => {
    expect(docUrlFor('https://d.test/g', '#s')).toBe('https://d.test/g#s');
    expect(docUrlFor('https://d.test/g#old', 's')).toBe('https://d.test/g#s');
    expect(docUrlFor('https://d.test/g', undefined)).toBe('https://d.test/g');
    expect(docUrlFor(undefined, '#s')).toBeUndefined();
    expect(docUrlFor('https://d.test/g', 'https://other.test/p#a')).toBe('https://other.test/p#a');
    expect(docUrlFor('javascript:x', '#s')).toBeUndefined();
  });
});
