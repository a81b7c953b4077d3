/**
 * Position-based paging tokens of lead-database reads (spec 5.4): opaque strings in RFC 4648
 * base32 (A–Z, 2–7, `=` padding) that carry a few non-negative integers, e.g. a kind tag and the
 * last id returned. A checksum byte makes a mistyped or foreign token fail to decode instead of
 * silently resuming at a wrong position.
 */

import { base32Decode, base32Encode } from '../core/base32.ts';

export { base32Decode, base32Encode };

/** First byte of every token: tells a position token from other base32 strings. */
const MAGIC = 0xa7;

function checksum(bytes: number[]): number {
  let h = 0x5d;
  for (const b of bytes) h = (Math.imul(h ^ b, 0x3b) + 0x11) & 0xff;
  return h;
}

/** Encode non-negative safe integers as a position token. */
export function encodePositionToken(values: readonly number[]): string {
  const bytes: number[] = [MAGIC, values.length];
  for (const value of values) {
    if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`cannot encode ${value}`);
    // LEB128 with division: values may exceed 32 bits (bitwise operators would truncate them).
    let v = value;
    do {
      const low = v % 128;
      v = Math.floor(v / 128);
      bytes.push(v > 0 ? low | 0x80 : low);
    } while (v > 0);
  }
  bytes.push(checksum(bytes));
  return base32Encode(Uint8Array.from(bytes));
}

/** The integers of a token made by {@link encodePositionToken}; undefined for anything else. */
export function decodePositionToken(token: string): number[] | undefined {
  const bytes = base32Decode(token.trim());
  if (!bytes || bytes.length < 3 || bytes[0] !== MAGIC) return undefined;
  const payload = Array.from(bytes.subarray(0, bytes.length - 1));
  if (checksum(payload) !== bytes[bytes.length - 1]) return undefined;
  const count = payload[1]!;
  const values: number[] = [];
  let i = 2;
  for (let n = 0; n < count; n++) {
    let value = 0;
    let scale = 1;
    for (;;) {
      if (i >= payload.length || scale > 2 ** 49) return undefined;
      const b = payload[i++]!;
      value += (b & 0x7f) * scale;
      scale *= 128;
      if ((b & 0x80) === 0) break;
    }
    if (!Number.isSafeInteger(value)) return undefined;
    values.push(value);
  }
  return i === payload.length ? values : undefined;
}
