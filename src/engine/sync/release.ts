/**
 * Giving back what a discarded checkpoint holds at the provider. A reset, or deleting a sync variant,
 * throws a checkpoint away; it may name work the provider still does for it (Marketo: bulk export jobs
 * queued or processing, which hold the instance's few export slots and spend its daily export volume).
 * The provider's sync model knows what its checkpoint holds (`SyncModelDef.release`); the engine calls it:
 *  - after a reset, at the start of the next run, with that run's calls (the discarded checkpoints wait in
 *    the sync's row until then: db/syncs.ts `discardedCheckpoints`);
 *  - after a variant is deleted and its run stopped (variants.ts), with calls made here;
 *  - after a connection is deleted ({@link releaseDeletedConnection}), with the credentials read before.
 * Best effort: a failure is logged and nothing else changes (the jobs then end on their own).
 */
import type { EngineDeps } from '../deps.ts';
import type { ConnectionWithCredentials } from '../../db/connections.ts';
import { syncsOfConnection, type Checkpoint, type Sync } from '../../db/syncs.ts';
import type { ReleaseIO, SyncModelDef } from '../../providers/sync-contract.ts';
import { providerCall, type ProviderCallDeps } from '../provider-call.ts';
import { findSyncDef, SYNCS_BY_PROVIDER } from './registry.ts';

/** Longest a release outside a run may take (it delays the answer to the variant's deletion). */
export const RELEASE_TIMEOUT_MS = 15_000;

export type ReleaseOutcome = { ok: true; line: string | undefined } | { ok: false; error: unknown };

/** Releases one checkpoint through `def.release` (nothing to do without one). Never throws. */
export async function releaseCheckpoint(
  def: SyncModelDef,
  io: ReleaseIO,
  checkpoint: Checkpoint,
): Promise<ReleaseOutcome> {
  if (!def.release) return { ok: true, line: undefined };
  try {
    return { ok: true, line: await def.release(io, checkpoint) };
  } catch (error) {
    return { ok: false, error };
  }
}

/** Calls to a connection's provider outside a run: interactive (someone waits), bounded by `signal`. */
export function releaseCalls(
  deps: ProviderCallDeps,
  connection: ConnectionWithCredentials,
  signal: AbortSignal,
): ReleaseIO {
  const call = (method: string, path: string, body?: unknown) =>
    providerCall(
      deps,
      connection,
      { method, path, ...(body !== undefined ? { body } : {}) },
      { priority: 'interactive', signal },
    );
  return { get: (path) => call('GET', path), post: (path, body) => call('POST', path, body) };
}

/** The message of a release failure, for logs (errors of provider calls carry no secret). */
export function releaseError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** A sync's checkpoints that may hold provider work: those resets discarded, then its current one. */
export function checkpointsOf(sync: Pick<Sync, 'checkpoint' | 'discardedCheckpoints'>): Checkpoint[] {
  return [...sync.discardedCheckpoints, ...(sync.checkpoint ? [sync.checkpoint] : [])];
}

/**
 * Releases a sync's checkpoints (those resets discarded, then its current one) in order, logging what the
 * model did under `what`. Returns false at the first failure (logged; the rest is left).
 */
export async function releaseSync(
  deps: Pick<ProviderCallDeps, 'log'>,
  def: SyncModelDef,
  io: ReleaseIO,
  sync: Pick<Sync, 'id' | 'connectionPk' | 'name' | 'variant' | 'checkpoint' | 'discardedCheckpoints'>,
  what: string,
): Promise<boolean> {
  const where = { connectionPk: sync.connectionPk, sync: sync.name, variant: sync.variant, syncId: sync.id };
  for (const checkpoint of checkpointsOf(sync)) {
    const r = await releaseCheckpoint(def, io, checkpoint);
    if (!r.ok) {
      deps.log.warn({ ...where, error: releaseError(r.error) }, `${what}: release failed`);
      return false;
    }
    if (r.line) deps.log.info(where, `${what}: ${r.line}`);
  }
  return true;
}

/**
 * After a connection was deleted: stops this process's runs of its syncs (they end CANCELLED, as they
 * would at their next page), then gives back what their checkpoints hold (Marketo: cancels their export
 * jobs still queued or processing). `connection` is the connection as read before the deletion: its
 * token serves the calls (a refresh cannot happen any more: the stored credentials are erased, and a
 * token that expired makes the release fail, logged). Bounded by {@link RELEASE_TIMEOUT_MS}; never throws.
 */
export async function releaseDeletedConnection(
  deps: ProviderCallDeps & Pick<EngineDeps, 'syncs'>,
  connection: ConnectionWithCredentials,
): Promise<void> {
  const where = { connectionPk: connection.id };
  try {
    const registry = deps.syncs?.registry ?? SYNCS_BY_PROVIDER;
    const syncs = await syncsOfConnection(deps.store.ctx, connection.id);
    for (const sync of syncs) await deps.syncs?.cancelRun(sync.id, 'connection_deleted');
    const signal = AbortSignal.timeout(RELEASE_TIMEOUT_MS);
    const io = releaseCalls(deps, connection, signal);
    // Read again: the stopped runs' last pages are in.
    for (const sync of await syncsOfConnection(deps.store.ctx, connection.id)) {
      const def = findSyncDef(registry, connection.provider, sync.name);
      if (def && !(await releaseSync(deps, def, io, sync, 'deleted connection'))) return;
    }
  } catch (err) {
    deps.log.warn({ ...where, error: releaseError(err) }, 'deleted connection: release failed');
  }
}

/** {@link releaseDeletedConnection} for each connection of a deleted integration, one after the other. */
export async function releaseDeletedConnections(
  deps: ProviderCallDeps & Pick<EngineDeps, 'syncs'>,
  connections: readonly ConnectionWithCredentials[],
): Promise<void> {
  for (const connection of connections) await releaseDeletedConnection(deps, connection);
}
