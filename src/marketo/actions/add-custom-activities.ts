/**
 * `add-custom-activities`: Add Custom Activities (`POST /rest/v1/activities/external.json`, spec 5.5)
 * for up to 3,000 activities of approved custom types, 300 a call (fewer when large: the body stays
 * under 1 MB).
 *
 * Output: `{results: [{index, id?, marketoGUID?, status: 'added'|'skipped', reasons?}], added, skipped}`;
 * `index` is the activity's position in `input.activities`, `reasons` Marketo's (1004 unknown lead,
 * 1006 unknown attribute, 1049 attributes over 64 KB…). Not idempotent: a repeat adds the activities again.
 */
import { z } from 'zod';
import { isoSeconds, type MarketoItem } from '../models/api.ts';
import {
  LEAD_DB_BATCH,
  MAX_BODY_BYTES,
  chunkByBytes,
  countStatuses,
  marketoId,
  postChecked,
  readOutcome,
  runBatches,
  type Reason,
} from './shared.ts';
import type { ActionDef } from './types.ts';

const MAX_ACTIVITIES = 3_000;
/** Spec 5.5: a custom activity type has at most 20 attributes. */
const MAX_ATTRIBUTES = 20;

const scalar = z.union([z.string(), z.number(), z.boolean()]);

const activity = z.object({
  leadId: marketoId('leadId'),
  activityDate: z.iso.datetime({
    offset: true,
    error: 'activityDate is an ISO-8601 datetime such as 2030-01-31T10:00:00Z',
  }),
  activityTypeId: marketoId('activityTypeId'),
  primaryAttributeValue: z.union([
    z.string().min(1, 'primaryAttributeValue cannot be blank').max(65_536),
    z.number(),
  ]),
  attributes: z
    .array(z.object({ name: z.string().min(1, 'an attribute needs a name').max(255), value: scalar }))
    .max(MAX_ATTRIBUTES, `at most ${MAX_ATTRIBUTES} attributes per activity`)
    .optional(),
  apiName: z.string().min(1).max(255).optional(),
  status: z.string().min(1).max(255).optional(),
});

export const addCustomActivitiesInput = z.object({
  activities: z
    .array(activity)
    .min(1, 'give at least one activity')
    .max(MAX_ACTIVITIES, `at most ${MAX_ACTIVITIES} activities per call`),
});
export type AddCustomActivitiesInput = z.infer<typeof addCustomActivitiesInput>;
type ActivityInput = AddCustomActivitiesInput['activities'][number];

export interface CustomActivityResult {
  index: number;
  id?: number;
  marketoGUID?: string;
  status: 'added' | 'skipped';
  reasons?: Reason[];
}

export interface AddCustomActivitiesOutput {
  results: CustomActivityResult[];
  added: number;
  skipped: number;
}

/** One record of Marketo's `input`: the date without milliseconds, in UTC; absent keys left out. */
export function activityRecord(a: ActivityInput): Record<string, unknown> {
  const out: Record<string, unknown> = {
    leadId: a.leadId,
    activityDate: isoSeconds(Date.parse(a.activityDate)),
    activityTypeId: a.activityTypeId,
    primaryAttributeValue: a.primaryAttributeValue,
  };
  if (a.attributes !== undefined && a.attributes.length > 0) out.attributes = a.attributes;
  if (a.apiName !== undefined) out.apiName = a.apiName;
  if (a.status !== undefined) out.status = a.status;
  return out;
}

/** Results of one batch from Marketo's `result` (input order), numbered from `offset`. */
export function activityResults(
  result: readonly MarketoItem[],
  size: number,
  offset: number,
): CustomActivityResult[] {
  const out: CustomActivityResult[] = [];
  for (let i = 0; i < size; i++) {
    const item = result[i];
    const r: CustomActivityResult = { index: offset + i, ...readOutcome(item, ['added'] as const) };
    const guid = item?.marketoGUID;
    if (r.status === 'added' && typeof guid === 'string' && guid !== '') r.marketoGUID = guid;
    out.push(r);
  }
  return out;
}

export const addCustomActivities: ActionDef<AddCustomActivitiesInput, AddCustomActivitiesOutput> = {
  name: 'add-custom-activities',
  description:
    'Record custom activities (of approved custom activity types) on Marketo leads, 300 per call, with a ' +
    'per-activity status (added, or skipped with reasons). Not safe to repeat: activities are added again.',
  input: addCustomActivitiesInput,
  idempotent: false,
  async run(io, input) {
    const records = input.activities.map(activityRecord);
    const results = await runBatches(
      io,
      'add-custom-activities',
      chunkByBytes(records, LEAD_DB_BATCH, MAX_BODY_BYTES),
      { noun: 'activities', verb: 'sent' },
      async (batch, offset) => {
        const env = await postChecked(io, '/rest/v1/activities/external.json', { input: batch });
        return activityResults(env.result, batch.length, offset);
      },
    );
    return { results, ...countStatuses(results, ['added', 'skipped'] as const) };
  },
};
