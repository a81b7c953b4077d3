import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isDatabaseBusy } from '../db/busy.ts';
import { startTestTether, type TestTether } from './testing.ts';

/**
 * A database held by someone else longer than Tether waits for it (another process on the same SQLite
 * file, a long checkpoint) is not a fault: the answer is 503 `database_busy` with `Retry-After`, never a
 * 500, and the next request succeeds once the lock is gone.
 */
describe('a busy database', () => {
  let t: TestTether;
  beforeAll(async () => {
    t = await startTestTether();
  });
  afterAll(() => t?.close());

  it('answers 503 database_busy with Retry-After while another connection holds the write lock', async (ctx) => {
    // PostgreSQL: row locks are not held this way; the mapping is checked below on its codes.
    if (t.databaseUrl !== undefined) ctx.skip();
    const other = new BetterSqlite3(join(t.dataDir, 'tether.sqlite'));
    const body = { end_user: { id: 'u-busy' }, allowed_integrations: ['marketo'] };
    // The holder runs on this thread, which Tether's wait for the lock would put to sleep: Tether gives up
    // at once instead of after its 5 s (the answer is the same, sooner).
    const db = t.tether.deps.store.ctx.db;
    await sql`pragma busy_timeout = 0`.execute(db);
    try {
      other.exec('BEGIN IMMEDIATE');
      const busy = await t.api('/connect/sessions', { method: 'POST', json: body });
      expect(busy.status).toBe(503);
      expect(busy.headers.get('retry-after')).toBe('1');
      expect(await busy.json()).toEqual({
        error: { code: 'database_busy', message: 'The database is busy. Try again in a moment.' },
      });
      other.exec('COMMIT');
      const ok = await t.api('/connect/sessions', { method: 'POST', json: body });
      expect(ok.status).toBe(201);
    } finally {
      if (other.inTransaction) other.exec('ROLLBACK');
      other.close();
      await sql`pragma busy_timeout = 5000`.execute(db);
    }
  });

  it('knows the busy codes of both databases, and nothing else', () => {
    for (const code of ['SQLITE_BUSY', 'SQLITE_BUSY_SNAPSHOT', 'SQLITE_LOCKED', '55P03', '40001', '40P01']) {
      expect(isDatabaseBusy(Object.assign(new Error('x'), { code }))).toBe(true);
    }
    for (const code of ['SQLITE_CONSTRAINT_UNIQUE', 'SQLITE_BUSYX', '23505', undefined]) {
      expect(isDatabaseBusy(Object.assign(new Error('x'), { code }))).toBe(false);
    }
    expect(isDatabaseBusy(null)).toBe(false);
  });
});
