import { notFound } from '../../../api-error.ts';
import { rotateWebhookSigningKey } from '../../../db/environments.ts';
import { resignPendingWebhooks } from '../../../db/webhook-outbox.ts';
import { signatures } from '../../../engine/webhooks.ts';
import { forgetEnvironments } from '../../auth.ts';
import type { RouteDef } from '../../router.ts';

/**
 * `POST /environment/webhook-signing-key/rotate` → `{data: {webhook_signing_key}}` (Nango's public
 * route): the environment of the secret key gets a new signing key for its webhooks. Deliveries still
 * waiting in the outbox are signed again with it, since receivers now verify with the new key.
 */
export const postRotateWebhookSigningKey: RouteDef = {
  method: 'POST',
  path: '/environment/webhook-signing-key/rotate',
  auth: 'secret',
  handler: async (ctx) => {
    const store = ctx.deps.store.ctx;
    const environmentId = ctx.auth.environment.id;
    const key = await rotateWebhookSigningKey(store, environmentId);
    if (key === undefined) throw notFound('The environment does not exist');
    // Webhooks sent from now on are signed with the new key (not a cached environment's old one).
    forgetEnvironments(ctx.deps);
    await resignPendingWebhooks(store, environmentId, (body) => signatures(key, body));
    return { body: { data: { webhook_signing_key: key } } };
  },
};
