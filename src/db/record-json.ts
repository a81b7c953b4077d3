/**
 * Payload serialisation of the records cache (see records.ts): the stored `payload` text of a record is its
 * JSON with sorted keys, without `id` and `_nango_metadata`, then `"id":<external id>` as the last member.
 * Change detection compares these texts, so the same content must always give the same text.
 */

/** JSON.stringify semantics (toJSON, undefined/function dropped, non-finite → null) with sorted keys. */
export function stableStringify(value: unknown): string | undefined {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'number':
      return Number.isFinite(value) ? String(value) : 'null';
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object': {
      const toJSON = (value as { toJSON?: unknown }).toJSON;
      if (typeof toJSON === 'function') return stableStringify((toJSON as () => unknown).call(value));
      if (Array.isArray(value)) {
        let out = '[';
        for (let i = 0; i < value.length; i++) {
          if (i > 0) out += ',';
          out += stableStringify(value[i]) ?? 'null';
        }
        return `${out}]`;
      }
      return objectJson(value as Record<string, unknown>, false);
    }
    case 'bigint':
      throw new TypeError('Do not know how to serialize a BigInt');
    default:
      return undefined;
  }
}

/** `{…}` with sorted keys; at the top level of a record, `id` and `_nango_metadata` are left out. */
function objectJson(obj: Record<string, unknown>, isRecord: boolean): string {
  const keys = Object.keys(obj).sort();
  let out = '{';
  let first = true;
  for (const key of keys) {
    if (isRecord && (key === 'id' || key === '_nango_metadata')) continue;
    const v = stableStringify(obj[key]);
    if (v === undefined) continue;
    out += first ? '' : ',';
    out += JSON.stringify(key);
    out += ':';
    out += v;
    first = false;
  }
  return `${out}}`;
}

/**
 * Stored payload text of a record: stable JSON without `id` and `_nango_metadata` (same text as
 * `stableStringify` minus those keys). Change detection compares these texts.
 */
export function recordPayload(record: { id: string | number; [key: string]: unknown }): { payload: string } {
  return { payload: payloadJson(record, undefined) };
}

/** The payload text, with `"id":<id>` as its last member when `id` is given. */
export function payloadJson(obj: Record<string, unknown>, id: string | undefined): string {
  const proto = Object.getPrototypeOf(obj) as unknown;
  // The fast paths read own keys as `for…in` or Object.keys see them: plain objects only.
  if (proto === Object.prototype || proto === null) {
    const write = shapeFor(obj)?.write;
    const json = write === undefined ? undefined : write(obj, id);
    return json ?? rankedJson(obj, id === undefined ? '' : `"id":${JSON.stringify(id)}`);
  }
  const fields = objectJson(obj, true);
  if (id === undefined) return fields;
  const last = `"id":${JSON.stringify(id)}`;
  return fields.length > 2 ? `${fields.slice(0, -1)},${last}}` : `{${last}}`;
}

/*
 * Records of one shape. A sync's records are often built with one object shape (the Lead model builds
 * every record of an export file with the same keys, empty fields `undefined`): for those a writer is
 * compiled once that copies the fields into an object literal with the keys in sorted order (and `id`
 * last) and hands it to JSON.stringify. JSON.stringify keeps that order, escapes as JSON does and writes
 * one flat string, which SQLite then takes without V8 first joining the pieces of a concatenated one.
 * Measured on sandbox leads: serialising and inserting a record ~30% cheaper than the ranked path below.
 *
 * Only values JSON.stringify writes as stableStringify does take this path: primitives, Dates, arrays of
 * those. A record with another object value (nested keys to sort, a custom toJSON) takes the ranked path.
 * So does a shape with integer-like keys, which JSON.stringify would write first. A shape is compiled
 * after it was seen on SHAPE_STREAK records in a row: records whose keys vary from one to the next
 * (sparse records) never pay for compiling.
 */
type ShapeWriter = (obj: Record<string, unknown>, id: string | undefined) => string | undefined;

interface Shape {
  keys: string[];
  /** Undefined for a shape the compiled writer cannot serve (integer-like keys). */
  write: ShapeWriter | undefined;
}

const SHAPE_STREAK = 3;
let shape: Shape | undefined;
let candidateKeys: string[] = [];
let candidateStreak = 0;

function sameKeys(a: string[], b: string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * True when `for…in` lists exactly `keys`, in order: for a plain object, its own keys as Object.keys lists
 * them (anything inherited and enumerable makes it false). No array is made, unlike Object.keys: this
 * runs for every record.
 */
function hasKeys(obj: Record<string, unknown>, keys: string[]): boolean {
  let i = 0;
  for (const key in obj) if (key !== keys[i++]) return false;
  return i === keys.length;
}

function shapeFor(obj: Record<string, unknown>): Shape | undefined {
  if (shape !== undefined && hasKeys(obj, shape.keys)) return shape;
  const keys = Object.keys(obj);
  if (shape !== undefined && sameKeys(keys, shape.keys)) return shape;
  if (!sameKeys(keys, candidateKeys)) {
    candidateKeys = keys;
    candidateStreak = 1;
    return undefined;
  }
  if (++candidateStreak < SHAPE_STREAK) return undefined;
  shape = { keys, write: compileShape(keys) };
  return shape;
}

const ARRAY_INDEX = /^(?:0|[1-9]\d{0,9})$/;

/** True for an object value JSON.stringify writes as stableStringify does: a Date, an array of primitives. */
function nativeJsonValue(v: object): boolean {
  const proto = Object.getPrototypeOf(v) as unknown;
  if (proto === Date.prototype) return !Object.hasOwn(v, 'toJSON');
  if (!Array.isArray(v) || proto !== Array.prototype) return false;
  for (let i = 0; i < v.length; i++) {
    const e = v[i] as unknown;
    if (
      typeof e === 'object' &&
      e !== null &&
      !(Object.getPrototypeOf(e) === Date.prototype && !Object.hasOwn(e, 'toJSON'))
    )
      return false;
  }
  return true;
}

/**
 * `(o, id) => JSON.stringify({"a": o.a, "b": o.b, …, id})` for one key list (keys sorted), or undefined
 * (ranked path) when a value is an object JSON.stringify would not write as stableStringify. Keys enter
 * the generated code only as JSON string literals.
 */
function compileShape(keys: string[]): ShapeWriter | undefined {
  const sorted = keys.filter((k) => k !== 'id' && k !== '_nango_metadata').sort();
  if (sorted.some((k) => ARRAY_INDEX.test(k) && Number(k) < 4294967295)) return undefined;
  const lines: string[] = [];
  const members: string[] = [];
  sorted.forEach((key, i) => {
    const name = JSON.stringify(key);
    lines.push(
      `const v${i} = o[${name}];`,
      `if (typeof v${i} === 'object' && v${i} !== null && !nativeJsonValue(v${i})) return undefined;`,
    );
    // A literal `__proto__:` would set the prototype: computed key.
    members.push(key === '__proto__' ? `[${name}]: v${i}` : `${name}: v${i}`);
  });
  members.push('id: id');
  lines.push(`return JSON.stringify({ ${members.join(', ')} });`);
  const make = new Function('nativeJsonValue', `return function (o, id) {\n${lines.join('\n')}\n};`) as (
    check: typeof nativeJsonValue,
  ) => ShapeWriter;
  return make(nativeJsonValue);
}

/*
 * Key order of the fast path. Sorting each record's keys cost more than serialising it: records of one
 * model share a small set of keys, but not one list (a Marketo lead leaves its empty fields out, so two
 * leads rarely have the same keys). Every top-level key seen so far gets its rank in sorted order; a
 * record's values are dropped into slots by rank and read back in order: no sort, no comparison.
 */
const SKIPPED_RANK = -1;
/** Key → rank in `rankedKeys` (SKIPPED_RANK for `id` and `_nango_metadata`). */
let keyRank = new Map<string, number>();
let rankedKeys: string[] = [];
/** `"key":` and `,"key":` for each ranked key. */
let rankedPrefixes: string[] = [];
let rankedCommaPrefixes: string[] = [];
/** Values of the record being serialised, by rank (always left empty). */
const slots: unknown[] = [];
/** Bound on the keys remembered: records with ever-new keys (ids as keys) start over past it. */
const MAX_RANKED_KEYS = 4096;

/** Adds `keys` to the ranked set (starting over when it grew past the bound) and re-ranks. */
function learnKeys(keys: string[]): void {
  const all = rankedKeys.length + keys.length > MAX_RANKED_KEYS ? new Set<string>() : new Set(rankedKeys);
  for (const k of keys) if (k !== 'id' && k !== '_nango_metadata') all.add(k);
  rankedKeys = [...all].sort();
  rankedPrefixes = rankedKeys.map((k) => `${JSON.stringify(k)}:`);
  rankedCommaPrefixes = rankedPrefixes.map((p) => `,${p}`);
  keyRank = new Map(rankedKeys.map((k, i) => [k, i]));
  keyRank.set('id', SKIPPED_RANK);
  keyRank.set('_nango_metadata', SKIPPED_RANK);
}

/** Characters JSON.stringify escapes (and surrogates, which it escapes when unpaired). */
// eslint-disable-next-line no-control-regex -- control characters are what JSON escapes
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;

/**
 * `JSON.stringify(v)` of a string. Most values need no escaping; testing for that is cheaper than
 * JSON.stringify of each. Also used by the provider readers that write payload text without an object.
 */
export function jsonString(v: string): string {
  return NEEDS_ESCAPE.test(v) ? JSON.stringify(v) : `"${v}"`;
}

/** JSON text of one member value (JSON.stringify semantics, nested objects with sorted keys). */
function valueJson(v: unknown): string | undefined {
  switch (typeof v) {
    case 'string':
      return jsonString(v);
    case 'number':
      return Number.isFinite(v) ? String(v) : 'null';
    case 'boolean':
      return v ? 'true' : 'false';
    case 'object':
      return v === null ? 'null' : stableStringify(v);
    default:
      return stableStringify(v);
  }
}

function rankedJson(obj: Record<string, unknown>, last: string): string {
  let lo = rankedKeys.length;
  let hi = -1;
  for (const key in obj) {
    const r = keyRank.get(key);
    if (r === undefined) {
      // A key not seen before: forget the slots filled so far, re-rank, start again.
      for (let i = lo; i <= hi; i++) slots[i] = undefined;
      learnKeys(Object.keys(obj));
      return rankedJson(obj, last);
    }
    if (r === SKIPPED_RANK) continue;
    slots[r] = obj[key];
    if (r < lo) lo = r;
    if (r > hi) hi = r;
  }
  let out = '{';
  let first = true;
  let i = lo;
  try {
    for (; i <= hi; i++) {
      const v = slots[i];
      if (v === undefined) continue;
      slots[i] = undefined;
      const json = valueJson(v);
      if (json === undefined) continue;
      out += first ? rankedPrefixes[i]! : rankedCommaPrefixes[i]!;
      out += json;
      first = false;
    }
  } catch (err) {
    // A BigInt (or a throwing toJSON): leave the slots empty for the next record.
    for (; i <= hi; i++) slots[i] = undefined;
    throw err;
  }
  if (last === '') return `${out}}`;
  return first ? `${out}${last}}` : `${out},${last}}`;
}
