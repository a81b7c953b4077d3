import { z } from 'zod';
import type { RouteDef } from '../../router.ts';
import { parseWith } from '../../validate.ts';
import { describeLimits, updateLimits } from '../../../engine/limits-store.ts';
import { connectionIdParam, jsonOrEmpty, providerConfigKeySchema } from './schemas.ts';
import { liveConnection } from './lookup.ts';

const querySchema = z.object({ provider_config_key: providerConfigKeySchema }).strict();

const MAX_CALLS = 1_000_000_000;
const int = (min: number, max: number) => z.number().int().min(min).max(max);

const bodySchema = z
  .object({
    /** Calls per quota day for this connection; `null` back to the default (the instance's share). */
    daily_budget: int(0, MAX_CALLS).nullable().optional(),
    /** The instance's limits (shared by every connection to it); `null` back to the defaults. */
    instance: z
      .object({
        rate_max: int(1, 1_000_000).nullable().optional(),
        rate_window_ms: int(100, 86_400_000).nullable().optional(),
        max_in_flight: int(1, 10_000).nullable().optional(),
        daily_quota: int(0, MAX_CALLS).nullable().optional(),
      })
      .strict()
      .nullable()
      .optional(),
  })
  .strict();

/**
 * `GET /connections/{connectionId}/limits?provider_config_key=…` → `{budget: {limit, used, left, day,
 * reset_at, is_default}, instance: {key, limits, configured, budget}}`: the connection's daily budget
 * today and the limits of the instance it calls.
 */
export const getLimits: RouteDef = {
  method: 'GET',
  path: '/connections/:connectionId/limits',
  auth: 'secret',
  handler: async (ctx) => {
    const q = parseWith(querySchema, ctx.query, 'invalid_query_params');
    const connection = await liveConnection(ctx, q.provider_config_key, connectionIdParam(ctx));
    return { body: await describeLimits(ctx.deps, connection) };
  },
};

/**
 * `PATCH /connections/{connectionId}/limits?provider_config_key=…` with `{daily_budget?, instance?:
 * {rate_max?, rate_window_ms?, max_in_flight?, daily_quota?}}` (each `null` restores the default) →
 * the new limits, as GET answers them. Stored: they survive a restart. A budget above Tether's share of
 * the instance's daily quota answers 400 `invalid_body`.
 */
export const patchLimits: RouteDef = {
  method: 'PATCH',
  path: '/connections/:connectionId/limits',
  auth: 'secret',
  handler: async (ctx) => {
    const q = parseWith(querySchema, ctx.query, 'invalid_query_params');
    const connectionId = connectionIdParam(ctx);
    const body = parseWith(bodySchema, await jsonOrEmpty(ctx), 'invalid_body');
    const connection = await liveConnection(ctx, q.provider_config_key, connectionId);
    return { body: await updateLimits(ctx.deps, connection, body) };
  },
};
