import { describe, expect, it } from 'vitest';
import { translator } from './i18n.ts';
import { issueMessage, validateValue } from './validation.ts';

const host = { required: true, format: 'hostname' };
const optionalHost = { required: false, format: 'hostname' };
const text = { required: true };

describe('validateValue', () => {
  it('requires required fields (whitespace is empty)', () => {
    expect(validateValue(text, '')).toBe('required');
    expect(validateValue(text, '   ')).toBe('required');
    expect(validateValue(text, 'x')).toBeNull();
    expect(validateValue(optionalHost, '')).toBeNull();
  });

  it('accepts what Marketo admin pages show, with or without scheme, slash or path', () => {
    for (const v of [
      'https://123-ABC-456.mktorest.com/rest',
      'https://123-ABC-456.mktorest.com/identity',
      'https://123-ABC-456.mktorest.com/identity/oauth/token',
      '123-ABC-456.mktorest.com',
      '123-abc-456.mktorest.com/',
      ' https://123-ABC-456.mktorest.com/rest/ ',
      '123-ABC-456',
      'http://127.0.0.1:4010/123-ABC-456',
      'localhost:4010',
    ]) {
      expect(validateValue(host, v), v).toBeNull();
    }
  });

  it('rejects obviously wrong addresses', () => {
    expect(validateValue(host, 'https://123-ABC-456 .mktorest.com')).toBe('spaces');
    expect(validateValue(host, 'ftp://a.mktorest.com')).toBe('scheme');
    expect(validateValue(host, 'javascript:alert(1)')).toBe('scheme');
    expect(validateValue(host, 'https:/a.mktorest.com')).toBe('scheme');
    expect(validateValue(host, 'https://')).toBe('url');
    expect(validateValue(host, 'a<b>.com')).toBe('url');
    expect(validateValue(host, 'https://user:pw@a.mktorest.com')).toBe('url');
  });

  it('applies email, uuid and pattern rules', () => {
    expect(validateValue({ required: true, format: 'email' }, 'a@b')).toBe('email');
    expect(validateValue({ required: true, format: 'email' }, 'a@b.co')).toBeNull();
    expect(validateValue({ required: true, format: 'uuid' }, 'nope')).toBe('uuid');
    expect(
      validateValue({ required: true, format: 'uuid' }, '0a1b2c3d-4e5f-6789-abcd-ef0123456789'),
    ).toBeNull();
    expect(validateValue({ required: true, pattern: '^[a-z]+$' }, 'ABC')).toBe('pattern');
    expect(validateValue({ required: true, pattern: '^[a-z]+$' }, 'abc')).toBeNull();
    expect(validateValue({ required: true, pattern: '([' }, 'abc')).toBeNull();
  });
});

describe('issueMessage', () => {
  const field = { title: 'Domain', example: 'xxx.mktorest.com' };
  it('names the field, in the UI language', () => {
    expect(issueMessage('required', field, translator('en'))).toBe('Enter the Domain.');
    expect(issueMessage('url', field, translator('en'))).toBe(
      'The Domain does not look like a web address. Example: xxx.mktorest.com',
    );
    expect(issueMessage('url', { title: 'Domain' }, translator('en'))).toBe(
      'The Domain does not look like a web address.',
    );
    expect(issueMessage('required', { title: 'Domaine' }, translator('fr'))).toBe(
      'Renseignez le champ Domaine.',
    );
  });
});
