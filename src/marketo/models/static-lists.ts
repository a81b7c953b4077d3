/**
 * StaticList: `GET /rest/v1/lists.json` with position tokens (spec §5.6). Record id = the list id.
 * Full: lists.json has no updatedAt filter, so every run lists all lists (300 per call) inside a sweep;
 * lists not seen are marked deleted when the sweep completes. The sweep and its token are checkpointed
 * after every page, so a failed run resumes where it stopped.
 *
 * Options: `batchSize` (1–300, default 300).
 */
import {
  idOf,
  intOption,
  newSweepId,
  normalizeDate,
  uniqueById,
  withQuery,
  type MarketoItem,
} from './api.ts';
import { positionPages } from './paging.ts';
import type { SyncModelDef, SyncRecord } from './types.ts';

const MODELS = ['StaticList'];

export function staticListRecord(item: MarketoItem): SyncRecord | undefined {
  const id = idOf(item.id);
  if (id === undefined) return undefined;
  return { ...item, id, createdAt: normalizeDate(item.createdAt), updatedAt: normalizeDate(item.updatedAt) };
}

export const staticListsSync: SyncModelDef = {
  name: 'static-lists',
  models: MODELS,
  mode: 'full',
  defaultFrequencySeconds: 3600,
  description: 'Static lists (name, program, workspace, dates); deleted lists detected by a full listing.',
  async run(io) {
    const batchSize = intOption(io.options, 'batchSize', 300, { min: 1, max: 300 });
    const cp = io.checkpoint;
    const resume = typeof cp?.sweepId === 'string';
    const sweepId = resume ? (cp!.sweepId as string) : newSweepId('static-lists', io.now());
    const startToken = resume && typeof cp!.nextPageToken === 'string' ? cp!.nextPageToken : undefined;
    const path = withQuery('/rest/v1/lists.json', { batchSize });
    for await (const page of positionPages(io, path, startToken)) {
      const records = uniqueById(page.items.map(staticListRecord));
      const done = page.nextPageToken === undefined;
      await io.save({
        upserts: { StaticList: records },
        checkpoint: done
          ? { lastSweepAt: io.now().toISOString() }
          : { sweepId, nextPageToken: page.nextPageToken },
        sweep: { id: sweepId, models: MODELS, complete: done },
      });
    }
  },
};
