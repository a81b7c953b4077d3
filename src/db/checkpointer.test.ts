import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { getPriority } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import BetterSqlite3 from 'better-sqlite3';
import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { startBackgroundCheckpoints, type BackgroundCheckpoints } from './checkpointer.ts';
import { openDatabase } from './database.ts';
import { makeTempDir } from './testing.ts';
import { waitFor } from '../testing/wait.ts';

const dirs: string[] = [];
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempFile(): string {
  const dir = makeTempDir();
  dirs.push(dir);
  return path.join(dir, 'db.sqlite');
}

/** A WAL database whose own connection never checkpoints (only the thread under test does). */
function walDatabase(file: string): BetterSqlite3.Database {
  const db = new BetterSqlite3(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('wal_autocheckpoint = 0');
  db.pragma('journal_size_limit = -1');
  db.exec('create table blobs (id integer primary key, body blob not null)');
  cleanups.push(() => {
    db.close();
  });
  return db;
}

/** Writes `mib` MiB in 256 KiB rows, one transaction per MiB. */
function writeMiB(db: BetterSqlite3.Database, mib: number): void {
  const insert = db.prepare('insert into blobs (body) values (randomblob(262144))');
  for (let i = 0; i < mib; i++) db.transaction(() => [0, 1, 2, 3].forEach(() => insert.run()))();
}

/** Waits until `check()` holds (`false` means not yet). */
const until = (what: string, check: () => boolean, timeoutMs = 10_000) =>
  waitFor(what, () => (check() ? true : undefined), timeoutMs, 10);

function size(file: string): number {
  return existsSync(file) ? statSync(file).size : -1;
}

function watch(
  file: string,
  options: Parameters<typeof startBackgroundCheckpoints>[1],
): BackgroundCheckpoints {
  const c = startBackgroundCheckpoints(file, options);
  cleanups.push(() => c.stop());
  return c;
}

describe('startBackgroundCheckpoints', () => {
  it('copies the log into the database file on its thread, then empties the log once writes pause', async () => {
    const file = tempFile();
    const db = walDatabase(file);
    const c = watch(file, { pollMs: 10, startBytes: 1024 * 1024, quietMs: 150 });
    const before = size(file);
    writeMiB(db, 4);
    expect(size(`${file}-wal`)).toBeGreaterThan(4 * 1024 * 1024);

    await until('a checkpoint', () => c.stats.checkpoints >= 1);
    expect(c.stats.started).toBe(true);
    // The frames it copied are synced by the thread, not left for the end of the log (a COMMIT's sync).
    expect(c.stats.syncs).toBeGreaterThanOrEqual(1);
    // The frames are in the database file now (this connection never checkpoints: autocheckpoint 0).
    await until('the database file to grow', () => size(file) >= before + 4 * 1024 * 1024);
    // Quiet: the log file is cut to zero, and a reader on another connection sees every row.
    await until('the log file emptied', () => size(`${file}-wal`) === 0);
    expect(c.stats.lastError).toBeUndefined();
    const reader = new BetterSqlite3(file, { readonly: true });
    expect(reader.prepare('select count(*) as n, sum(length(body)) as bytes from blobs').get()).toEqual({
      n: 16,
      bytes: 16 * 262144,
    });
    reader.close();

    // Writing goes on after the truncation, and is checkpointed again.
    const done = c.stats.checkpoints;
    writeMiB(db, 2);
    await until('another checkpoint', () => c.stats.checkpoints > done + 1);
    expect(db.prepare('select count(*) as n from blobs').get()).toEqual({ n: 24 });
  });

  it('checkpoints while the main thread is busy writing and never yields to its event loop', async () => {
    const file = tempFile();
    const db = walDatabase(file);
    const c = watch(file, { pollMs: 10, startBytes: 1024 * 1024, quietMs: 60_000 });
    writeMiB(db, 2);
    // The first checkpoint done and its frames in the file: what follows can only be a later one.
    await until('a first checkpoint', () => c.stats.checkpoints >= 1);
    await new Promise((r) => setTimeout(r, 50));
    const before = size(file);
    // Synchronous from here on: no timer or message of this thread runs until the loop ends.
    const end = Date.now() + 10_000;
    let written = 0;
    while (size(file) < before + 2 * 1024 * 1024 && Date.now() < end) {
      writeMiB(db, 1);
      written++;
    }
    expect(size(file)).toBeGreaterThanOrEqual(before + 2 * 1024 * 1024);
    expect(written).toBeGreaterThan(0);
  });

  it.runIf(process.platform === 'linux')(
    'runs at the lowest priority, and only that thread: the process and its main thread keep theirs',
    async () => {
      const file = tempFile();
      const db = walDatabase(file);
      const c = watch(file, { pollMs: 10, startBytes: 1024 * 1024, quietMs: 60_000 });
      writeMiB(db, 2);
      await until('the thread to lower its priority', () => c.stats.thread !== undefined);
      const { tid, nice } = c.stats.thread!;
      expect(nice).toBe(19);
      expect(tid).not.toBe(process.pid);
      // The kernel's view (field 19 of the thread's stat): the thread niced, the main thread not.
      const niceOf = (id: number) => {
        const stat = readFileSync(`/proc/${process.pid}/task/${id}/stat`, 'utf8');
        return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
      };
      expect(niceOf(tid)).toBe(19);
      expect(niceOf(process.pid)).toBe(0);
      expect(getPriority()).toBe(0);
      await until('a checkpoint', () => c.stats.checkpoints >= 1);
      expect(c.stats.lastError).toBeUndefined();
    },
  );

  it('keeps the process priority when asked to (nice 0)', async () => {
    const file = tempFile();
    const db = walDatabase(file);
    const c = watch(file, { pollMs: 10, startBytes: 1024 * 1024, quietMs: 60_000, nice: 0 });
    writeMiB(db, 2);
    await until('a checkpoint', () => c.stats.checkpoints >= 1);
    expect(c.stats.thread).toBeUndefined();
  });

  it('starts no thread while the log stays small', async () => {
    const file = tempFile();
    const db = walDatabase(file);
    const c = watch(file, { pollMs: 10, startBytes: 8 * 1024 * 1024, quietMs: 50 });
    writeMiB(db, 1);
    await new Promise((r) => setTimeout(r, 200));
    expect(c.stats).toEqual({
      checkpoints: 0,
      syncs: 0,
      lastError: undefined,
      started: false,
      thread: undefined,
    });
    await c.stop();
    await c.stop(); // safe twice
  });

  it('leaves the checkpoints to SQLite when its thread cannot open the database', async () => {
    const file = tempFile();
    // A log with no database beside it: the thread's connection (fileMustExist) fails.
    writeFileSync(`${file}-wal`, Buffer.alloc(2 * 1024 * 1024));
    const c = watch(file, { pollMs: 10, startBytes: 1024 * 1024 });
    await until('the failure to be noticed', () => c.stats.lastError !== undefined);
    expect(c.stats.started).toBe(true);
    expect(c.stats.checkpoints).toBe(0);
    await c.stop();
  });

  it('writes nothing after stop', async () => {
    const file = tempFile();
    const db = walDatabase(file);
    const c = watch(file, { pollMs: 10, startBytes: 1024 * 1024, quietMs: 60_000 });
    writeMiB(db, 2);
    await until('a checkpoint', () => c.stats.checkpoints >= 1);
    await c.stop();
    // No thread left copying: the database file no longer takes the log (this connection never does).
    await new Promise((r) => setTimeout(r, 50));
    const before = size(file);
    writeMiB(db, 2);
    await new Promise((r) => setTimeout(r, 150));
    expect(size(file)).toBe(before);
  });
});

describe('openDatabase with a database file', () => {
  it('checkpoints a large log off the main thread and leaves no log behind once closed', async () => {
    const file = tempFile();
    const opened = await openDatabase({ database: { kind: 'sqlite', file } });
    await sql`create table scratch (id integer primary key, body blob not null)`.execute(opened.db);
    // 24 MiB: past the thread's 16 MiB start, below SQLite's own 256 MiB checkpoint.
    for (let i = 0; i < 24; i++) {
      await sql`insert into scratch (body) values (randomblob(1048576))`.execute(opened.db);
    }
    const before = size(file);
    await until('the database file to take the log', () => size(file) >= before + 20 * 1024 * 1024);
    await opened.close();
    expect(existsSync(`${file}-wal`)).toBe(false);

    const again = await openDatabase({ database: { kind: 'sqlite', file } });
    const { rows } = await sql<{ n: number }>`select count(*) as n from scratch`.execute(again.db);
    expect(rows[0]?.n).toBe(24);
    await again.close();
  });

  it('keeps a process with nothing else to do alive until the thread stopped', () => {
    // A process whose only work left is closing its database: the thread (unref'd so that it never keeps
    // a process alive) and its grace timer must hold the process while `stop` waits, or it ends in the
    // middle of closing (exit code 13: an unsettled top-level await).
    const file = tempFile();
    walDatabase(file).close();
    const url = (p: string) => JSON.stringify(pathToFileURL(p).href);
    const script = path.join(path.dirname(file), 'close.mjs');
    writeFileSync(
      script,
      `const { default: BetterSqlite3 } = await import(${url(createRequire(import.meta.url).resolve('better-sqlite3'))});
      const { startBackgroundCheckpoints } = await import(${url(path.join(import.meta.dirname, 'checkpointer.ts'))});
      const db = new BetterSqlite3(${JSON.stringify(file)});
      db.pragma('wal_autocheckpoint = 0');
      const c = startBackgroundCheckpoints(${JSON.stringify(file)}, { startBytes: 1024, pollMs: 5 });
      const insert = db.prepare('insert into blobs (body) values (randomblob(262144))');
      for (let i = 0; i < 16; i++) insert.run();
      while (c.stats.checkpoints === 0) await new Promise((r) => setTimeout(r, 5));
      for (let i = 0; i < 16; i++) insert.run();
      await c.stop();
      db.close();
      console.log('closed');`,
    );
    const run = spawnSync(process.execPath, ['--import', 'tsx', script], {
      cwd: path.join(import.meta.dirname, '..', '..'),
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(run.stdout.trim()).toBe('closed');
  });
});
