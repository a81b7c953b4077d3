/**
 * The Marketo calls of a bulk extract job (spec marketo-api.md §5.10, §5.11): create, enqueue, cancel,
 * status and the job list, each checked through {@link readEnvelope} (a refusal becomes a
 * MarketoSyncError carrying Marketo's code and message).
 */
import { idOf, parseMarketoDate, readEnvelope, withQuery, type MarketoItem } from '../models/api.ts';
import { MarketoSyncError, type SyncIO } from '../models/types.ts';

/**
 * Which bulk extract a job belongs to: leads, activities, or the records of one custom object type
 * (`customobjects/<apiName>`, spec §4: one queue and one daily volume for all of them).
 */
export type JobKind = 'leads' | 'activities' | `customobjects/${string}`;

/** A custom object type's API name as Marketo spells them (letters, digits, underscores). */
const API_NAME = /^[A-Za-z][A-Za-z0-9_]{0,99}$/;

export function isCustomObjectApiName(apiName: string): boolean {
  return API_NAME.test(apiName);
}

/** The job kind of a custom object type's exports; throws on a name that is not an API name. */
export function customObjectKind(apiName: string): JobKind {
  if (!isCustomObjectApiName(apiName)) {
    throw new RangeError(`not a custom object API name: ${JSON.stringify(apiName)}`);
  }
  return `customobjects/${apiName}`;
}

/** The custom object type of a job kind, or undefined for leads and activities. */
export function customObjectOfKind(kind: JobKind): string | undefined {
  return kind.startsWith('customobjects/') ? kind.slice('customobjects/'.length) : undefined;
}

/** What Marketo reports about a job (status, list, enqueue and cancel share the shape). */
export interface JobInfo {
  exportId: string;
  status: string;
  fileSize?: number;
  fileChecksum?: string;
  finishedAt?: number;
  numberOfRecords?: number;
  errorMsg?: string;
}

/** The statuses a job list is asked for when polling (Created ones are known from the state). */
export const POLL_STATUSES = ['Queued', 'Processing', 'Completed', 'Failed', 'Cancelled'] as const;

/** Marketo's largest list page. */
const LIST_PAGE = 300;

export function exportBase(kind: JobKind): string {
  // Each segment encoded: an API name comes from Marketo's answers, never trusted into a path as is.
  return `/bulk/v1/${kind.split('/').map(encodeURIComponent).join('/')}/export`;
}

export function filePath(kind: JobKind, exportId: string): string {
  return `${exportBase(kind)}/${encodeURIComponent(exportId)}/file.json`;
}

function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

/** Docs spell it "Canceled", responses "Cancelled": one spelling inside Tether. */
function normalStatus(v: unknown): string {
  const s = typeof v === 'string' ? v : '';
  return s.toLowerCase() === 'canceled' ? 'Cancelled' : s;
}

export function jobInfo(item: MarketoItem): JobInfo | undefined {
  const exportId = idOf(item.exportId);
  if (exportId === undefined) return undefined;
  const info: JobInfo = { exportId, status: normalStatus(item.status) };
  const fileSize = num(item.fileSize);
  if (fileSize !== undefined) info.fileSize = fileSize;
  if (typeof item.fileChecksum === 'string') info.fileChecksum = item.fileChecksum;
  const finishedAt = parseMarketoDate(item.finishedAt);
  if (finishedAt !== undefined) info.finishedAt = finishedAt;
  const records = num(item.numberOfRecords);
  if (records !== undefined) info.numberOfRecords = records;
  if (typeof item.errorMsg === 'string') info.errorMsg = item.errorMsg;
  return info;
}

function firstJob(result: MarketoItem[], path: string): JobInfo {
  const info = result[0] ? jobInfo(result[0]) : undefined;
  if (!info) throw new MarketoSyncError('invalid_envelope', 'no export job in the result', path);
  return info;
}

async function post(io: Pick<SyncIO, 'post'>, path: string, body: unknown): Promise<JobInfo> {
  if (!io.post) throw new Error('bulk export needs SyncIO.post');
  return firstJob(readEnvelope(await io.post(path, body), path).result, path);
}

export function createJob(io: SyncIO, kind: JobKind, body: unknown): Promise<JobInfo> {
  return post(io, `${exportBase(kind)}/create.json`, body);
}

export function enqueueJob(io: SyncIO, kind: JobKind, exportId: string): Promise<JobInfo> {
  return post(io, `${exportBase(kind)}/${encodeURIComponent(exportId)}/enqueue.json`, {});
}

export function cancelJob(io: Pick<SyncIO, 'post'>, kind: JobKind, exportId: string): Promise<JobInfo> {
  return post(io, `${exportBase(kind)}/${encodeURIComponent(exportId)}/cancel.json`, {});
}

export async function jobStatus(io: SyncIO, kind: JobKind, exportId: string): Promise<JobInfo> {
  const path = `${exportBase(kind)}/${encodeURIComponent(exportId)}/status.json`;
  return firstJob(readEnvelope(await io.get(path), path).result, path);
}

/** Every job of the list (this API user's, last 7 days) with one of `statuses`, all pages. */
export async function listJobs(io: SyncIO, kind: JobKind, statuses: readonly string[]): Promise<JobInfo[]> {
  const out: JobInfo[] = [];
  let token: string | undefined;
  for (;;) {
    const path = withQuery(`${exportBase(kind)}.json`, {
      status: statuses,
      batchSize: LIST_PAGE,
      nextPageToken: token,
    });
    const env = readEnvelope(await io.get(path), path);
    for (const item of env.result) {
      const info = jobInfo(item);
      if (info) out.push(info);
    }
    // A token that does not move would loop forever: stop there.
    if (!env.nextPageToken || env.nextPageToken === token || env.result.length === 0) return out;
    token = env.nextPageToken;
  }
}

/** A Marketo refusal whose message matches `re` (1029's three meanings differ only in the message). */
export function isMarketoError(err: unknown, code: string, re?: RegExp): err is MarketoSyncError {
  return err instanceof MarketoSyncError && err.code === code && (re === undefined || re.test(err.message));
}
