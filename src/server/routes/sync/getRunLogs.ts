import { z } from 'zod';
import type { RouteDef } from '../../router.ts';
import { ApiError } from '../../errors.ts';
import { parseWith } from '../../validate.ts';
import { getRun } from '../../../db/syncs.ts';
import { listRunLog } from '../../../db/run-logs.ts';
import { connectionIdSchema, providerConfigKeySchema } from '../connections/schemas.ts';
import { positiveIdText, resolveTargets } from './shared.ts';

const querySchema = z
  .object({
    provider_config_key: providerConfigKeySchema,
    connection_id: connectionIdSchema,
    limit: z.coerce.number().int().min(1).max(500).optional(),
    cursor: positiveIdText.optional(),
  })
  .strict();

/**
 * `GET /sync/runs/:runId/logs?provider_config_key=…&connection_id=…[&limit=100][&cursor=…]` (Tether's, not
 * Nango's) → `{logs: [{id, at, level (info|warn|error), message, data}], next_cursor}`: what the run said,
 * oldest first (the sync model's lines, e.g. a fallback it took, and how the run ended). The run must be
 * one of the connection's (from `GET /sync/runs`); logs go with their run.
 */
export const getSyncRunLogs: RouteDef = {
  method: 'GET',
  path: '/sync/runs/:runId/logs',
  auth: 'secret',
  handler: async (ctx) => {
    const q = parseWith(querySchema, ctx.query, 'invalid_query_params');
    const runId = Number(parseWith(positiveIdText, ctx.params.runId, 'invalid_uri_params'));
    const targets = await resolveTargets(ctx, {
      providerConfigKey: q.provider_config_key,
      connectionId: q.connection_id,
      selectors: [],
    });
    const run = await getRun(ctx.deps.store.ctx, runId);
    if (!run || !targets.syncs.some((s) => s.id === run.syncId)) {
      throw new ApiError(404, 'unknown_sync_run', `There is no run ${runId} of this connection's syncs.`);
    }
    const limit = q.limit ?? 100;
    const logs = await listRunLog(ctx.deps.store.ctx, {
      runId,
      limit: limit + 1,
      ...(q.cursor !== undefined ? { afterId: Number(q.cursor) } : {}),
    });
    const more = logs.length > limit;
    if (more) logs.length = limit;
    return { body: { logs, next_cursor: more ? String(logs[logs.length - 1]!.id) : null } };
  },
};
