import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  ConnectionExistsError,
  createConnection,
  deleteConnection,
  getConnection,
  getConnectionById,
  listConnections,
  listConnectionsToRefresh,
  markRefreshFailure,
  markRefreshSuccess,
  patchConnection,
  setCredentials,
  setMetadata,
  touchConnection,
  updateMetadata,
  upsertConnection,
  type NewConnection,
} from './connections.ts';
import { ensureEnvironment } from './environments.ts';
import { openTestDb, type TestDb } from './testing.ts';

let t: TestDb;
beforeEach(async () => {
  t = await openTestDb();
});
afterEach(async () => {
  await t.cleanup();
});

const CLIENT_SECRET = 'marketo-client-secret-7f3a9c';
const creds = (token = 'access-1', expires = '2025-01-01T01:00:00.000Z') => ({
  type: 'OAUTH2_CC',
  token,
  expires_at: expires,
  client_id: 'client-id-1',
  client_secret: CLIENT_SECRET,
  raw: { access_token: token, token_type: 'bearer', expires_in: 3599 },
});
const newConn = (over: Partial<NewConnection> = {}): NewConnection => ({
  environmentId: t.environmentId,
  connectionId: 'conn-1',
  providerConfigKey: 'marketo',
  provider: 'marketo',
  connectionConfig: { endpointURL: '123-abc-456.mktorest.com', identityURL: '123-abc-456.mktorest.com' },
  credentials: creds(),
  ...over,
});

describe('connections', () => {
  it('creates and reads back a connection with decrypted credentials', async () => {
    const created = await createConnection(t.ctx, newConn({ tags: { Team: 'a' }, endUser: { id: 'u1' } }));
    expect(created).toMatchObject({
      id: expect.any(Number),
      connectionId: 'conn-1',
      providerConfigKey: 'marketo',
      provider: 'marketo',
      connectionConfig: { endpointURL: '123-abc-456.mktorest.com' },
      tags: { Team: 'a' },
      endUser: { id: 'u1' },
      metadata: null,
      errors: [],
      hasCredentials: true,
      credentialsExpiresAt: '2025-01-01T01:00:00.000Z',
      refreshExhausted: false,
      createdAt: '2025-01-01T00:00:00.000Z',
      lastFetchedAt: '2025-01-01T00:00:00.000Z',
      deletedAt: null,
    });
    const got = await getConnection(t.ctx, t.environmentId, 'marketo', 'conn-1');
    expect(got?.credentials).toEqual(creds());
    expect((await getConnectionById(t.ctx, created.id))?.connectionId).toBe('conn-1');
    expect(await getConnection(t.ctx, t.environmentId, 'marketo', 'other')).toBeUndefined();
    expect(await getConnection(t.ctx, t.environmentId, 'other-key', 'conn-1')).toBeUndefined();
  });

  it('stores secrets encrypted: the raw row does not contain the client secret or token', async () => {
    const c = await createConnection(t.ctx, newConn());
    const row = await sql<Record<string, unknown>>`select * from connections where id = ${c.id}`.execute(
      t.db,
    );
    const raw = JSON.stringify(row.rows);
    expect(raw).not.toContain(CLIENT_SECRET);
    expect(raw).not.toContain('access-1');
    expect(String(row.rows[0]?.credentials_encrypted)).toMatch(/^v1:/);
  });

  it('enforces one live connection per (integration, connection id), scoped by environment', async () => {
    await createConnection(t.ctx, newConn());
    await expect(createConnection(t.ctx, newConn())).rejects.toBeInstanceOf(ConnectionExistsError);
    await createConnection(t.ctx, newConn({ providerConfigKey: 'marketo-2' }));
    const other = await ensureEnvironment(t.ctx, { name: 'prod', secretKey: crypto.randomUUID() });
    await createConnection(t.ctx, newConn({ environmentId: other.id }));
    expect(await listConnections(t.ctx, t.environmentId)).toHaveLength(2);
    expect(await listConnections(t.ctx, other.id)).toHaveLength(1);
  });

  it('soft-deletes, erasing credentials, and frees the id for a new connection', async () => {
    const c = await createConnection(t.ctx, newConn({ tags: { k: 'v' } }));
    expect(await deleteConnection(t.ctx, t.environmentId, 'marketo', 'conn-1')).toBe(true);
    expect(await deleteConnection(t.ctx, t.environmentId, 'marketo', 'conn-1')).toBe(false);
    expect(await getConnection(t.ctx, t.environmentId, 'marketo', 'conn-1')).toBeUndefined();
    const deleted = await getConnectionById(t.ctx, c.id, { includeDeleted: true });
    expect(deleted).toMatchObject({
      deletedAt: '2025-01-01T00:00:00.000Z',
      credentials: null,
      hasCredentials: false,
    });
    expect(await listConnections(t.ctx, t.environmentId, { tags: { k: 'v' } })).toEqual([]);
    const again = await createConnection(t.ctx, newConn());
    expect(again.id).not.toBe(c.id);
  });

  it('upserts: creation, then override keeping id, created_at and metadata', async () => {
    const first = await upsertConnection(t.ctx, newConn({ endUser: { id: 'u1' }, tags: { a: '1' } }));
    expect(first.operation).toBe('creation');
    await updateMetadata(t.ctx, t.environmentId, 'marketo', ['conn-1'], { m: 1 });
    await markRefreshFailure(t.ctx, first.connection.id, { type: 'auth', log_id: 'l1' });
    t.clock.now = new Date('2025-01-02T00:00:00.000Z');
    const second = await upsertConnection(t.ctx, newConn({ credentials: creds('access-2') }));
    expect(second.operation).toBe('override');
    expect(second.connection).toMatchObject({
      id: first.connection.id,
      createdAt: '2025-01-01T00:00:00.000Z',
      updatedAt: '2025-01-02T00:00:00.000Z',
      metadata: { m: 1 },
      endUser: { id: 'u1' },
      tags: { a: '1' },
      errors: [],
      refreshAttempts: null,
      lastRefreshFailure: null,
    });
    expect(second.connection.credentials?.token).toBe('access-2');
  });

  it('lists with filters and paging', async () => {
    const mk = async (connectionId: string, over: Partial<NewConnection>, at: string) => {
      t.clock.now = new Date(at);
      return createConnection(t.ctx, newConn({ connectionId, ...over }));
    };
    await mk(
      'a-1',
      { endUser: { id: 'u1', organization: { id: 'o1' } }, tags: { Plan: 'pro' } },
      '2025-01-01T00:00:01.000Z',
    );
    await mk(
      'a-2',
      { endUser: { id: 'u2' }, tags: { plan: 'free', region: 'eu' } },
      '2025-01-01T00:00:02.000Z',
    );
    await mk('b_3', { providerConfigKey: 'marketo-b', endUser: { id: 'u1' } }, '2025-01-01T00:00:03.000Z');
    await mk('b%4', { providerConfigKey: 'marketo-b', tags: { plan: 'pro' } }, '2025-01-01T00:00:04.000Z');

    const ids = async (f: Parameters<typeof listConnections>[2]) =>
      (await listConnections(t.ctx, t.environmentId, f)).map((c) => c.connectionId);

    expect(await ids({})).toEqual(['b%4', 'b_3', 'a-2', 'a-1']); // newest first
    expect(await ids({ connectionId: 'a-2' })).toEqual(['a-2']);
    expect(await ids({ endUserId: 'u1' })).toEqual(['b_3', 'a-1']);
    expect(await ids({ endUserOrganizationId: 'o1' })).toEqual(['a-1']);
    expect(await ids({ integrationIds: ['marketo-b'] })).toEqual(['b%4', 'b_3']);
    expect(await ids({ integrationIds: ['marketo', 'marketo-b'] })).toHaveLength(4);
    expect(await ids({ integrationIds: [] })).toEqual([]);
    expect(await ids({ tags: { plan: 'pro' } })).toEqual(['b%4', 'a-1']); // keys compared lower-cased
    expect(await ids({ tags: { PLAN: 'free', region: 'eu' } })).toEqual(['a-2']);
    expect(await ids({ tags: { plan: 'free', region: 'us' } })).toEqual([]);
    expect(await ids({ search: 'A-' })).toEqual(['a-2', 'a-1']);
    expect(await ids({ search: '_' })).toEqual(['b_3']); // LIKE wildcards are literal
    expect(await ids({ search: '%' })).toEqual(['b%4']);
    expect(await ids({ integrationIds: ['marketo'], endUserId: 'u1' })).toEqual(['a-1']);
    expect(await ids({ limit: 3, page: 0 })).toEqual(['b%4', 'b_3', 'a-2']);
    expect(await ids({ limit: 3, page: 1 })).toEqual(['a-1']);
    expect(await ids({ limit: 2, page: 1 })).toEqual(['a-2', 'a-1']);
    expect(await ids({ limit: 2, page: 2 })).toEqual([]);
    expect((await listConnections(t.ctx, t.environmentId))[0]).not.toHaveProperty('credentials');
  });

  it('patches end user, tags and webhook override', async () => {
    await createConnection(t.ctx, newConn({ tags: { old: 'x' } }));
    t.clock.now = new Date('2025-01-03T00:00:00.000Z');
    expect(
      await patchConnection(t.ctx, t.environmentId, 'marketo', 'conn-1', {
        endUser: { id: 'u9', email: 'a@b.c', organization: { id: 'org9' } },
        tags: { new: 'y' },
        webhookUrlOverride: 'https://hooks.example.com/x',
      }),
    ).toBe(true);
    const c = await getConnection(t.ctx, t.environmentId, 'marketo', 'conn-1');
    expect(c).toMatchObject({
      endUser: { id: 'u9', email: 'a@b.c', organization: { id: 'org9' } },
      tags: { new: 'y' },
      webhookUrlOverride: 'https://hooks.example.com/x',
      updatedAt: '2025-01-03T00:00:00.000Z',
    });
    expect(await listConnections(t.ctx, t.environmentId, { tags: { old: 'x' } })).toEqual([]);
    expect(await listConnections(t.ctx, t.environmentId, { tags: { new: 'y' } })).toHaveLength(1);
    expect(await listConnections(t.ctx, t.environmentId, { endUserOrganizationId: 'org9' })).toHaveLength(1);
    expect(await patchConnection(t.ctx, t.environmentId, 'marketo', 'nope', { tags: {} })).toBe(false);
  });

  it('sets metadata (replace) vs updates it (shallow merge), all-or-nothing', async () => {
    await createConnection(t.ctx, newConn({ connectionId: 'c1' }));
    await createConnection(t.ctx, newConn({ connectionId: 'c2' }));
    const meta = async (id: string) => (await getConnection(t.ctx, t.environmentId, 'marketo', id))?.metadata;

    expect(
      await setMetadata(t.ctx, t.environmentId, 'marketo', ['c1', 'c2'], { a: 1, nested: { x: 1 } }),
    ).toEqual({
      missing: [],
    });
    expect(
      await updateMetadata(t.ctx, t.environmentId, 'marketo', ['c1'], { b: 2, nested: { y: 2 } }),
    ).toEqual({
      missing: [],
    });
    expect(await meta('c1')).toEqual({ a: 1, b: 2, nested: { y: 2 } });
    expect(await meta('c2')).toEqual({ a: 1, nested: { x: 1 } });

    await setMetadata(t.ctx, t.environmentId, 'marketo', ['c1'], { only: true });
    expect(await meta('c1')).toEqual({ only: true });

    expect(await setMetadata(t.ctx, t.environmentId, 'marketo', ['c2', 'ghost'], { z: 0 })).toEqual({
      missing: ['ghost'],
    });
    expect(await meta('c2')).toEqual({ a: 1, nested: { x: 1 } }); // untouched
    expect(await updateMetadata(t.ctx, t.environmentId, 'other', ['c1'], { z: 0 })).toEqual({
      missing: ['c1'],
    });
  });

  it('sets credentials encrypted, mirroring expires_at', async () => {
    const c = await createConnection(t.ctx, newConn({ credentials: null }));
    expect(c).toMatchObject({ hasCredentials: false, credentials: null, lastFetchedAt: null });
    await setCredentials(t.ctx, c.id, creds('tok-9', '2025-01-01T02:00:00Z'));
    const got = await getConnectionById(t.ctx, c.id);
    expect(got?.credentials?.token).toBe('tok-9');
    expect(got?.credentialsExpiresAt).toBe('2025-01-01T02:00:00.000Z');
    await setCredentials(t.ctx, c.id, null);
    expect((await getConnectionById(t.ctx, c.id))?.hasCredentials).toBe(false);
  });

  it('counts refresh failures at most once a day, exhausts at 4, and resets on success', async () => {
    const c = await createConnection(t.ctx, newConn());
    const fail = () =>
      markRefreshFailure(t.ctx, c.id, { type: 'auth', log_id: `log-${t.clock.now.getTime()}` });

    t.clock.now = new Date('2025-01-01T10:00:00.000Z');
    expect(await fail()).toEqual({ refreshAttempts: 1, refreshExhausted: false });
    t.clock.now = new Date('2025-01-01T23:59:00.000Z');
    expect(await fail()).toEqual({ refreshAttempts: 1, refreshExhausted: false }); // same day
    for (const [day, n] of [
      ['02', 2],
      ['03', 3],
    ] as const) {
      t.clock.now = new Date(`2025-01-${day}T00:01:00.000Z`);
      expect(await fail()).toEqual({ refreshAttempts: n, refreshExhausted: false });
    }
    t.clock.now = new Date('2025-01-04T00:01:00.000Z');
    expect(await fail()).toEqual({ refreshAttempts: 4, refreshExhausted: true });

    let got = await getConnectionById(t.ctx, c.id);
    expect(got).toMatchObject({
      refreshAttempts: 4,
      refreshExhausted: true,
      lastRefreshFailure: '2025-01-04T00:01:00.000Z',
    });
    expect(got?.errors).toEqual([{ type: 'auth', log_id: `log-${Date.parse('2025-01-04T00:01:00.000Z')}` }]);
    expect(
      await listConnectionsToRefresh(t.ctx, { notFetchedSince: new Date('2030-01-01'), limit: 10 }),
    ).toEqual([]);

    t.clock.now = new Date('2025-01-05T00:00:00.000Z');
    await markRefreshSuccess(t.ctx, c.id, creds('fresh', '2025-01-05T01:00:00.000Z'));
    got = await getConnectionById(t.ctx, c.id);
    expect(got).toMatchObject({
      refreshAttempts: null,
      refreshExhausted: false,
      errors: [],
      lastRefreshSuccess: '2025-01-05T00:00:00.000Z',
      lastFetchedAt: '2025-01-05T00:00:00.000Z',
      credentialsExpiresAt: '2025-01-05T01:00:00.000Z',
    });
    expect(got?.credentials?.token).toBe('fresh');
    expect(await markRefreshFailure(t.ctx, 99999)).toBeUndefined();
  });

  it('lists connections not fetched recently, oldest first', async () => {
    const a = await createConnection(t.ctx, newConn({ connectionId: 'a' })); // fetched 01-01
    const b = await createConnection(t.ctx, newConn({ connectionId: 'b', credentials: null })); // never
    const c = await createConnection(t.ctx, newConn({ connectionId: 'c' }));
    t.clock.now = new Date('2025-01-03T00:00:00.000Z');
    await touchConnection(t.ctx, c.id);
    const due = await listConnectionsToRefresh(t.ctx, {
      notFetchedSince: new Date('2025-01-02T00:00:00.000Z'),
      limit: 10,
    });
    expect(due.map((x) => x.id).sort()).toEqual([a.id, b.id].sort());
    expect(
      await listConnectionsToRefresh(t.ctx, { notFetchedSince: new Date('2025-01-02'), limit: 1 }),
    ).toHaveLength(1);
  });
});
