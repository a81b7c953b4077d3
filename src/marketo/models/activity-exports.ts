/**
 * The bulk path of the `activities` sync (spec §5.11): activity export jobs over `createdAt` windows
 * (≤31 days) for the chosen activity types, each file row turned into exactly the record the REST path
 * makes for the same activity (activity-records.ts). Files are parsed on the CSV worker thread when it is
 * free (bulk/csv-offload.ts), rows coming back as the payload text the records cache stores.
 *
 * Delete Lead (37) cannot be exported (Marketo refuses it): those types stay on the REST path.
 */
import { withRecipe } from '../bulk/csv-offload.ts';
import { BulkExporter, windowsBetween, type ExportOptions, type ExportState } from '../bulk/exports.ts';
import type { PayloadRecord } from '../../record-payload.ts';
import { activityCsvReader, activityRecords, type ActivityItem } from './activity-records.ts';
import type { SyncIO } from './types.ts';

// Row → record code lives in activity-records.ts (the CSV worker loads it without the exporter).
export { activityDate, activityIdOfGuid, ActivityRowConverter, restAttributes } from './activity-records.ts';

/** Activity types Marketo's activity export refuses (Delete Lead: read through deletedleads/REST). */
export const NOT_EXPORTABLE_TYPES: ReadonlySet<number> = new Set([37]);

/** A bulk catch-up in flight (JSON, in the activities checkpoint). */
export interface ActivityBulkState {
  typeIds: number[];
  /** Where the windows start and end (ISO); REST takes over at `to`. */
  from: string;
  to: string;
  export: ExportState;
}

export function newActivityBulk(typeIds: readonly number[], from: number, to: number): ActivityBulkState {
  return {
    typeIds: [...typeIds],
    from: new Date(from).toISOString(),
    to: new Date(to).toISOString(),
    export: { jobs: [], pending: windowsBetween(Math.min(from, to), to) },
  };
}

export function readActivityBulk(v: unknown): ActivityBulkState | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const b = v as Record<string, unknown>;
  const exp = b.export as Record<string, unknown> | undefined;
  if (
    !Array.isArray(b.typeIds) ||
    !b.typeIds.every((x) => Number.isInteger(x)) ||
    typeof b.from !== 'string' ||
    typeof b.to !== 'string' ||
    Number.isNaN(Date.parse(b.from)) ||
    Number.isNaN(Date.parse(b.to)) ||
    typeof exp !== 'object' ||
    exp === null ||
    !Array.isArray(exp.jobs) ||
    !Array.isArray(exp.pending)
  )
    return undefined;
  return v as ActivityBulkState;
}

// ---------------------------------------------------------------------------------------------------
// The export

/**
 * Runs the bulk catch-up `bulk` (resuming its jobs), handing each batch's records and the exporter's
 * state to `save`; `persist` saves the state alone (called when a job is made). Returns the records read.
 */
export async function exportActivities(
  io: SyncIO,
  bulk: ActivityBulkState,
  save: (records: PayloadRecord[], state: ExportState) => Promise<void>,
  persist: (state: ExportState) => Promise<void>,
  options: ExportOptions,
): Promise<number> {
  const exporter = activityExporter(io, bulk, persist, options);
  let count = 0;
  let bad = 0;
  for await (const batch of exporter.batches()) {
    const read = activityRecords(batch.rows);
    count += read.records.length;
    bad += read.bad;
    await save(read.records, exporter.state());
  }
  if (bad > 0) io.log(`${bad} activity export rows had an attributes cell that was not JSON (kept empty)`);
  return count;
}

/** Cancels the jobs of a bulk catch-up the sync gives up (types changed, REST forced). */
export async function cancelActivityExport(
  io: SyncIO,
  bulk: ActivityBulkState,
  options: ExportOptions,
): Promise<void> {
  await activityExporter(io, bulk, async () => undefined, options).cancelAll();
}

function activityExporter(
  io: SyncIO,
  bulk: ActivityBulkState,
  persist: (state: ExportState) => Promise<void>,
  options: ExportOptions,
): BulkExporter<ActivityItem> {
  return new BulkExporter<ActivityItem>(
    io,
    { kind: 'activities', filterField: 'createdAt', extraFilter: { activityTypeIds: bulk.typeIds } },
    bulk.export,
    persist,
    options,
    // Rows become stored payload text as they are parsed; the recipe lets the CSV worker thread build
    // the same reader (bulk/csv-offload.ts).
    withRecipe<ActivityItem>((header) => activityCsvReader(header), { kind: 'activity' }),
  );
}
