import { describe, expect, it } from 'vitest';
import {
  buildAuthUrl,
  isEmbedded,
  parseStartup,
  readSessionTokenMessage,
  readableTextOn,
  resolveApiUrl,
  safeColor,
  telemetryBody,
} from './protocol.ts';

describe('startup parameters', () => {
  it('reads the standalone link', () => {
    expect(
      parseStartup('https://t.example/connect/?session_token=nango_connect_session_abc&lang=fr&theme=dark'),
    ).toEqual({
      sessionToken: 'nango_connect_session_abc',
      apiURL: 'https://t.example',
      lang: 'fr',
      theme: 'dark',
      embedded: null,
    });
  });

  it('reads what @nangohq/frontend puts in the iframe URL', () => {
    const s = parseStartup(
      'https://t.example/connect/?apiURL=https%3A%2F%2Fapi.t.example%2F&theme=system&embedded=true',
    );
    expect(s).toMatchObject({
      sessionToken: null,
      apiURL: 'https://api.t.example',
      theme: 'system',
      embedded: true,
    });
  });

  it('ignores bad values', () => {
    expect(parseStartup('https://t.example/connect/?theme=pink&embedded=maybe&lang=')).toMatchObject({
      theme: null,
      embedded: null,
      lang: null,
    });
    expect(resolveApiUrl('javascript:alert(1)', 'https://t.example/connect/')).toBeNull();
    expect(resolveApiUrl('http://localhost:3003/base/?x=1', 'https://t.example/')).toBe(
      'http://localhost:3003/base',
    );
  });

  it('is embedded when told so, else when framed', () => {
    expect(isEmbedded(null, true)).toBe(true);
    expect(isEmbedded(null, false)).toBe(false);
    expect(isEmbedded(false, true)).toBe(false);
    expect(isEmbedded(true, false)).toBe(true);
  });
});

describe('postMessage', () => {
  it('accepts only session_token messages with a token', () => {
    expect(readSessionTokenMessage({ type: 'session_token', sessionToken: 'tok' })).toBe('tok');
    expect(readSessionTokenMessage({ type: 'session_token', sessionToken: '' })).toBeNull();
    expect(readSessionTokenMessage({ type: 'session_token' })).toBeNull();
    expect(readSessionTokenMessage({ type: 'other', sessionToken: 'tok' })).toBeNull();
    expect(readSessionTokenMessage('session_token')).toBeNull();
    expect(readSessionTokenMessage(null)).toBeNull();
  });
});

describe('buildAuthUrl', () => {
  it('builds what @nangohq/frontend sends', () => {
    expect(
      buildAuthUrl('https://t.example', 'marketo', 'nango_connect_session_abc', [
        ['endpointURL', 'https://123-ABC-456.mktorest.com/rest'],
        ['identityURL', '123-abc-456.mktorest.com'],
      ]),
    ).toBe(
      'https://t.example/oauth2/auth/marketo?connect_session_token=nango_connect_session_abc' +
        '&params[endpointURL]=https%3A%2F%2F123-ABC-456.mktorest.com%2Frest&params[identityURL]=123-abc-456.mktorest.com',
    );
  });

  it('encodes keys and values', () => {
    expect(buildAuthUrl('http://h', 'my key', 't', [['a b', 'c&d']])).toBe(
      'http://h/oauth2/auth/my%20key?connect_session_token=t&params[a%20b]=c%26d',
    );
  });
});

describe('theme helpers', () => {
  it('accepts hex colors only', () => {
    expect(safeColor('#00FF00')).toBe('#00FF00');
    expect(safeColor('#abc')).toBe('#abc');
    expect(safeColor('red; background:url(x)')).toBeNull();
    expect(safeColor(undefined)).toBeNull();
  });

  it('picks a readable text color', () => {
    expect(readableTextOn('#000000')).toBe('#ffffff');
    expect(readableTextOn('#ffffff')).toBe('#000000');
    expect(readableTextOn('#2350b0')).toBe('#ffffff');
    expect(readableTextOn('#ffd166')).toBe('#000000');
  });
});

describe('telemetry', () => {
  it('builds the beacon body', () => {
    const body = JSON.parse(telemetryBody('tok', 'view:success', 'marketo')) as Record<string, unknown>;
    expect(body).toMatchObject({
      token: 'tok',
      event: 'view:success',
      dimensions: { integration: 'marketo' },
    });
    expect(typeof body.timestamp).toBe('string');
    expect(JSON.parse(telemetryBody('tok', 'open'))).not.toHaveProperty('dimensions');
  });
});
