/**
 * `GET /records` page bodies as UTF-8 bytes, written into one buffer: the same bytes as
 * `Buffer.from(recordsPageJson(rows, nextCursor))` (records.ts), without a string per record.
 *
 * Why: a packed payload (src/record-payload.ts) is answered with its member names put back. Done with
 * strings (a slice per value, concatenated, then the page joined and encoded), that cost ~4 µs per lead
 * and halved the server-bound read rate of bench:records (193,000 → 107,000 records/s). Here each payload
 * is encoded once into a scratch buffer and its values are copied between the shape's key bytes: U+001F
 * separators stay single 0x1F bytes in UTF-8 (no multi-byte sequence contains a byte below 0x80).
 */
import { isPacked, type RecordShape } from '../record-payload.ts';
import { shapeOf } from './record-shapes.ts';
import { encodeCursor, metaJson, type RecordRow } from './records.ts';

const SEPARATOR = 0x1f;
const ID_KEY = Buffer.from('"id":', 'latin1');

interface ShapeBytes {
  keys: Buffer[];
  total: number;
}
const shapeBytes = new WeakMap<RecordShape, ShapeBytes>();

/** `"name":` of each member as UTF-8 bytes, and their total length. */
function bytesOf(shape: RecordShape): ShapeBytes {
  let s = shapeBytes.get(shape);
  if (s === undefined) {
    const keys = shape.members.map((m) => Buffer.from(`${JSON.stringify(m)}:`, 'utf8'));
    s = { keys, total: keys.reduce((a, k) => a + k.length, 0) };
    shapeBytes.set(shape, s);
  }
  return s;
}

let scratch = Buffer.allocUnsafe(1 << 16);

/**
 * The body of a records page. The rows' packed payloads must have their shapes loaded (listRecordRows
 * does).
 */
export function recordsPageBody(rows: RecordRow[], nextCursor: string | null): Buffer {
  const head = `{"next_cursor":${nextCursor === null ? 'null' : `"${nextCursor}"`},"records":[`;
  let b = Buffer.allocUnsafe(head.length + 2 + rows.length * 1600);
  let k = b.write(head, 0, 'latin1');
  for (let r = 0; r < rows.length; r++) {
    const row = rows[r]!;
    const payload = row.payload;
    const packed = isPacked(payload);
    const shape = packed ? bytesOf(shapeOf(payload)) : undefined;
    // Room for the payload (3 bytes a UTF-16 unit at most), the keys, the metadata and the brackets.
    const need = 3 * payload.length + (shape?.total ?? 0) + 512;
    if (k + need > b.length) {
      const grown = Buffer.allocUnsafe(Math.max(2 * b.length, k + need));
      b.copy(grown, 0, 0, k);
      b = grown;
    }
    if (r > 0) b[k++] = 44; // ,
    if (shape === undefined) {
      // `{…}` without its closing brace (the metadata follows).
      k += b.write(payload, k, 'utf8') - 1;
    } else {
      if (scratch.length < 3 * payload.length) scratch = Buffer.allocUnsafe(6 * payload.length);
      const src = scratch;
      const n = src.write(payload, 0, 'utf8');
      let p = 0;
      while (src[p] !== SEPARATOR) p++;
      p++;
      b[k++] = 123; // {
      const keys = shape.keys;
      for (let i = 0; i < keys.length; i++) {
        let e = p;
        while (src[e] !== SEPARATOR) e++;
        if (e > p) {
          const key = keys[i]!;
          for (let q = 0; q < key.length; q++) b[k++] = key[q]!;
          for (let q = p; q < e; q++) b[k++] = src[q]!;
          b[k++] = 44;
        }
        p = e + 1;
      }
      for (let q = 0; q < ID_KEY.length; q++) b[k++] = ID_KEY[q]!;
      for (let q = p; q < n; q++) b[k++] = src[q]!;
    }
    const meta = metaJson(row.created_at, row.updated_at, row.deleted_at, row.pruned_at);
    k += b.write(`${meta}${encodeCursor(row.updated_at, row.id)}"}}`, k, 'latin1');
  }
  if (k + 2 > b.length) {
    const grown = Buffer.allocUnsafe(k + 2);
    b.copy(grown, 0, 0, k);
    b = grown;
  }
  b[k++] = 93; // ]
  b[k++] = 125; // }
  return b.subarray(0, k);
}
