/**
 * Setup file of the `postgres` test project: points the test helpers (src/db/testing.ts openTestDb,
 * src/server/testing.ts startTestTether) at the PostgreSQL server of scripts/vitest-postgres.ts.
 */
import { inject } from 'vitest';

process.env.TETHER_TEST_POSTGRES_URL = inject('postgresUrl');
