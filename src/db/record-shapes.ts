/**
 * The shapes of packed record payloads (src/record-payload.ts) in `record_shapes`, and the cache of the
 * ones this process has read or written.
 *
 * A shape is content-addressed (its hash is of its member list), so a cached shape is right for every
 * database and never goes stale. The writer of a packed record stores its shape in the same transaction
 * (an insert that does nothing when the shape is there): a reader that finds a packed payload finds its
 * shape too. A member list stored under the same hash as another (a 96-bit hash: never in practice) is
 * refused rather than mixed up.
 */
import type BetterSqlite3 from 'better-sqlite3';
import { isPacked, packedShapeHash, unpackPayload, type RecordShape } from '../record-payload.ts';
import type { DbContext } from './context.ts';
import { run } from './raw-query.ts';

const known = new Map<string, RecordShape>();

const INSERT =
  'insert into record_shapes (hash, members, created_at) values (?, ?, ?) on conflict (hash) do nothing';
const SELECT_ONE = 'select members from record_shapes where hash = ?';

/** Caches `shape` once the stored member list is known to be its own. */
function adopt(shape: RecordShape, storedMembers: string | undefined): void {
  if (storedMembers !== JSON.stringify(shape.members)) {
    throw new Error(`record shape ${shape.hash}: the stored member list differs from the one written`);
  }
  known.set(shape.hash, shape);
}

/** Statements per SQLite connection (prepared once). */
const statements = new WeakMap<
  BetterSqlite3.Database,
  { insert: BetterSqlite3.Statement; select: BetterSqlite3.Statement }
>();

function sqliteStatements(sqlite: BetterSqlite3.Database) {
  let s = statements.get(sqlite);
  if (s === undefined) {
    s = { insert: sqlite.prepare(INSERT), select: sqlite.prepare(SELECT_ONE).pluck() };
    statements.set(sqlite, s);
  }
  return s;
}

/** Stores `shapes` (in the caller's transaction on `sqlite`). */
export function saveShapesSqlite(
  sqlite: BetterSqlite3.Database,
  shapes: readonly RecordShape[],
  now: string,
): void {
  const s = sqliteStatements(sqlite);
  for (const shape of shapes) {
    s.insert.run(shape.hash, JSON.stringify(shape.members), now);
    if (known.get(shape.hash) !== shape) adopt(shape, s.select.get(shape.hash) as string | undefined);
  }
}

/** Stores `shapes` (in the transaction `ctx.db`, when it is one). */
export async function saveShapes(ctx: DbContext, shapes: readonly RecordShape[], now: string): Promise<void> {
  for (const shape of shapes) {
    await run(ctx, INSERT, [shape.hash, JSON.stringify(shape.members), now]);
    if (known.get(shape.hash) === shape) continue;
    const { rows } = await run<{ members: string }>(ctx, SELECT_ONE, [shape.hash]);
    adopt(shape, rows[0]?.members);
  }
}

/** The hashes of packed `payloads` whose shape is not cached. */
function unknownHashes(payloads: Iterable<string>): string[] {
  const out = new Set<string>();
  for (const p of payloads) {
    if (!isPacked(p)) continue;
    const hash = packedShapeHash(p);
    if (!known.has(hash)) out.add(hash);
  }
  return [...out];
}

function cache(hash: string, members: string | undefined): void {
  if (members === undefined) throw new Error(`record shape ${hash} is missing from record_shapes`);
  known.set(hash, { hash, members: JSON.parse(members) as string[] });
}

/** Reads the shapes of packed `payloads` not cached yet (SQLite, synchronously). */
export function loadShapesSqlite(sqlite: BetterSqlite3.Database, payloads: Iterable<string>): void {
  for (const hash of unknownHashes(payloads)) {
    cache(hash, sqliteStatements(sqlite).select.get(hash) as string | undefined);
  }
}

/** Reads the shapes of packed `payloads` not cached yet. */
export async function loadShapes(ctx: DbContext, payloads: Iterable<string>): Promise<void> {
  for (const hash of unknownHashes(payloads)) {
    const { rows } = await run<{ members: string }>(ctx, SELECT_ONE, [hash]);
    cache(hash, rows[0]?.members);
  }
}

/** The cached shape of a packed payload (loaded by loadShapes); throws when it is not. */
export function shapeOf(payload: string): RecordShape {
  const hash = packedShapeHash(payload);
  const shape = known.get(hash);
  if (shape === undefined) throw new Error(`record shape ${hash} was not loaded`);
  return shape;
}

/** The JSON form of a stored payload; a packed one's shape must be loaded (see loadShapes). */
export function jsonPayload(payload: string): string {
  return isPacked(payload) ? unpackPayload(payload, shapeOf(payload)) : payload;
}

/** Whether two stored payloads hold the same record, in whichever form each is (shapes loaded). */
export function samePayload(a: string, b: string): boolean {
  if (a === b) return true;
  if (!isPacked(a) && !isPacked(b)) return false;
  return jsonPayload(a) === jsonPayload(b);
}

/** Empties the cache, as in a process that just started (tests). */
export function forgetRecordShapes(): void {
  known.clear();
}
