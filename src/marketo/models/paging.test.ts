import { describe, expect, it } from 'vitest';
import {
  assetOverlap,
  assetStep,
  chunk,
  datePages,
  planActivityGroups,
  positionPages,
  type AssetCursor,
} from './paging.ts';

const items = (...ids: number[]) => ids.map((id) => ({ id }));

describe('assetStep', () => {
  it('first page: everything is fresh; the next call re-reads the overlap', () => {
    expect(assetOverlap(200)).toBe(5);
    expect(assetOverlap(10)).toBe(2);
    expect(assetOverlap(1)).toBe(0);
    const s = assetStep({ offset: 0 }, { items: items(1, 2, 3, 4), noAssets: false }, 4);
    expect(s).toEqual({ fresh: items(1, 2, 3, 4), cursor: { offset: 3, lastId: '4' }, done: false });
  });

  it('items after the previous last one are fresh; a short page ends the browse', () => {
    const s = assetStep({ offset: 3, lastId: '4' }, { items: items(4, 5, 6), noAssets: false }, 4);
    expect(s).toEqual({ fresh: items(5, 6), cursor: { offset: 6, lastId: '6' }, done: true });
  });

  it('an insertion before us shifts items forward: nothing lost, nothing repeated', () => {
    // 0 was inserted: the page starts one item earlier than planned.
    const s = assetStep({ offset: 3, lastId: '4' }, { items: items(3, 4, 5, 6), noAssets: false }, 4);
    expect(s.fresh).toEqual(items(5, 6));
    expect(s.cursor.broken).toBeUndefined();
  });

  it('a deletion larger than the overlap is detected (the browse is marked broken)', () => {
    const s = assetStep({ offset: 3, lastId: '4' }, { items: items(6, 7, 8, 9), noAssets: false }, 4);
    expect(s.fresh).toEqual(items(6, 7, 8, 9));
    expect(s.cursor).toEqual({ offset: 6, lastId: '9', broken: true });
    // Broken stays broken.
    const next = assetStep(s.cursor, { items: items(9, 10), noAssets: false }, 4);
    expect(next.cursor.broken).toBe(true);
    expect(next.done).toBe(true);
  });

  it('the end warning after a full page finishes; a vanished overlap is broken', () => {
    const c: AssetCursor = { offset: 3, lastId: '4' };
    const s = assetStep(c, { items: [], noAssets: true }, 4);
    expect(s.done).toBe(true);
    expect(s.fresh).toEqual([]);
    expect(s.cursor.broken).toBe(true);
    expect(assetStep({ offset: 0 }, { items: [], noAssets: true }, 4)).toEqual({
      fresh: [],
      cursor: { offset: 0 },
      done: true,
    });
  });
});

describe('planActivityGroups', () => {
  it('chunks wanted types into groups of at most 10', () => {
    const ids = Array.from({ length: 23 }, (_, i) => i + 1);
    const groups = planActivityGroups(ids, []);
    expect(groups.map((g) => g.typeIds.length)).toEqual([10, 10, 3]);
    expect(groups.every((g) => g.nextPageToken === undefined)).toBe(true);
    expect(chunk([1, 2, 3], 2)).toEqual([[1, 2], [3]]);
  });

  it('keeps tokens of existing groups, drops unwanted types, starts new types in new groups', () => {
    const groups = planActivityGroups(
      [1, 2, 3, 12, 13, 24],
      [
        { typeIds: [1, 2, 3, 4], nextPageToken: 'T1' },
        { typeIds: [12, 13], nextPageToken: 'T2' },
        { typeIds: [99], nextPageToken: 'T3' },
      ],
    );
    expect(groups).toEqual([
      { typeIds: [1, 2, 3], nextPageToken: 'T1' },
      { typeIds: [12, 13], nextPageToken: 'T2' },
      { typeIds: [24] },
    ]);
  });

  it('merges groups at the same token while they fit in 10', () => {
    const groups = planActivityGroups(
      [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11],
      [
        { typeIds: [1, 2, 3], nextPageToken: 'T' },
        { typeIds: [4, 5], nextPageToken: 'T' },
        { typeIds: [6, 7, 8, 9, 10, 11], nextPageToken: 'T' },
      ],
    );
    expect(groups).toEqual([
      { typeIds: [1, 2, 3, 4, 5], nextPageToken: 'T' },
      { typeIds: [6, 7, 8, 9, 10, 11], nextPageToken: 'T' },
    ]);
  });
});

describe('token loops without a network', () => {
  it('datePages follows tokens until moreResult:false, tolerating absent results', async () => {
    const answers: Record<string, unknown> = {
      A: { success: true, result: [{ marketoGUID: '1' }], nextPageToken: 'B', moreResult: true },
      B: { success: true, nextPageToken: 'C', moreResult: true },
      C: { success: true, result: [{ marketoGUID: '2' }], nextPageToken: 'D', moreResult: false },
    };
    const calls: string[] = [];
    const io = {
      get: async (p: string) => {
        calls.push(p);
        return answers[new URL(p, 'http://x').searchParams.get('nextPageToken')!];
      },
    };
    const pages = [];
    for await (const p of datePages(io, '/rest/v1/activities.json?activityTypeIds=1', 'A')) pages.push(p);
    expect(pages.map((p) => [p.items.length, p.nextPageToken, p.moreResult])).toEqual([
      [1, 'B', true],
      [0, 'C', true],
      [1, 'D', false],
    ]);
    expect(calls[0]).toBe('/rest/v1/activities.json?activityTypeIds=1&nextPageToken=A');
  });

  it('datePages gives up when moreResult:true never makes progress', async () => {
    const io = { get: async () => ({ success: true, nextPageToken: 'A', moreResult: true }) };
    const run = async () => {
      for await (const _ of datePages(io, '/x', 'A')) void _;
    };
    await expect(run()).rejects.toMatchObject({ code: 'stuck_paging' });
  });

  it('positionPages restarts from the beginning when a checkpointed token is refused (1003)', async () => {
    const calls: string[] = [];
    const io = {
      log: () => {},
      get: async (p: string) => {
        calls.push(p);
        const t = new URL(p, 'http://x').searchParams.get('nextPageToken');
        if (t === 'OLD')
          return { success: false, errors: [{ code: '1003', message: 'Invalid nextPageToken' }] };
        if (t === null) return { success: true, result: [{ id: 1 }], nextPageToken: 'P2' };
        return { success: true, result: [{ id: 2 }] };
      },
    };
    const ids = [];
    for await (const p of positionPages(io, '/rest/v1/lists.json?batchSize=1', 'OLD'))
      ids.push(...p.items.map((i) => i.id));
    expect(ids).toEqual([1, 2]);
    expect(calls).toHaveLength(3);
  });

  it('positionPages does not swallow a 1003 that is not about a resumed token', async () => {
    const io = {
      log: () => {},
      get: async () => ({ success: false, errors: [{ code: '1003', message: 'Invalid data' }] }),
    };
    const run = async () => {
      for await (const _ of positionPages(io, '/x')) void _;
    };
    await expect(run()).rejects.toMatchObject({ code: '1003' });
  });
});
