/**
 * Opening the database (SQLite through better-sqlite3, or PostgreSQL through pg) and running migrations.
 */
import { chmodSync, closeSync, mkdirSync, openSync } from 'node:fs';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import {
  CompiledQuery,
  Kysely,
  Migrator,
  PostgresDialect,
  SqliteDialect,
  SqliteDriver,
  sql,
  type DatabaseConnection,
  type Driver,
  type MigrationResultSet,
  type SqliteDatabase,
  type SqliteDialectConfig,
  type SqliteStatement,
  type TransactionSettings,
} from 'kysely';
import pg from 'pg';
import type { DatabaseConfig } from '../config.ts';
import { startBackgroundCheckpoints } from './checkpointer.ts';
import { registerSqlite } from './context.ts';
import { preparingPool } from './pg-prepared.ts';
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
  const opened =
    database.kind === 'sqlite'
      ? openSqlite(database.file)
      : openPostgres(database.url, database.preparedStatements ?? true);
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
  // 16 KiB pages: a ~1.3 KB record row costs fewer page splits and b-tree levels than with 4 KiB pages
  // (records writes measured 20–35% faster). Only a new, empty database takes it (it must come before
  // the first table and before WAL); an existing database keeps its page size and ignores this.
  sqlite.pragma(`page_size = ${SQLITE_PAGE_SIZE}`);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('busy_timeout = 5000');
  sqlite.pragma('synchronous = NORMAL');
  // Checkpoint the WAL into the database every 256 MiB instead of every 1000 pages (SQLite's default:
  // 16 MiB with 16 KiB pages): fewer, larger checkpoints and fsyncs. Bulk record writes measured up to
  // +40% (1 KB rows, 300k rows). Same durability as before (synchronous NORMAL: a power loss may roll back
  // the last commits, never corrupt; a sync's page and its checkpoint commit together).
  // A database file also gets a checkpointer thread (checkpointer.ts) that does nearly all of that work
  // off the main thread and empties the log file when writes pause; the log file is then not cut back
  // by the main connection at each restart (truncating a 256 MiB file took 60–95 ms inside a COMMIT).
  // In memory, or should that thread not start, the file is cut back to 64 MiB at each restart.
  const background = file !== ':memory:';
  const pageSize = Number(sqlite.pragma('page_size', { simple: true }));
  sqlite.pragma(`wal_autocheckpoint = ${Math.max(1000, Math.round(WAL_CHECKPOINT_BYTES / pageSize))}`);
  sqlite.pragma(`journal_size_limit = ${background ? 2 * WAL_CHECKPOINT_BYTES : WAL_KEEP_BYTES}`);
  // Page cache (negative = KiB): 8 MiB (default 2 MiB) keeps the upper levels of a million-record
  // model's indexes cached for the writes' lookups. Not more: it counts in the process's RSS (32 MiB cost
  // ~40 MB of RSS during a 1M-lead sync for no measurable gain).
  sqlite.pragma(`cache_size = -${SQLITE_CACHE_KIB}`);
  const db = new Kysely<Database>({
    dialect: new WriteLockingSqliteDialect({ database: withStatementCache(sqlite) }),
  });
  registerSqlite(db, sqlite);
  // Checkpoints off the main thread (see checkpointer.ts); the automatic one above stays the backstop.
  const checkpoints = background ? startBackgroundCheckpoints(file) : undefined;
  return {
    db,
    dialect: 'sqlite',
    close: onceAsync(async () => {
      // Stopped first: the main connection, closed last, then checkpoints what is left and drops the log.
      await checkpoints?.stop();
      await db.destroy();
    }),
  };
}

/**
 * SQLite transactions that begin with `BEGIN IMMEDIATE`, i.e. holding the write lock from their start,
 * unless they are declared read only (`setAccessMode('read only')`: a plain, deferred `BEGIN`).
 *
 * Why: Kysely begins with a deferred `BEGIN`, which takes the write lock at the transaction's first
 * write. If another connection holds it at that moment (the checkpointer thread's TRUNCATE checkpoint
 * when writes pause, a CLI or second process on the same file), SQLite cannot wait: a transaction that
 * already read may not wait for a writer (it could deadlock, or its snapshot is stale once the other
 * commits), so it fails at once with SQLITE_BUSY, `busy_timeout` notwithstanding. bench:sync met it:
 * `POST /sync/trigger` answered 503 right after a large load, when the log was emptied. Taking the lock
 * at `BEGIN` waits for it like any single write does. This process has one connection and Kysely runs
 * one transaction at a time on it, so locking early costs it nothing.
 */
class WriteLockingSqliteDialect extends SqliteDialect {
  readonly #config: SqliteDialectConfig;

  constructor(config: SqliteDialectConfig) {
    super(config);
    this.#config = config;
  }

  override createDriver(): Driver {
    return new WriteLockingSqliteDriver(this.#config);
  }
}

class WriteLockingSqliteDriver extends SqliteDriver {
  override async beginTransaction(
    connection: DatabaseConnection,
    settings?: TransactionSettings,
  ): Promise<void> {
    const begin = settings?.accessMode === 'read only' ? 'begin' : 'begin immediate';
    await connection.executeQuery(CompiledQuery.raw(begin));
  }
}

/** Page size of new SQLite databases. */
export const SQLITE_PAGE_SIZE = 16_384;
const SQLITE_CACHE_KIB = 8_192;
const WAL_CHECKPOINT_BYTES = 256 * 1024 * 1024;
const WAL_KEEP_BYTES = 64 * 1024 * 1024;
/**
 * Prepared statements kept per SQLite database, least recently used dropped first, bounded by count and
 * by their SQL text: a compiled statement takes ~30 times its text in memory (a 500-row upsert: 12 KB of
 * SQL, ~360 KB compiled), so 256 KB of text is ~8 MB at most.
 */
const STATEMENT_CACHE_SIZE = 256;
const STATEMENT_CACHE_CHARS = 256 * 1024;

/**
 * The database as Kysely's SQLite driver sees it, with `prepare` answering from a cache of prepared
 * statements keyed by SQL text. Kysely prepares every query it runs; for the records writes (10 KB
 * multi-row statements, ten per page) compiling the SQL again each time was measurable. better-sqlite3
 * statements are reusable; SQLite re-prepares them itself after a schema change. A cached statement still
 * being iterated (a streamed query) is never handed out twice: a fresh one is prepared for the second user.
 */
function withStatementCache(sqlite: BetterSqlite3.Database): SqliteDatabase {
  const cache = new Map<string, BetterSqlite3.Statement>();
  let chars = 0;
  return {
    close: () => {
      cache.clear();
      sqlite.close();
    },
    prepare(text: string): SqliteStatement {
      let stmt = cache.get(text);
      if (stmt !== undefined) {
        if (stmt.busy) return sqlite.prepare(text);
        // Map order is insertion order: re-inserting makes this the most recently used.
        cache.delete(text);
        cache.set(text, stmt);
        return stmt;
      }
      stmt = sqlite.prepare(text);
      if (text.length > STATEMENT_CACHE_CHARS / 4) return stmt;
      cache.set(text, stmt);
      chars += text.length;
      while (cache.size > STATEMENT_CACHE_SIZE || chars > STATEMENT_CACHE_CHARS) {
        const oldest = cache.keys().next().value!;
        cache.delete(oldest);
        chars -= oldest.length;
      }
      return stmt;
    },
  };
}

/*
 * PostgreSQL: `npm test` runs every test that opens Tether's database on PostgreSQL too (the `postgres`
 * test project, a throwaway server: vitest.config.ts), the startup path (store.ts key check, migrations in a
 * schema of their own) included. Not yet covered: pool sizing under load and SSL options.
 */
function openPostgres(url: string, preparedStatements: boolean): OpenDatabase {
  const pool = new pg.Pool({ connectionString: url, max: 10 });
  const db = new Kysely<Database>({
    dialect: new PostgresDialect({ pool: preparedStatements ? preparingPool(pool) : pool }),
  });
  return { db, dialect: 'postgres', close: onceAsync(() => db.destroy()) };
}

function onceAsync(fn: () => Promise<void>): () => Promise<void> {
  let p: Promise<void> | undefined;
  return () => (p ??= fn());
}

/** Runs every pending migration. Idempotent. Throws `MigrationError` naming the migration that failed. */
export async function migrateToLatest(db: Db, dialect: Dialect): Promise<MigrationResultSet> {
  // On PostgreSQL, name the schema the tables go to (the connection's current schema): Kysely otherwise
  // looks for its migration tables in every schema of the database, so a second Tether (or test) in
  // another schema of the same database would find the first one's tables and skip creating its own.
  const schema =
    dialect === 'postgres'
      ? (await sql<{ schema: string }>`select current_schema() as schema`.execute(db)).rows[0]?.schema
      : undefined;
  const migrator = new Migrator({
    db,
    provider: migrationProvider(dialect),
    migrationTableName: 'tether_migrations',
    migrationLockTableName: 'tether_migrations_lock',
    ...(schema ? { migrationTableSchema: schema } : {}),
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
