/**
 * A record already serialised as the records cache stores it, by a provider that can write that text more
 * cheaply than an object (the Lead export reader writes it straight from the CSV text). Neither engine nor
 * provider code: the provider hands these to `io.save` next to plain records, and the records store keeps
 * `payload` as is, comparing it with the stored text for change detection. Whoever builds one owns the
 * text: the same content must always give the same text.
 *
 * Two forms of `payload`:
 * - JSON (db/record-json.ts format): the record's JSON with sorted keys, no `undefined` members, no
 *   `_nango_metadata`, then `"id":"<id>"` as the last member.
 * - Packed, with a {@link RecordShape}: the member names are left out and kept once per shape (the store
 *   keeps each shape in `record_shapes`). Every record of a model from one export file has the same
 *   members, and their names were ~45% of a lead's stored bytes: every byte is written three times
 *   (insert, write-ahead log, checkpoint), and bench:sync measured +14–25% records/s without them. Reads
 *   give the JSON form back ({@link unpackPayload}), the same text byte for byte.
 *
 * Packed text: {@link PACKED_MARK}, the shape's hash, then per member of the shape its JSON value or
 * nothing (member absent), each followed by {@link PACKED_SEPARATOR}, then the id as a JSON string. The
 * separator, U+001F, cannot occur in JSON text (control characters are escaped in strings), and the mark
 * cannot start it, so neither needs escaping.
 */
import { createHash } from 'node:crypto';

export const PACKED_MARK = '\x01';
export const PACKED_SEPARATOR = '\x1f';

/** The members of packed payloads, in order (sorted, without `id`), and their content address. */
export interface RecordShape {
  /** base64url of the first 12 bytes of sha256(JSON of `members`). */
  readonly hash: string;
  readonly members: readonly string[];
}

/** The shape of `members` (sorted names, `id` and `_nango_metadata` not among them). */
export function recordShape(members: readonly string[]): RecordShape {
  const hash = createHash('sha256').update(JSON.stringify(members)).digest('base64url').slice(0, 16);
  return { hash, members: [...members] };
}

/** What a packed payload of `shape` starts with. */
export function packedPrefix(shape: RecordShape): string {
  return `${PACKED_MARK}${shape.hash}${PACKED_SEPARATOR}`;
}

export function isPacked(payload: string): boolean {
  return payload.charCodeAt(0) === 1;
}

/** The hash of a packed payload's shape. */
export function packedShapeHash(payload: string): string {
  const end = payload.indexOf(PACKED_SEPARATOR);
  return payload.slice(1, end === -1 ? payload.length : end);
}

/** `"name":` of each member, as JSON text (computed once per shape). */
const memberKeys = new WeakMap<RecordShape, string[]>();

/**
 * The JSON form of a packed payload of `shape`. Throws on a text that does not fit the shape (a stored
 * text is never such, unless the database was edited by hand).
 */
export function unpackPayload(payload: string, shape: RecordShape): string {
  let keys = memberKeys.get(shape);
  if (keys === undefined) {
    keys = shape.members.map((m) => `${JSON.stringify(m)}:`);
    memberKeys.set(shape, keys);
  }
  const parts = payload.split(PACKED_SEPARATOR);
  if (parts.length !== keys.length + 2 || parts[0] !== `${PACKED_MARK}${shape.hash}`) {
    throw new Error(`a packed record payload does not fit its shape ${shape.hash}`);
  }
  let out = '{';
  for (let i = 0; i < keys.length; i++) {
    const value = parts[i + 1]!;
    if (value !== '') out += `${keys[i]!}${value},`;
  }
  return `${out}"id":${parts[keys.length + 1]!}}`;
}

export class PayloadRecord {
  constructor(
    /** The external id, as in the payload's last member. */
    readonly id: string,
    /** JSON (`{…sorted members…,"id":"<id>"}`), or packed when `shape` is given. */
    readonly payload: string,
    /** The shape of a packed `payload` (one object shared by the records of a file). */
    readonly shape?: RecordShape,
  ) {}

  /** The record's JSON text, `{…sorted members…,"id":"<id>"}`, whichever form `payload` has. */
  json(): string {
    return this.shape === undefined ? this.payload : unpackPayload(this.payload, this.shape);
  }

  /** JSON.stringify writes the record it holds (for logs and tests; the store uses `payload`). */
  toJSON(): unknown {
    return JSON.parse(this.json());
  }
}
