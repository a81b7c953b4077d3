import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  CONNECT_SESSION_TTL_MS,
  createConnectSession,
  deleteConnectSession,
  deleteExpiredConnectSessions,
  getConnectSessionByToken,
  isConnectSessionTokenFormat,
} from './sessions.ts';
import { openTestDb, type TestDb } from './testing.ts';

let t: TestDb;
beforeEach(async () => {
  t = await openTestDb();
});
afterEach(async () => {
  await t.cleanup();
});

describe('connect sessions', () => {
  it('creates a session whose token is stored only as a hash', async () => {
    const { token, session } = await createConnectSession(t.ctx, {
      environmentId: t.environmentId,
      endUser: { id: 'u1', email: 'u1@example.com' },
      organization: { id: 'o1' },
      allowedIntegrations: ['marketo'],
      integrationsConfigDefaults: { marketo: { connection_config: { endpointURL: 'x.mktorest.com' } } },
      tags: { plan: 'pro' },
    });
    expect(token).toMatch(/^nango_connect_session_[0-9a-f]{64}$/);
    expect(isConnectSessionTokenFormat(token)).toBe(true);
    expect(session).toMatchObject({
      environmentId: t.environmentId,
      endUser: { id: 'u1', email: 'u1@example.com' },
      organization: { id: 'o1' },
      allowedIntegrations: ['marketo'],
      tags: { plan: 'pro' },
      connectionId: null,
      overrides: null,
      createdAt: '2025-01-01T00:00:00.000Z',
      expiresAt: new Date(Date.parse('2025-01-01T00:00:00.000Z') + CONNECT_SESSION_TTL_MS).toISOString(),
    });
    const raw = await sql`select * from connect_sessions`.execute(t.db);
    expect(JSON.stringify(raw.rows)).not.toContain(token.slice('nango_connect_session_'.length));
    expect(await getConnectSessionByToken(t.ctx, token)).toEqual(session);
  });

  it('rejects unknown, malformed and expired tokens', async () => {
    const { token } = await createConnectSession(t.ctx, { environmentId: t.environmentId, ttlMs: 60_000 });
    expect(await getConnectSessionByToken(t.ctx, 'nango_connect_session_' + '0'.repeat(64))).toBeUndefined();
    expect(await getConnectSessionByToken(t.ctx, 'garbage')).toBeUndefined();
    t.clock.now = new Date('2025-01-01T00:00:59.999Z');
    expect(await getConnectSessionByToken(t.ctx, token)).toBeDefined();
    t.clock.now = new Date('2025-01-01T00:01:00.000Z');
    expect(await getConnectSessionByToken(t.ctx, token)).toBeUndefined();
  });

  it('keeps reconnect fields, deletes one session and purges expired ones', async () => {
    const a = await createConnectSession(t.ctx, {
      environmentId: t.environmentId,
      connectionId: 'conn-1',
      integrationKey: 'marketo',
      webhookUrlOverride: 'https://hooks.example.com',
      ttlMs: 1000,
    });
    expect(a.session).toMatchObject({ connectionId: 'conn-1', integrationKey: 'marketo' });
    const b = await createConnectSession(t.ctx, { environmentId: t.environmentId });
    expect(await deleteConnectSession(t.ctx, b.session.id)).toBe(true);
    expect(await getConnectSessionByToken(t.ctx, b.token)).toBeUndefined();
    const c = await createConnectSession(t.ctx, { environmentId: t.environmentId });
    t.clock.now = new Date('2025-01-01T00:00:01.000Z');
    expect(await deleteExpiredConnectSessions(t.ctx)).toBe(1);
    expect(await getConnectSessionByToken(t.ctx, c.token)).toBeDefined();
  });
});
