/**
 * Shared slots (DDL: migrations/014_shared_slots.ts), for engine/shared-slots.ts: named scopes each
 * holding at most N holders across the Tether processes of one database. A row per (scope, holder) names
 * the process that holds it; it counts only while that process is live (its `tether_processes` heartbeat
 * at or after `liveSince`) or is the caller's own. Rows of dead processes are deleted when a take meets
 * them, and a clean stop deletes the process's rows.
 *
 * A take is atomic across processes: on SQLite it is one statement (the write lock covers the count and
 * the insert); on PostgreSQL the same statement runs in a transaction holding an advisory lock on the
 * scope, as two READ COMMITTED inserts could otherwise both see the last slot free.
 */
import { sql } from 'kysely';
import type { DbContext } from './context.ts';
import { inTransaction, isPostgres } from './context.ts';
import { toIso } from './schema.ts';

export interface SlotTake {
  scope: string;
  holder: string;
  /** The taking process: the holder moves to it when another process held it. */
  processId: string;
  /** Heartbeats at or after this instant are live processes (presence's stale rule). */
  liveSince: Date;
  now: Date;
  /**
   * Holders the scope may hold, this one included; undefined takes it whatever the count (a holder
   * that is already in use elsewhere, e.g. an export job Marketo already queued).
   */
  max?: number;
}

/**
 * Takes a slot for `holder` in `scope`: true when it is held by `processId` afterwards. Re-taking a holder
 * that already has a row always succeeds (idempotent) and moves it to this process; a new holder gets a
 * slot only while fewer than `max` live holders are in the scope.
 */
export async function takeSlot(ctx: DbContext, t: SlotTake): Promise<boolean> {
  if (t.max !== undefined && !(t.max >= 1)) return false;
  const liveSince = toIso(t.liveSince);
  const run = async (tx: DbContext): Promise<boolean> => {
    // The dead's rows go first: they would never be released otherwise.
    await sql`
      delete from shared_slots
      where scope = ${t.scope} and process_id <> ${t.processId}
        and process_id not in (select id from tether_processes where heartbeat_at >= ${liveSince})
    `.execute(tx.db);
    const max = t.max === undefined ? Number.MAX_SAFE_INTEGER : Math.floor(t.max);
    // The select yields the row only while there is room (or the holder is in the scope already); the
    // conflict clause makes a re-take move the holder to this process.
    const res = await sql`
      insert into shared_slots (scope, holder, process_id, taken_at)
      select cast(${t.scope} as text), cast(${t.holder} as text), cast(${t.processId} as text),
        cast(${toIso(t.now)} as text)
      where exists (select 1 from shared_slots where scope = ${t.scope} and holder = ${t.holder})
         or (select count(*) from shared_slots where scope = ${t.scope}) < ${max}
      on conflict (scope, holder) do update set process_id = excluded.process_id, taken_at = excluded.taken_at
    `.execute(tx.db);
    return Number(res.numAffectedRows ?? 0n) > 0;
  };
  if (!isPostgres(ctx)) return run(ctx);
  return inTransaction(ctx, async (tx) => {
    // Serialises the takes of one scope across connections (released with the transaction).
    await sql`select pg_advisory_xact_lock(hashtext(${'shared_slots:' + t.scope}))`.execute(tx.db);
    return run(tx);
  });
}

/** Gives a holder's slot back, if `processId` holds it (another process may have taken it over). */
export async function releaseSlot(
  ctx: DbContext,
  scope: string,
  holder: string,
  processId: string,
): Promise<void> {
  await sql`
    delete from shared_slots where scope = ${scope} and holder = ${holder} and process_id = ${processId}
  `.execute(ctx.db);
}

/** Gives back every slot a process holds (its clean stop). */
export async function releaseProcessSlots(ctx: DbContext, processId: string): Promise<void> {
  await sql`delete from shared_slots where process_id = ${processId}`.execute(ctx.db);
}

/** Holders of a scope that count now: held by `processId` or by a live process (tests, inspection). */
export async function slotHolders(
  ctx: DbContext,
  scope: string,
  processId: string,
  liveSince: Date,
): Promise<{ holder: string; processId: string }[]> {
  const res = await sql<{ holder: string; process_id: string }>`
    select holder, process_id from shared_slots
    where scope = ${scope}
      and (process_id = ${processId}
        or process_id in (select id from tether_processes where heartbeat_at >= ${toIso(liveSince)}))
    order by holder
  `.execute(ctx.db);
  return res.rows.map((r) => ({ holder: r.holder, processId: r.process_id }));
}
