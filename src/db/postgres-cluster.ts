/**
 * A throwaway PostgreSQL server for tests: `initdb` in a temp dir, started on a free loopback port,
 * stopped and deleted afterwards. Used by the `postgres` test project (vitest.config.ts) so that `npm test`
 * runs the database-backed suites on PostgreSQL as well as on SQLite wherever PostgreSQL is installed
 * (`.ci/run` installs Debian's `postgresql`). Not for production code.
 *
 * PostgreSQL refuses to run as root: when the tests run as root, the server runs as the `postgres` user
 * (created by Debian's package) through `runuser`.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';

export interface PostgresCluster {
  /** `postgres://postgres@127.0.0.1:<port>/tether_test` */
  url: string;
  stop(): void;
}

/** The directory holding `initdb` and `pg_ctl`: TETHER_TEST_POSTGRES_BIN, else Debian's newest. */
export function postgresBinDir(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const given = env.TETHER_TEST_POSTGRES_BIN;
  if (given) return existsSync(path.join(given, 'initdb')) ? given : undefined;
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter((v) => existsSync(path.join(root, v, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] === undefined ? undefined : path.join(root, versions[0], 'bin');
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Runs a PostgreSQL binary as the server's user; throws with its output when it fails. */
function runAs(asPostgres: boolean, bin: string, args: string[]): void {
  const [cmd, argv] = asPostgres ? ['runuser', ['-u', 'postgres', '--', bin, ...args]] : [bin, args];
  const r = spawnSync(cmd, argv, { encoding: 'utf8', cwd: tmpdir() });
  if (r.status !== 0) {
    throw new Error(
      `${path.basename(bin)} failed (${r.status ?? r.signal}): ${r.stderr || r.stdout || r.error}`,
    );
  }
}

export async function startPostgresCluster(binDir: string): Promise<PostgresCluster> {
  const asPostgres = process.getuid?.() === 0;
  const dir = mkdtempSync(path.join(tmpdir(), 'tether-pg-'));
  const data = path.join(dir, 'data');
  if (asPostgres) {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    chownSync(dir, uid, gid);
  }
  const stop = () => {
    try {
      runAs(asPostgres, path.join(binDir, 'pg_ctl'), ['-D', data, '-m', 'immediate', '-w', 'stop']);
    } catch {
      // not started, or already gone
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    runAs(asPostgres, path.join(binDir, 'initdb'), [
      '-D',
      data,
      '-A',
      'trust',
      '-U',
      'postgres',
      '-E',
      'UTF8',
      '--locale=C',
      '--no-sync',
    ]);
    const port = await freePort();
    // Durability is worthless for a test server: no fsync, no full-page writes.
    const options = [
      `-p ${port}`,
      `-k ${dir}`,
      '-c listen_addresses=127.0.0.1',
      '-c fsync=off',
      '-c synchronous_commit=off',
      '-c full_page_writes=off',
      '-c max_connections=200',
    ].join(' ');
    runAs(asPostgres, path.join(binDir, 'pg_ctl'), [
      '-D',
      data,
      '-l',
      path.join(dir, 'log'),
      '-o',
      options,
      '-w',
      'start',
    ]);
    const admin = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres' });
    await admin.connect();
    try {
      await admin.query('create database tether_test');
    } finally {
      await admin.end();
    }
    return { url: `postgres://postgres@127.0.0.1:${port}/tether_test`, stop };
  } catch (err) {
    stop();
    throw err;
  }
}
