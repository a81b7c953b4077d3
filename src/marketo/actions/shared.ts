/**
 * What the Marketo actions share: splitting input into Marketo's batches, running them one after the
 * other with progress in the error of a failed batch, reading per-record statuses, and input schema
 * pieces. Pure except {@link runBatches}, which only calls what it is given.
 */
import { z } from 'zod';
import { readEnvelope, type Envelope, type MarketoItem } from '../models/api.ts';
import { MarketoSyncError } from '../models/types.ts';
import type { ActionIO } from './types.ts';

/** Spec §4: sync/delete leads, list add/remove and custom activities take 300 records a call. */
export const LEAD_DB_BATCH = 300;

/**
 * Spec §4: a body over 1 MB is refused with 413. Batches stay below this many bytes of JSON, leaving
 * room for the envelope keys around `input` (action, lookupField…).
 */
export const MAX_BODY_BYTES = 1_000_000 - 16_384;

/** `items` in slices of at most `size`, in order. */
export function chunk<T>(items: readonly T[], size: number): T[][] {
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`chunk size must be a positive integer`);
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/**
 * `items` in slices of at most `size` whose JSON stays under `maxBytes` (records with long text fields
 * would otherwise make a 300-record body pass 1 MB). A record bigger than `maxBytes` alone gets a slice
 * of its own: Marketo's 413 then names the problem.
 */
export function chunkByBytes<T>(items: readonly T[], size: number, maxBytes: number): T[][] {
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`chunk size must be a positive integer`);
  const out: T[][] = [];
  let current: T[] = [];
  // Two bytes for `[]`, then each record and its comma.
  let bytes = 2;
  for (const item of items) {
    const b = Buffer.byteLength(JSON.stringify(item) ?? 'null') + 1;
    if (current.length > 0 && (current.length >= size || bytes + b > maxBytes)) {
      out.push(current);
      current = [];
      bytes = 2;
    }
    current.push(item);
    bytes += b;
  }
  if (current.length > 0) out.push(current);
  return out;
}

/** How a failed batch's error says what was done before it ("after 600 of 1000 leads were written"). */
export interface Progress {
  /** Plural noun of the input records: 'leads', 'lead ids', 'activities'. */
  noun: string;
  /** Past participle: 'written', 'deleted', 'added to the list'. */
  verb: string;
}

export function progressText(done: number, total: number, p: Progress): string {
  return `after ${done} of ${total} ${p.noun} were ${p.verb}`;
}

/**
 * Runs `send` for each batch in order and concatenates what it returns. When batch k > 0 fails with a
 * {@link MarketoSyncError}, the error thrown instead is the same code with the progress in its message
 * (the engine shows that message): the caller learns the earlier batches were applied. Other errors
 * (the engine's own: quota spent, connection gone) are rethrown as they are, since they may be shared
 * objects; the log line carries the progress for them. The log line never holds record contents.
 */
export async function runBatches<T, R>(
  io: Pick<ActionIO, 'log'>,
  action: string,
  batches: readonly (readonly T[])[],
  progress: Progress,
  send: (batch: readonly T[], offset: number) => Promise<readonly R[]>,
): Promise<R[]> {
  const total = batches.reduce((n, b) => n + b.length, 0);
  const out: R[] = [];
  let offset = 0;
  for (let k = 0; k < batches.length; k++) {
    const batch = batches[k]!;
    try {
      out.push(...(await send(batch, offset)));
    } catch (err) {
      const code = err instanceof MarketoSyncError ? err.code : undefined;
      io.log(`${action}: batch ${k + 1} of ${batches.length} failed`, {
        action,
        batch: k + 1,
        batches: batches.length,
        offset,
        size: batch.length,
        done: offset,
        total,
        ...(code === undefined ? {} : { code }),
      });
      if (k > 0 && err instanceof MarketoSyncError) {
        throw new MarketoSyncError(
          err.code,
          `${err.detail}, ${progressText(offset, total, progress)}`,
          err.path,
          err.kind,
        );
      }
      throw err;
    }
    offset += batch.length;
  }
  return out;
}

/** One JSON call, checked: `success:false` throws {@link MarketoSyncError} (readEnvelope). */
export async function postChecked(
  io: Pick<ActionIO, 'post'>,
  path: string,
  body: unknown,
): Promise<Envelope> {
  return readEnvelope(await io.post(path, body), path);
}

export async function deleteChecked(
  io: Pick<ActionIO, 'delete'>,
  path: string,
  body: unknown,
): Promise<Envelope> {
  return readEnvelope(await io.delete(path, body), path);
}

// ---------------------------------------------------------------------------------------------------
// Per-record outcomes

export interface Reason {
  code: string;
  message: string;
}

/** A record's outcome as Marketo reports it: its status (one of `known`, else skipped), id, reasons. */
export interface RecordOutcome<S extends string> {
  status: S | 'skipped';
  id?: number;
  reasons?: Reason[];
}

/** Marketo's `reasons` (`[{code, message}]`, code a quoted string or a number); others dropped. */
export function readReasons(value: unknown): Reason[] {
  if (!Array.isArray(value)) return [];
  const out: Reason[] = [];
  for (const r of value) {
    if (typeof r !== 'object' || r === null) continue;
    const { code, message } = r as { code?: unknown; message?: unknown };
    if (typeof code !== 'string' && typeof code !== 'number') continue;
    out.push({ code: String(code), message: typeof message === 'string' ? message : '' });
  }
  return out;
}

/** Reason given when Marketo's result has no entry for a record (its result is in input order). */
export const NO_STATUS: Reason = { code: 'no_status', message: 'Marketo returned no status for this record' };

/**
 * The outcome of one record from its `result` item (undefined when Marketo's result was shorter than
 * the batch). A status outside `known` (and 'skipped') is reported as skipped, naming it, so that the
 * output's status is always one the action documents.
 */
export function readOutcome<S extends string>(
  item: MarketoItem | undefined,
  known: readonly S[],
): RecordOutcome<S> {
  if (item === undefined) return { status: 'skipped', reasons: [NO_STATUS] };
  const out: RecordOutcome<S> = { status: 'skipped' };
  const id = item.id;
  if (typeof id === 'number' && Number.isSafeInteger(id)) out.id = id;
  else if (typeof id === 'string' && /^\d{1,15}$/.test(id)) out.id = Number(id);
  const status = item.status;
  if (typeof status === 'string' && (known as readonly string[]).includes(status)) {
    out.status = status as S;
  } else if (status !== 'skipped') {
    out.reasons = [{ code: 'unknown_status', message: `Marketo answered status '${String(status)}'` }];
    return out;
  }
  const reasons = readReasons(item.reasons);
  if (reasons.length > 0) out.reasons = reasons;
  return out;
}

/** How many outcomes have each status: `{created: 3, skipped: 1}` (every status of `all` present). */
export function countStatuses<S extends string>(
  outcomes: readonly { status: S }[],
  all: readonly S[],
): Record<S, number> {
  const counts = Object.fromEntries(all.map((s) => [s, 0])) as Record<S, number>;
  for (const o of outcomes) counts[o.status] = (counts[o.status] ?? 0) + 1;
  return counts;
}

// ---------------------------------------------------------------------------------------------------
// Input schema pieces

/** Marketo ids are positive integers (lead ids exceed 2^31 on old instances, so safe integers). */
export const marketoId = (what: string) =>
  z
    .int(`${what} must be an integer`)
    .min(1, `${what} must be a positive integer`)
    .max(Number.MAX_SAFE_INTEGER, `${what} is too large`);

export function idList(what: string, max: number) {
  return z
    .array(marketoId(what))
    .min(1, `give at least one ${what}`)
    .max(max, `at most ${max} ${what}s per call`);
}

/** A field value Marketo accepts: text, number, boolean or null (clears the field). */
export const fieldValue = z.union([z.string(), z.number(), z.boolean(), z.null()]);

/** My tokens of a campaign: `{{my.Name}}` and a text value (spec 5.8). */
export const campaignTokens = z
  .array(
    z.object({
      name: z.string().regex(/^\{\{my\.[^{}]{1,200}\}\}$/, "a token name has the form '{{my.Name}}'"),
      value: z.string().max(100_000, 'a token value is at most 100,000 characters'),
    }),
  )
  // Our bound (Marketo documents none): a program rarely has more tokens than this.
  .max(100, 'at most 100 tokens')
  .optional();

export type CampaignTokens = z.infer<typeof campaignTokens>;
