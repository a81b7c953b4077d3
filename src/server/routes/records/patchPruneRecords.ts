import { z } from 'zod';
import type { RouteDef } from '../../router.ts';
import { parseWith } from '../../validate.ts';
import { InvalidCursorError, pruneRecords } from '../../../db/records.ts';
import { jsonOrEmpty, requireEmptyQuery } from '../connections/schemas.ts';
import {
  connectionFromHeaders,
  invalidCursor,
  modelSchema,
  requireKnownModel,
  storedModel,
  variantSchema,
} from './shared.ts';

const bodySchema = z
  .object({
    model: modelSchema,
    variant: variantSchema.optional(),
    until_cursor: z.string().min(1).max(1000),
    limit: z.coerce.number().int().min(1).max(10_000).optional(),
  })
  .strict();

/**
 * `PATCH /records/prune` (SDK `pruneRecords`): empties the payload of the records up to and including
 * `until_cursor` (at most `limit`, default 1000), keeping their metadata; `{count, has_more}`. As Nango,
 * `has_more` is true when something was pruned and the last pruned record is not `until_cursor` itself.
 */
export const patchPruneRecords: RouteDef = {
  method: 'PATCH',
  path: '/records/prune',
  auth: 'secret',
  handler: async (ctx) => {
    requireEmptyQuery(ctx);
    const body = parseWith(bodySchema, await jsonOrEmpty(ctx), 'invalid_body');
    const connectionPk = await connectionFromHeaders(ctx);
    const model = storedModel(body.model, body.variant);
    await requireKnownModel(ctx, connectionPk, body.model, model);
    try {
      const r = await pruneRecords(ctx.deps.store.ctx, {
        connectionPk,
        model,
        untilCursor: body.until_cursor,
        limit: body.limit ?? 1000,
      });
      return { body: { count: r.count, has_more: r.count > 0 && r.lastCursor !== body.until_cursor } };
    } catch (err) {
      if (err instanceof InvalidCursorError) throw invalidCursor();
      throw err;
    }
  },
};
