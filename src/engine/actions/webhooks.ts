/**
 * The `async_action` webhook (Nango's): sent when an async action run ends (success or final failure) to
 * the environment's webhook URLs, signed and kept in the outbox like every other webhook
 * (src/engine/webhooks.ts). The body says where the result is, never the result itself:
 * `{type: "async_action", from: "nango", connectionId, providerConfigKey, payload: {id, statusUrl}}`.
 */
import type { EngineDeps } from '../deps.ts';
import { getEnvironmentById } from '../../db/environments.ts';

export function actionStatusUrl(id: string): string {
  return `/action/${id}`;
}

/** Queues the webhook for each URL of the environment; returns how many (0 without a URL). */
export async function sendActionWebhook(
  deps: Pick<EngineDeps, 'store' | 'webhooks'>,
  run: { id: string; environmentId: number; connectionId: string; providerConfigKey: string },
): Promise<number> {
  const env = await getEnvironmentById(deps.store.ctx, run.environmentId);
  if (!env) return 0;
  const urls = [env.webhookUrl, env.webhookUrlSecondary].filter((u): u is string => Boolean(u));
  const payload = {
    type: 'async_action',
    from: 'nango',
    connectionId: run.connectionId,
    providerConfigKey: run.providerConfigKey,
    payload: { id: run.id, statusUrl: actionStatusUrl(run.id) },
  };
  for (const url of urls) {
    deps.webhooks.send({ url, signingKey: env.webhookSigningKey, payload, environmentId: env.id });
  }
  return urls.length;
}
