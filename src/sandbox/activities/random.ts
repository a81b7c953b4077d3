/**
 * Stateless hashing for procedural data: every generated value is a pure function of (seed, what,
 * index), so nothing per item is stored and any item can be produced in any order.
 */

const TWO_32 = 4294967296;

function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** A 32-bit hash of (seed, salt, n); `n` may be any non-negative integer below 2^53. */
export function hash(seed: number, salt: number, n: number): number {
  const lo = n >>> 0;
  const hi = Math.floor(n / TWO_32) >>> 0;
  let h = fmix((seed ^ 0x9e3779b9) >>> 0);
  h = fmix((h ^ Math.imul(salt | 0, 0x27d4eb2f)) >>> 0);
  h = fmix((h ^ lo) >>> 0);
  return fmix((h ^ Math.imul(hi, 0x165667b1)) >>> 0);
}

/** A uniform integer in [0, m) from a 32-bit hash. */
export function pick(h: number, m: number): number {
  return Math.floor((h / TWO_32) * m);
}

/** A uniform number in [0, 1) from a 32-bit hash. */
export function unit(h: number): number {
  return h / TWO_32;
}
