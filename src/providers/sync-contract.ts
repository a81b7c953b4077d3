import type { PayloadRecord } from '../record-payload.ts';

/**
 * The contract between a provider's sync models (provider code, e.g. src/marketo/models/, with no engine
 * dependency) and the sync engine that runs them (src/engine/sync/, with no provider code). A model is a
 * {@link SyncModelDef}; the engine calls `run(io)` on its schedule and persists what the model hands to
 * `io.save`.
 */

/** A record as a model saves it: `id` is Marketo's unique key for the model, as a string. */
export interface SyncRecord {
  id: string;
  [k: string]: unknown;
}

/**
 * Deletion detection for models Marketo can only list in full ("sweeps").
 *
 * Every page a model saves while listing a model in full carries the same sweep `id`; the records it
 * upserts count as *seen in that sweep* (unchanged ones too: the engine must note them as seen even when
 * it skips rewriting them). The page that carries `complete: true` ends the sweep: after applying that
 * page, the engine marks deleted every record of `models` (this connection) that was not seen in the
 * sweep. A sweep may span several runs (the model keeps the sweep id in its checkpoint and resumes after
 * a failure); a sweep that is never completed deletes nothing. A new sweep id simply starts over.
 *
 * 'full' models send a sweep on every page; 'incremental' models may run a periodic sweep (programs,
 * smart campaigns). Engines should therefore key deletion detection off this marker, not off `mode`.
 */
export interface SweepMarker {
  id: string;
  models: string[];
  complete?: boolean;
}

export interface SyncPage {
  /**
   * Records by model: plain objects, or {@link PayloadRecord}s already serialised as the records cache
   * stores them (the Lead export reader writes those straight from the file's text).
   */
  upserts?: Record<string, (SyncRecord | PayloadRecord)[]>;
  /** Record ids to mark deleted, by model (may name a model of another sync, e.g. `Lead`). */
  deletes?: Record<string, string[]>;
  checkpoint: Record<string, unknown>;
  sweep?: SweepMarker;
}

export interface SyncIO {
  /**
   * One Marketo call (path below the instance root, e.g. '/rest/v1/lists.json?batchSize=300'); resolves to
   * the parsed JSON envelope; the engine does auth, traffic control, retries and throws on 607/budget.
   */
  get(path: string): Promise<unknown>;
  post?(path: string, body: unknown): Promise<unknown>;
  /** The checkpoint saved by the previous page/run (null on the first run). */
  checkpoint: Record<string, unknown> | null;
  /**
   * Save records and the checkpoint that follows them (the engine makes this atomic enough: records
   * first, then checkpoint; re-running a page must be harmless). See {@link SweepMarker} for `sweep`.
   */
  save(page: SyncPage): Promise<void>;
  log(message: string, data?: Record<string, unknown>): void;
  /** Options per connection (e.g. activityTypeIds for Activity); each model documents its own. */
  options: Record<string, unknown>;
  /**
   * The sync variant being run (Nango's sync variants; 'base' or absent for the base variant). Records
   * are stored per variant by the engine; a model may read the name as a parameter (custom-objects: the
   * custom object type to sync).
   */
  variant?: string;
  now(): Date;
  /**
   * A raw GET streamed (bulk export files: `/bulk/v1/leads/export/<id>/file.json`), with the same auth,
   * traffic control and accounting as `get` (one call). Resolves when the response headers arrive, for
   * any HTTP status (the caller reads 404 text itself); `headers` have lower-case names. The body must
   * be consumed or `cancel()`ed: the call's traffic permit is held until then.
   */
  download(path: string, opts?: { range?: { start: number; end?: number } }): Promise<DownloadResponse>;
  /** Waits `ms` (polling a job); rejects at once when the run is stopped (the run ends there). */
  sleep(ms: number): Promise<void>;
  /**
   * Ends the run as PAUSED until `resetAt` (epoch ms), e.g. Marketo's 500 MB export quota spent: no
   * failure; the next run is due then and resumes from the last saved checkpoint. Never returns.
   */
  pause(resetAt: number, reason: string, message: string): never;
  /**
   * Identifies the Marketo instance (every connection to one Munchkin ID shares it): the key for limits
   * shared by everything Tether runs there (bulk export queue and daily volume).
   */
  instanceKey: string;
  /**
   * Slots shared by every Tether process on the engine's database (absent: this process alone counts):
   * named scopes each holding at most `max` holders, e.g. Marketo's export queue of an instance
   * (`marketo-export-queue:<instanceKey>`, one holder per job). `take` answers whether `holder` holds a
   * slot now (a re-take of a holder held is true); `max` = `Infinity` takes it whatever the count (the
   * job is at Marketo already). A holder of a process that stopped or died stops counting. `release`
   * never throws.
   */
  slots?: {
    take(scope: string, holder: string, max: number): Promise<boolean>;
    release(scope: string, holder: string): Promise<void>;
  };
}

export interface DownloadResponse {
  status: number;
  headers: Record<string, string>;
  body: AsyncIterable<Uint8Array>;
  /** Stops reading early (releases the connection and the traffic permit). Harmless after the end. */
  cancel(): void;
}

/** Thrown by {@link SyncIO.pause} implementations (engines may throw their own subclass). */
export class SyncPaused extends Error {
  override readonly name = 'SyncPaused';
  constructor(
    readonly resetAt: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

export interface SyncModelDef {
  /** Sync name, e.g. 'activities'. */
  name: string;
  /** Models the sync writes, e.g. ['Activity']. */
  models: string[];
  /**
   * 'incremental': only what changed since the checkpoint; 'full': every run lists everything and
   * ends with a completed sweep (records not seen are deleted).
   */
  mode: 'incremental' | 'full';
  defaultFrequencySeconds: number;
  /** One-line description for docs and the API. */
  description: string;
  run(io: SyncIO): Promise<void>;
  /**
   * Gives back what a checkpoint holds at Marketo when the engine discards it (a reset, a deleted
   * variant): e.g. cancels its bulk export jobs still queued or processing, which would otherwise keep the
   * instance's few export slots and spend its daily export volume. Called before the discarded
   * checkpoint's successor runs (reset) or once the variant's run stopped. Best effort: the engine logs
   * a failure and goes on. Returns a line for the run's log, or undefined when there was nothing to do.
   */
  release?(io: ReleaseIO, checkpoint: Record<string, unknown>): Promise<string | undefined>;
}

/** What {@link SyncModelDef.release} may use: calls to the instance, nothing saved. */
export type ReleaseIO = Pick<SyncIO, 'get' | 'post'>;

/** What a provider makes of a failed call (Marketo: envelope.ts `classifyEnvelope`). */
export type ProviderErrorKind = 'refresh_token' | 'back_off' | 'quota_spent' | 'fail';

/**
 * A provider call that did not succeed, as provider code throws it (Marketo's subclass: MarketoSyncError).
 * `code` is the provider's own code as a string ('1003', '606'…) or one of its own ('invalid_envelope');
 * `kind` says what to do about it. The engine decides (retry, pause, fail) and reports `code`.
 */
export class ProviderResponseError extends Error {
  override readonly name: string = 'ProviderResponseError';
  constructor(
    readonly code: string,
    /** The provider's own message (the error's `message` adds the code and the path). */
    readonly detail: string,
    /** The path of the failed call. */
    readonly path: string,
    readonly kind: ProviderErrorKind = 'fail',
    message = `${code}: ${detail} (${path.split('?')[0]})`,
  ) {
    super(message);
  }
}
