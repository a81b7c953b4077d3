/**
 * Global setup of the `postgres` test project (vitest.config.ts): one throwaway PostgreSQL server for the
 * whole run (src/db/postgres-cluster.ts), or the one TETHER_TEST_POSTGRES_URL names. Its URL reaches the
 * test files through `inject('postgresUrl')` (scripts/vitest-postgres-env.ts); every test then works in a
 * fresh schema of its own (src/db/testing.ts).
 */
import type { TestProject } from 'vitest/node';
import { postgresBinDir, startPostgresCluster } from '../src/db/postgres-cluster.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    postgresUrl: string;
  }
}

export default async function setup(project: TestProject): Promise<(() => void) | undefined> {
  const given = process.env.TETHER_TEST_POSTGRES_URL;
  if (given) {
    project.provide('postgresUrl', given);
    return undefined;
  }
  const bin = postgresBinDir();
  if (bin === undefined) throw new Error('the postgres test project needs PostgreSQL (initdb) installed');
  const cluster = await startPostgresCluster(bin);
  project.provide('postgresUrl', cluster.url);
  return () => cluster.stop();
}
