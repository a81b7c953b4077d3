import { describe, expect, it } from 'vitest';
import { cellText, compactJson, errorLine, keyValues, redact, table } from './format.ts';
import { errorFromBody, parseBaseUrl, CliError } from './client.ts';
import { proxyHeaders } from './commands.ts';

describe('formatting', () => {
  it('aligns table columns and never breaks a line', () => {
    expect(
      table(
        ['ID', 'NAME', 'N'],
        [
          ['a', 'first', 1],
          ['long-id', null, 22],
          ['x', 'two\nlines', undefined],
        ],
      ),
    ).toBe(
      'ID       NAME       N\n' +
        'a        first      1\n' +
        'long-id  -          22\n' +
        'x        two lines  -\n',
    );
    expect(table(['A', 'B'], [])).toBe('A  B\n');
    expect(cellText('\u001b[31mred')).toBe(' [31mred');
  });

  it('lists key/value pairs and error lines', () => {
    expect(
      keyValues([
        ['a', 1],
        ['long_key', 'v'],
      ]),
    ).toBe('a         1\nlong_key  v\n');
    expect(errorLine('unknown_account', 'No account\nfound')).toBe(
      'error unknown_account: No account found\n',
    );
    expect(compactJson({})).toBe('-');
    expect(compactJson({ a: [1] })).toBe('{"a":[1]}');
  });

  it('redacts the secret key', () => {
    expect(redact('key k-1 and k-1', 'k-1')).toBe('key [secret key] and [secret key]');
    expect(redact('text', undefined)).toBe('text');
  });
});

describe('client helpers', () => {
  it('validates the base URL', () => {
    expect(parseBaseUrl('http://localhost:3003/')).toBe('http://localhost:3003');
    expect(parseBaseUrl('https://example.com/tether/')).toBe('https://example.com/tether');
    for (const bad of ['localhost:3003', 'ftp://x', 'http://u:p@x', 'http://x/?a=1', 'nope']) {
      expect(() => parseBaseUrl(bad)).toThrow(CliError);
    }
  });

  it("reads Tether's error envelope, or names the status", () => {
    const e = errorFromBody(401, '{"error":{"code":"unknown_account","message":"No account"}}');
    expect([e.code, e.message, e.exitCode]).toEqual(['unknown_account', 'No account', 1]);
    const html = errorFromBody(502, '<html>\n Bad gateway </html>');
    expect([html.code, html.message]).toEqual(['http_502', 'HTTP 502: <html> Bad gateway </html>']);
  });

  it('maps --header to the proxy headers', () => {
    expect(proxyHeaders(['Accept: text/csv', 'X-Thing:1', 'Content-Type:text/plain'])).toEqual({
      accept: 'text/csv',
      'nango-proxy-x-thing': '1',
      'content-type': 'text/plain',
    });
  });
});
