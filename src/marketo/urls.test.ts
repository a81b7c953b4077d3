import { describe, expect, it } from 'vitest';
import {
  bulkBase,
  extractMunchkinId,
  identityBase,
  identityTokenUrl,
  instanceRoot,
  normalizeMarketoConfig,
  normalizeMarketoUrl,
  parseMarketoBase,
  restBase,
} from './urls.ts';

const CANON = '123-abc-456.mktorest.com';

describe('normalizeMarketoUrl: every pasted form of a Marketo address', () => {
  const forms = [
    'https://123-ABC-456.mktorest.com/rest',
    'https://123-ABC-456.mktorest.com/rest/',
    'https://123-ABC-456.mktorest.com/identity',
    'https://123-ABC-456.mktorest.com/identity/',
    'https://123-ABC-456.mktorest.com/identity/oauth/token',
    'https://123-abc-456.mktorest.com/bulk/v1/leads/export.json',
    'https://123-abc-456.mktorest.com/rest/v1/leads.json?filterType=id',
    '123-ABC-456.mktorest.com/rest',
    '123-ABC-456.mktorest.com/identity',
    '123-ABC-456.mktorest.com/identity/oauth/token',
    '123-abc-456.mktorest.com',
    '123-abc-456.mktorest.com/',
    '123-ABC-456.MKTOREST.COM',
    'HTTPS://123-ABC-456.MKTOREST.COM/REST',
    'http://123-abc-456.mktorest.com/rest',
    '  https://123-ABC-456.mktorest.com/rest  ',
    '\thttps://123-ABC-456.mktorest.com/identity\n',
    'https://123-ABC-456.mktorest.com/identity/oauth/token?grant_type=client_credentials&client_id=a&client_secret=b',
    'https://123-ABC-456.mktorest.com:443/rest',
    'https://123-abc-456.mktorest.com./rest',
    '//123-abc-456.mktorest.com/rest',
    'https://123-abc-456.mktorest.com//rest//',
    '\u200Bhttps://123-abc-456.mktorest.com/rest\uFEFF',
    '123-ABC-456',
    '123-abc-456/rest',
  ];
  for (const input of forms) {
    it(JSON.stringify(input), () => {
      expect(normalizeMarketoUrl(input)).toEqual({ ok: true, value: CANON });
    });
  }

  it('extracts the Munchkin ID and what the URL pointed at', () => {
    const r = parseMarketoBase('https://123-abc-456.mktorest.com/identity/oauth/token');
    expect(r).toMatchObject({
      ok: true,
      munchkinId: '123-ABC-456',
      kind: 'identity',
      marketoCloud: true,
      scheme: 'https',
      hostPort: '123-abc-456.mktorest.com:443',
    });
    expect(extractMunchkinId('123-abc-456.mktorest.com')).toBe('123-ABC-456');
    expect(extractMunchkinId('https://mycompany.mktorest.com/rest')).toBeNull();
    expect(extractMunchkinId('not a url')).toBeNull();
  });

  it('accepts a vanity *.mktorest.com host without a Munchkin ID', () => {
    expect(normalizeMarketoUrl('https://Acme.mktorest.com/rest')).toEqual({
      ok: true,
      value: 'acme.mktorest.com',
    });
  });
});

describe('sandbox and other allowlisted hosts', () => {
  const SB = 'http://127.0.0.1:4010/123-ABC-456';
  const forms = [
    'http://127.0.0.1:4010/123-ABC-456/rest',
    'http://127.0.0.1:4010/123-ABC-456/rest/',
    'http://127.0.0.1:4010/123-abc-456/identity',
    'http://127.0.0.1:4010/123-ABC-456/identity/oauth/token',
    'http://127.0.0.1:4010/123-ABC-456',
    ' HTTP://127.0.0.1:4010/123-ABC-456/REST ',
  ];
  for (const input of forms) {
    it(JSON.stringify(input), () => {
      expect(normalizeMarketoUrl(input)).toEqual({ ok: true, value: SB });
    });
  }

  it('keeps the scheme, port and prefix, and canonical values are stable', () => {
    const r = parseMarketoBase(SB);
    expect(r).toMatchObject({
      ok: true,
      scheme: 'http',
      host: '127.0.0.1:4010',
      hostPort: '127.0.0.1:4010',
      prefix: '/123-ABC-456',
      munchkinId: '123-ABC-456',
      marketoCloud: false,
    });
    expect(normalizeMarketoUrl(SB)).toEqual({ ok: true, value: SB });
    expect(normalizeMarketoUrl(CANON)).toEqual({ ok: true, value: CANON });
  });

  it('stores an HTTPS host without prefix bare, default port dropped', () => {
    expect(normalizeMarketoUrl('https://marketo.internal.example:8443/rest')).toEqual({
      ok: true,
      value: 'marketo.internal.example:8443',
    });
    expect(normalizeMarketoUrl('http://sb.example:80/rest')).toEqual({
      ok: true,
      value: 'http://sb.example',
    });
    expect(normalizeMarketoUrl('[::1]:4010/123-ABC-456/rest')).toEqual({
      ok: true,
      value: 'https://[::1]:4010/123-ABC-456',
    });
  });

  it('asks the allowlist about non-Marketo hosts only, with the effective port', () => {
    const seen: string[] = [];
    const isAllowedHost = (h: string) => {
      seen.push(h);
      return h === '127.0.0.1:4010';
    };
    expect(normalizeMarketoUrl('http://127.0.0.1:4010/123-ABC-456/rest', { isAllowedHost }).ok).toBe(true);
    expect(normalizeMarketoUrl('http://127.0.0.1:4011/123-ABC-456/rest', { isAllowedHost })).toMatchObject({
      ok: false,
      code: 'host_not_allowed',
    });
    expect(normalizeMarketoUrl('https://evil.example/rest', { isAllowedHost })).toMatchObject({
      ok: false,
      code: 'host_not_allowed',
    });
    expect(normalizeMarketoUrl(CANON, { isAllowedHost }).ok).toBe(true);
    expect(seen).toEqual(['127.0.0.1:4010', '127.0.0.1:4011', 'evil.example:443']);
  });
});

describe('invalid input has clear codes', () => {
  const cases: [string, string][] = [
    ['', 'empty'],
    ['   ', 'empty'],
    ['\n\t', 'empty'],
    ['ftp://123-abc-456.mktorest.com/rest', 'unsupported_scheme'],
    ['javascript://alert(1)', 'unsupported_scheme'],
    ['not a url at all!', 'invalid_url'],
    ['https://', 'invalid_url'],
    ['https://user:pass@123-abc-456.mktorest.com/rest', 'invalid_url'],
    ['https://under_score.mktorest.com/rest', 'invalid_url'],
    ['https://mktorest.com/rest', 'invalid_url'],
    ['https://123-abc-456.mktorest.com:8443/rest', 'invalid_url'],
    ['https://123-ABC-456.mktorest.com/soap', 'wrong_path'],
    ['https://123-ABC-456.mktoapi.com/soap/mktows/3_1', 'not_api_host'],
    ['https://app-ab12.marketo.com/#MM0A1', 'not_api_host'],
    ['https://123-ABC-456.mktorest.com/foo', 'wrong_path'],
    ['https://123-ABC-456.mktorest.com/123-ABC-456/rest', 'wrong_path'],
    ['https://123-ABC-456.mktorest.com/restful', 'wrong_path'],
    ['http://127.0.0.1:4010/soap', 'wrong_path'],
    ['http://127.0.0.1:4010/not-a-munchkin/rest', 'wrong_path'],
  ];
  for (const [input, code] of cases) {
    it(`${JSON.stringify(input)} → ${code}`, () => {
      const r = normalizeMarketoUrl(input);
      expect(r).toMatchObject({ ok: false, code });
      if (!r.ok) expect(r.message.length).toBeGreaterThan(5);
    });
  }

  it('never echoes the input (a pasted token URL may carry the secret)', () => {
    const r = normalizeMarketoUrl('https://123-abc-456.mktorest.com/soap?client_secret=SuPeRsEcReT');
    expect(r.ok).toBe(false);
    expect(JSON.stringify(r)).not.toContain('SuPeRsEcReT');
  });
});

describe('normalizeMarketoConfig: the Domain / Identity URL pair', () => {
  it('derives the Identity URL from the Domain and vice versa', () => {
    expect(normalizeMarketoConfig({ endpointURL: 'https://123-ABC-456.mktorest.com/rest' })).toMatchObject({
      ok: true,
      config: { endpointURL: CANON, identityURL: CANON },
      munchkinId: '123-ABC-456',
    });
    expect(
      normalizeMarketoConfig({ endpointURL: '  ', identityURL: 'https://123-ABC-456.mktorest.com/identity' }),
    ).toMatchObject({ ok: true, config: { endpointURL: CANON, identityURL: CANON } });
  });

  it('accepts both forms of the same instance', () => {
    expect(
      normalizeMarketoConfig({
        endpointURL: 'https://123-ABC-456.mktorest.com/rest',
        identityURL: '123-abc-456.mktorest.com/identity/oauth/token',
      }),
    ).toMatchObject({ ok: true, config: { endpointURL: CANON, identityURL: CANON } });
  });

  it('refuses two different instances', () => {
    const r = normalizeMarketoConfig({
      endpointURL: 'https://123-ABC-456.mktorest.com/rest',
      identityURL: 'https://999-XYZ-000.mktorest.com/identity',
    });
    expect(r).toMatchObject({ ok: false, code: 'host_mismatch', field: 'identityURL' });
    const sb = normalizeMarketoConfig({
      endpointURL: 'http://127.0.0.1:4010/123-ABC-456/rest',
      identityURL: 'http://127.0.0.1:4010/999-XYZ-000/identity',
    });
    expect(sb).toMatchObject({ ok: false, code: 'host_mismatch' });
  });

  it('reports which field is wrong', () => {
    expect(normalizeMarketoConfig({})).toMatchObject({ ok: false, code: 'empty', field: 'endpointURL' });
    expect(normalizeMarketoConfig({ endpointURL: 'x.mktorest.com/soap' })).toMatchObject({
      ok: false,
      code: 'wrong_path',
      field: 'endpointURL',
    });
    expect(normalizeMarketoConfig({ endpointURL: CANON, identityURL: 'ftp://x' })).toMatchObject({
      ok: false,
      code: 'unsupported_scheme',
      field: 'identityURL',
    });
  });
});

describe('URLs built from a stored config', () => {
  it('real Marketo', () => {
    const c = { endpointURL: CANON, identityURL: CANON };
    expect(instanceRoot(c)).toBe('https://123-abc-456.mktorest.com');
    expect(restBase(c)).toBe('https://123-abc-456.mktorest.com/rest');
    expect(bulkBase(c)).toBe('https://123-abc-456.mktorest.com/bulk');
    expect(identityBase(c)).toBe('https://123-abc-456.mktorest.com/identity');
    expect(identityTokenUrl(c)).toBe('https://123-abc-456.mktorest.com/identity/oauth/token');
  });

  it('sandbox', () => {
    const b = 'http://127.0.0.1:4010/123-ABC-456';
    const c = { endpointURL: b, identityURL: b };
    expect(restBase(c)).toBe(`${b}/rest`);
    expect(bulkBase(c)).toBe(`${b}/bulk`);
    expect(identityTokenUrl(c)).toBe(`${b}/identity/oauth/token`);
  });

  it('throws on a config that was never normalized', () => {
    expect(() => restBase({ endpointURL: 'ftp://x' })).toThrow(/invalid Marketo endpointURL/);
  });
});
