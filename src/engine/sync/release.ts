/**
 * Giving back what a discarded checkpoint holds at the provider. A reset, or deleting a sync variant,
 * throws a checkpoint away; it may name work the provider still does for it (Marketo: bulk export jobs
 * queued or processing, which hold the instance's few export slots and spend its daily export volume).
 * The provider's sync model knows what its checkpoint holds (`SyncModelDef.release`); the engine calls it:
 *  - after a reset, at the start of the next run, with that run's calls (the discarded checkpoints wait in
 *    the sync's row until then: db/syncs.ts `discardedCheckpoints`);
 *  - after a variant is deleted and its run stopped (variants.ts), with calls made here.
 * Best effort: a failure is logged and nothing else changes (the jobs then end on their own).
 */
import type { ConnectionWithCredentials } from '../../db/connections.ts';
import type { Checkpoint } from '../../db/syncs.ts';
import type { ReleaseIO, SyncModelDef } from '../../marketo/models/types.ts';
import { providerCall, type ProviderCallDeps } from '../provider-call.ts';

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
