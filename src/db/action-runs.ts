/**
 * Async action runs repository (DDL: migrations/010_action_runs.ts; engine: src/engine/actions/queue.ts).
 *
 * The queue discipline lives in {@link claimNextActionRuns}: a run may only be claimed when it is the
 * oldest unfinished run (pending or running) of its environment, read in one statement (one snapshot), and
 * the claim is a conditional update. So runs of an environment execute in creation order, one at a time,
 * whatever the processes do: a second process sees the first one's `running` row as the oldest and waits.
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
    error: r.error === null ? null : (JSON.parse(r.error) as ActionRunError),
    createdAt: r.created_at,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
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
 * environment when it is free to take: pending, or running under a lease that ran out. Each claim sets the
 * run `running` under `owner`'s lease until `leaseUntil`; a row another process claimed in between is
 * skipped (its environment then waits for the next look).
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
    .where(({ not, exists, selectFrom }) =>
      not(
        exists(
          selectFrom('action_runs as o')
            .select('o.seq')
            .whereRef('o.environment_id', '=', 'r.environment_id')
            .where('o.status', 'in', ['pending', 'running'])
            .whereRef('o.seq', '<', 'r.seq'),
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
      run: { ...fromRow(row), status: 'running', startedAt: row.started_at ?? at },
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
