/**
 * Sync webhooks (Nango spec 2.6, `type: "sync"`) to the environment's webhook URLs, signed like auth
 * webhooks (src/engine/webhooks.ts): one per model of the sync.
 *  - Success: `{…, success: true, modifiedAfter, responseResults: {added, updated, deleted},
 *    queryTimeStamp}`, only for models with changes (Nango's default, `always_send_webhook` off).
 *    `modifiedAfter` is the run's start: `GET /records?modified_after=<it>` returns what the run changed.
 *  - Failure: `{…, success: false, error: {type, description}, startedAt, failedAt}`, for every model.
 * A run paused by a spent quota or budget is not a failure: no webhook.
 * A variant's webhooks carry `syncVariant` (`base` for the base sync) and the plain model name, as Nango's:
 * `GET /records?model=<model>&variant=<syncVariant>` reads what the run changed.
 */
import type { EngineDeps } from '../deps.ts';
import type { Connection } from '../../db/connections.ts';
import { getEnvironmentById } from '../../db/environments.ts';
import type { SyncRun, SyncRunError } from '../../db/syncs.ts';

export interface SyncWebhookInput {
  connection: Connection;
  syncName: string;
  variant: string;
  models: readonly string[];
  run: SyncRun;
  /** Set for a failed run. */
  error?: SyncRunError;
  failedAt?: Date;
}

export async function sendSyncWebhooks(
  deps: Pick<EngineDeps, 'store' | 'webhooks'>,
  input: SyncWebhookInput,
): Promise<number> {
  const env = await getEnvironmentById(deps.store.ctx, input.connection.environmentId);
  if (!env) return 0;
  const urls = [env.webhookUrl, env.webhookUrlSecondary].filter((u): u is string => Boolean(u));
  if (urls.length === 0) return 0;
  const { connection, run } = input;
  const models = [...new Set([...input.models, ...Object.keys(run.results)])];
  let sent = 0;
  for (const model of models) {
    const base = {
      from: 'nango',
      type: 'sync',
      connectionId: connection.connectionId,
      providerConfigKey: connection.providerConfigKey,
      syncName: input.syncName,
      syncVariant: input.variant,
      model,
      syncType: run.type,
    };
    let payload: Record<string, unknown>;
    if (input.error) {
      payload = {
        ...base,
        success: false,
        error: { type: input.error.type, description: input.error.message },
        startedAt: run.startedAt,
        failedAt: (input.failedAt ?? new Date()).toISOString(),
      };
    } else {
      const r = run.results[model] ?? { added: 0, updated: 0, deleted: 0 };
      if (r.added + r.updated + r.deleted === 0) continue;
      payload = {
        ...base,
        success: true,
        modifiedAfter: run.startedAt,
        responseResults: { added: r.added, updated: r.updated, deleted: r.deleted },
        queryTimeStamp: run.startedAt,
      };
    }
    for (const url of urls)
      deps.webhooks.send({ url, signingKey: env.webhookSigningKey, payload, environmentId: env.id });
    sent++;
  }
  return sent;
}
