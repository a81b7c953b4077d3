import { describe, expect, it } from 'vitest';
import { base32Decode, base32Encode, decodePositionToken, encodePositionToken } from './paging.ts';

describe('position tokens', () => {
  it('round-trip integers through padded base32', () => {
    for (const values of [[1, 0], [1, 300], [0x4c4d, 1_000_000], [7, 2 ** 40 + 3, 0, 127, 128], []]) {
      const token = encodePositionToken(values);
      expect(token).toMatch(/^[A-Z2-7]+=*$/);
      expect(token.length % 8).toBe(0);
      expect(decodePositionToken(token)).toEqual(values);
      expect(decodePositionToken(token.toLowerCase())).toEqual(values);
    }
  });

  it('rejects strings that are not tokens', () => {
    const token = encodePositionToken([1, 42]);
    for (const bad of [
      '',
      'NOTATOKEN',
      '!!!!',
      token.slice(0, -8),
      `A${token.slice(1)}`,
      base32Encode(Uint8Array.from([1, 2, 3])),
    ]) {
      expect(decodePositionToken(bad)).toBeUndefined();
    }
  });

  it('encodes base32 per RFC 4648', () => {
    const text = (s: string) => base32Encode(new TextEncoder().encode(s));
    expect(text('f')).toBe('MY======');
    expect(text('foob')).toBe('MZXW6YQ=');
    expect(text('foobar')).toBe('MZXW6YTBOI======');
    expect(new TextDecoder().decode(base32Decode('MZXW6YTBOI======'))).toBe('foobar');
  });
});
