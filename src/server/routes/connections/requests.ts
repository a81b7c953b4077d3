import { z } from 'zod';
import type { RouteDef } from '../../router.ts';
import { parseWith } from '../../validate.ts';
import { ApiError } from '../../errors.ts';
import { connectionIdParam, providerConfigKeySchema } from './schemas.ts';
import { liveConnection } from './lookup.ts';

export const REQUESTS_DEFAULT_LIMIT = 100;
export const REQUESTS_MAX_LIMIT = 1000;

const querySchema = z
  .object({
    provider_config_key: providerConfigKeySchema,
    limit: z
      .string()
      .regex(/^\d{1,4}$/, `Expected a number from 1 to ${REQUESTS_MAX_LIMIT}`)
      .transform(Number)
      .refine((n) => n >= 1 && n <= REQUESTS_MAX_LIMIT, `Expected a number from 1 to ${REQUESTS_MAX_LIMIT}`)
      .optional(),
    cursor: z.string().max(200).optional(),
  })
  .strict();

/**
 * `GET /connections/{connectionId}/requests?provider_config_key=…&limit=&cursor=` → `{requests:
 * [{id, method, path, status, codes, duration_ms, attempts, at}], next_cursor}`: the connection's
 * proxied calls, newest first, paths redacted; `next_cursor` (null at the end) gives the next page.
 */
export const getRequests: RouteDef = {
  method: 'GET',
  path: '/connections/:connectionId/requests',
  auth: 'secret',
  handler: async (ctx) => {
    const q = parseWith(querySchema, ctx.query, 'invalid_query_params');
    const connection = await liveConnection(ctx, q.provider_config_key, connectionIdParam(ctx));
    let page;
    try {
      page = await ctx.deps.requestLog.list(connection.id, {
        limit: q.limit ?? REQUESTS_DEFAULT_LIMIT,
        cursor: q.cursor,
      });
    } catch (err) {
      if (!(err instanceof RangeError)) throw err;
      throw new ApiError(400, 'invalid_query_params', 'The cursor is not one this endpoint returned.', {
        errors: [{ code: 'custom', message: 'Invalid cursor', path: ['cursor'] }],
      });
    }
    return {
      body: {
        requests: page.entries.map((e) => ({
          id: e.id,
          method: e.method,
          path: e.path,
          status: e.status,
          codes: e.codes,
          duration_ms: e.durationMs,
          attempts: e.attempts,
          at: e.at,
        })),
        next_cursor: page.nextCursor,
      },
    };
  },
};
