import { MarketoError } from '../core/envelope.ts';
import {
  RAW,
  READ_ACTIVITY,
  READ_CUSTOM_OBJECT,
  READ_LEAD,
  type Permission,
  type RequestContext,
  type Route,
} from '../core/route.ts';
import { sendFile, sendNotAvailable } from './download.ts';
import { JOB_STATUSES, jobView, type ExportJob, type JobStatus } from './jobs.ts';
import {
  parseActivityExport,
  parseCustomObjectExport,
  parseLeadExport,
  type ExportKind,
  type ExportSpec,
} from './requests.ts';
import { typeOf } from '../customobjects/routes.ts';

/**
 * Bulk extract endpoints (spec 5.10, 5.11); leads, activities and custom objects share one job
 * model and one queue. A custom object job lives under its type's path (`/bulk/v1/customobjects/
 * {apiName}/export/…`): under another type's path it does not exist.
 */

const MAX_BATCH = 300;

/** Whether a job belongs to the path it is reached through (the custom object type, for those). */
function underPath(ctx: RequestContext, job: ExportJob): boolean {
  return job.spec.kind !== 'customobjects' || job.spec.apiName === ctx.params.apiName;
}

function findJob(ctx: RequestContext, kind: ExportKind): ExportJob | undefined {
  const job = ctx.inst.bulk.find(ctx.user.email, kind, ctx.params.exportId!);
  return job && underPath(ctx, job) ? job : undefined;
}

function jobOf(ctx: RequestContext, kind: ExportKind): ExportJob {
  const id = ctx.params.exportId!;
  const job = findJob(ctx, kind);
  if (!job) throw new MarketoError('1003', `Export Id ${id} not found`);
  return job;
}

function parseSpec(ctx: RequestContext, kind: ExportKind): ExportSpec {
  switch (kind) {
    case 'leads':
      return parseLeadExport(ctx.inst, ctx.body);
    case 'activities':
      return parseActivityExport(ctx.inst, ctx.body);
    case 'customobjects':
      return parseCustomObjectExport(ctx.inst, typeOf(ctx), ctx.body);
  }
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
  const base =
    kind === 'customobjects' ? '/bulk/v1/customobjects/:apiName/export' : `/bulk/v1/${kind}/export`;
  return [
    {
      method: 'POST',
      path: `${base}/create.json`,
      permission,
      body: 'json',
      handler: (ctx) => ({ result: [jobView(ctx.inst.bulk.create(ctx.user.email, parseSpec(ctx, kind)))] }),
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
        const job = findJob(ctx, kind);
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
        if (kind === 'customobjects') typeOf(ctx);
        const jobs = ctx.inst.bulk
          .list(ctx.user.email, kind, statusFilter(ctx))
          .filter((j) => j.seq > after && underPath(ctx, j));
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
  ...routesFor('customobjects', READ_CUSTOM_OBJECT),
];
