/**
 * CustomObject: the records of Marketo's custom object types, loaded and kept current through Bulk
 * Custom Object Extract (`/bulk/v1/customobjects/{apiName}/export`, same job model, queue and daily
 * volume as leads: bulk/exports.ts). Record = the object's fields typed from describe, plus `apiName`;
 * id `<apiName>:<marketoGUID>` (custom-objects-records.ts).
 *
 * A run lists the instance's types (`GET /rest/v1/customobjects.json`), keeps those of the variant (the
 * base variant: every type; a variant named after an API name: that type alone, an unknown name fails
 * the run naming the types that exist), and works through one *cycle* per type, checkpointed after every
 * step so a failed, crashed or paused run resumes the same cycle with the same export jobs:
 *  1. describe the type (its fields are the export's columns);
 *  2. `updatedAt` windows (≤31 days) ending at the run's start: from the type's `createdAt` (option
 *     `sinceDatetime` first), or from the type's previous cycle minus `overlapSeconds` (default 300).
 *
 * Deletions: Marketo has no feed of deleted custom object records. A full load (the first run, or one
 * after a reset; not when `sinceDatetime` cuts it short) is a sweep over every type of the variant:
 * records it does not see are marked deleted. Between full loads a deleted record stays as last seen.
 *
 * A type whose fields changed while its cycle's exports were in flight gets its jobs cancelled and its
 * cycle exported again with the new fields. Types no longer listed drop out of the checkpoint.
 *
 * Options: `sinceDatetime`, `lookbackDays` (3650: the start when a type has no createdAt),
 * `overlapSeconds`, and the export options of `leads` (`exportPollMs`, `exportBatchRows`,
 * `maxQueuedExports`, `exportDailyBytes`).
 */
import {
  BulkExporter,
  cancelExportJobs,
  windowsBetween,
  type ExportOptions,
  type ExportState,
} from '../bulk/exports.ts';
import { instanceExports } from '../bulk/instance-queue.ts';
import { customObjectKind, isCustomObjectApiName, isMarketoError } from '../bulk/job-api.ts';
import { call, dateOption, intOption, isoSeconds, newSweepId } from './api.ts';
import {
  CustomObjectRowConverter,
  readDescribe,
  readTypeList,
  type CustomObjectSchema,
  type CustomObjectType,
} from './custom-objects-records.ts';
import { exportOptionsOf, floorSecond } from './leads.ts';
import { MarketoSyncError, type SyncIO, type SyncModelDef, type SyncPage, type SyncRecord } from './types.ts';

export const CUSTOM_OBJECT_MODEL = 'CustomObject';
const DAY_MS = 86_400_000;
const LIST_PATH = '/rest/v1/customobjects.json';

// ---------------------------------------------------------------------------------------------------
// Checkpoint

/** One type's export cycle in flight. */
export interface TypeCycle {
  kind: 'initial' | 'updated';
  /** Where the windows start and end (ISO): the end is the run's start, where the next cycle begins. */
  from: string;
  startAt: string;
  /** The columns the cycle's jobs export (describe's field names). */
  fields: string[];
  export: ExportState;
  rows: number;
}

export interface TypeState {
  /** Start of the type's last finished cycle (ISO). */
  doneAt?: string;
  cycle?: TypeCycle;
}

export interface CustomObjectsCheckpoint {
  types: Record<string, TypeState>;
  /** The sweep id of a full load in progress (deletion detection, see the module comment). */
  sweep?: string;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
function isoTime(v: unknown): string | undefined {
  return typeof v === 'string' && !Number.isNaN(Date.parse(v)) ? v : undefined;
}

function readCycle(v: unknown): TypeCycle | undefined {
  if (!isObject(v)) return undefined;
  const from = isoTime(v.from);
  const startAt = isoTime(v.startAt);
  const exp = v.export;
  if (
    (v.kind !== 'initial' && v.kind !== 'updated') ||
    !from ||
    !startAt ||
    !isObject(exp) ||
    !Array.isArray(exp.jobs) ||
    !Array.isArray(exp.pending) ||
    !Array.isArray(v.fields) ||
    !v.fields.every((f) => typeof f === 'string')
  )
    return undefined;
  return {
    kind: v.kind,
    from,
    startAt,
    fields: v.fields as string[],
    export: exp as unknown as ExportState,
    rows: typeof v.rows === 'number' ? v.rows : 0,
  };
}

/** A saved checkpoint, keeping what is well-formed (a damaged type's state starts that type over). */
export function readCustomObjectsCheckpoint(raw: Record<string, unknown> | null): CustomObjectsCheckpoint {
  const cp: CustomObjectsCheckpoint = { types: {} };
  if (!raw) return cp;
  if (isObject(raw.types)) {
    for (const [name, v] of Object.entries(raw.types)) {
      if (!isCustomObjectApiName(name) || !isObject(v)) continue;
      const state: TypeState = {};
      const doneAt = isoTime(v.doneAt);
      if (doneAt) state.doneAt = doneAt;
      const cycle = readCycle(v.cycle);
      if (cycle) state.cycle = cycle;
      cp.types[name] = state;
    }
  }
  if (typeof raw.sweep === 'string' && raw.sweep !== '') cp.sweep = raw.sweep;
  return cp;
}

// ---------------------------------------------------------------------------------------------------
// Types

/** The instance's custom object types (one call), by name. */
export async function listCustomObjectTypes(io: Pick<SyncIO, 'get'>): Promise<CustomObjectType[]> {
  return readTypeList((await call(io, LIST_PATH)).result);
}

export async function describeCustomObject(
  io: Pick<SyncIO, 'get'>,
  apiName: string,
): Promise<CustomObjectSchema> {
  const env = await call(io, `/rest/v1/customobjects/${encodeURIComponent(apiName)}/describe.json`);
  return readDescribe(apiName, env.result[0]);
}

/**
 * The types a variant syncs: every type for the base variant, the one named by any other variant.
 * Throws a MarketoSyncError `unknown_custom_object` naming the types that exist.
 */
export function typesOfVariant(
  types: readonly CustomObjectType[],
  variant: string | undefined,
): CustomObjectType[] {
  if (variant === undefined || variant === '' || variant === 'base') return [...types];
  const type = types.find((t) => t.name === variant);
  if (type) return [type];
  const names = types.map((t) => t.name).join(', ') || 'none';
  throw new MarketoSyncError(
    'unknown_custom_object',
    `the sync variant "${variant}" names no custom object type of this instance (types: ${names})`,
    LIST_PATH,
  );
}

// ---------------------------------------------------------------------------------------------------
// The run

class CustomObjectsRun {
  private readonly exportOptions: Required<ExportOptions>;
  private readonly overlapMs: number;

  constructor(
    private readonly io: SyncIO,
    private readonly cp: CustomObjectsCheckpoint,
    private readonly runStart: number,
  ) {
    this.exportOptions = exportOptionsOf(io.options);
    this.overlapMs = intOption(io.options, 'overlapSeconds', 300, { min: 0, max: 86_400 }) * 1000;
  }

  private save(upserts?: SyncRecord[], complete = false): Promise<void> {
    const page: SyncPage = { checkpoint: structuredClone(this.cp) as unknown as Record<string, unknown> };
    if (upserts && upserts.length > 0) page.upserts = { [CUSTOM_OBJECT_MODEL]: upserts };
    if (this.cp.sweep) {
      page.sweep = { id: this.cp.sweep, models: [CUSTOM_OBJECT_MODEL], ...(complete ? { complete } : {}) };
    }
    return this.io.save(page);
  }

  async run(all: readonly CustomObjectType[], types: readonly CustomObjectType[]): Promise<void> {
    const { io, cp } = this;
    // Every type counts in the instance's daily export ledger, whichever this variant syncs.
    instanceExports(io.instanceKey).know(all.map((t) => customObjectKind(t.name)));
    const names = new Set(types.map((t) => t.name));
    for (const name of Object.keys(cp.types)) if (!names.has(name)) delete cp.types[name];
    // A load from `sinceDatetime` does not see older records: it must not mark them deleted.
    const complete = dateOption(io.options, 'sinceDatetime') === undefined;
    if (!cp.sweep && complete && types.every((t) => cp.types[t.name]?.doneAt === undefined)) {
      cp.sweep = newSweepId('custom-objects', io.now());
      io.log('full custom object load: records not seen in it are marked deleted at its end', {
        types: types.map((t) => t.name),
      });
    }
    for (const type of types) {
      if (type.linkedToLeads === false) {
        io.log(`custom object ${type.name} is not linked to leads: Marketo's bulk export cannot read it`);
        continue;
      }
      await this.runType(type);
    }
    const sweep = cp.sweep;
    if (sweep) {
      // The page that completes the sweep also drops it from the checkpoint: the next run is incremental.
      delete cp.sweep;
      await this.io.save({
        checkpoint: structuredClone(cp) as unknown as Record<string, unknown>,
        sweep: { id: sweep, models: [CUSTOM_OBJECT_MODEL], complete: true },
      });
      io.log('full custom object load done: records not seen in it are marked deleted');
    }
  }

  private async runType(type: CustomObjectType): Promise<void> {
    const { io, cp } = this;
    const schema = await describeCustomObject(io, type.name);
    const state = (cp.types[type.name] ??= {});
    const fields = schema.fields.map((f) => f.name);
    let cycle = state.cycle;
    if (cycle && !sameList(cycle.fields, fields)) {
      io.log(`custom object ${type.name} fields changed during a cycle: its exports start over`, {
        before: cycle.fields.length,
        now: fields.length,
      });
      await this.exporter(type.name, cycle, schema).cancelAll();
      cycle.export = freshExport(Date.parse(cycle.from), Date.parse(cycle.startAt));
      cycle.fields = fields;
      cycle.rows = 0;
      await this.save();
    }
    if (!cycle) {
      cycle = this.startCycle(type, state, fields);
      state.cycle = cycle;
      await this.save();
    } else {
      io.log(`resuming the custom object cycle of ${type.name} started at ${cycle.startAt}`, {
        kind: cycle.kind,
      });
    }
    const exporter = this.exporter(type.name, cycle, schema);
    let skipped = 0;
    for await (const batch of exporter.batches()) {
      const records: SyncRecord[] = [];
      for (const r of batch.rows) {
        if (r === undefined) skipped++;
        else records.push(r);
      }
      cycle.export = exporter.state();
      cycle.rows += records.length;
      await this.save(records);
    }
    if (skipped > 0) io.log(`${skipped} ${type.name} export rows had no ${schema.idField} (left out)`);
    state.doneAt = cycle.startAt;
    delete state.cycle;
    io.log(`custom object cycle of ${type.name} done: ${cycle.rows} records`, {
      kind: cycle.kind,
      startAt: cycle.startAt,
    });
    await this.save();
  }

  private startCycle(type: CustomObjectType, state: TypeState, fields: string[]): TypeCycle {
    const { io, runStart } = this;
    const startAt = new Date(runStart).toISOString();
    if (state.doneAt !== undefined) {
      const from = Math.min(Date.parse(state.doneAt) - this.overlapMs, runStart);
      return {
        kind: 'updated',
        from: new Date(from).toISOString(),
        startAt,
        fields,
        export: freshExport(from, runStart),
        rows: 0,
      };
    }
    let from = dateOption(io.options, 'sinceDatetime') ?? type.createdAt;
    if (from === undefined) {
      const days = intOption(io.options, 'lookbackDays', 3650, { min: 0, max: 36_500 });
      io.log(`custom object ${type.name} has no createdAt: its initial load starts ${days} days back`);
      from = runStart - days * DAY_MS;
    }
    from = Math.min(floorSecond(from), runStart);
    io.log(`initial custom object load of ${type.name} from ${isoSeconds(from)} to ${isoSeconds(runStart)}`);
    return {
      kind: 'initial',
      from: new Date(from).toISOString(),
      startAt,
      fields,
      export: freshExport(from, runStart),
      rows: 0,
    };
  }

  private exporter(
    apiName: string,
    cycle: TypeCycle,
    schema: CustomObjectSchema,
  ): BulkExporter<SyncRecord | undefined> {
    return new BulkExporter<SyncRecord | undefined>(
      this.io,
      { kind: customObjectKind(apiName), filterField: 'updatedAt', fields: cycle.fields },
      cycle.export,
      async (s) => {
        cycle.export = s;
        await this.save();
      },
      this.exportOptions,
      // Custom object files are small next to lead files: parsed in-thread (no worker recipe).
      (header) => new CustomObjectRowConverter(header, schema).csvReader(),
    );
  }
}

function freshExport(from: number, to: number): ExportState {
  return { jobs: [], pending: windowsBetween(Math.min(from, to), to) };
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

export const customObjectsSync: SyncModelDef = {
  name: 'custom-objects',
  models: [CUSTOM_OBJECT_MODEL],
  mode: 'incremental',
  defaultFrequencySeconds: 3600,
  description:
    'Records of every Marketo custom object type (a variant named after an API name: that type alone), ' +
    'through bulk custom object exports by updatedAt; Marketo reports no deletions, so deleted records ' +
    'are only marked deleted by a full resync (trigger with reset).',
  async run(io) {
    const runStart = floorSecond(io.now().getTime());
    const cp = readCustomObjectsCheckpoint(io.checkpoint);
    let all: CustomObjectType[];
    try {
      all = await listCustomObjectTypes(io);
    } catch (err) {
      // Many API users' roles lack the Custom Object permissions (the connect test checks Read-Only Lead
      // only), and many subscriptions have no custom objects: an hourly ERROR for a sync nobody asked for
      // would be noise. The run ends with nothing written (nothing marked deleted) and says why.
      const reason = unavailableReason(err);
      if (reason === undefined) throw err;
      io.log(`no custom object synced: ${reason}`);
      return;
    }
    const types = typesOfVariant(all, io.variant);
    await new CustomObjectsRun(io, cp, runStart).run(all, types);
  },
  async release(io, checkpoint) {
    let n = 0;
    for (const [name, state] of Object.entries(readCustomObjectsCheckpoint(checkpoint).types)) {
      if (state.cycle) n += await cancelExportJobs(io, customObjectKind(name), state.cycle.export);
    }
    return n > 0 ? `cancelled ${n} custom object export job(s) of the discarded checkpoint` : undefined;
  },
};

/** Why custom objects cannot be read on this connection, when `err` says they cannot (else undefined). */
export function unavailableReason(err: unknown): string | undefined {
  if (isMarketoError(err, '603')) {
    return "the API user's role lacks Marketo's Read-Only Custom Object permission (add it to sync them)";
  }
  if (isMarketoError(err, '1026') || isMarketoError(err, '616')) {
    return 'custom objects are not enabled on this Marketo subscription';
  }
  return undefined;
}
