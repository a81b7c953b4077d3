/**
 * RFC 4648 base32 (A–Z, 2–7, `=` padding): the alphabet of Marketo's paging tokens. Used by every
 * token the sandbox hands out (lead positions, activity dates, campaign positions).
 */

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
const DECODE = new Int8Array(128).fill(-1);
for (let i = 0; i < ALPHABET.length; i++) {
  DECODE[ALPHABET.charCodeAt(i)] = i;
  DECODE[ALPHABET.toLowerCase().charCodeAt(i)] = i;
}

export function base32Encode(bytes: Uint8Array): string {
  let out = '';
  let buffer = 0;
  let bits = 0;
  for (const b of bytes) {
    buffer = ((buffer << 8) | b) & 0xffff;
    bits += 8;
    while (bits >= 5) {
      out += ALPHABET[(buffer >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += ALPHABET[(buffer << (5 - bits)) & 31];
  while (out.length % 8 !== 0) out += '=';
  return out;
}

/** Bytes of a padded (or unpadded) base32 string; undefined when it is not base32. */
export function base32Decode(text: string): Uint8Array | undefined {
  const body = text.replace(/=+$/, '');
  if (body.length === 0) return undefined;
  const out: number[] = [];
  let buffer = 0;
  let bits = 0;
  for (let i = 0; i < body.length; i++) {
    const code = body.charCodeAt(i);
    const v = code < 128 ? DECODE[code]! : -1;
    if (v < 0) return undefined;
    buffer = ((buffer << 5) | v) & 0xffff;
    bits += 5;
    if (bits >= 8) {
      out.push((buffer >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Uint8Array.from(out);
}

export function base32EncodeText(text: string): string {
  return base32Encode(Buffer.from(text, 'utf8'));
}

/** Text of a base32 token; undefined when it is not base32 (or, with `canonical`, not padded to 8). */
export function base32DecodeText(token: string, opts: { canonical?: boolean } = {}): string | undefined {
  if (opts.canonical && (token.length === 0 || token.length % 8 !== 0)) return undefined;
  const bytes = base32Decode(token);
  return bytes === undefined ? undefined : Buffer.from(bytes).toString('utf8');
}
