import { isoSeconds } from '../core/envelope.ts';
import type { ExportFormat, WrittenFile } from './csv.ts';
import type { ExportKind, ExportSpec } from './requests.ts';

/**
 * One bulk extract job and the shape Marketo reports it in. States move
 * Created → Queued → Processing → Completed | Failed; Cancelled from any non-final state.
 */

export type JobStatus = 'Created' | 'Queued' | 'Processing' | 'Completed' | 'Failed' | 'Cancelled';

export const JOB_STATUSES: readonly JobStatus[] = [
  'Created',
  'Queued',
  'Processing',
  'Completed',
  'Failed',
  'Cancelled',
];

export const FINAL_STATUSES: ReadonlySet<JobStatus> = new Set(['Completed', 'Failed', 'Cancelled']);

export interface ExportJob {
  id: string;
  /** Creation order within the instance: list order and paging cursor. */
  seq: number;
  kind: ExportKind;
  /** Email of the API user that created it: the only one who sees it. */
  owner: string;
  spec: ExportSpec;
  format: ExportFormat;
  status: JobStatus;
  createdAt: number;
  queuedAt?: number;
  startedAt?: number;
  finishedAt?: number;
  numberOfRecords?: number;
  fileSize?: number;
  fileChecksum?: string;
  errorMsg?: string;
  /** Path of the finished file; removed when the file expires. */
  file?: string;
  /** Set once generation finished while the configured processing time still runs. */
  written?: WrittenFile;
  /** The running generation, flagged to stop on cancel or reset. */
  run?: { stopped: boolean; path: string };
  timer?: NodeJS.Timeout;
}

/** The job as status, enqueue, cancel and list return it. */
export function jobView(job: ExportJob): Record<string, unknown> {
  const v: Record<string, unknown> = {
    exportId: job.id,
    format: job.format,
    status: job.status,
    createdAt: isoSeconds(job.createdAt),
  };
  if (job.queuedAt !== undefined) v.queuedAt = isoSeconds(job.queuedAt);
  if (job.startedAt !== undefined) v.startedAt = isoSeconds(job.startedAt);
  if (job.finishedAt !== undefined) v.finishedAt = isoSeconds(job.finishedAt);
  if (job.status === 'Completed') {
    v.numberOfRecords = job.numberOfRecords;
    v.fileSize = job.fileSize;
    v.fileChecksum = job.fileChecksum;
  }
  if (job.errorMsg !== undefined) v.errorMsg = job.errorMsg;
  return v;
}

/** `500` for 500 MiB; small test quotas keep enough decimals to stay readable. */
export function formatMb(bytes: number): string {
  const mb = bytes / (1024 * 1024);
  if (Number.isInteger(mb)) return String(mb);
  const rounded = Math.round(mb * 100) / 100;
  return rounded > 0 ? String(rounded) : mb.toFixed(8).replace(/0+$/, '');
}
