/**
 * Async action runs repository (DDL: migrations/010_action_runs.ts, 013_action_runs_not_before.ts; engine:
 * src/engine/actions/queue.ts).
 *
 * The queue discipline lives in {@link claimNextActionRuns}: a run may only be claimed when it is the
 * oldest unfinished run (pending or running) of its environment, read in one statement (one snapshot), and
 * the claim is a conditional update. So runs of an environment execute in creation order, one at a time,
 * whatever the processes do: a second process sees the first one's `running` row as the oldest and waits.
 *
 * Parked runs (a spent daily budget or quota: {@link parkActionRun}) are the exception. A run is *held*
 * while its connection has a parked run waiting (`not_before` in the future) created no later than it: the
 * parked run itself and the later runs of the same connection, which keep their order behind it (a
 * product's writes to one Marketo account stay in the order it sent them). Held runs neither run nor block
 * the other connections of the environment: waiting a day for one account's quota must not stop the
 * others. Once `not_before` passes, the parked run is the oldest again and runs first.
 * Times are ISO strings (schema.ts), compared as text.
 */
import type { Generated, Kysely } from 'kysely';
import type { DbContext } from './context.ts';
import type { Database } from './schema.ts';

export type ActionRunStatus = 'pending' | 'running' | 'success' | 'failure';

export interface ActionRunsTable {
  seq: Generated<number>;
  id: string;
  environment_id: number;
  connection_pk: number;
  provider_config_key: string;
  connection_id: string;
  action_name: string;
  input: string;
  status: ActionRunStatus;
  attempts: number;
  max_retries: number;
  output: string | null;
  error: string | null;
  lease_owner: string | null;
  claimed_until: string | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  not_before: string | null;
  parked_at: string | null;
}

// A type alias (not an interface): `withTables` needs an index signature.
export type ActionRunsTables = { action_runs: ActionRunsTable };

function runsDb(ctx: DbContext): Kysely<Database & ActionRunsTables> {
  return ctx.db.withTables<ActionRunsTables>();
}

export interface ActionRunError {
  code: string;
  message: string;
  /** Extra fields of the HTTP error (e.g. `upstream`), kept for `GET /action/:id`. */
  extra?: Record<string, unknown>;
}

export interface ActionRun {
  id: string;
  environmentId: number;
  connectionPk: number;
  providerConfigKey: string;
  connectionId: string;
  actionName: string;
  /** Parsed input as the caller sent it, `undefined` for none (the action's own data: never log it). */
  input: unknown;
  status: ActionRunStatus;
  attempts: number;
  maxRetries: number;
  output: unknown;
  error: ActionRunError | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  /**
   * Set while a pending run waits for a daily budget or quota to reset ({@link parkActionRun}): not taken
   * before `until`, parked first at `since`, refused with `reason` (the error it ends with if it waits too
   * long).
   */
  waiting: ActionRunWaiting | null;
  /** When the run was first parked (kept once it runs again: the queue's cap counts from it). */
  parkedAt: string | null;
}

export interface ActionRunWaiting {
  until: string;
  since: string;
  reason: ActionRunError;
}

type Row = ActionRunsTable & { seq: number };

function fromRow(r: Row): ActionRun {
  return {
    id: r.id,
    environmentId: Number(r.environment_id),
    connectionPk: Number(r.connection_pk),
    providerConfigKey: r.provider_config_key,
    connectionId: r.connection_id,
    actionName: r.action_name,
    input: r.input === '' ? undefined : (JSON.parse(r.input) as unknown),
    status: r.status,
    attempts: Number(r.attempts),
    maxRetries: Number(r.max_retries),
    output: r.output === null ? null : (JSON.parse(r.output) as unknown),
    // While a run waits, `error` holds the refusal that parked it: that is `waiting.reason`, not an error.
    error: r.error === null || r.status === 'pending' ? null : (JSON.parse(r.error) as ActionRunError),
    createdAt: r.created_at,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
    waiting:
      r.status === 'pending' && r.not_before !== null
        ? {
            until: r.not_before,
            since: r.parked_at ?? r.not_before,
            reason:
              r.error === null
                ? { code: 'waiting', message: 'Waiting for a reset.' }
                : (JSON.parse(r.error) as ActionRunError),
          }
        : null,
    parkedAt: r.parked_at,
  };
}

export interface NewActionRun {
  id: string;
  environmentId: number;
  connectionPk: number;
  providerConfigKey: string;
  connectionId: string;
  actionName: string;
  input: unknown;
  maxRetries: number;
  now: Date;
}

export async function createActionRun(ctx: DbContext, run: NewActionRun): Promise<void> {
  await runsDb(ctx)
    .insertInto('action_runs')
    .values({
      id: run.id,
      environment_id: run.environmentId,
      connection_pk: run.connectionPk,
      provider_config_key: run.providerConfigKey,
      connection_id: run.connectionId,
      action_name: run.actionName,
      // No input (`undefined`, which JSON cannot say) is stored as '' and read back as `undefined`, not null:
      // the action's schema may accept one and not the other.
      input: run.input === undefined ? '' : JSON.stringify(run.input),
      status: 'pending',
      attempts: 0,
      max_retries: run.maxRetries,
      created_at: run.now.toISOString(),
    })
    .execute();
}

/** A run of the environment (another environment's run is not found). */
export async function getActionRun(
  ctx: DbContext,
  environmentId: number,
  id: string,
): Promise<ActionRun | undefined> {
  const row = await runsDb(ctx)
    .selectFrom('action_runs')
    .selectAll()
    .where('id', '=', id)
    .where('environment_id', '=', environmentId)
    .executeTakeFirst();
  return row ? fromRow(row as Row) : undefined;
}

/** A claimed run: `resumed` when it was `running` under a lease that ran out (a crash or a stop). */
export interface ClaimedActionRun {
  run: ActionRun;
  resumed: boolean;
}

/**
 * Claims, for up to `limit` environments not in `busyEnvironments`, the oldest unfinished run of the
 * environment that is not held (see the module comment) when it is free to take: pending, or running under
 * a lease that ran out. Each claim sets the run `running` under `owner`'s lease until `leaseUntil`; a row
 * another process claimed in between is skipped (its environment then waits for the next look).
 *
 * Blockers of a candidate `r`, in its environment: any other `running` row (one run at a time), except a
 * later one when `r` is itself running (of two running rows, the older resumes: never a deadlock); and,
 * for a pending `r`, any older pending row that is not held. A pending `r` must not be held itself. With no
 * parked run this is exactly "the oldest unfinished run of the environment" (a running row is the oldest).
 */
export async function claimNextActionRuns(
  ctx: DbContext,
  opts: { owner: string; now: Date; leaseUntil: Date; limit: number; busyEnvironments?: readonly number[] },
): Promise<ClaimedActionRun[]> {
  const at = opts.now.toISOString();
  const db = runsDb(ctx);
  let q = db
    .selectFrom('action_runs as r')
    .selectAll('r')
    .where('r.status', 'in', ['pending', 'running'])
    .where((eb) =>
      eb.or([
        eb('r.status', '=', 'running'),
        eb.not(
          eb.exists(
            eb
              .selectFrom('action_runs as p')
              .select('p.seq')
              .whereRef('p.connection_pk', '=', 'r.connection_pk')
              .where('p.status', '=', 'pending')
              .where('p.not_before', '>', at)
              .whereRef('p.seq', '<=', 'r.seq'),
          ),
        ),
      ]),
    )
    .where((eb) =>
      eb.not(
        eb.exists(
          eb
            .selectFrom('action_runs as o')
            .select('o.seq')
            .whereRef('o.environment_id', '=', 'r.environment_id')
            .whereRef('o.seq', '!=', 'r.seq')
            .where((o) =>
              o.or([
                o.and([
                  o('o.status', '=', 'running'),
                  o.or([o('r.status', '=', 'pending'), o('o.seq', '<', o.ref('r.seq'))]),
                ]),
                o.and([
                  o('o.status', '=', 'pending'),
                  o('r.status', '=', 'pending'),
                  o('o.seq', '<', o.ref('r.seq')),
                  // `o` is not held: no waiting parked run of its connection at or before it.
                  o.not(
                    o.exists(
                      o
                        .selectFrom('action_runs as h')
                        .select('h.seq')
                        .whereRef('h.connection_pk', '=', 'o.connection_pk')
                        .where('h.status', '=', 'pending')
                        .where('h.not_before', '>', at)
                        .whereRef('h.seq', '<=', 'o.seq'),
                    ),
                  ),
                ]),
              ]),
            ),
        ),
      ),
    )
    .where((eb) =>
      eb.or([
        eb('r.status', '=', 'pending'),
        eb('r.claimed_until', 'is', null),
        eb('r.claimed_until', '<', at),
      ]),
    );
  if (opts.busyEnvironments && opts.busyEnvironments.length > 0) {
    q = q.where('r.environment_id', 'not in', [...opts.busyEnvironments]);
  }
  const candidates = (await q.orderBy('r.seq').limit(opts.limit).execute()) as Row[];
  const claimed: ClaimedActionRun[] = [];
  for (const row of candidates) {
    // Conditional on the row being as read: of two processes, one gets it.
    let u = db
      .updateTable('action_runs')
      .set({
        status: 'running',
        lease_owner: opts.owner,
        claimed_until: opts.leaseUntil.toISOString(),
        started_at: row.started_at ?? at,
        // The refusal that parked the run is no error of this attempt.
        error: null,
      })
      .where('seq', '=', row.seq)
      .where('status', '=', row.status);
    u =
      row.claimed_until === null
        ? u.where('claimed_until', 'is', null)
        : u.where('claimed_until', '=', row.claimed_until);
    const r = await u.executeTakeFirst();
    if (Number(r.numUpdatedRows) !== 1) continue;
    claimed.push({
      run: { ...fromRow(row), status: 'running', startedAt: row.started_at ?? at, waiting: null },
      resumed: row.status === 'running',
    });
  }
  return claimed;
}

/** Renews the lease of a run `owner` holds; false when it no longer holds it (another process took it). */
export async function renewActionLease(
  ctx: DbContext,
  id: string,
  owner: string,
  leaseUntil: Date,
): Promise<boolean> {
  const r = await runsDb(ctx)
    .updateTable('action_runs')
    .set({ claimed_until: leaseUntil.toISOString() })
    .where('id', '=', id)
    .where('status', '=', 'running')
    .where('lease_owner', '=', owner)
    .executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}

/** Counts an attempt of a run `owner` holds (stored before the attempt: a crash still counts it). */
export async function setActionAttempts(
  ctx: DbContext,
  id: string,
  owner: string,
  attempts: number,
): Promise<void> {
  await runsDb(ctx)
    .updateTable('action_runs')
    .set({ attempts })
    .where('id', '=', id)
    .where('lease_owner', '=', owner)
    .where('status', '=', 'running')
    .execute();
}

/** Ends a run `owner` holds; false when it did not hold it any more (nothing written). */
export async function finishActionRun(
  ctx: DbContext,
  id: string,
  owner: string,
  end:
    | { status: 'success'; output: unknown; now: Date }
    | { status: 'failure'; error: ActionRunError; now: Date },
): Promise<boolean> {
  const r = await runsDb(ctx)
    .updateTable('action_runs')
    .set({
      status: end.status,
      output: end.status === 'success' ? JSON.stringify(end.output ?? null) : null,
      error: end.status === 'failure' ? JSON.stringify(end.error) : null,
      finished_at: end.now.toISOString(),
      claimed_until: null,
    })
    .where('id', '=', id)
    .where('lease_owner', '=', owner)
    .where('status', '=', 'running')
    .executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}

/**
 * Parks a run `owner` holds: back to `pending`, not taken before `notBefore`, its lease given up, with the
 * refusal that parked it (`reason`) and the attempts to keep (the refused attempt does not count). The
 * first parking time is kept (`parked_at`). False when `owner` did not hold the run any more.
 */
export async function parkActionRun(
  ctx: DbContext,
  id: string,
  owner: string,
  park: { notBefore: Date; reason: ActionRunError; attempts: number; now: Date },
): Promise<boolean> {
  const r = await runsDb(ctx)
    .updateTable('action_runs')
    .set((eb) => ({
      status: 'pending',
      not_before: park.notBefore.toISOString(),
      parked_at: eb.fn.coalesce('parked_at', eb.val(park.now.toISOString())),
      error: JSON.stringify(park.reason),
      attempts: park.attempts,
      lease_owner: null,
      claimed_until: null,
    }))
    .where('id', '=', id)
    .where('lease_owner', '=', owner)
    .where('status', '=', 'running')
    .executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}

/**
 * Gives up the leases `owner` holds (a stop): the runs stay `running` and the next process takes them at
 * once, as after a crash (see the engine's queue for what it does with them).
 */
export async function releaseActionLeases(ctx: DbContext, owner: string): Promise<number> {
  const r = await runsDb(ctx)
    .updateTable('action_runs')
    .set({ claimed_until: null })
    .where('lease_owner', '=', owner)
    .where('status', '=', 'running')
    .executeTakeFirst();
  return Number(r.numUpdatedRows);
}

/**
 * Deletes runs created before `before`, except those running under a live lease (pending ones too: a
 * queue a week old is not worth running any more). Returns how many went.
 */
export async function pruneActionRuns(ctx: DbContext, before: Date, now: Date): Promise<number> {
  const at = now.toISOString();
  const r = await runsDb(ctx)
    .deleteFrom('action_runs')
    .where('created_at', '<', before.toISOString())
    .where((eb) =>
      eb.or([eb('status', '!=', 'running'), eb('claimed_until', 'is', null), eb('claimed_until', '<', at)]),
    )
    .executeTakeFirst();
  return Number(r.numDeletedRows);
}
