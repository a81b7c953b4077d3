/**
 * What every repository function takes first: the database handle (or a transaction), the vault for
 * encrypted columns and token hashes, and a clock (tests pass a fixed one).
 */
import type { Kysely } from 'kysely';
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

/** Runs `fn` in a transaction, with a context whose `db` is the transaction. */
export function inTransaction<T>(ctx: DbContext, fn: (tx: DbContext) => Promise<T>): Promise<T> {
  if (ctx.db.isTransaction) return fn(ctx);
  return ctx.db.transaction().execute((trx) => fn({ ...ctx, db: trx }));
}

/** JSON text column helpers. */
export function toJson(value: unknown): string {
  return JSON.stringify(value);
}

export function fromJson<T>(text: string | null): T | null {
  return text === null ? null : (JSON.parse(text) as T);
}
