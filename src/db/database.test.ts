import { mkdirSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import BetterSqlite3 from 'better-sqlite3';
import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { migrateToLatest, openDatabase, SQLITE_PAGE_SIZE } from './database.ts';
import { inTransaction } from './context.ts';
import { makeTempDir } from './testing.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tempFile(): string {
  const dir = makeTempDir();
  dirs.push(dir);
  return path.join(dir, 'nested', 'tether.sqlite');
}

const TABLES = [
  'action_runs',
  'connect_sessions',
  'connection_limits',
  'connection_tags',
  'connections',
  'environments',
  'instance_limits',
  'integration_functions',
  'integrations',
  'meta',
  'record_shapes',
  'records',
  'request_log',
  'shared_slots',
  'sync_run_logs',
  'sync_runs',
  'syncs',
  'tether_processes',
  'usage_days',
  'webhook_outbox',
];

describe('openDatabase (SQLite)', () => {
  it('migrates an empty database and is idempotent', async () => {
    const file = tempFile();
    const first = await openDatabase({ database: { kind: 'sqlite', file } });
    const tables = await first.db.introspection.getTables();
    expect(tables.map((t) => t.name).sort()).toEqual(
      [...TABLES, 'tether_migrations', 'tether_migrations_lock'].sort(),
    );
    const again = await migrateToLatest(first.db, first.dialect);
    expect(again.results).toEqual([]);
    await first.close();
    await first.close(); // safe twice

    const reopened = await openDatabase({ database: { kind: 'sqlite', file } });
    const applied = await sql<{ name: string }>`select name from tether_migrations order by name`.execute(
      reopened.db,
    );
    expect(applied.rows.map((r) => r.name)).toEqual([
      '001_initial',
      '002_limits',
      '003_records',
      '004_syncs',
      '005_sync_run_logs',
      '006_usage_days',
      '007_records_deleted',
      '008_webhook_outbox',
      '009_sync_discarded_checkpoints',
      '010_action_runs',
      '011_processes',
      '012_usage_days_process',
      '013_action_runs_not_before',
      '014_shared_slots',
      '015_integration_functions',
      '016_records_meta_derived',
      '017_record_shapes',
    ]);
    await reopened.close();
  });

  it('creates an owner-only file, uses WAL and enforces foreign keys', async () => {
    const file = tempFile();
    const { db, close } = await openDatabase({ database: { kind: 'sqlite', file } });
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const journal = await sql<{ journal_mode: string }>`pragma journal_mode`.execute(db);
    expect(journal.rows[0]?.journal_mode).toBe('wal');
    await expect(
      db
        .insertInto('integrations')
        .values({
          environment_id: 999,
          unique_key: 'marketo',
          provider: 'marketo',
          display_name: null,
          credentials_encrypted: null,
          forward_webhooks: 1,
          created_at: 'x',
          updated_at: 'x',
        })
        .execute(),
    ).rejects.toThrow(/FOREIGN KEY/);
    await close();
  });

  it('gives a new database 16 KiB pages; an existing one keeps its page size', async () => {
    const fresh = tempFile();
    const a = await openDatabase({ database: { kind: 'sqlite', file: fresh } });
    expect((await sql<{ page_size: number }>`pragma page_size`.execute(a.db)).rows[0]?.page_size).toBe(
      SQLITE_PAGE_SIZE,
    );
    // The WAL is checkpointed every 256 MiB (16,384 pages of 16 KiB).
    const wal = await sql<{ wal_autocheckpoint: number }>`pragma wal_autocheckpoint`.execute(a.db);
    expect(wal.rows[0]?.wal_autocheckpoint).toBe((256 * 1024 * 1024) / SQLITE_PAGE_SIZE);
    await a.close();

    const old = tempFile();
    mkdirSync(path.dirname(old), { recursive: true });
    const raw = new BetterSqlite3(old);
    raw.pragma('page_size = 4096');
    raw.exec('create table legacy (x integer)');
    raw.close();
    const b = await openDatabase({ database: { kind: 'sqlite', file: old } });
    expect((await sql<{ page_size: number }>`pragma page_size`.execute(b.db)).rows[0]?.page_size).toBe(4096);
    expect((await b.db.introspection.getTables()).map((t) => t.name)).toContain('records');
    await b.close();
  });

  it('reuses prepared statements, and they follow schema changes', async () => {
    const { db, close } = await openDatabase({ database: { kind: 'sqlite', file: ':memory:' } });
    await sql`create table t (a integer)`.execute(db);
    await sql`insert into t values (1)`.execute(db);
    const read = () => sql<Record<string, unknown>>`select * from t`.execute(db);
    expect((await read()).rows).toEqual([{ a: 1 }]);
    await sql`alter table t add column b text default 'x'`.execute(db);
    expect((await read()).rows).toEqual([{ a: 1, b: 'x' }]);
    // The same statement in a transaction and out of it, many times: one compiled statement serves all.
    for (let i = 0; i < 300; i++) await sql`insert into t (a) values (${i})`.execute(db);
    await db.transaction().execute(async (trx) => {
      await sql`insert into t (a) values (${-1})`.execute(trx);
    });
    expect((await sql<{ n: number }>`select count(*) as n from t`.execute(db)).rows[0]?.n).toBe(302);
    await close();
  });

  it('takes the write lock when a transaction begins, so a writer elsewhere is waited for, not a failure', async () => {
    const file = tempFile();
    const { db, close } = await openDatabase({ database: { kind: 'sqlite', file } });
    const ctx = { db, vault: undefined as never };
    await sql`create table lock_test (key text)`.execute(db);
    const meta = (key: string) => sql`insert into lock_test (key) values (${key})`;

    // Another connection (as the checkpointer thread's TRUNCATE checkpoint, or a second process) holds
    // the write lock for 300 ms. A transaction that reads, then writes, must wait for it: with a deferred
    // BEGIN its write failed at once with SQLITE_BUSY, whatever busy_timeout says.
    const holder = new Worker(
      `const { parentPort, workerData } = require('node:worker_threads');
       const db = new (require(workerData.module))(workerData.file);
       db.exec('begin immediate');
       parentPort.postMessage('locked');
       Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 300);
       db.exec("insert into lock_test (key) values ('other')");
       db.exec('commit');
       db.close();`,
      { eval: true, workerData: { module: createRequire(import.meta.url).resolve('better-sqlite3'), file } },
    );
    const exited = new Promise((resolve) => holder.once('exit', resolve));
    await new Promise((resolve) => holder.once('message', resolve));
    const started = Date.now();
    await inTransaction(ctx, async (tx) => {
      await sql`select count(*) from lock_test`.execute(tx.db);
      await meta('mine').execute(tx.db);
    });
    expect(Date.now() - started).toBeGreaterThanOrEqual(200);
    await exited;
    const keys = await sql<{
      key: string;
    }>`select key from lock_test order by key`.execute(db);
    expect(keys.rows.map((r) => r.key)).toEqual(['mine', 'other']);

    // While a transaction is open, even before its first write, no other connection can write; a read-only
    // transaction leaves the lock free.
    const other = new BetterSqlite3(file);
    other.pragma('busy_timeout = 0');
    await db.transaction().execute(async () => {
      expect(() => other.exec('begin immediate')).toThrow(/locked|busy/i);
    });
    await db
      .transaction()
      .setAccessMode('read only')
      .execute(async (trx) => {
        await sql`select count(*) from lock_test`.execute(trx);
        other.exec('begin immediate');
        other.exec('rollback');
      });
    other.close();
    await close();
  });

  it('works in memory', async () => {
    const { db, close } = await openDatabase({ database: { kind: 'sqlite', file: ':memory:' } });
    expect((await db.introspection.getTables()).length).toBe(TABLES.length + 2);
    await close();
  });
});
