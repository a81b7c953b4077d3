/**
 * Sync variants (Nango's "sync partitioning": `POST/DELETE /sync/:name/variant/:variant`): more syncs of
 * one sync model for one connection, each with its own schedule, checkpoint, options, run history and
 * records (stored under `Model::variant`, see registry.ts `storedModelName`). The base variant is the
 * sync every connection gets; it cannot be created or deleted here.
 *
 * Deleting a variant (Nango: `syncManager.softDeleteSync`, which also stops its schedule and its running
 * execution) happens in three steps:
 *  1. its sync row goes, with its runs and their logs (one transaction): nothing can claim it again, and a
 *     run of it in any process loses its lease, so it writes nothing more;
 *  2. this process's run of it, if any, is stopped at once (scheduler `cancelRun`) and awaited; then what
 *     its checkpoints hold at the provider (Marketo export jobs) is given back (release.ts);
 *  3. its records are deleted in bounded transactions (as the purge of deleted connections does,
 *     engine/records-purge.ts), yielding to the event loop between them, so a variant holding millions
 *     of records never holds the database's write lock for long.
 * Records left by an interrupted step 3 are deleted when a variant of the same name is created again.
 */
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type { EngineDeps } from '../deps.ts';
import { nowOf } from '../../db/context.ts';
import {
  createVariant,
  deleteVariant,
  purgeVariantRecords,
  type CreateVariantResult,
  type Sync,
} from '../../db/syncs.ts';
import { storedModelsOf, type SyncModelDef } from './registry.ts';
import { getConnectionById } from '../../db/connections.ts';
import type { ProviderCallDeps } from '../provider-call.ts';
import { checkpointsOf, releaseCalls, releaseSync, RELEASE_TIMEOUT_MS } from './release.ts';

/** Records deleted per transaction when a variant is deleted (as records-purge.ts). */
export const VARIANT_PURGE_CHUNK = 2_000;

/** Creates a variant of `def` for a connection; due at once (its initial run). */
export async function createSyncVariant(
  deps: Pick<EngineDeps, 'store' | 'syncs' | 'log'>,
  input: { connectionPk: number; def: SyncModelDef; variant: string },
): Promise<CreateVariantResult> {
  const ctx = deps.store.ctx;
  const r = await createVariant(ctx, {
    connectionPk: input.connectionPk,
    name: input.def.name,
    variant: input.variant,
    now: nowOf(ctx),
    storedModels: storedModelsOf(input.def, input.variant),
  });
  if (r.kind === 'created') {
    deps.log.info(
      { connectionPk: input.connectionPk, sync: input.def.name, variant: input.variant, syncId: r.sync.id },
      'sync variant created',
    );
    deps.syncs?.wake();
  }
  return r;
}

/**
 * Deletes a variant: its sync, runs and run logs, its run in progress (stopped), its records. Returns the
 * deleted sync and how many records went, or undefined when the connection has no such variant.
 * `def` is undefined when the provider no longer has that sync: the row and runs still go (no records
 * are known to delete then).
 */
export async function deleteSyncVariant(
  deps: Pick<EngineDeps, 'syncs'> & ProviderCallDeps,
  input: {
    connectionPk: number;
    name: string;
    variant: string;
    def: SyncModelDef | undefined;
    chunk?: number;
  },
): Promise<{ sync: Sync; records: number } | undefined> {
  const ctx = deps.store.ctx;
  const sync = await deleteVariant(ctx, input);
  if (!sync) return undefined;
  await deps.syncs?.cancelRun(sync.id);
  if (input.def) await releaseDeleted(deps, input.def, sync);
  const storedModels = storedModelsOf(input.def, input.variant);
  let records = 0;
  for (;;) {
    const n = await purgeVariantRecords(ctx, {
      connectionPk: input.connectionPk,
      name: input.name,
      variant: input.variant,
      storedModels,
      limit: input.chunk ?? VARIANT_PURGE_CHUNK,
    });
    if (n === 0) break;
    records += n;
    await yieldToLoop();
  }
  deps.log.info(
    { connectionPk: input.connectionPk, sync: input.name, variant: input.variant, syncId: sync.id, records },
    'sync variant deleted',
  );
  return { sync, records };
}

/**
 * Gives back what the deleted variant's checkpoints hold at the provider (its current one, and those resets
 * discarded that no run released yet). Its run is stopped: nothing adds to them any more.
 */
async function releaseDeleted(deps: ProviderCallDeps, def: SyncModelDef, sync: Sync): Promise<void> {
  if (!def.release || checkpointsOf(sync).length === 0) return;
  const connection = await getConnectionById(deps.store.ctx, sync.connectionPk);
  if (!connection) return;
  const io = releaseCalls(deps, connection, AbortSignal.timeout(RELEASE_TIMEOUT_MS));
  await releaseSync(deps, def, io, sync, 'deleted sync variant');
}
