import { z } from 'zod';
import type { RouteDef } from '../../router.ts';
import { ApiError } from '../../errors.ts';
import { parseWith } from '../../validate.ts';
import { listRuns } from '../../../db/syncs.ts';
import { connectionIdSchema, providerConfigKeySchema } from '../connections/schemas.ts';
import { normalizeSelectors, positiveIdText, resolveTargets } from './shared.ts';

const querySchema = z
  .object({
    provider_config_key: providerConfigKeySchema,
    connection_id: connectionIdSchema,
    syncs: z.string().min(1).max(10_000).optional(),
    limit: z.coerce.number().int().min(1).max(100).optional(),
    cursor: positiveIdText.optional(),
  })
  .strict();

/**
 * `GET /sync/runs?provider_config_key=…&connection_id=…[&syncs=a,b][&limit=20][&cursor=…]` (Tether's, not
 * Nango's) → `{runs: [...], next_cursor}`: the run history of the connection's syncs (every variant, or
 * those of `syncs`: `name`, `name::variant`), newest first:
 * `id, sync, variant, type (INITIAL|INCREMENTAL), reason (schedule|trigger|reset|reset_clear), status
 * (RUNNING|SUCCESS|ERROR|PAUSED|CANCELLED), started_at, ended_at, added, updated, deleted, unchanged,
 * results {model: {added, updated, deleted}}, api_calls, pages, resumes (crash or restart recoveries),
 * error {type, message}, paused_until`. The last 100 runs of each sync are kept.
 */
export const getSyncRuns: RouteDef = {
  method: 'GET',
  path: '/sync/runs',
  auth: 'secret',
  handler: async (ctx) => {
    const q = parseWith(querySchema, ctx.query, 'invalid_query_params');
    const names =
      q.syncs === undefined || q.syncs.trim() === '*' ? [] : q.syncs.split(',').map((s) => s.trim());
    if (names.some((n) => n === '')) {
      throw new ApiError(400, 'invalid_query_params', 'syncs must be "*" or a comma list of sync names');
    }
    const targets = await resolveTargets(ctx, {
      providerConfigKey: q.provider_config_key,
      connectionId: q.connection_id,
      selectors: normalizeSelectors(names),
    });
    const syncOf = new Map(targets.syncs.map((s) => [s.id, s]));
    const limit = q.limit ?? 20;
    const runs = await listRuns(ctx.deps.store.ctx, {
      syncIds: targets.syncs.map((s) => s.id),
      limit: limit + 1,
      ...(q.cursor !== undefined ? { beforeId: Number(q.cursor) } : {}),
    });
    const more = runs.length > limit;
    if (more) runs.length = limit;
    return {
      body: {
        runs: runs.map((r) => ({
          id: r.id,
          sync: syncOf.get(r.syncId)?.name ?? null,
          variant: syncOf.get(r.syncId)?.variant ?? null,
          type: r.type,
          reason: r.reason,
          status: r.status,
          started_at: r.startedAt,
          ended_at: r.endedAt,
          added: r.added,
          updated: r.updated,
          deleted: r.deleted,
          unchanged: r.unchanged,
          results: r.results,
          api_calls: r.apiCalls,
          pages: r.pages,
          resumes: r.resumes,
          error: r.error,
          paused_until: r.pausedUntil,
        })),
        next_cursor: more ? String(runs[runs.length - 1]!.id) : null,
      },
    };
  },
};
