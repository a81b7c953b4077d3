/**
 * Test helper: a real SQLite database in a fresh temp dir, migrated, with one environment and a settable
 * clock. Not for production code.
 *
 * With TETHER_TEST_POSTGRES_URL=postgres://… set, the same helper gives each test a fresh schema in that
 * PostgreSQL database instead, so the repository suites can be run against PostgreSQL by hand:
 *   TETHER_TEST_POSTGRES_URL=postgres://tether@127.0.0.1:54329/tether_test npx vitest run src/db
 * (CI does not start PostgreSQL yet.)
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { DatabaseConfig } from '../config.ts';
import { Vault } from '../engine/vault.ts';
import type { DbContext } from './context.ts';
import { openDatabase, type OpenDatabase } from './database.ts';
import { ensureEnvironment } from './environments.ts';

export interface TestDb extends OpenDatabase {
  dir: string;
  file: string;
  ctx: DbContext;
  vault: Vault;
  environmentId: number;
  /** The clock used by `ctx`; set `clock.now` to move time. */
  clock: { now: Date };
  /** Closes the database and removes the temp dir. */
  cleanup(): Promise<void>;
}

export function makeTempDir(prefix = 'tether-test-'): string {
  return mkdtempSync(path.join(tmpdir(), prefix));
}

export async function openTestDb(start = new Date('2025-01-01T00:00:00.000Z')): Promise<TestDb> {
  const dir = makeTempDir();
  const file = path.join(dir, 'tether.sqlite');
  const pgUrl = process.env.TETHER_TEST_POSTGRES_URL;
  let dropSchema = async () => {};
  let database: DatabaseConfig = { kind: 'sqlite', file };
  if (pgUrl) {
    const schema = `t_${randomBytes(6).toString('hex')}`;
    const admin = new pg.Client({ connectionString: pgUrl });
    await admin.connect();
    await admin.query(`create schema ${schema}`);
    await admin.end();
    const url = new URL(pgUrl);
    url.searchParams.set('options', `-c search_path=${schema}`);
    database = { kind: 'postgres', url: url.toString() };
    dropSchema = async () => {
      const c = new pg.Client({ connectionString: pgUrl });
      await c.connect();
      await c.query(`drop schema ${schema} cascade`);
      await c.end();
    };
  }
  const opened = await openDatabase({ database });
  const vault = new Vault(randomBytes(32));
  const clock = { now: start };
  const ctx: DbContext = { db: opened.db, vault, now: () => clock.now };
  const env = await ensureEnvironment(ctx, { name: 'dev', secretKey: randomUUID() });
  return {
    ...opened,
    dir,
    file,
    ctx,
    vault,
    environmentId: env.id,
    clock,
    async cleanup() {
      await opened.close();
      await dropSchema();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
