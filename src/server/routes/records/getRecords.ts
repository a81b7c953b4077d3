import { z } from 'zod';
import type { RouteDef } from '../../router.ts';
import { parseWith } from '../../validate.ts';
import { ApiError } from '../../errors.ts';
import { nowOf } from '../../../db/context.ts';
import { InvalidCursorError, listRecordRows, type RecordFilter } from '../../../db/records.ts';
import { recordsPageBody } from '../../../db/records-page.ts';
import {
  connectionFromHeaders,
  invalidCursor,
  modelSchema,
  requireKnownModel,
  sendRawJson,
  storedModel,
  variantSchema,
} from './shared.ts';

const LOOKBACK_MS = 365 * 24 * 60 * 60 * 1000;
const FILTERS = ['added', 'updated', 'deleted'] as const;

/** Nango's `GET /records` query (strict: unknown keys are refused). */
const querySchema = z
  .object({
    model: modelSchema,
    variant: variantSchema.optional(),
    delta: z.iso.datetime().optional(),
    modified_after: z.iso.datetime().optional(),
    limit: z.coerce.number().int().min(1).max(10_000).optional(),
    filter: z
      .string()
      .transform((v) => v.split(',').map((s) => s.toLowerCase()))
      .pipe(z.array(z.enum(FILTERS)))
      .optional(),
    cursor: z.string().min(1).max(1000).optional(),
    ids: z
      .union([z.string().min(1).max(256), z.array(z.string().min(1).max(256)).max(100)])
      .transform((v) => (Array.isArray(v) ? v : [v]))
      .optional(),
  })
  .strict();

/** `modified_after` / `delta` must be within the last 365 days (Nango: "must be within the last 12 months"). */
function checkLookback(value: string | undefined, key: string, now: Date): void {
  if (value === undefined || new Date(value).getTime() >= now.getTime() - LOOKBACK_MS) return;
  const message = 'must be within the last 12 months';
  throw new ApiError(400, 'invalid_query_params', `${message} at ${key}`, {
    errors: [{ code: 'custom', message, path: [key] }],
  });
}

/**
 * `GET /records` (the SDK calls `/records/?…`): one page of a model's cached records for the connection
 * named by the `Connection-Id` / `Provider-Config-Key` headers, in `(last_modified_at, id)` order, with
 * `next_cursor` (null on the last page). The stored payload text is spliced into the answer unparsed.
 * Differences from Nango: an undecodable cursor is 400 `invalid_cursor` (Nango: 500), an unknown model is
 * 400 `unknown_model` (Nango: 200 empty), combined filters are a union (Nango drops `deleted` from them).
 */
export const getRecords: RouteDef = {
  method: 'GET',
  path: '/records',
  auth: 'secret',
  handler: async (ctx) => {
    const q = parseWith(querySchema, ctx.query, 'invalid_query_params');
    const store = ctx.deps.store.ctx;
    const now = nowOf(store);
    checkLookback(q.delta, 'delta', now);
    checkLookback(q.modified_after, 'modified_after', now);
    const connectionPk = await connectionFromHeaders(ctx);
    const model = storedModel(q.model, q.variant);
    await requireKnownModel(ctx, connectionPk, q.model, model);
    const modifiedAfter = q.delta ?? q.modified_after;
    let page;
    try {
      page = await listRecordRows(store, {
        connectionPk,
        model,
        limit: q.limit ?? 100,
        ...(q.cursor !== undefined ? { cursor: q.cursor } : {}),
        ...(modifiedAfter !== undefined ? { modifiedAfter } : {}),
        ...(q.filter !== undefined ? { filter: q.filter as RecordFilter[] } : {}),
        ...(q.ids !== undefined ? { ids: q.ids } : {}),
      });
    } catch (err) {
      if (err instanceof InvalidCursorError) throw invalidCursor();
      throw err;
    }
    sendRawJson(ctx.res, 200, recordsPageBody(page.rows, page.nextCursor));
    return undefined;
  },
};
