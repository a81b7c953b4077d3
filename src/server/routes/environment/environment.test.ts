/**
 * Nango's environment routes: rotating the webhook signing key (webhooks sent afterwards, and deliveries
 * still waiting in the outbox, are signed with the new key) and the environment variables. A real Tether
 * and sandbox, a real webhook receiver, @nangohq/node where it has the method.
 */
import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Nango } from '@nangohq/node';
import { enqueueWebhook, listWebhookOutbox } from '../../../db/webhook-outbox.ts';
import { signatures } from '../../../engine/webhooks.ts';
import type { TestTether } from '../../testing.ts';
import {
  connectNew,
  startReceiver,
  startTetherWithReceiver,
  type ReceivedHook,
  type Receiver,
} from '../connections/test-helpers.ts';

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

const hmac = (key: string, hook: ReceivedHook) => createHmac('sha256', key).update(hook.body).digest('hex');

describe('environment routes', () => {
  let receiver: Receiver;
  let t: TestTether;
  beforeAll(async () => {
    receiver = await startReceiver();
    t = await startTetherWithReceiver(receiver);
  });
  afterAll(async () => {
    await t?.close();
    await receiver?.close();
  });

  async function rotate(): Promise<string> {
    const res = await t.api('/environment/webhook-signing-key/rotate', { method: 'POST' });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { data: { webhook_signing_key: string } };
    expect(Object.keys(body)).toEqual(['data']);
    expect(body.data.webhook_signing_key).toMatch(UUID_V4);
    return body.data.webhook_signing_key;
  }

  it('rotates the webhook signing key: the next webhooks are signed with the new key only', async () => {
    const old = t.tether.deps.store.environment.webhookSigningKey;
    const first = await connectNew(t, { end_user: { id: 'before' }, allowed_integrations: ['marketo'] });
    const before = await receiver.waitFor((h) => h.json.connectionId === first);
    expect(before.headers['x-nango-hmac-sha256']).toBe(hmac(old, before));

    const key = await rotate();
    expect(key).not.toBe(old);
    const again = await rotate();
    expect(again).not.toBe(key);

    const second = await connectNew(t, { end_user: { id: 'after' }, allowed_integrations: ['marketo'] });
    const after = await receiver.waitFor((h) => h.json.connectionId === second);
    expect(after.headers['x-nango-hmac-sha256']).toBe(hmac(again, after));
    expect(after.headers['x-nango-hmac-sha256']).not.toBe(hmac(old, after));
  });

  it('signs the deliveries waiting in the outbox again with the new key (only that environment’s)', async () => {
    const ctx = t.tether.deps.store.ctx;
    const envId = t.tether.deps.store.environment.id;
    const body = '{"from":"nango","type":"sync"}';
    const later = new Date(Date.now() + 3_600_000);
    const oldKey = 'key-before-rotation';
    const mine = await enqueueWebhook(ctx, {
      environmentId: envId,
      url: 'http://127.0.0.1:9/unreachable',
      body,
      headers: signatures(oldKey, body),
      now: new Date(),
      claimedUntil: later,
    });
    const other = await enqueueWebhook(ctx, {
      environmentId: envId + 1000,
      url: 'http://127.0.0.1:9/unreachable',
      body,
      headers: signatures(oldKey, body),
      now: new Date(),
      claimedUntil: later,
    });
    const key = await rotate();
    const rows = await listWebhookOutbox(ctx);
    const headersOf = (id: number) => JSON.parse(rows.find((r) => r.id === id)!.headers) as object;
    expect(headersOf(mine)).toEqual(signatures(key, body));
    expect(headersOf(other)).toEqual(signatures(oldKey, body));
  });

  it('needs the secret key', async () => {
    const res = await t.api('/environment/webhook-signing-key/rotate', {
      method: 'POST',
      headers: { authorization: 'Bearer 00000000-0000-4000-8000-000000000000' },
    });
    expect(res.status).toBe(401);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('unknown_account');
    const anon = await fetch(`${t.url}/environment-variables`);
    expect(anon.status).toBe(401);
  });

  it('environment variables: none (Tether runs no customer scripts), as @nangohq/node reads them', async () => {
    const res = await t.api('/environment-variables');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual([]);
    const nango = new Nango({ secretKey: t.tether.secretKey, host: t.url });
    expect(await nango.getEnvironmentVariables()).toEqual([]);
  });
});
