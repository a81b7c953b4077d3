/**
 * Tether processes using this database (DDL: migrations/011_processes.ts), for engine/presence.ts: a row
 * per process with a heartbeat; the live ones are those whose heartbeat is recent.
 */
import type { Kysely } from 'kysely';
import type { DbContext } from './context.ts';
import { toIso, type Database } from './schema.ts';

interface ProcessesTable {
  id: string;
  started_at: string;
  heartbeat_at: string;
}

type ProcessesTables = { tether_processes: ProcessesTable };

function processesDb(ctx: DbContext): Kysely<Database & ProcessesTables> {
  return ctx.db.withTables<ProcessesTables>();
}

/** Writes (or renews) this process's heartbeat. */
export async function beatProcess(ctx: DbContext, id: string, now: Date): Promise<void> {
  const at = toIso(now);
  await processesDb(ctx)
    .insertInto('tether_processes')
    .values({ id, started_at: at, heartbeat_at: at })
    .onConflict((oc) => oc.column('id').doUpdateSet({ heartbeat_at: at }))
    .execute();
}

/** How many processes beat at or after `since` (this one included once it beat). */
export async function countLiveProcesses(ctx: DbContext, since: Date): Promise<number> {
  const row = await processesDb(ctx)
    .selectFrom('tether_processes')
    .select((eb) => eb.fn.countAll<number | string | bigint>().as('n'))
    .where('heartbeat_at', '>=', toIso(since))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** Removes this process's row (a clean stop: the others count one process less at once). */
export async function removeProcess(ctx: DbContext, id: string): Promise<void> {
  await processesDb(ctx).deleteFrom('tether_processes').where('id', '=', id).execute();
}

/** Removes the rows of processes silent since before `before` (they died without a clean stop). */
export async function pruneProcesses(ctx: DbContext, before: Date): Promise<void> {
  await processesDb(ctx).deleteFrom('tether_processes').where('heartbeat_at', '<', toIso(before)).execute();
}
