import { z } from 'zod';
import type { RouteDef } from '../../router.ts';
import { ApiError } from '../../errors.ts';
import { parseWith } from '../../validate.ts';
import { nowOf } from '../../../db/context.ts';
import { requestRun, type PendingMode } from '../../../db/syncs.ts';
import {
  connectionIdSchema,
  jsonOrEmpty,
  providerConfigKeySchema,
  requireEmptyQuery,
} from '../connections/schemas.ts';
import { storedModelsOf } from '../../../engine/sync/registry.ts';
import { defOf, enabledTargets, normalizeSelectors, resolveTargets, syncSelectorSchema } from './shared.ts';

const bodySchema = z
  .object({
    syncs: z.array(syncSelectorSchema).max(256),
    provider_config_key: providerConfigKeySchema.optional(),
    connection_id: connectionIdSchema.optional(),
    opts: z.object({ reset: z.boolean().optional(), emptyCache: z.boolean().optional() }).strict().optional(),
    sync_mode: z.enum(['incremental', 'full_refresh', 'full_refresh_and_clear_cache']).optional(),
    full_resync: z.boolean().optional(),
  })
  .strict();

const headersSchema = z.object({
  'provider-config-key': providerConfigKeySchema.optional(),
  'connection-id': connectionIdSchema.optional(),
});

function header(h: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const v = h[name];
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/**
 * `POST /sync/trigger` `{syncs, provider_config_key?, connection_id?, opts?: {reset?, emptyCache?}}` (or the
 * deprecated `sync_mode` / `full_resync`) → `{success: true}`: one extra run of each named sync (all when
 * `syncs` is empty, every variant included; `{name, variant}` names a variant) of the connection (all of the integration's when absent), as soon as possible, even if
 * its schedule is paused. `reset` (`full_refresh`, `full_resync`) runs from an empty checkpoint (an
 * INITIAL run: everything is read again, unchanged records stay as they are); `emptyCache`
 * (`full_refresh_and_clear_cache`) also deletes the records first (it implies `reset`: an emptied cache
 * refilled from the current checkpoint would miss every record not changed since). A reset of a sync that
 * is running applies when that run ends. `Provider-Config-Key` / `Connection-Id` headers are fallbacks.
 * A sync its integration disabled answers 404 `disabled_resource` when named, and is skipped otherwise.
 */
export const postTrigger: RouteDef = {
  method: 'POST',
  path: '/sync/trigger',
  auth: 'secret',
  handler: async (ctx) => {
    requireEmptyQuery(ctx);
    const body = parseWith(bodySchema, await jsonOrEmpty(ctx), 'invalid_body');
    const headers = parseWith(
      headersSchema,
      {
        'provider-config-key': header(ctx.req.headers, 'provider-config-key'),
        'connection-id': header(ctx.req.headers, 'connection-id'),
      },
      'invalid_headers',
    );
    const providerConfigKey = body.provider_config_key || headers['provider-config-key'];
    if (!providerConfigKey) {
      throw new ApiError(
        400,
        'missing_provider_config_key',
        'Missing provider_config_key. Provide it in the body or headers.',
      );
    }
    if (body.opts && (body.sync_mode !== undefined || body.full_resync !== undefined)) {
      throw new ApiError(
        400,
        'invalid_body',
        'Cannot use opts with deprecated sync_mode/full_resync parameters',
      );
    }
    let mode: PendingMode;
    if (body.opts) mode = body.opts.emptyCache ? 'reset_clear' : body.opts.reset ? 'reset' : 'run';
    else if (body.sync_mode !== undefined) {
      mode =
        body.sync_mode === 'incremental'
          ? 'run'
          : body.sync_mode === 'full_refresh'
            ? 'reset'
            : 'reset_clear';
    } else mode = body.full_resync ? 'reset' : 'run';

    const selectors = normalizeSelectors(body.syncs);
    const targets = await resolveTargets(ctx, {
      providerConfigKey,
      connectionId: body.connection_id || headers['connection-id'],
      selectors,
    });
    const store = ctx.deps.store.ctx;
    // A disabled sync named: 404 `disabled_resource`; all syncs (none named): the disabled ones are skipped.
    for (const s of enabledTargets(targets, selectors)) {
      // `emptyCache` empties this variant's records only (`Model::variant`).
      await requestRun(
        store,
        s.id,
        mode,
        nowOf(store),
        storedModelsOf(defOf(targets.defs, s.name), s.variant),
      );
    }
    ctx.deps.syncs?.wake();
    return { body: { success: true } };
  },
};
