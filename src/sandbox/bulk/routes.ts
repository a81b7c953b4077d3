import { MarketoError } from '../core/envelope.ts';
import {
  RAW,
  READ_ACTIVITY,
  READ_LEAD,
  type Permission,
  type RequestContext,
  type Route,
} from '../core/route.ts';
import { sendFile, sendNotAvailable } from './download.ts';
import { JOB_STATUSES, jobView, type ExportJob, type JobStatus } from './jobs.ts';
import { parseActivityExport, parseLeadExport, type ExportKind } from './requests.ts';

/** Bulk extract endpoints (spec 5.10, 5.11); leads and activities share one job model. */

const MAX_BATCH = 300;

function jobOf(ctx: RequestContext, kind: ExportKind): ExportJob {
  const id = ctx.params.exportId!;
  const job = ctx.inst.bulk.find(ctx.user.email, kind, id);
  if (!job) throw new MarketoError('1003', `Export Id ${id} not found`);
  return job;
}

/** `status=Created,Queued` (either spelling of Cancelled), case-insensitive. */
function statusFilter(ctx: RequestContext): Set<JobStatus> | undefined {
  const names = ctx.query.list('status');
  if (names === undefined || names.length === 0) return undefined;
  const out = new Set<JobStatus>();
  for (const name of names) {
    const lower = name.toLowerCase() === 'canceled' ? 'cancelled' : name.toLowerCase();
    const status = JOB_STATUSES.find((s) => s.toLowerCase() === lower);
    if (!status) throw new MarketoError('1003', `Invalid value specified for attribute 'status': ${name}`);
    out.add(status);
  }
  return out;
}

function encodeCursor(seq: number): string {
  return Buffer.from(`bulk:${seq}`).toString('base64url');
}

function decodeCursor(token: string): number {
  const m = /^bulk:(\d+)$/.exec(Buffer.from(token, 'base64url').toString('utf8'));
  if (!m) throw new MarketoError('1003', `Invalid nextPageToken '${token}'`);
  return Number(m[1]);
}

function routesFor(kind: ExportKind, permission: Permission[]): Route[] {
  const base = `/bulk/v1/${kind}/export`;
  return [
    {
      method: 'POST',
      path: `${base}/create.json`,
      permission,
      body: 'json',
      handler: (ctx) => {
        const spec =
          kind === 'leads' ? parseLeadExport(ctx.inst, ctx.body) : parseActivityExport(ctx.inst, ctx.body);
        return { result: [jobView(ctx.inst.bulk.create(ctx.user.email, spec))] };
      },
    },
    {
      // node-marketo posts an empty `_method=POST` form here: whatever the body, it is ignored.
      method: 'POST',
      path: `${base}/:exportId/enqueue.json`,
      permission,
      body: 'none',
      handler: (ctx) => ({ result: [ctx.inst.bulk.enqueue(jobOf(ctx, kind))] }),
    },
    {
      method: 'GET',
      path: `${base}/:exportId/status.json`,
      permission,
      body: 'none',
      handler: (ctx) => ({ result: [jobView(jobOf(ctx, kind))] }),
    },
    {
      method: 'POST',
      path: `${base}/:exportId/cancel.json`,
      permission,
      body: 'none',
      handler: (ctx) => ({ result: [ctx.inst.bulk.cancel(jobOf(ctx, kind))] }),
    },
    {
      method: 'GET',
      path: `${base}/:exportId/file.json`,
      permission,
      body: 'none',
      handler: (ctx) => {
        const bulk = ctx.inst.bulk;
        const job = bulk.find(ctx.user.email, kind, ctx.params.exportId!);
        const file = job && bulk.fileOf(job);
        if (!file) {
          ctx.inst.counters.error('404', ctx.inst.clock.now());
          sendNotAvailable(ctx.res);
        } else {
          sendFile(ctx.res, file.path, file.size, ctx.req.headers.range, (n) => bulk.countServed(n));
        }
        return RAW;
      },
    },
    {
      method: 'GET',
      path: `${base}.json`,
      permission,
      body: 'none',
      handler: (ctx) => {
        const batchSize = ctx.query.int('batchSize') ?? MAX_BATCH;
        if (batchSize < 1) throw new MarketoError('1003', `Invalid value '${batchSize}' for 'batchSize'`);
        const token = ctx.query.get('nextPageToken');
        const after = token ? decodeCursor(token) : 0;
        const jobs = ctx.inst.bulk.list(ctx.user.email, kind, statusFilter(ctx)).filter((j) => j.seq > after);
        const page = jobs.slice(0, Math.min(batchSize, MAX_BATCH));
        const body: { result: Record<string, unknown>[]; nextPageToken?: string } = {
          result: page.map(jobView),
        };
        if (jobs.length > page.length) body.nextPageToken = encodeCursor(page[page.length - 1]!.seq);
        return body;
      },
    },
  ];
}

export const bulkRoutes: Route[] = [
  ...routesFor('leads', READ_LEAD),
  ...routesFor('activities', READ_ACTIVITY),
];
