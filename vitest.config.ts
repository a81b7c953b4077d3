import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { defineConfig } from 'vitest/config';
import { postgresBinDir } from './src/db/postgres-cluster.ts';

/**
 * Two projects:
 * - `sqlite`: every test, on the embedded SQLite database (the default store).
 * - `postgres`: the tests that open Tether's database (through openTestDb or startTestTether) again, on a
 *   throwaway PostgreSQL server (scripts/vitest-postgres.ts), so the same code is checked on both stores.
 *   It runs wherever PostgreSQL is installed (`.ci/run` installs it) or TETHER_TEST_POSTGRES_URL names a
 *   server; elsewhere it is left out, and says so.
 */

/** Tests of the SQLite-only write path, or that choose their database themselves. */
const SQLITE_ONLY = new Set(['src/db/records-sqlite.test.ts', 'src/db/database.test.ts']);

/** The test helpers that open Tether's database (src/db/testing.ts, src/server/testing.ts and its wrappers). */
const DATABASE_HELPERS = /\b(openTestDb|startTestTether|startTetherWithReceiver)\(/;

function databaseTests(): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const file = path.posix.join(dir, entry.name);
      if (entry.isDirectory()) walk(file);
      else if (
        entry.name.endsWith('.test.ts') &&
        !entry.name.endsWith('.browser.test.ts') &&
        !SQLITE_ONLY.has(file)
      ) {
        if (DATABASE_HELPERS.test(readFileSync(file, 'utf8'))) out.push(file);
      }
    }
  };
  walk('src');
  return out.sort();
}

const withPostgres = Boolean(process.env.TETHER_TEST_POSTGRES_URL) || postgresBinDir() !== undefined;
if (!withPostgres) {
  console.warn('PostgreSQL is not installed here: the `postgres` test project is skipped (SQLite only).');
}

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    projects: [
      {
        extends: true,
        // An empty TETHER_TEST_POSTGRES_URL keeps the test helpers on SQLite here.
        test: { name: 'sqlite', include: ['src/**/*.test.ts'], env: { TETHER_TEST_POSTGRES_URL: '' } },
      },
      ...(withPostgres
        ? [
            {
              extends: true as const,
              test: {
                name: 'postgres',
                include: databaseTests(),
                globalSetup: ['scripts/vitest-postgres.ts'],
                setupFiles: ['scripts/vitest-postgres-env.ts'],
              },
            },
          ]
        : []),
    ],
  },
});
