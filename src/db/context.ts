/**
 * What every repository function takes first: the database handle (or a transaction), the vault for
 * encrypted columns and token hashes, and a clock (tests pass a fixed one).
 */
import type BetterSqlite3 from 'better-sqlite3';
import { PostgresAdapter, type Kysely } from 'kysely';
import type { Vault } from '../engine/vault.ts';
import type { Database } from './schema.ts';

export interface DbContext {
  db: Kysely<Database>;
  vault: Vault;
  /** Defaults to `() => new Date()`. */
  now?: () => Date;
}

export function nowOf(ctx: Pick<DbContext, 'now'>): Date {
  return ctx.now ? ctx.now() : new Date();
}

/** The better-sqlite3 connection under each SQLite Kysely instance (registered by database.ts). */
const sqliteOfDb = new WeakMap<object, BetterSqlite3.Database>();
/** Transactions opened by `inTransaction` on SQLite, while open → the connection they hold. */
const sqliteOfTx = new WeakMap<object, BetterSqlite3.Database>();

/** Called by database.ts for a SQLite database: its Kysely instance runs on `sqlite` (one connection). */
export function registerSqlite(db: Kysely<Database>, sqlite: BetterSqlite3.Database): void {
  sqliteOfDb.set(db, sqlite);
}

/**
 * The better-sqlite3 connection of `ctx.db` when it is a transaction opened by `inTransaction` on SQLite
 * and still open; else undefined. SQLite has one connection, which the transaction holds until it ends
 * (Kysely lets no other query through meanwhile), so statements run on it synchronously are part of that
 * transaction: hot write paths (records.ts) run their statements there without Kysely's per-query
 * compile / promise overhead.
 */
export function transactionSqlite(ctx: DbContext): BetterSqlite3.Database | undefined {
  return sqliteOfTx.get(ctx.db);
}

/** True when `ctx` talks to PostgreSQL (row locks such as FOR SHARE exist there, not on SQLite). */
export function isPostgres(ctx: DbContext): boolean {
  return ctx.db.getExecutor().adapter instanceof PostgresAdapter;
}

/** Runs `fn` in a transaction, with a context whose `db` is the transaction. */
export function inTransaction<T>(ctx: DbContext, fn: (tx: DbContext) => Promise<T>): Promise<T> {
  if (ctx.db.isTransaction) return fn(ctx);
  const sqlite = sqliteOfDb.get(ctx.db);
  if (sqlite === undefined) return ctx.db.transaction().execute((trx) => fn({ ...ctx, db: trx }));
  return ctx.db.transaction().execute(async (trx) => {
    sqliteOfTx.set(trx, sqlite);
    try {
      return await fn({ ...ctx, db: trx });
    } finally {
      sqliteOfTx.delete(trx);
    }
  });
}

/** JSON text column helpers. */
export function toJson(value: unknown): string {
  return JSON.stringify(value);
}

export function fromJson<T>(text: string | null): T | null {
  return text === null ? null : (JSON.parse(text) as T);
}
