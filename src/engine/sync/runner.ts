/**
 * One run of one sync for one connection, after the scheduler claimed it (src/db/syncs.ts `claimSync`):
 * hands the sync a {@link SyncIO} whose calls go through {@link providerCall} (token manager, per-instance
 * traffic control, background priority, the connection's budget) and whose `save` writes each page
 * atomically (records, deletions, sweep completion, then the checkpoint and the run's counts, all in one
 * transaction, conditioned on still holding the lease), then ends the run:
 *
 *  - SUCCESS / ERROR: run history updated, next run after the interval, sync webhooks.
 *  - PAUSED: the daily quota or a budget is spent ({@link PausedUntil}), or the model paused itself
 *    (`io.pause`, {@link SyncPaused}: e.g. Marketo's daily export volume): no failure, the next run is due at
 *    the reset and continues from the checkpoint.
 *  - STOPPED: the scheduler is closing: the run stays `RUNNING` with its checkpoint, the lease is freed,
 *    the next start resumes it.
 *  - LOST: the lease was taken over (this process stalled past the stale limit): nothing more is written.
 *  - CANCELLED: the connection was deleted meanwhile.
 *  - DELETED: the sync (a variant) was deleted meanwhile (`cancel`): its row, runs and lease are gone, so
 *    nothing more is written; calls in flight are abandoned and downloads cancelled at once.
 *
 * A variant (`claim.sync.variant` other than `base`) runs the same model with its own options and
 * checkpoint; its records are stored under `Model::variant` ({@link storedModelName}): the model only
 * ever names plain models, counts and webhooks use plain names too (with `syncVariant`).
 *
 * Re-running a page is harmless: the records cache detects changes by content.
 *
 * Besides calls, the SyncIO streams files (`io.download`, through {@link providerDownload}: a download's
 * traffic permit is held until its body ends or is cancelled, and every download still open when the run
 * ends is cancelled), waits (`io.sleep`, cut short when the run stops) and names the Marketo instance
 * (`io.instanceKey`, shared by every connection to one Munchkin ID), and gives the slots shared by the
 * processes on this database (`io.slots`, engine/shared-slots.ts: Marketo's export queue across
 * processes). The model's `io.log` lines go to Tether's log with the run's `syncId` and `runId`.
 */
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { EngineDeps } from '../deps.ts';
import type { SharedSlots } from '../shared-slots.ts';
import { nowOf } from '../../db/context.ts';
import { RunLog } from './run-log.ts';
import { getConnectionById, type ConnectionWithCredentials } from '../../db/connections.ts';
import { markDeleted, markMissingDeleted, upsertRecords } from '../../db/records.ts';
import {
  ConnectionDeletedError,
  finishRun,
  forgetDiscarded,
  getRun,
  heartbeat,
  LeaseLostError,
  releaseLease,
  savePage,
  setRunApiCalls,
  type Claim,
  type PageCounts,
  type SyncRunError,
} from '../../db/syncs.ts';
import {
  ProviderResponseError,
  SyncPaused,
  type SyncIO,
  type SyncModelDef,
  type SyncPage,
} from '../../providers/sync-contract.ts';
import { ApiError } from '../../api-error.ts';
import {
  connectionInstanceKey,
  isPausedUntil,
  providerCall,
  ProviderCallError,
  providerDownload,
  type ProviderDownload,
} from '../provider-call.ts';
import { RefreshError } from '../tokens.ts';
import { sendSyncWebhooks } from './webhooks.ts';
import { releaseCheckpoint, releaseError } from './release.ts';
import { storedModelName } from './registry.ts';

/** Why the scheduler cancels a run ({@link RunInput.cancel}'s abort reason). */
export type RunCancelReason = 'sync_deleted' | 'connection_deleted' | 'sync_disabled';

export type RunEnd = 'SUCCESS' | 'ERROR' | 'PAUSED' | 'STOPPED' | 'LOST' | 'CANCELLED' | 'DELETED';

export interface RunInput {
  deps: EngineDeps;
  owner: string;
  claim: Claim;
  /** Undefined when the provider no longer has a sync of that name. */
  def: SyncModelDef | undefined;
  /** Aborted when the scheduler closes. */
  stop: AbortSignal;
  /**
   * Aborted with a {@link RunCancelReason}: the sync was deleted (a variant; the run ends at once, writing
   * nothing more), its connection was deleted, or its integration disabled it (the run ends CANCELLED,
   * `sync_disabled`, keeping its last checkpoint).
   */
  cancel?: AbortSignal;
  heartbeatMs: number;
  log: Logger;
}

export interface RunOutcome {
  end: RunEnd;
  runId: number;
  apiCalls: number;
  error?: SyncRunError;
}

/** The abort reason of a run whose sync its integration disabled: the run ends CANCELLED there. */
class SyncDisabled extends Error {
  constructor(syncName: string) {
    super(`The sync "${syncName}" was disabled for its integration; the run was stopped.`);
    this.name = 'SyncDisabled';
  }
}

/** Thrown by `io.save` after a page was stored when the scheduler is closing: the sync stops there. */
class StopRequested extends Error {
  constructor() {
    super('The scheduler is stopping.');
    this.name = 'StopRequested';
  }
}

/** The tag records seen in a sweep carry (`sync_run_id`), for `markMissingDeleted`. */
export function sweepTag(sweepId: string): string {
  return `sweep:${sweepId}`;
}

function describeError(err: unknown, provider: string): SyncRunError {
  if (err instanceof ProviderCallError) return { type: err.code, message: err.message };
  if (err instanceof RefreshError) return { type: err.code, message: err.message };
  if (err instanceof ApiError) return { type: err.code, message: err.message };
  // A provider's refusal: `<provider>_<code>` (`marketo_1003`).
  if (err instanceof ProviderResponseError) return { type: `${provider}_${err.code}`, message: err.message };
  if (err instanceof Error) {
    return { type: err.name === 'TypeError' ? 'invalid_page' : 'sync_error', message: err.message };
  }
  return { type: 'sync_error', message: String(err) };
}

function isGone(err: unknown): boolean {
  return err instanceof ApiError && err.status === 404;
}

function checkPage(page: SyncPage): void {
  if (typeof page !== 'object' || page === null) throw new TypeError('save(): the page must be an object.');
  const cp = page.checkpoint as unknown;
  if (typeof cp !== 'object' || cp === null || Array.isArray(cp)) {
    throw new TypeError('save(): the checkpoint must be a JSON object.');
  }
  for (const [model, records] of Object.entries(page.upserts ?? {})) {
    if (!Array.isArray(records)) throw new TypeError(`save(): upserts.${model} must be an array.`);
  }
  for (const [model, ids] of Object.entries(page.deletes ?? {})) {
    if (!Array.isArray(ids)) throw new TypeError(`save(): deletes.${model} must be an array.`);
  }
}

export async function executeRun(input: RunInput): Promise<RunOutcome> {
  const { deps, owner, claim, def, stop } = input;
  const ctx = deps.store.ctx;
  const sync = claim.sync;
  const runId = claim.run.id;
  const log = input.log.child({
    syncId: sync.id,
    sync: sync.name,
    variant: sync.variant,
    runId,
    connectionPk: sync.connectionPk,
  });
  /** Where this variant's records of `model` are stored (the model itself for the base variant). */
  const stored = (model: string) => storedModelName(model, sync.variant);
  // What the run says, kept with it (GET /sync/runs/:runId/logs) as well as in Tether's log.
  const runLog = new RunLog(ctx, runId, log, () => nowOf(ctx));
  let apiCalls = claim.run.apiCalls;
  let lost = false;
  let deleted = false;
  const lostEnd = (): RunEnd => (deleted ? 'DELETED' : 'LOST');
  const abort = new AbortController();
  /** Downloads handed to the model and not cancelled by it (cancelled when the run ends). */
  const downloads = new Set<ProviderDownload>();
  const onStop = () => abort.abort(new StopRequested());
  if (stop.aborted) onStop();
  else stop.addEventListener('abort', onStop, { once: true });
  // A deleted sync is a lost lease for good: the same path (nothing written), reported as DELETED. A
  // deleted connection's run stops as it would at its next page: CANCELLED, `connection_deleted`; so does
  // a disabled sync's (`sync_disabled`).
  const onCancel = () => {
    if (input.cancel?.reason === 'connection_deleted') {
      abort.abort(new ConnectionDeletedError(sync.id));
      return;
    }
    if (input.cancel?.reason === 'sync_disabled') {
      abort.abort(new SyncDisabled(sync.name));
      return;
    }
    deleted = true;
    lost = true;
    abort.abort(new LeaseLostError(sync.id));
  };
  if (input.cancel?.aborted) onCancel();
  else input.cancel?.addEventListener('abort', onCancel, { once: true });

  const beat = setInterval(() => {
    heartbeat(ctx, sync.id, owner, nowOf(ctx))
      .then((ok) => {
        if (!ok && !lost) {
          lost = true;
          log.warn('sync lease lost; stopping the run');
          abort.abort(new LeaseLostError(sync.id));
        }
      })
      .catch((err: unknown) => log.warn({ err }, 'sync heartbeat failed'));
  }, input.heartbeatMs);
  beat.unref();

  const finish = async (
    status: 'SUCCESS' | 'ERROR' | 'PAUSED' | 'CANCELLED',
    extra: { error?: SyncRunError; pausedUntil?: Date; now?: Date } = {},
  ): Promise<boolean> =>
    finishRun(ctx, {
      syncId: sync.id,
      runId,
      owner,
      status,
      apiCalls,
      defaultIntervalSeconds: def?.defaultFrequencySeconds ?? 3600,
      ...extra,
      now: extra.now ?? nowOf(ctx),
    });

  try {
    runLog.line(
      'info',
      claim.run.resumes > 0
        ? `${claim.run.type.toLowerCase()} run resumed from its checkpoint (after a restart or a crash)`
        : `${claim.run.type.toLowerCase()} run started (${claim.run.reason})`,
    );
    let connection: ConnectionWithCredentials | undefined = await getConnectionById(ctx, sync.connectionPk);
    if (!connection) {
      await finish('CANCELLED', {
        error: { type: 'connection_deleted', message: 'The connection was deleted.' },
      });
      return { end: 'CANCELLED', runId, apiCalls };
    }
    if (!def) {
      const error = {
        type: 'unknown_sync',
        message: `The provider has no sync named "${sync.name}" any more.`,
      };
      await finish('ERROR', { error });
      return { end: 'ERROR', runId, apiCalls, error };
    }
    const connectionPk = connection.id;
    // Both kinds of call are the run's background work: counted, and following a refreshed connection.
    const background = {
      priority: 'background' as const,
      signal: abort.signal,
      onAttempt: () => {
        apiCalls++;
      },
      onConnection: (c: ConnectionWithCredentials) => {
        connection = c;
      },
    };
    const call = async (method: string, path: string, body?: unknown): Promise<unknown> => {
      if (abort.signal.aborted) throw abort.signal.reason;
      return providerCall(
        deps,
        connection!,
        { method, path, ...(body !== undefined ? { body } : {}) },
        background,
      );
    };
    const download = async (
      path: string,
      o?: { range?: { start: number; end?: number } },
    ): Promise<ProviderDownload> => {
      if (abort.signal.aborted) throw abort.signal.reason;
      const d = await providerDownload(
        deps,
        connection!,
        { path, ...(o?.range ? { range: o.range } : {}) },
        background,
      );
      downloads.add(d);
      const inner = d.body;
      return {
        status: d.status,
        headers: d.headers,
        body: (async function* () {
          try {
            yield* inner;
          } finally {
            downloads.delete(d);
          }
        })(),
        cancel: () => {
          downloads.delete(d);
          d.cancel();
        },
      };
    };
    const io: SyncIO = {
      get: (path) => call('GET', path),
      post: (path, body) => call('POST', path, body),
      download,
      sleep: (ms) => sleepUnlessStopped(ms, abort.signal),
      pause: (resetAt, reason, message) => {
        throw new SyncPaused(resetAt, reason, message);
      },
      instanceKey: connectionInstanceKey(connection),
      ...(deps.slots ? { slots: sharedSlotsIO(deps.slots) } : {}),
      checkpoint: claim.sync.checkpoint ? structuredClone(claim.sync.checkpoint) : null,
      options: { ...sync.options },
      variant: sync.variant,
      now: () => nowOf(ctx),
      log: (message, data) => runLog.model(message, data),
      save: async (page) => {
        if (lost) throw new LeaseLostError(sync.id);
        checkPage(page);
        const now = nowOf(ctx);
        await savePage(
          ctx,
          { syncId: sync.id, runId, owner, now, checkpoint: page.checkpoint, apiCalls },
          async (tx) => {
            const counts: PageCounts = {};
            const of = (model: string) =>
              (counts[model] ??= { added: 0, updated: 0, deleted: 0, unchanged: 0 });
            const sweep = page.sweep;
            for (const [model, records] of Object.entries(page.upserts ?? {})) {
              if (records.length === 0) continue;
              const tag = sweep && sweep.models.includes(model) ? sweepTag(sweep.id) : undefined;
              const s = await upsertRecords(tx, {
                connectionPk,
                model: stored(model),
                records,
                now,
                ...(tag !== undefined ? { runId: tag } : {}),
              });
              const c = of(model);
              c.added += s.added;
              c.updated += s.updated;
              c.unchanged += s.unchanged;
            }
            for (const [model, ids] of Object.entries(page.deletes ?? {})) {
              if (ids.length === 0) continue;
              of(model).deleted += await markDeleted(tx, { connectionPk, model: stored(model), ids, now });
            }
            if (sweep?.complete) {
              for (const model of sweep.models) {
                of(model).deleted += await markMissingDeleted(tx, {
                  connectionPk,
                  model: stored(model),
                  runId: sweepTag(sweep.id),
                  now,
                });
              }
            }
            return counts;
          },
        );
        if (stop.aborted) throw new StopRequested();
        // A page stored on SQLite is synchronous work in promises: with the next page already parsed, a
        // sync would go on page after page without letting the event loop serve anything else (API
        // requests waited 100 ms and more). One turn of the loop per page costs nothing measurable.
        await yieldToLoop();
      },
    };

    try {
      await releaseDiscarded(def, io, claim.sync.discardedCheckpoints, {
        lost: () => abort.signal.aborted,
        line: (level, message) => runLog.line(level, message),
        forget: (count) => forgetDiscarded(ctx, { syncId: sync.id, owner, count }),
      });
      await def.run(io);
    } catch (err) {
      if (lost || err instanceof LeaseLostError) {
        lost = true;
        return { end: lostEnd(), runId, apiCalls };
      }
      if (stop.aborted) {
        await setRunApiCalls(ctx, runId, apiCalls).catch(() => undefined);
        runLog.line('info', 'run stopped; it resumes from its checkpoint at the next start');
        await runLog.flush();
        await releaseLease(ctx, sync.id, owner).catch(() => undefined);
        return { end: 'STOPPED', runId, apiCalls };
      }
      if (abort.signal.reason instanceof SyncDisabled) {
        const error = { type: 'sync_disabled', message: abort.signal.reason.message };
        runLog.line('warn', error.message);
        await runLog.flush();
        if (!(await finish('CANCELLED', { error }))) return { end: lostEnd(), runId, apiCalls };
        return { end: 'CANCELLED', runId, apiCalls, error };
      }
      if (isPausedUntil(err) || err instanceof SyncPaused) {
        const pausedUntil = new Date(err.resetAt);
        const error = { type: err.reason, message: err.message };
        runLog.line('warn', `run paused until ${pausedUntil.toISOString()}: ${err.message}`, {
          pausedUntil: pausedUntil.toISOString(),
          reason: err.reason,
        });
        await runLog.flush();
        if (!(await finish('PAUSED', { error, pausedUntil }))) return { end: lostEnd(), runId, apiCalls };
        return { end: 'PAUSED', runId, apiCalls, error };
      }
      if (
        err instanceof ConnectionDeletedError ||
        isGone(err) ||
        !(await getConnectionById(ctx, sync.connectionPk))
      ) {
        await finish('CANCELLED', {
          error: { type: 'connection_deleted', message: 'The connection was deleted.' },
        });
        return { end: 'CANCELLED', runId, apiCalls };
      }
      const error = describeError(err, connection.provider);
      runLog.line('error', `run failed: ${error.message}`, { error });
      await runLog.flush();
      const failedAt = nowOf(ctx);
      if (!(await finish('ERROR', { error, now: failedAt }))) return { end: lostEnd(), runId, apiCalls };
      const run = await getRun(ctx, runId);
      if (run) {
        await sendSyncWebhooks(deps, {
          connection,
          syncName: sync.name,
          variant: sync.variant,
          models: def.models,
          run,
          error,
          failedAt,
        });
      }
      return { end: 'ERROR', runId, apiCalls, error };
    }

    if (lost) return { end: lostEnd(), runId, apiCalls };
    // Deleted after the last page: no success (nor its webhooks) for a connection that is gone.
    if (!(await getConnectionById(ctx, sync.connectionPk))) {
      await finish('CANCELLED', {
        error: { type: 'connection_deleted', message: 'The connection was deleted.' },
      });
      return { end: 'CANCELLED', runId, apiCalls };
    }
    const counts = await getRun(ctx, runId);
    if (counts) {
      const { added, updated, deleted } = counts;
      runLog.line('info', `run succeeded: ${added} added, ${updated} updated, ${deleted} deleted`, {
        added,
        updated,
        deleted,
        apiCalls,
      });
    }
    await runLog.flush();
    if (!(await finish('SUCCESS'))) return { end: lostEnd(), runId, apiCalls };
    const run = await getRun(ctx, runId);
    if (run) {
      await sendSyncWebhooks(deps, {
        connection,
        syncName: sync.name,
        variant: sync.variant,
        models: def.models,
        run,
      });
    }
    return { end: 'SUCCESS', runId, apiCalls };
  } finally {
    clearInterval(beat);
    stop.removeEventListener('abort', onStop);
    input.cancel?.removeEventListener('abort', onCancel);
    // A download the model left open must not hold its traffic permit past the run.
    for (const d of downloads) d.cancel();
    downloads.clear();
  }
}

/** The SyncIO view of the process's shared slots (provider code never sees the engine's class). */
function sharedSlotsIO(slots: SharedSlots): NonNullable<SyncIO['slots']> {
  return {
    take: (scope, holder, max) => slots.take(scope, holder, max),
    release: (scope, holder) => slots.release(scope, holder),
  };
}

/** Waits `ms`; rejects with the signal's reason as soon as it aborts (the run is stopping or lost). */
function sleepUnlessStopped(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(
      () => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      },
      Math.max(0, ms),
    );
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Before a run that follows a reset: gives back what the discarded checkpoints hold at the provider
 * (release.ts), with the run's own calls, then forgets them. A failure is said in the run's log and the
 * run goes on (the provider's work then ends on its own); a stopped or lost run leaves them for the next.
 */
async function releaseDiscarded(
  def: SyncModelDef,
  io: SyncIO,
  checkpoints: readonly Record<string, unknown>[],
  run: {
    lost(): boolean;
    line(level: 'info' | 'warn', message: string): void;
    forget(count: number): Promise<void>;
  },
): Promise<void> {
  if (checkpoints.length === 0) return;
  for (const checkpoint of checkpoints) {
    const r = await releaseCheckpoint(def, io, checkpoint);
    if (r.ok) {
      if (r.line) run.line('info', r.line);
      continue;
    }
    if (run.lost() || r.error instanceof LeaseLostError) throw r.error;
    run.line('warn', `could not give back what the reset checkpoint held: ${releaseError(r.error)}`);
    break;
  }
  await run.forget(checkpoints.length);
}
