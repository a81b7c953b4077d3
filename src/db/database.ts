/**
 * Opening the database (SQLite through better-sqlite3, or PostgreSQL through pg) and running migrations.
 */
import { chmodSync, closeSync, mkdirSync, openSync } from 'node:fs';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, Migrator, PostgresDialect, SqliteDialect, type MigrationResultSet } from 'kysely';
import pg from 'pg';
import type { DatabaseConfig } from '../config.ts';
import { migrationProvider, type Dialect } from './migrations/index.ts';
import type { Database } from './schema.ts';

export type { Dialect } from './migrations/index.ts';
export type Db = Kysely<Database>;

export interface OpenDatabase {
  db: Db;
  dialect: Dialect;
  /** Closes the pool / file handle. Safe to call twice. */
  close(): Promise<void>;
}

export interface OpenDatabaseOptions {
  /** Run pending migrations before returning (default true). */
  migrate?: boolean;
}

export class MigrationError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'MigrationError';
  }
}

/** Accepts the whole TetherConfig or just its `database` part. */
export async function openDatabase(
  config: { database: DatabaseConfig },
  options: OpenDatabaseOptions = {},
): Promise<OpenDatabase> {
  const { database } = config;
  const opened = database.kind === 'sqlite' ? openSqlite(database.file) : openPostgres(database.url);
  if (options.migrate ?? true) {
    try {
      await migrateToLatest(opened.db, opened.dialect);
    } catch (err) {
      await opened.close();
      throw err;
    }
  }
  return opened;
}

function openSqlite(file: string): OpenDatabase {
  if (file !== ':memory:') {
    mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    // The database holds encrypted secrets and token hashes: owner-only. SQLite gives its -wal/-shm files
    // the permissions of the main file.
    try {
      closeSync(openSync(file, 'wx', 0o600));
      chmodSync(file, 0o600);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
  const sqlite = new BetterSqlite3(file);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('busy_timeout = 5000');
  sqlite.pragma('synchronous = NORMAL');
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) });
  return { db, dialect: 'sqlite', close: onceAsync(() => db.destroy()) };
}

/*
 * TODO(postgres): PostgreSQL is not tested in CI (CI starts no PostgreSQL server yet). The migrations and the
 * repository suites (connections, integrations, sessions, environments) passed once by hand against
 * PostgreSQL 15 via TETHER_TEST_POSTGRES_URL (see ./testing.ts); pool sizing, SSL options and the key-check
 * / startup path (store.ts) on PostgreSQL are untested. Add a CI job before documenting
 * TETHER_DATABASE_URL=postgres:// as supported.
 */
function openPostgres(url: string): OpenDatabase {
  const pool = new pg.Pool({ connectionString: url, max: 10 });
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  return { db, dialect: 'postgres', close: onceAsync(() => db.destroy()) };
}

function onceAsync(fn: () => Promise<void>): () => Promise<void> {
  let p: Promise<void> | undefined;
  return () => (p ??= fn());
}

/** Runs every pending migration. Idempotent. Throws `MigrationError` naming the migration that failed. */
export async function migrateToLatest(db: Db, dialect: Dialect): Promise<MigrationResultSet> {
  const migrator = new Migrator({
    db,
    provider: migrationProvider(dialect),
    migrationTableName: 'tether_migrations',
    migrationLockTableName: 'tether_migrations_lock',
  });
  const result = await migrator.migrateToLatest();
  if (result.error) {
    const failed = result.results?.find((r) => r.status === 'Error');
    const cause = result.error;
    throw new MigrationError(
      `Database migration ${failed ? `"${failed.migrationName}" ` : ''}failed: ${
        cause instanceof Error ? cause.message : String(cause)
      }`,
      { cause },
    );
  }
  return result;
}

/** True if `err` is a unique-constraint violation (SQLite or PostgreSQL). */
export function isUniqueViolation(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const code = (err as { code?: unknown }).code;
  return code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === '23505';
}
