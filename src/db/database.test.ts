import { rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { migrateToLatest, openDatabase } from './database.ts';
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
  'connect_sessions',
  'connection_limits',
  'connection_tags',
  'connections',
  'environments',
  'instance_limits',
  'integrations',
  'meta',
  'records',
  'request_log',
  'sync_runs',
  'syncs',
];

describe('openDatabase (SQLite)', () => {
  it('migrates an empty database and is idempotent', async () => {
    const file = tempFile();
    const first = await openDatabase({ database: { kind: 'sqlite', file } });
    const tables = await first.db.introspection.getTables();
    expect(tables.map((t) => t.name).sort()).toEqual([
      ...TABLES,
      'tether_migrations',
      'tether_migrations_lock',
    ]);
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

  it('works in memory', async () => {
    const { db, close } = await openDatabase({ database: { kind: 'sqlite', file: ':memory:' } });
    expect((await db.introspection.getTables()).length).toBe(TABLES.length + 2);
    await close();
  });
});
