import { z } from 'zod';

/**
 * Per-instance limits and switches. Every number Marketo imposes is configurable and every limit
 * can be switched off, so tests can provoke each one cheaply and benchmarks can run unthrottled.
 */
export const limitsSchema = z
  .object({
    rate: z.object({
      enabled: z.boolean(),
      max: z.number().int().min(1).max(1_000_000),
      windowMs: z.number().int().min(1),
    }),
    concurrency: z.object({ enabled: z.boolean(), max: z.number().int().min(1) }),
    daily: z.object({ enabled: z.boolean(), quota: z.number().int().min(0) }),
    body: z.object({ enabled: z.boolean(), maxBytes: z.number().int().min(1) }),
    /**
     * `maxBytes` for the lead-database and bulk APIs (8 KB); the asset API raised its own limit to
     * 65 KiB in Sep 2020 (spec section 4), `assetMaxBytes`.
     */
    uri: z.object({
      enabled: z.boolean(),
      maxBytes: z.number().int().min(1),
      assetMaxBytes: z.number().int().min(1),
    }),
    bulk: z.object({
      enabled: z.boolean(),
      maxProcessing: z.number().int().min(1),
      maxQueued: z.number().int().min(1),
      dailyBytes: z.number().int().min(0),
    }),
  })
  .strict();

export type Limits = z.infer<typeof limitsSchema>;

export const settingsSchema = z
  .object({
    /** Lifetime of a fresh access token in seconds (Marketo: 3600). */
    tokenTtlSeconds: z.number().int().min(1).max(86_400),
    /** Refuse the legacy `access_token` query parameter (Marketo's post-deadline behaviour). */
    rejectQueryToken: z.boolean(),
    /** When set, calls from other addresses get 603 (Admin > Web Services > IP Restrictions). */
    ipAllowlist: z.array(z.string()).nullable(),
    /** Bulk extract: time a job spends Queued→Processing→Completed, in ms (0 = instant). */
    bulkProcessingMs: z.number().int().min(0),
    /** Bulk lead extract accepts the `updatedAt` filter (false → 1035). */
    bulkUpdatedAtFilter: z.boolean(),
    /**
     * Bulk extract: a job whose file would hold more records than this fails (status Failed with an
     * `errorMsg`, as Marketo's jobs do when an extract is too large to finish); null = never.
     */
    bulkFailAboveRecords: z.number().int().min(0).nullable(),
    /** Compress responses ≥1 KiB when the caller accepts gzip (Marketo does). */
    gzip: z.boolean(),
  })
  .strict();

export type Settings = z.infer<typeof settingsSchema>;

export function defaultLimits(): Limits {
  return {
    rate: { enabled: true, max: 100, windowMs: 20_000 },
    concurrency: { enabled: true, max: 10 },
    daily: { enabled: true, quota: 50_000 },
    body: { enabled: true, maxBytes: 1_048_576 },
    uri: { enabled: true, maxBytes: 8_192, assetMaxBytes: 65 * 1024 },
    bulk: { enabled: true, maxProcessing: 2, maxQueued: 10, dailyBytes: 500 * 1024 * 1024 },
  };
}

export function defaultSettings(): Settings {
  return {
    tokenTtlSeconds: 3600,
    rejectQueryToken: false,
    ipAllowlist: null,
    bulkProcessingMs: 0,
    bulkUpdatedAtFilter: true,
    bulkFailAboveRecords: null,
    gzip: true,
  };
}

/** Limits with every switch off: for benchmarks and bulk tests that must not be throttled. */
export function unlimited(): Limits {
  const l = defaultLimits();
  l.rate.enabled = false;
  l.concurrency.enabled = false;
  l.daily.enabled = false;
  return l;
}

/** A deep partial of limits, as the control API accepts it. */
export const limitsPatchSchema = z
  .object({
    rate: limitsSchema.shape.rate.partial().strict().optional(),
    concurrency: limitsSchema.shape.concurrency.partial().strict().optional(),
    daily: limitsSchema.shape.daily.partial().strict().optional(),
    body: limitsSchema.shape.body.partial().strict().optional(),
    uri: limitsSchema.shape.uri.partial().strict().optional(),
    bulk: limitsSchema.shape.bulk.partial().strict().optional(),
  })
  .strict();

export type LimitsPatch = z.infer<typeof limitsPatchSchema>;

export function applyLimitsPatch(limits: Limits, patch: LimitsPatch): void {
  for (const key of Object.keys(patch) as (keyof Limits)[]) {
    Object.assign(limits[key], patch[key]);
  }
}
