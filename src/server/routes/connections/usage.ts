import { z } from 'zod';
import type { RouteDef } from '../../router.ts';
import { parseWith } from '../../validate.ts';
import type { UsageRow } from '../../../engine/usage.ts';
import { budgetView, trafficTarget } from '../../../engine/limits-store.ts';
import { getConnectionBudget } from '../../../db/limits.ts';
import { connectionIdParam, providerConfigKeySchema } from './schemas.ts';
import { liveConnection } from './lookup.ts';

const querySchema = z
  .object({
    provider_config_key: providerConfigKeySchema,
    day: z
      .string()
      .regex(/^\d{4}-\d{2}-\d{2}$/, 'Expected a day as YYYY-MM-DD')
      .optional(),
  })
  .strict();

function counters(row: UsageRow) {
  return {
    calls: row.calls,
    identity_calls: row.identityCalls,
    errors: row.errors,
    errors_by_code: row.errorsByCode,
    retries: row.retries,
    queued_ms: row.queuedMs,
    max_queued_ms: row.maxQueuedMs,
    rejected: row.rejected,
  };
}

/**
 * `GET /connections/{connectionId}/usage?provider_config_key=…&day=YYYY-MM-DD` → the usage of the
 * connection and of its instance (every connection to it together) on one quota day (default today):
 * calls, identity calls, errors by provider code, retries, time queued, calls refused by traffic
 * control, and for today the budget left. Counts are every Tether process's on this database, summed
 * (engine/usage.ts: the others' stored rows are read every second).
 */
export const getUsage: RouteDef = {
  method: 'GET',
  path: '/connections/:connectionId/usage',
  auth: 'secret',
  handler: async (ctx) => {
    const q = parseWith(querySchema, ctx.query, 'invalid_query_params');
    const connection = await liveConnection(ctx, q.provider_config_key, connectionIdParam(ctx));
    const target = trafficTarget(ctx.deps, connection);
    const pk = String(connection.id);
    const day = q.day !== undefined ? { day: q.day } : {};
    const [own] = await ctx.deps.usage.snapshot({
      connectionId: pk,
      instanceKey: target.instanceKey,
      ...day,
    });
    const [inst] = await ctx.deps.usage.snapshot({ instanceKey: target.instanceKey, ...day });
    const current = target.traffic.instanceBudget(target.instanceKey);
    const today = own!.day === current.day;
    const instBudget = today ? current : undefined;
    const connBudget = today
      ? budgetView(target, connection.id, await getConnectionBudget(ctx.deps.store.ctx, connection.id))
      : undefined;
    return {
      body: {
        day: own!.day,
        connection: {
          connection_id: connection.connectionId,
          provider_config_key: connection.providerConfigKey,
          ...counters(own!),
          budget: connBudget
            ? {
                limit: connBudget.limit,
                used: connBudget.used,
                left: connBudget.left,
                reset_at: connBudget.reset_at,
              }
            : null,
        },
        instance: {
          key: target.instanceKey,
          ...counters(inst!),
          budget: instBudget
            ? {
                limit: instBudget.limit,
                used: instBudget.used,
                left: instBudget.left,
                reset_at: new Date(instBudget.resetAt).toISOString(),
              }
            : null,
        },
      },
    };
  },
};
