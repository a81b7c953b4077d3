/**
 * ActivityType: `GET /rest/v1/activities/types.json` (spec §5.5), custom types included. Record id = the
 * type id. Full: one call lists every type; the run completes a sweep (a removed custom type is deleted).
 */
import { call, idOf, newSweepId, type MarketoItem } from './api.ts';
import { MarketoSyncError, type SyncModelDef, type SyncRecord } from './types.ts';

export const ACTIVITY_TYPES_PATH = '/rest/v1/activities/types.json';

/** The Marketo item with `id` as a string; everything else as Marketo sent it. */
export function activityTypeRecord(item: MarketoItem): SyncRecord | undefined {
  const id = idOf(item.id);
  return id === undefined ? undefined : { ...item, id };
}

export const activityTypesSync: SyncModelDef = {
  name: 'activity-types',
  models: ['ActivityType'],
  mode: 'full',
  defaultFrequencySeconds: 86_400,
  description: 'Activity types (standard and custom) with their attributes.',
  async run(io) {
    const env = await call(io, ACTIVITY_TYPES_PATH);
    const records = env.result.map(activityTypeRecord).filter((r): r is SyncRecord => r !== undefined);
    if (records.length === 0) {
      throw new MarketoSyncError(
        'empty_result',
        'types.json returned no activity types',
        ACTIVITY_TYPES_PATH,
      );
    }
    const now = io.now();
    await io.save({
      upserts: { ActivityType: records },
      checkpoint: { lastSweepAt: now.toISOString() },
      sweep: { id: newSweepId('activity-types', now), models: ['ActivityType'], complete: true },
    });
  },
};
