import type { Instance, SeedOptions } from '../core/instance.ts';
import type { ActivityRecord, FieldValue } from '../model.ts';

export interface ActivityTypeDef {
  id: number;
  name: string;
  description: string;
  primaryAttribute?: { name: string; dataType: string };
  attributes: { name: string; dataType: string }[];
}

/** What a writer (sync leads, delete, list add/remove) records; id, GUID and date are assigned. */
export interface NewActivity {
  leadId: number;
  activityTypeId: number;
  activityDate?: number;
  campaignId?: number;
  primaryAttributeValueId?: number;
  primaryAttributeValue?: string;
  attributes?: { name: string; value: FieldValue }[];
  fields?: { id: number; name: string; newValue: FieldValue; oldValue: FieldValue }[];
}

/**
 * The activity log of one instance. CONTRACT (used by leads, lists and bulk): keep these
 * signatures. (Placeholder bodies; the activities module fills them in.)
 */
export class ActivityLog {
  readonly types: ActivityTypeDef[] = [];

  constructor(readonly inst: Instance) {}

  seed(_opts: Required<SeedOptions>): void {}

  /** Append an activity that happened now (instance clock) unless `activityDate` is given. */
  record(input: NewActivity): ActivityRecord {
    return {
      id: 0,
      marketoGUID: '0',
      leadId: input.leadId,
      activityDate: input.activityDate ?? this.inst.clock.now(),
      activityTypeId: input.activityTypeId,
      attributes: input.attributes ?? [],
    };
  }

  /**
   * Activities with activityDate in [from, to), ascending by (activityDate, id), optionally only
   * the given type ids. Lazy: never materializes the whole history.
   */
  *iterate(_filter: { from: number; to: number; typeIds?: number[] }): Iterable<ActivityRecord> {}
}
