import { describe, expect, it } from 'vitest';
import { DICTIONARIES, format, lookup, pickLanguage, translator } from './i18n.ts';

describe('i18n', () => {
  it('picks the lang parameter, then the browser languages, then English', () => {
    expect(pickLanguage('fr', ['en-US'])).toBe('fr');
    expect(pickLanguage('fr-CA', [])).toBe('fr');
    expect(pickLanguage('de', ['fr-FR', 'en'])).toBe('fr');
    expect(pickLanguage(null, ['es', 'en-GB'])).toBe('en');
    expect(pickLanguage(undefined, [])).toBe('en');
    expect(pickLanguage('FR_be')).toBe('fr');
  });

  it('has every key in French, with the same placeholders', () => {
    const en = DICTIONARIES.en!;
    const fr = DICTIONARIES.fr!;
    expect(Object.keys(fr).sort()).toEqual(Object.keys(en).sort());
    const placeholders = (s: string) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
    for (const key of Object.keys(en) as (keyof typeof en)[]) {
      expect(placeholders(fr[key]), key).toEqual(placeholders(en[key]));
      expect(fr[key].trim(), key).not.toBe('');
    }
  });

  it('formats placeholders', () => {
    expect(format('Connect {provider}', { provider: 'Marketo' })).toBe('Connect Marketo');
    expect(format('{a} {b}', { a: 1 })).toBe('1 {b}');
    expect(translator('fr')('form.title', { provider: 'Marketo' })).toBe('Connecter Marketo');
    expect(translator('xx')('form.submit')).toBe('Connect');
  });

  it('looks up run-time keys', () => {
    expect(lookup('fr', 'code.timeout.message')).toBe('Le service n’a pas répondu à temps.');
    expect(lookup('en', 'code.nope.message')).toBeNull();
  });
});
