import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  ensureEnvironment,
  getEnvironmentById,
  getEnvironmentByName,
  getEnvironmentBySecretKey,
  rotateWebhookSigningKey,
  SecretKeyInUseError,
  updateEnvironmentWebhooks,
} from './environments.ts';
import { openTestDb, type TestDb } from './testing.ts';

let t: TestDb;
beforeEach(async () => {
  t = await openTestDb();
});
afterEach(async () => {
  await t.cleanup();
});

describe('environments', () => {
  it('creates once, looks up by secret key, follows a changed key and webhook URL', async () => {
    const key1 = randomUUID();
    const env = await ensureEnvironment(t.ctx, { name: 'prod', secretKey: key1 });
    expect(env).toMatchObject({ name: 'prod', secretKey: key1, webhookUrl: null, onAuthCreation: true });
    expect(env.webhookSigningKey).toMatch(/^[0-9a-f-]{36}$/);
    expect((await getEnvironmentBySecretKey(t.ctx, key1))?.id).toBe(env.id);
    expect(await getEnvironmentBySecretKey(t.ctx, randomUUID())).toBeUndefined();

    const same = await ensureEnvironment(t.ctx, { name: 'prod', secretKey: key1 });
    expect(same.id).toBe(env.id);
    expect(same.webhookSigningKey).toBe(env.webhookSigningKey);

    const key2 = randomUUID();
    const changed = await ensureEnvironment(t.ctx, {
      name: 'prod',
      secretKey: key2,
      webhookUrl: 'https://a.example/h',
    });
    expect(changed).toMatchObject({ id: env.id, secretKey: key2, webhookUrl: 'https://a.example/h' });
    expect(await getEnvironmentBySecretKey(t.ctx, key1)).toBeUndefined();
    expect((await getEnvironmentBySecretKey(t.ctx, key2))?.name).toBe('prod');

    const raw = JSON.stringify((await sql`select * from environments`.execute(t.db)).rows);
    expect(raw).not.toContain(key2);
    expect(raw).not.toContain(env.webhookSigningKey);

    await expect(ensureEnvironment(t.ctx, { name: 'other', secretKey: key2 })).rejects.toBeInstanceOf(
      SecretKeyInUseError,
    );
  });

  it('updates webhook settings and rotates the signing key', async () => {
    const env = await ensureEnvironment(t.ctx, { name: 'prod', secretKey: randomUUID() });
    const up = await updateEnvironmentWebhooks(t.ctx, env.id, {
      webhookUrl: 'https://a.example/1',
      webhookUrlSecondary: 'https://b.example/2',
      onAuthCreation: false,
    });
    expect(up).toMatchObject({
      webhookUrl: 'https://a.example/1',
      webhookUrlSecondary: 'https://b.example/2',
      onAuthCreation: false,
      onAuthRefreshError: true,
    });
    const rotated = await rotateWebhookSigningKey(t.ctx, env.id);
    expect(rotated).not.toBe(env.webhookSigningKey);
    expect((await getEnvironmentById(t.ctx, env.id))?.webhookSigningKey).toBe(rotated);
    expect((await getEnvironmentByName(t.ctx, 'prod'))?.id).toBe(env.id);
    expect(await rotateWebhookSigningKey(t.ctx, 9999)).toBeUndefined();
  });
});
