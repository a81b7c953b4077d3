/**
 * The migration list. Migrations are TypeScript modules imported statically (no directory scan), so they
 * work the same under tsx, vitest and a bundle. To add one: create `NNN_name.ts` exporting
 * `up(db, ctx)` (and `down(db)`), then list it below; names sort in run order and must never change.
 */
import type { ColumnDefinitionBuilder, Kysely, Migration, MigrationProvider } from 'kysely';
import * as m001 from './001_initial.ts';
import * as m002 from './002_limits.ts';
import * as m003 from './003_records.ts';
import * as m004 from './004_syncs.ts';
import * as m005 from './005_sync_run_logs.ts';
import * as m006 from './006_usage_days.ts';
import * as m007 from './007_records_deleted.ts';
import * as m008 from './008_webhook_outbox.ts';
import * as m009 from './009_sync_discarded_checkpoints.ts';
import * as m010 from './010_action_runs.ts';
import * as m011 from './011_processes.ts';
import * as m012 from './012_usage_days_process.ts';
import * as m013 from './013_action_runs_not_before.ts';
import * as m014 from './014_shared_slots.ts';
import * as m015 from './015_integration_functions.ts';
import * as m016 from './016_records_meta_derived.ts';
import * as m017 from './017_record_shapes.ts';

export type Dialect = 'sqlite' | 'postgres';

export interface MigrationContext {
  dialect: Dialect;
  /** Autoincrement integer primary key for this dialect. */
  idColumn: (col: ColumnDefinitionBuilder) => ColumnDefinitionBuilder;
}

interface MigrationModule {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  up(db: Kysely<any>, ctx: MigrationContext): Promise<void>;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  down?(db: Kysely<any>): Promise<void>;
}

const MODULES: Record<string, MigrationModule> = {
  '001_initial': m001,
  '002_limits': m002,
  '003_records': m003,
  '004_syncs': m004,
  '005_sync_run_logs': m005,
  '006_usage_days': m006,
  '007_records_deleted': m007,
  '008_webhook_outbox': m008,
  '009_sync_discarded_checkpoints': m009,
  '010_action_runs': m010,
  '011_processes': m011,
  '012_usage_days_process': m012,
  '013_action_runs_not_before': m013,
  '014_shared_slots': m014,
  '015_integration_functions': m015,
  '016_records_meta_derived': m016,
  '017_record_shapes': m017,
};

export function migrationContext(dialect: Dialect): MigrationContext {
  return {
    dialect,
    idColumn:
      dialect === 'postgres'
        ? (c) => c.primaryKey().generatedByDefaultAsIdentity()
        : (c) => c.primaryKey().autoIncrement(),
  };
}

export function migrationProvider(dialect: Dialect): MigrationProvider {
  const ctx = migrationContext(dialect);
  return {
    async getMigrations() {
      const out: Record<string, Migration> = {};
      for (const [name, mod] of Object.entries(MODULES)) {
        const down = mod.down;
        out[name] = { up: (db) => mod.up(db, ctx), ...(down ? { down: (db) => down(db) } : {}) };
      }
      return out;
    },
  };
}
