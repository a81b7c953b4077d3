import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Nango } from '@nangohq/node';
import type { TestTether } from './testing.ts';
import {
  connectNew,
  marketoGet,
  startReceiver,
  startTetherWithReceiver,
  type Credentials,
  type Receiver,
} from './routes/connections/test-helpers.ts';

/**
 * Compatibility with the published `@nangohq/node` 0.71.10: every connection, session, integration,
 * metadata and provider call it offers, through the SDK itself (its headers, query keys and body
 * shapes), against a real Tether and a real Marketo sandbox.
 */

interface HttpError {
  response?: { status: number; data: { error?: { code?: string; message?: string } } };
}

async function failure(
  p: Promise<unknown>,
): Promise<{ status: number | undefined; code: string | undefined }> {
  try {
    await p;
  } catch (err) {
    const e = err as HttpError;
    return { status: e.response?.status, code: e.response?.data.error?.code };
  }
  throw new Error('expected the call to fail');
}

describe('@nangohq/node 0.71.10 against Tether', () => {
  let receiver: Receiver;
  let t: TestTether;
  let nango: Nango;
  let connectionId: string;

  beforeAll(async () => {
    receiver = await startReceiver();
    t = await startTetherWithReceiver(receiver);
    nango = new Nango({ host: `${t.url}/`, secretKey: t.secretKey });
  });
  afterAll(async () => {
    await t.close();
    await receiver.close();
  });

  it('createConnectSession → a token the Connect UI flow accepts', async () => {
    const res = await nango.createConnectSession({
      end_user: { id: 'sdk-user', email: 'sdk@example.com', display_name: 'SDK User' },
      organization: { id: 'sdk-org', display_name: 'SDK Org' },
      allowed_integrations: ['marketo'],
      tags: { source: 'sdk' },
    });
    expect(res.data.token).toMatch(/^nango_connect_session_[a-f0-9]{64}$/);
    expect(res.data.connect_link).toBe(`${t.url}/connect/?session_token=${res.data.token}`);
    expect(Date.parse(res.data.expires_at)).toBeGreaterThan(Date.now());
    const connected = await t.connect(res.data.token);
    expect(connected.status).toBe(200);
    connectionId = ((await connected.json()) as { connectionId: string }).connectionId;
  });

  it('listConnections: object form, legacy form', async () => {
    const all = await nango.listConnections();
    expect(all.connections.map((c) => c.connection_id)).toEqual([connectionId]);
    const item = all.connections[0]!;
    expect(item).toMatchObject({
      connection_id: connectionId,
      provider_config_key: 'marketo',
      provider: 'marketo',
      tags: { source: 'sdk' },
    });
    expect('credentials' in item).toBe(false);

    const byObject = await nango.listConnections({
      connectionId,
      userId: 'sdk-user',
      integrationId: ['marketo', 'other'],
      tags: { source: 'sdk', email: 'sdk@example.com', displayName: 'SDK User' },
      limit: 5,
    });
    expect(byObject.connections).toHaveLength(1);
    expect((await nango.listConnections({ userId: 'someone-else' })).connections).toEqual([]);
    expect((await nango.listConnections({ tags: { Source: 'other' } })).connections).toEqual([]);

    const legacy = await nango.listConnections(connectionId, undefined, {
      endUserId: 'sdk-user',
      endUserOrganizationId: 'sdk-org',
      limit: 10,
    });
    expect(legacy.connections).toHaveLength(1);
    expect((await nango.listConnections(undefined, connectionId.slice(0, 6))).connections).toHaveLength(1);
    expect((await nango.listConnections('nope')).connections).toEqual([]);
  });

  it('getConnection returns OAUTH2_CC credentials with a token that works on Marketo', async () => {
    const conn = await nango.getConnection('marketo', connectionId);
    expect(conn.connection_id).toBe(connectionId);
    expect(conn.end_user).toMatchObject({ id: 'sdk-user', organization: { id: 'sdk-org' } });
    const creds = conn.credentials as unknown as Credentials;
    expect(creds.type).toBe('OAUTH2_CC');
    expect(creds.client_id).toBe(t.sandbox.clientId);
    expect((await marketoGet(t, '/rest/v1/leads/describe2.json', creds.token)).success).toBe(true);

    const forced = await nango.getConnection('marketo', connectionId, true, false, false);
    expect((forced.credentials as unknown as Credentials).token).toBeTruthy();
  });

  it('getToken returns the whole credentials object for OAUTH2_CC; getRawTokenResponse the raw', async () => {
    const token = (await nango.getToken('marketo', connectionId)) as unknown as Credentials;
    expect(typeof token).toBe('object');
    expect(token).toMatchObject({ type: 'OAUTH2_CC', client_secret: t.sandbox.clientSecret });
    const forced = (await nango.getToken('marketo', connectionId, true)) as unknown as Credentials;
    expect((await marketoGet(t, '/rest/v1/leads/describe2.json', forced.token)).success).toBe(true);
    const raw = await nango.getRawTokenResponse('marketo', connectionId);
    expect(raw).toMatchObject({ access_token: forced.token, token_type: 'bearer' });
  });

  it('setMetadata / updateMetadata / getMetadata', async () => {
    expect(await nango.getMetadata('marketo', connectionId)).toBeNull();
    const set = await nango.setMetadata('marketo', connectionId, { region: 'eu', n: 1 });
    expect(set.status).toBe(201);
    expect(set.data).toEqual({
      metadata: { region: 'eu', n: 1 },
      connection_id: connectionId,
      provider_config_key: 'marketo',
    });
    const upd = await nango.updateMetadata('marketo', [connectionId], { n: 2 });
    expect(upd.status).toBe(200);
    expect(await nango.getMetadata('marketo', connectionId)).toEqual({ region: 'eu', n: 2 });
    expect(await failure(nango.setMetadata('marketo', 'nope', { a: 1 }))).toEqual({
      status: 404,
      code: 'unknown_connection',
    });
  });

  it('patchConnection', async () => {
    const res = await nango.patchConnection(
      { connectionId, provider_config_key: 'marketo' },
      { end_user: { id: 'sdk-user', display_name: 'Renamed' } },
    );
    expect(res).toEqual({ success: true });
    const conn = await nango.getConnection('marketo', connectionId);
    expect(conn.end_user).toMatchObject({ display_name: 'Renamed', organization: { id: 'sdk-org' } });
  });

  it('createReconnectSession → the same connection id, an "override" webhook the SDK verifies', async () => {
    const res = await nango.createReconnectSession({
      connection_id: connectionId,
      integration_id: 'marketo',
    });
    expect(res.data.token).toMatch(/^nango_connect_session_/);
    const again = await t.connect(res.data.token);
    expect(again.status).toBe(200);
    expect(((await again.json()) as { connectionId: string }).connectionId).toBe(connectionId);

    const hook = await receiver.waitFor((h) => h.json.operation === 'override');
    const signingKey = t.tether.deps.store.environment.webhookSigningKey;
    const verifier = new Nango({ host: t.url, secretKey: t.secretKey, webhookSigningKey: signingKey });
    expect(verifier.verifyIncomingWebhookRequest(hook.body, hook.headers as Record<string, string>)).toBe(
      true,
    );
    expect(
      verifier.verifyIncomingWebhookRequest(`${hook.body} `, hook.headers as Record<string, string>),
    ).toBe(false);
    // The legacy check (deprecated in the SDK, still what older backends call): silence its warning.
    const noDeprecation = process.noDeprecation;
    process.noDeprecation = true;
    try {
      expect(verifier.verifyWebhookSignature(String(hook.headers['x-nango-signature']), hook.json)).toBe(
        true,
      );
    } finally {
      process.noDeprecation = noDeprecation;
    }
    const creation = await receiver.waitFor((h) => h.json.operation === 'creation');
    expect(
      verifier.verifyIncomingWebhookRequest(creation.body, creation.headers as Record<string, string>),
    ).toBe(true);
  });

  it('errors reach the SDK with Nango codes', async () => {
    expect(await failure(nango.getConnection('marketo', 'nope'))).toEqual({ status: 404, code: 'not_found' });
    expect(await failure(nango.getConnection('nope', connectionId))).toEqual({
      status: 400,
      code: 'unknown_provider_config',
    });
    const bad = new Nango({ host: t.url, secretKey: crypto.randomUUID() });
    expect(await failure(bad.listConnections())).toEqual({ status: 401, code: 'unknown_account' });
    const malformed = new Nango({ host: t.url, secretKey: 'not-a-uuid' });
    expect(await failure(malformed.listIntegrations())).toEqual({
      status: 401,
      code: 'invalid_secret_key_format',
    });
  });

  it('listIntegrations ({configs}), getIntegration, create/update/deleteIntegration', async () => {
    const list = await nango.listIntegrations();
    expect(list.configs.map((c) => c.unique_key)).toEqual(['marketo']);

    const one = await nango.getIntegration({ uniqueKey: 'marketo' });
    expect(one.data).toMatchObject({ unique_key: 'marketo', provider: 'marketo', display_name: 'Marketo' });
    const withInclude = await nango.getIntegration(
      { uniqueKey: 'marketo' },
      { include: ['webhook', 'credentials'] },
    );
    // The SDK `set()`s array values: only the last one is sent.
    expect(withInclude.data).toMatchObject({ credentials: null });

    const created = await nango.createIntegration({
      provider: 'marketo',
      unique_key: 'marketo-sdk',
      display_name: 'Marketo (SDK)',
    });
    expect(created.data).toMatchObject({ unique_key: 'marketo-sdk', display_name: 'Marketo (SDK)' });
    expect(
      await failure(nango.createIntegration({ provider: 'marketo', unique_key: 'marketo-sdk' })),
    ).toEqual({ status: 400, code: 'invalid_body' });
    expect(await failure(nango.createIntegration({ provider: 'nope', unique_key: 'x' }))).toEqual({
      status: 400,
      code: 'invalid_body',
    });

    const updated = await nango.updateIntegration(
      { uniqueKey: 'marketo-sdk' },
      { display_name: 'Renamed', forward_webhooks: false },
    );
    expect(updated.data).toMatchObject({ display_name: 'Renamed', forward_webhooks: false });
    expect((await nango.listIntegrations()).configs).toHaveLength(2);

    const deleted = await nango.deleteIntegration('marketo-sdk');
    expect(deleted.status).toBe(200);
    expect(deleted.data).toEqual({ success: true });
    expect(await failure(nango.getIntegration({ uniqueKey: 'marketo-sdk' }))).toEqual({
      status: 404,
      code: 'not_found',
    });
  });

  it('listProviders / getProvider', async () => {
    const providers = await nango.listProviders({});
    expect(providers.data.map((p) => p.name)).toContain('marketo');
    const searched = await nango.listProviders({ search: 'mark' });
    expect(searched.data.map((p) => p.name)).toEqual(['marketo']);
    const provider = await nango.getProvider({ provider: 'marketo' });
    expect(provider.data).toMatchObject({ name: 'marketo', auth_mode: 'OAUTH2_CC' });
    const logo = await fetch((provider.data as { logo_url: string }).logo_url);
    expect(logo.status).toBe(200);
    expect(await failure(nango.getProvider({ provider: 'nope' }))).toEqual({
      status: 404,
      code: 'not_found',
    });
  });

  it('deleteConnection', async () => {
    const other = await connectNew(t);
    const res = await nango.deleteConnection('marketo', other);
    expect(res.status).toBe(200);
    expect(res.data).toEqual({ success: true });
    expect(await failure(nango.deleteConnection('marketo', other))).toEqual({
      status: 400,
      code: 'unknown_connection',
    });
    expect((await nango.listConnections()).connections.map((c) => c.connection_id)).toEqual([connectionId]);
  });
});
