/**
 * Byte writers for export lines encoded straight into the file buffer: no string is built, so no
 * rope to flatten, no UTF-8 conversion and no garbage per lead.
 *
 * Every writer stores with plain indexed writes and returns the offset after what it wrote. Past
 * the end of `buf` the stores are dropped (typed arrays ignore out-of-range indexes) while the
 * offset keeps counting: a caller that gets an offset beyond `buf.length` knows the bytes did not
 * fit and writes them again into a larger buffer.
 */

/** Node's Buffer method (not in its type definitions): one-byte chars copied as bytes. */
interface Latin1Writable {
  latin1Write(s: string, at: number): number;
}

/** Chars of a one-byte string (ASCII, or a byte string holding UTF-8 bytes one per char). */
export function putStr(buf: Buffer, at: number, s: string): number {
  const n = s.length;
  if (n > 16 && at + n <= buf.length) {
    // Long strings (cookie prefixes, domains, titles, Salesforce ids) copy faster natively: a
    // char loop over strings of every representation is a generic call per char.
    (buf as Buffer & Latin1Writable).latin1Write(s, at);
    return at + n;
  }
  for (let i = 0; i < n; i++) buf[at + i] = s.charCodeAt(i);
  return at + n;
}

export function putBytes(buf: Buffer, at: number, b: Uint8Array): number {
  const n = b.length;
  if (n > 32 && at + n <= buf.length) {
    // A native copy beats the loop for long runs (company and city texts), not for names.
    buf.set(b, at);
    return at + n;
  }
  for (let i = 0; i < n; i++) buf[at + i] = b[i]!;
  return at + n;
}

/** Decimal digits of an integer 0 ≤ n < 2^31 (what `String(n)` gives). */
function putSmall(buf: Buffer, at: number, n: number): number {
  let len = 1;
  for (let t = n; t >= 10; t = (t / 10) | 0) len++;
  let x = n | 0;
  for (let p = at + len - 1; p >= at; p--) {
    const q = (x / 10) | 0;
    buf[p] = 48 + x - q * 10;
    x = q;
  }
  return at + len;
}

/** `n` as exactly `width` digits, zero-padded (0 ≤ n < 10^width, width ≤ 9). */
export function putPadded(buf: Buffer, at: number, n: number, width: number): number {
  let x = n | 0;
  for (let p = at + width - 1; p >= at; p--) {
    const q = (x / 10) | 0;
    buf[p] = 48 + x - q * 10;
    x = q;
  }
  return at + width;
}

/** Decimal digits of a safe integer n ≥ 0: `String(n)` without a string. */
export function putUint(buf: Buffer, at: number, n: number): number {
  if (n < 2147483648) return putSmall(buf, at, n);
  const hi = Math.floor(n / 1e9);
  return putPadded(buf, putUint(buf, at, hi), n - hi * 1e9, 9);
}

/** `String(v)` of a number. */
export function putNumber(buf: Buffer, at: number, v: number): number {
  if (v >= 0 && v <= Number.MAX_SAFE_INTEGER && Number.isInteger(v)) return putUint(buf, at, v);
  return putStr(buf, at, String(v));
}

/** `String(c / 100)` for an integer 0 ≤ c ≤ 10000 (two decimals at most), without
 * the shortest-double algorithm. */
export function putHundredths(buf: Buffer, at: number, c: number): number {
  const whole = (c / 100) | 0;
  at = putUint(buf, at, whole);
  const frac = c - whole * 100;
  if (frac === 0) return at;
  const tens = (frac / 10) | 0;
  buf[at++] = 46; // .
  buf[at++] = 48 + tens;
  if (frac !== tens * 10) buf[at++] = 48 + frac - tens * 10;
  return at;
}

const N = 110; // n
const U = 117; // u
const L = 108; // l

/** The literal `null` Marketo writes for missing and empty values. */
export function putNull(buf: Buffer, at: number): number {
  buf[at] = N;
  buf[at + 1] = U;
  buf[at + 2] = L;
  buf[at + 3] = L;
  return at + 4;
}

/** `true` / `false`. */
export function putBool(buf: Buffer, at: number, v: boolean): number {
  if (v) {
    buf[at] = 116; // t
    buf[at + 1] = 114; // r
    buf[at + 2] = U;
    buf[at + 3] = 101; // e
    return at + 4;
  }
  buf[at] = 102; // f
  buf[at + 1] = 97; // a
  buf[at + 2] = L;
  buf[at + 3] = 115; // s
  buf[at + 4] = 101;
  return at + 5;
}

/**
 * One cell of a value that needs no quoting, as the bulk encoder writes it: null and empty as
 * `null`, numbers and booleans as `String()` gives them, strings (one-byte) as they are.
 */
export function putCell(buf: Buffer, at: number, v: string | number | boolean | null): number {
  if (typeof v === 'string') return v === '' ? putNull(buf, at) : putStr(buf, at, v);
  if (typeof v === 'number') return putNumber(buf, at, v);
  if (v === null) return putNull(buf, at);
  return putBool(buf, at, v);
}

/** Years whose ISO form is four plain digits: outside them callers take the string path. */
export const ISO_MIN_MS = Date.UTC(1000, 0, 1);
export const ISO_MAX_MS = Date.UTC(10000, 0, 1);

/** Two ASCII digits per number 0..99. */
const DIGIT_PAIRS = new Uint8Array(200);
for (let i = 0; i < 100; i++) {
  DIGIT_PAIRS[2 * i] = 48 + ((i / 10) | 0);
  DIGIT_PAIRS[2 * i + 1] = 48 + (i % 10);
}

function putPair(buf: Buffer, at: number, n: number): void {
  buf[at] = DIGIT_PAIRS[2 * n]!;
  buf[at + 1] = DIGIT_PAIRS[2 * n + 1]!;
}

/**
 * `YYYY-MM-DD` of day number `day` (days since the epoch), civil-from-days (proleptic Gregorian,
 * as `Date#toISOString`), for years 1000..9999: every quantity is then a positive int32, so `| 0`
 * is the floor.
 */
export function putIsoDay(buf: Buffer, at: number, day: number): number {
  const z = (day + 719468) | 0;
  const era = (z / 146097) | 0;
  const doe = z - era * 146097;
  const yoe = ((doe - ((doe / 1460) | 0) + ((doe / 36524) | 0) - ((doe / 146096) | 0)) / 365) | 0;
  const doy = doe - (365 * yoe + ((yoe / 4) | 0) - ((yoe / 100) | 0));
  const mp = ((5 * doy + 2) / 153) | 0;
  const d = doy - (((153 * mp + 2) / 5) | 0) + 1;
  const m = mp < 10 ? mp + 3 : mp - 9;
  const y = yoe + era * 400 + (m <= 2 ? 1 : 0);
  const century = (y / 100) | 0;
  putPair(buf, at, century);
  putPair(buf, at + 2, y - century * 100);
  buf[at + 4] = 45; // -
  putPair(buf, at + 5, m);
  buf[at + 7] = 45;
  putPair(buf, at + 8, d);
  return at + 10;
}

/** `YYYY-MM-DDTHH:MM:SSZ` of epoch ms in [{@link ISO_MIN_MS}, {@link ISO_MAX_MS}). */
export function putIsoSeconds(buf: Buffer, at: number, ms: number): number {
  const secs = Math.floor(ms / 1000);
  const day = Math.floor(secs / 86400);
  let sod = (secs - day * 86400) | 0;
  at = putIsoDay(buf, at, day);
  const hh = (sod / 3600) | 0;
  sod -= hh * 3600;
  const mm = (sod / 60) | 0;
  buf[at] = 84; // T
  putPair(buf, at + 1, hh);
  buf[at + 3] = 58; // :
  putPair(buf, at + 4, mm);
  buf[at + 6] = 58;
  putPair(buf, at + 7, sod - mm * 60);
  buf[at + 9] = 90; // Z
  return at + 10;
}
