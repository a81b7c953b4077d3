/**
 * Test helper: a real SQLite database in a fresh temp dir, migrated, with one environment and a settable
 * clock. Not for production code.
 *
 * With TETHER_TEST_POSTGRES_URL=postgres://… set, the same helper gives each test a fresh schema in that
 * PostgreSQL database instead. The `postgres` test project (vitest.config.ts) sets it to a throwaway server
 * of its own; to use a server of yours, set it before `npx vitest run --project postgres`.
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

/**
 * A fresh, empty schema in the PostgreSQL database at `pgUrl`: the connection string that works in it
 * (`search_path` set through the `options` parameter) and how to drop it.
 */
export async function freshPostgresSchema(pgUrl: string): Promise<{ url: string; drop(): Promise<void> }> {
  const schema = `t_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: pgUrl });
  await admin.connect();
  try {
    await admin.query(`create schema ${schema}`);
  } finally {
    await admin.end();
  }
  const url = new URL(pgUrl);
  url.searchParams.set('options', `-c search_path=${schema}`);
  return {
    url: url.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: pgUrl });
      await c.connect();
      try {
        await c.query(`drop schema ${schema} cascade`);
      } finally {
        await c.end();
      }
    },
  };
}

export async function openTestDb(start = new Date('2025-01-01T00:00:00.000Z')): Promise<TestDb> {
  const dir = makeTempDir();
  const file = path.join(dir, 'tether.sqlite');
  const pgUrl = process.env.TETHER_TEST_POSTGRES_URL;
  let dropSchema = async () => {};
  let database: DatabaseConfig = { kind: 'sqlite', file };
  if (pgUrl) {
    const schema = await freshPostgresSchema(pgUrl);
    database = { kind: 'postgres', url: schema.url };
    dropSchema = () => schema.drop();
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
