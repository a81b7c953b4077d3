import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createConnection, getConnection, listConnections } from './connections.ts';
import {
  createIntegration,
  deleteIntegration,
  getIntegration,
  IntegrationExistsError,
  listIntegrations,
  updateIntegration,
} from './integrations.ts';
import { openTestDb, type TestDb } from './testing.ts';

let t: TestDb;
beforeEach(async () => {
  t = await openTestDb();
});
afterEach(async () => {
  await t.cleanup();
});

describe('integrations', () => {
  it('creates, reads, lists, updates and deletes', async () => {
    const created = await createIntegration(t.ctx, {
      environmentId: t.environmentId,
      uniqueKey: 'marketo',
      provider: 'marketo',
      displayName: 'Marketo',
    });
    expect(created).toMatchObject({
      uniqueKey: 'marketo',
      provider: 'marketo',
      displayName: 'Marketo',
      credentials: null,
      forwardWebhooks: true,
      createdAt: '2025-01-01T00:00:00.000Z',
    });
    t.clock.now = new Date('2025-01-01T00:00:01.000Z');
    await createIntegration(t.ctx, {
      environmentId: t.environmentId,
      uniqueKey: 'mkto-eu',
      provider: 'marketo',
    });
    expect((await listIntegrations(t.ctx, t.environmentId)).map((i) => i.uniqueKey)).toEqual([
      'marketo',
      'mkto-eu',
    ]);
    await expect(
      createIntegration(t.ctx, { environmentId: t.environmentId, uniqueKey: 'marketo', provider: 'marketo' }),
    ).rejects.toBeInstanceOf(IntegrationExistsError);

    const updated = await updateIntegration(t.ctx, t.environmentId, 'marketo', {
      displayName: null,
      forwardWebhooks: false,
      credentials: { client_secret: 'integration-level-secret' },
    });
    expect(updated).toMatchObject({
      displayName: null,
      forwardWebhooks: false,
      credentials: { client_secret: 'integration-level-secret' },
      updatedAt: '2025-01-01T00:00:01.000Z',
    });
    const raw = await sql`select * from integrations`.execute(t.db);
    expect(JSON.stringify(raw.rows)).not.toContain('integration-level-secret');
    expect((await getIntegration(t.ctx, t.environmentId, 'marketo'))?.credentials).toEqual({
      client_secret: 'integration-level-secret',
    });
    expect(await updateIntegration(t.ctx, t.environmentId, 'ghost', { displayName: 'x' })).toBeUndefined();

    expect(await deleteIntegration(t.ctx, t.environmentId, 'mkto-eu')).toBe(true);
    expect(await deleteIntegration(t.ctx, t.environmentId, 'mkto-eu')).toBe(false);
    expect(await getIntegration(t.ctx, t.environmentId, 'mkto-eu')).toBeUndefined();
  });

  it('renaming carries the connections along; renaming onto a used key is refused', async () => {
    const env = t.environmentId;
    await createIntegration(t.ctx, { environmentId: env, uniqueKey: 'marketo', provider: 'marketo' });
    await createIntegration(t.ctx, { environmentId: env, uniqueKey: 'taken', provider: 'marketo' });
    await createConnection(t.ctx, {
      environmentId: env,
      connectionId: 'c1',
      providerConfigKey: 'marketo',
      provider: 'marketo',
    });
    await expect(updateIntegration(t.ctx, env, 'marketo', { uniqueKey: 'taken' })).rejects.toBeInstanceOf(
      IntegrationExistsError,
    );
    expect(await getConnection(t.ctx, env, 'marketo', 'c1')).toBeDefined(); // rolled back
    await updateIntegration(t.ctx, env, 'marketo', { uniqueKey: 'marketo-us' });
    expect(await getConnection(t.ctx, env, 'marketo-us', 'c1')).toBeDefined();
    expect(await getIntegration(t.ctx, env, 'marketo')).toBeUndefined();
  });

  it('deleting an integration soft-deletes its connections', async () => {
    const env = t.environmentId;
    await createIntegration(t.ctx, { environmentId: env, uniqueKey: 'marketo', provider: 'marketo' });
    await createConnection(t.ctx, {
      environmentId: env,
      connectionId: 'c1',
      providerConfigKey: 'marketo',
      provider: 'marketo',
      credentials: { type: 'OAUTH2_CC', token: 't' },
    });
    await createConnection(t.ctx, {
      environmentId: env,
      connectionId: 'c2',
      providerConfigKey: 'other',
      provider: 'marketo',
    });
    await deleteIntegration(t.ctx, env, 'marketo');
    expect((await listConnections(t.ctx, env)).map((c) => c.connectionId)).toEqual(['c2']);
  });
});
