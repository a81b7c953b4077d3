/**
 * Paging loops of Marketo's three reading styles (spec §5.4, §5.5, §5.7), as async generators the models
 * drive page by page (saving records and a checkpoint after each page), plus the pure decisions behind
 * them so they can be tested without a network.
 */
import { call, isNoAssetsWarning, withQuery, type MarketoItem } from './api.ts';
import { MarketoSyncError, type SyncIO } from './types.ts';

// ---------------------------------------------------------------------------------------------------
// Position tokens (lead DB reads: lists.json, lists/:id/leads.json …)

export interface TokenPage {
  items: MarketoItem[];
  /** Token of the next page; undefined on the last page (absence marks the end, spec §5.4). */
  nextPageToken?: string;
}

/**
 * Pages of a lead-DB read with position tokens, from `startToken` (a checkpoint) or the start. A token
 * from a checkpoint that Marketo refuses (1003: expired or unknown) restarts the read from the
 * beginning: re-reading is harmless, failing forever is not.
 */
export async function* positionPages(
  io: Pick<SyncIO, 'get' | 'log'>,
  path: string,
  startToken?: string,
): AsyncGenerator<TokenPage> {
  let token = startToken;
  let resumed = startToken !== undefined;
  while (true) {
    const url = withQuery(path, { nextPageToken: token });
    let env;
    try {
      env = await call(io, url);
    } catch (err) {
      if (resumed && err instanceof MarketoSyncError && err.code === '1003') {
        io.log('paging token refused; reading again from the start', { path: path.split('?')[0]! });
        token = undefined;
        resumed = false;
        continue;
      }
      throw err;
    }
    resumed = false;
    const page: TokenPage = { items: env.result };
    if (env.nextPageToken !== undefined && env.nextPageToken !== token)
      page.nextPageToken = env.nextPageToken;
    yield page;
    if (page.nextPageToken === undefined) return;
    token = page.nextPageToken;
  }
}

// ---------------------------------------------------------------------------------------------------
// Date tokens (activities.json, deletedleads.json, leadchanges.json)

export interface ActivityPage {
  items: MarketoItem[];
  /** Where the next call starts; Marketo always sends one (keep the old one if it does not). */
  nextPageToken: string;
  moreResult: boolean;
}

/** How many empty pages with an unchanged token and `moreResult:true` we accept before giving up. */
const MAX_STUCK_PAGES = 3;

/**
 * Pages of a date-token reader from `token` until `moreResult:false`. `path` carries the other
 * parameters (activityTypeIds, batchSize…). A page may hold fewer items than asked yet `moreResult:true`
 * (Marketo scans a bounded slice per call); `result` is absent when nothing matched.
 */
export async function* datePages(
  io: Pick<SyncIO, 'get'>,
  path: string,
  token: string,
): AsyncGenerator<ActivityPage> {
  let stuck = 0;
  while (true) {
    const url = withQuery(path, { nextPageToken: token });
    const env = await call(io, url);
    const next = env.nextPageToken ?? token;
    const more = env.moreResult === true;
    if (more && next === token && env.result.length === 0) {
      if (++stuck >= MAX_STUCK_PAGES)
        throw new MarketoSyncError('stuck_paging', 'moreResult:true without progress', url);
    } else stuck = 0;
    yield { items: env.result, nextPageToken: next, moreResult: more };
    if (!more) return;
    token = next;
  }
}

/** `GET /rest/v1/activities/pagingtoken.json?sinceDatetime=…` → the date token (no `result`). */
export async function pagingTokenSince(io: Pick<SyncIO, 'get'>, since: number): Promise<string> {
  const path = withQuery('/rest/v1/activities/pagingtoken.json', {
    sinceDatetime: new Date(since).toISOString().slice(0, 19) + 'Z',
  });
  const env = await call(io, path);
  if (env.nextPageToken === undefined)
    throw new MarketoSyncError('invalid_envelope', 'pagingtoken.json without nextPageToken', path);
  return env.nextPageToken;
}

// ---------------------------------------------------------------------------------------------------
// Asset browse: offset + maxReturn, end = "No assets found" warning (spec §5.7)

/** Where an asset browse stands between pages (kept in checkpoints). */
export interface AssetCursor {
  /** Offset of the next call. */
  offset: number;
  /** Id of the last item handed out; the next page should show it again in its overlap. */
  lastId?: string;
  /** An overlap check failed: items may have been skipped during this browse. */
  broken?: boolean;
}

/** Items re-read at the start of every page to check that nothing moved past us (see below). */
export function assetOverlap(maxReturn: number): number {
  if (maxReturn < 2) return 0;
  return Math.min(5, Math.max(1, Math.floor(maxReturn / 4)));
}

export interface AssetStep {
  /** Items not handed out before. */
  fresh: MarketoItem[];
  cursor: AssetCursor;
  done: boolean;
}

/**
 * The pure step of an asset browse. Offset paging skips an item when an earlier one disappears between
 * two calls (a deletion shifts the rest back), so each call starts `overlap` items before the end of the
 * previous page and must show the previous page's last item again: the items after it are fresh. When
 * it does not, the browse is marked `broken` (everything on the page is treated as fresh): a full sweep
 * must then not delete anything, an incremental run must not move its high-water mark. A page shorter
 * than `maxReturn`, or the "No assets found" end, finishes the browse.
 */
export function assetStep(
  cursor: AssetCursor,
  page: { items: MarketoItem[]; noAssets: boolean },
  maxReturn: number,
  idKey: (item: MarketoItem) => string | undefined = (i) => (i.id === undefined ? undefined : String(i.id)),
): AssetStep {
  const overlap = assetOverlap(maxReturn);
  const items = page.items;
  let fresh = items;
  let broken = cursor.broken === true;
  if (cursor.lastId !== undefined && cursor.offset > 0 && overlap > 0 && items.length > 0) {
    const at = items.findIndex((i) => idKey(i) === cursor.lastId);
    if (at === -1) broken = true;
    else fresh = items.slice(at + 1);
  } else if (cursor.lastId !== undefined && items.length === 0 && overlap > 0) {
    // The overlap itself vanished: the items we expected to see again are gone.
    broken = true;
  }
  const done = page.noAssets || items.length < maxReturn;
  const last = items.length > 0 ? idKey(items[items.length - 1]!) : cursor.lastId;
  const next: AssetCursor = { offset: cursor.offset + items.length - (done ? 0 : overlap) };
  if (last !== undefined) next.lastId = last;
  if (broken) next.broken = true;
  return { fresh, cursor: next, done };
}

/** Pages of an asset browse from `cursor`; `path` has every parameter except offset and maxReturn. */
export async function* assetPages(
  io: Pick<SyncIO, 'get'>,
  path: string,
  cursor: AssetCursor,
  maxReturn: number,
): AsyncGenerator<AssetStep> {
  let c = cursor;
  while (true) {
    // 702 ("No data found") is how some asset endpoints say "nothing (more)"; same as the warning.
    const env = await call(io, withQuery(path, { offset: c.offset, maxReturn }), ['702']);
    // Past the end: success with the "No assets found" warning and no `result` (or just no result).
    const noAssets = isNoAssetsWarning(env.warnings) || env.result.length === 0;
    const step = assetStep(c, { items: env.result, noAssets }, maxReturn);
    yield step;
    if (step.done) return;
    c = step.cursor;
  }
}

// ---------------------------------------------------------------------------------------------------
// Activity type groups (activityTypeIds ≤ 10 per call, spec §4)

export const MAX_ACTIVITY_TYPE_IDS = 10;

export interface ActivityGroup {
  typeIds: number[];
  /** Date token where this group resumes; undefined until the group got its first token. */
  nextPageToken?: string;
}

export function chunk<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/**
 * The groups to read this run, from the wanted type ids and the groups of the checkpoint. Tokens are
 * positions in the activity log, independent of the type filter, so a group keeps its token when types
 * leave it; wanted types in no group form new groups (≤10 each) without a token (they start from the
 * configured since-date). Groups at the same token are merged while they fit in 10.
 */
export function planActivityGroups(
  wanted: readonly number[],
  previous: readonly ActivityGroup[],
): ActivityGroup[] {
  const want = new Set(wanted);
  const placed = new Set<number>();
  const kept: ActivityGroup[] = [];
  for (const g of previous) {
    const ids = g.typeIds.filter((id) => want.has(id) && !placed.has(id));
    if (ids.length === 0) continue;
    ids.forEach((id) => placed.add(id));
    kept.push(
      g.nextPageToken === undefined ? { typeIds: ids } : { typeIds: ids, nextPageToken: g.nextPageToken },
    );
  }
  const rest = [...want].filter((id) => !placed.has(id)).sort((a, b) => a - b);
  for (const ids of chunk(rest, MAX_ACTIVITY_TYPE_IDS)) kept.push({ typeIds: ids });
  // Merge groups sharing a token (or both without one) while they fit.
  const merged: ActivityGroup[] = [];
  for (const g of kept) {
    const into = merged.find(
      (m) =>
        m.nextPageToken === g.nextPageToken && m.typeIds.length + g.typeIds.length <= MAX_ACTIVITY_TYPE_IDS,
    );
    if (into) into.typeIds = [...into.typeIds, ...g.typeIds].sort((a, b) => a - b);
    else merged.push({ ...g, typeIds: [...g.typeIds].sort((a, b) => a - b) });
  }
  return merged;
}
