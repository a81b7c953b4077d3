import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { RouteContext, RouteDef } from '../../router.ts';
import { ApiError } from '../../errors.ts';
import { parseWith } from '../../validate.ts';
import { nowOf } from '../../../db/context.ts';
import { getConnection } from '../../../db/connections.ts';
import { createActionRun } from '../../../db/action-runs.ts';
import { isFunctionEnabled } from '../../../db/integration-functions.ts';
import { connectionIdSchema, providerConfigKeySchema, requireEmptyQuery } from '../connections/schemas.ts';
import { ACTIONS_BY_PROVIDER, findActionDef } from '../../../engine/actions/registry.ts';
import {
  ActionFailed,
  parseActionInput,
  runAction,
  SYNC_ACTION_TIMEOUT_MS,
} from '../../../engine/actions/runner.ts';
import { actionStatusUrl } from '../../../engine/actions/webhooks.ts';

const bodySchema = z
  .object({
    action_name: z
      .string()
      .min(1)
      .max(255)
      .regex(/^[a-zA-Z0-9_-]+$/, 'Invalid action name'),
    input: z.unknown().optional(),
  })
  .strict();

const headersSchema = z.object({
  'connection-id': connectionIdSchema,
  'provider-config-key': providerConfigKeySchema,
  'x-async': z.enum(['true', 'false']).optional(),
  // Nango's bound: 0..5 retries of a failed async run.
  'x-max-retries': z
    .string()
    .regex(/^[0-5]$/, 'X-Max-Retries must be a number from 0 to 5')
    .optional(),
});

function header(ctx: RouteContext, name: string): string | undefined {
  const v = ctx.req.headers[name];
  const s = Array.isArray(v) ? v[0] : v;
  return s === undefined || s === '' ? undefined : s;
}

/** The JSON body; malformed JSON is Nango's `invalid_body` here (the other routes say `invalid_json`). */
async function body(ctx: RouteContext): Promise<z.infer<typeof bodySchema>> {
  let raw: unknown;
  try {
    raw = await ctx.json();
  } catch (err) {
    if (err instanceof ApiError && err.code === 'invalid_json') {
      throw new ApiError(400, 'invalid_body', err.message);
    }
    throw err;
  }
  return parseWith(bodySchema, raw ?? {}, 'invalid_body');
}

/**
 * `POST /action/trigger` (Nango's `triggerAction` / `triggerActionAsync`): headers `Connection-Id`,
 * `Provider-Config-Key`, optional `X-Async: true` and `X-Max-Retries: 0..5`; body `{action_name, input}`;
 * no query. An action its integration disabled answers 404 `disabled_resource` (db/integration-functions.ts).
 * The input is checked with the action's schema first (400 `invalid_action_input`).
 * - Sync: the action runs now as interactive traffic, bounded to 120 s (408 `action_timeout`); 200 with
 *   its output as the whole body; failures answer as runner.ts classifies them (424 `marketo_error` with
 *   `upstream.code` for a Marketo refusal; the proxy's 429/503/424 for traffic, budget, quota and auth).
 *   A caller that goes away does not stop the run: a write half made is worse than one made unseen.
 * - Async: the run is stored and queued (engine/actions/queue.ts); 202 at once with
 *   `Location: /action/<id>` and `{id, statusUrl}`.
 */
export const postActionTrigger: RouteDef = {
  method: 'POST',
  path: '/action/trigger',
  auth: 'secret',
  handler: async (ctx) => {
    requireEmptyQuery(ctx);
    const connectionId = header(ctx, 'connection-id');
    if (connectionId === undefined) {
      throw new ApiError(400, 'missing_connection_id', 'Missing the Connection-Id header.');
    }
    const providerConfigKey = header(ctx, 'provider-config-key');
    if (providerConfigKey === undefined) {
      throw new ApiError(400, 'missing_provider_config_key', 'Missing the Provider-Config-Key header.');
    }
    const headers = parseWith(
      headersSchema,
      {
        'connection-id': connectionId,
        'provider-config-key': providerConfigKey,
        'x-async': header(ctx, 'x-async'),
        'x-max-retries': header(ctx, 'x-max-retries'),
      },
      'invalid_headers',
    );
    const { action_name: name, input: rawInput } = await body(ctx);

    const env = ctx.auth.environment;
    const store = ctx.deps.store.ctx;
    const connection = await getConnection(store, env.id, providerConfigKey, connectionId);
    if (!connection) {
      throw new ApiError(
        400,
        'unknown_connection',
        `There is no connection "${connectionId}" for integration "${providerConfigKey}".`,
      );
    }
    const registry = ctx.deps.actions?.registry ?? ACTIONS_BY_PROVIDER;
    const def = findActionDef(registry, connection.provider, name);
    if (!def) {
      throw new ApiError(
        404,
        'not_found',
        `There is no action "${name}" for integration "${providerConfigKey}".`,
      );
    }
    const enabled = await isFunctionEnabled(store, {
      environmentId: env.id,
      providerConfigKey,
      type: 'action',
      name: def.name,
    });
    if (!enabled) {
      throw new ApiError(
        404,
        'disabled_resource',
        `The action "${def.name}" is disabled for integration "${providerConfigKey}"; enable it with ` +
          `PATCH /integrations/${providerConfigKey}/functions/${def.name} {"enabled": true}.`,
      );
    }
    const input = parseActionInput(def, rawInput);

    if (headers['x-async'] === 'true') {
      if (!ctx.deps.actions) {
        throw new ApiError(503, 'actions_unavailable', 'Async actions are not running in this process.');
      }
      const id = randomUUID();
      await createActionRun(store, {
        id,
        environmentId: env.id,
        connectionPk: connection.id,
        providerConfigKey,
        connectionId,
        actionName: def.name,
        // What the caller sent: the run parses it again with the schema (a transform may not round-trip).
        input: rawInput,
        maxRetries: Number(headers['x-max-retries'] ?? '0'),
        now: nowOf(store),
      });
      ctx.deps.actions.wake();
      const statusUrl = actionStatusUrl(id);
      return { status: 202, headers: { Location: statusUrl }, body: { id, statusUrl } };
    }

    try {
      const output = await runAction(ctx.deps, connection, def, input, {
        priority: 'interactive',
        timeoutMs: SYNC_ACTION_TIMEOUT_MS,
      });
      return { body: output };
    } catch (err) {
      if (!(err instanceof ActionFailed)) throw err;
      const retryAfter = err.failure.extra.retry_after;
      if (typeof retryAfter === 'number' && !ctx.res.headersSent) {
        ctx.res.setHeader('Retry-After', String(retryAfter));
      }
      throw err.toApiError();
    }
  },
};
