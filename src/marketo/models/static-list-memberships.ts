/**
 * StaticListMembership: which lead is in which static list, from `GET /rest/v1/lists/{id}/leads.json
 * ?fields=id` with position tokens (spec §5.2, §5.6). Record id = `${listId}:${leadId}`.
 *
 * Full with deletion detection: Marketo has no "members changed since" read (Add to List / Remove from
 * List activities miss removals by deletion and merges), so every run lists the members of every list
 * inside one sweep; memberships not seen are marked deleted when the sweep completes. Cost: one call per
 * 300 members per list per run, hence the daily default. The checkpoint (sweep id, the list ids taken at
 * the start, the current list and its token) is saved after every page; a failed run resumes there.
 * A list deleted during the sweep (1013 Object not found) is skipped: its memberships are not seen and
 * get deleted.
 *
 * Options: `listIds` (only these lists; memberships of other lists are then deleted),
 * `batchSize` (1–300, default 300).
 */
import { intListOption, intOption, newSweepId, withQuery } from './api.ts';
import { positionPages } from './paging.ts';
import { MarketoSyncError, type SyncIO, type SyncModelDef, type SyncRecord } from './types.ts';

const MODELS = ['StaticListMembership'];

interface MembershipSweep {
  sweepId: string;
  listIds: number[];
  /** Index in `listIds` of the list being read. */
  index: number;
  nextPageToken?: string;
}

function readSweep(cp: Record<string, unknown> | null): MembershipSweep | undefined {
  if (!cp || typeof cp.sweepId !== 'string' || !Array.isArray(cp.listIds)) return undefined;
  const listIds = cp.listIds.filter((x): x is number => typeof x === 'number');
  const index = typeof cp.index === 'number' ? cp.index : 0;
  const sweep: MembershipSweep = { sweepId: cp.sweepId, listIds, index };
  if (typeof cp.nextPageToken === 'string') sweep.nextPageToken = cp.nextPageToken;
  return sweep;
}

/** Every static list id (lists.json, 300 per call). */
async function allListIds(io: SyncIO): Promise<number[]> {
  const ids: number[] = [];
  for await (const page of positionPages(io, withQuery('/rest/v1/lists.json', { batchSize: 300 }))) {
    for (const l of page.items) if (typeof l.id === 'number' && !ids.includes(l.id)) ids.push(l.id);
  }
  return ids;
}

export function membershipRecord(listId: number, lead: Record<string, unknown>): SyncRecord | undefined {
  const leadId = lead.id;
  if (typeof leadId !== 'number' && typeof leadId !== 'string') return undefined;
  return { id: `${listId}:${leadId}`, listId, leadId: typeof leadId === 'string' ? Number(leadId) : leadId };
}

export const staticListMembershipsSync: SyncModelDef = {
  name: 'static-list-memberships',
  models: MODELS,
  mode: 'full',
  defaultFrequencySeconds: 86_400,
  description: 'Members of each static list (list id, lead id); removals detected by a full listing.',
  async run(io) {
    const batchSize = intOption(io.options, 'batchSize', 300, { min: 1, max: 300 });
    let sweep = readSweep(io.checkpoint);
    if (!sweep) {
      const listIds = intListOption(io.options, 'listIds') ?? (await allListIds(io));
      sweep = { sweepId: newSweepId('static-list-memberships', io.now()), listIds, index: 0 };
    }
    const s = sweep;
    const marker = (complete: boolean) => ({ id: s.sweepId, models: MODELS, complete });
    const cpOf = (): Record<string, unknown> => {
      const cp: Record<string, unknown> = { sweepId: s.sweepId, listIds: s.listIds, index: s.index };
      if (s.nextPageToken !== undefined) cp.nextPageToken = s.nextPageToken;
      return cp;
    };
    while (s.index < s.listIds.length) {
      const listId = s.listIds[s.index]!;
      const path = withQuery(`/rest/v1/lists/${listId}/leads.json`, { fields: 'id', batchSize });
      try {
        for await (const page of positionPages(io, path, s.nextPageToken)) {
          const records = page.items
            .map((lead) => membershipRecord(listId, lead))
            .filter((r): r is SyncRecord => r !== undefined);
          if (page.nextPageToken !== undefined) s.nextPageToken = page.nextPageToken;
          else {
            delete s.nextPageToken;
            s.index++;
          }
          const complete = s.index >= s.listIds.length;
          await io.save({
            upserts: { StaticListMembership: records },
            checkpoint: complete ? { lastSweepAt: io.now().toISOString() } : cpOf(),
            sweep: marker(complete),
          });
        }
      } catch (err) {
        if (!(err instanceof MarketoSyncError) || err.code !== '1013') throw err;
        // The list was deleted since the sweep started: nothing of it is seen, so its members go.
        io.log('static list not found; skipping it', { listId });
        delete s.nextPageToken;
        s.index++;
        const complete = s.index >= s.listIds.length;
        await io.save({
          checkpoint: complete ? { lastSweepAt: io.now().toISOString() } : cpOf(),
          sweep: marker(complete),
        });
      }
    }
    if (s.listIds.length === 0) {
      // No lists at all: complete an empty sweep so stale memberships go.
      await io.save({ checkpoint: { lastSweepAt: io.now().toISOString() }, sweep: marker(true) });
    }
  },
};
