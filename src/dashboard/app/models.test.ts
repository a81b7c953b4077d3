import { describe, expect, it } from 'vitest';
import {
  credentialHealth,
  isSecretKey,
  statusTone,
  syncLabel,
  syncSelector,
  toConnectionDetail,
  toConnections,
  toFailure,
  toRuns,
  toSyncs,
} from './models.ts';

describe('dashboard models', () => {
  it('reads error bodies of any shape', () => {
    expect(toFailure(401, { error: { code: 'unknown_account', message: 'No environment.' } })).toEqual({
      status: 401,
      code: 'unknown_account',
      message: 'No environment.',
    });
    expect(toFailure(404, undefined)).toEqual({
      status: 404,
      code: 'not_found',
      message: 'Tether answered HTTP 404.',
    });
    expect(toFailure(500, { error: 'boom' })).toMatchObject({ code: 'unknown_error', message: 'boom' });
  });

  it('keeps no credential of a connection, only its credential status', () => {
    const d = toConnectionDetail({
      connection_id: 'c1',
      provider_config_key: 'marketo',
      provider: 'marketo',
      connection_config: {
        endpointURL: 'https://123-ABC-456.mktorest.com',
        identityURL: 'https://123-ABC-456.mktorest.com/identity',
        client_secret: 'S3CRET',
        refreshToken: 'R',
        nested: { a: 1 },
      },
      // The overview never sends credentials; if an answer did, they are still not kept.
      credentials: { type: 'OAUTH2_CC', token: 'ACCESS', client_secret: 'S3CRET' },
      credentials_status: {
        type: 'OAUTH2_CC',
        expires_at: '2030-01-01T00:00:00.000Z',
        expired: false,
        last_refresh_success_at: '2029-12-31T23:00:00.000Z',
        last_refresh_error: null,
        refresh_attempts: 0,
        refresh_exhausted: false,
        token: 'ACCESS',
      },
      errors: [{ type: 'auth', log_id: 'x' }],
      created_at: '2025-01-01T00:00:00+00:00',
    });
    expect(d.config).toEqual([
      ['endpointURL', 'https://123-ABC-456.mktorest.com'],
      ['identityURL', 'https://123-ABC-456.mktorest.com/identity'],
    ]);
    expect(d.credentials).toEqual({
      type: 'OAUTH2_CC',
      expiresAt: '2030-01-01T00:00:00.000Z',
      expired: false,
      lastRenewedAt: '2029-12-31T23:00:00.000Z',
      lastRefreshError: null,
      refreshAttempts: 0,
      refreshExhausted: false,
    });
    expect(d.errors).toEqual(['auth']);
    expect(JSON.stringify(d)).not.toMatch(/S3CRET|ACCESS|"R"/);
    expect(isSecretKey('client_secret')).toBe(true);
    expect(isSecretKey('access_token')).toBe(true);
    expect(isSecretKey('endpointURL')).toBe(false);
  });

  it('says whether credentials are healthy, from the status alone', () => {
    const status = {
      type: 'OAUTH2_CC',
      expires_at: '2030-01-01T00:00:00.000Z',
      expired: false,
      refresh_attempts: 0,
    };
    const ok = toConnectionDetail({ connection_id: 'c', errors: [], credentials_status: status });
    expect(credentialHealth(ok, null).state).toBe('healthy');
    const expired = toConnectionDetail({ errors: [], credentials_status: { ...status, expired: true } });
    expect(credentialHealth(expired, null)).toEqual({
      state: 'unknown',
      text: expect.stringContaining('next call'),
    });
    const failing = toConnectionDetail({
      errors: [{ type: 'auth' }],
      credentials_status: {
        ...status,
        last_refresh_error: {
          code: 'invalid_credentials',
          message: 'Renewal failed.',
          at: '2030-01-01T00:00:00.000Z',
          log_id: 'L1',
        },
        refresh_attempts: 1,
      },
    });
    expect(failing.credentials.lastRefreshError).toEqual({
      code: 'invalid_credentials',
      message: 'Renewal failed.',
      at: '2030-01-01T00:00:00.000Z',
      logId: 'L1',
    });
    expect(credentialHealth(failing, null)).toEqual({
      state: 'error',
      text: 'Renewal failed. (invalid_credentials)',
    });
    expect(credentialHealth({ ...ok, errors: ['auth'] }, null).state).toBe('error');
    expect(credentialHealth(toConnectionDetail({ errors: [] }), null).state).toBe('error');
    expect(credentialHealth(null, { status: 424, code: 'refresh_exhausted', message: 'Gave up.' })).toEqual({
      state: 'error',
      text: 'Gave up. (refresh_exhausted)',
    });
    expect(credentialHealth(null, { status: 0, code: 'network_error', message: 'down' }).state).toBe(
      'unknown',
    );
  });

  it('reads connection lists, skipping malformed items', () => {
    const list = toConnections({
      connections: [
        {
          connection_id: 'a',
          provider_config_key: 'marketo',
          provider: 'marketo',
          end_user: { id: 'u', email: 'e@x' },
          created: 't',
          errors: [],
        },
        { connection_id: 'b', provider_config_key: 'marketo', end_user: null },
        { provider_config_key: 'marketo' },
        'junk',
      ],
    });
    expect(list.map((c) => [c.connectionId, c.endUserId, c.endUserEmail])).toEqual([
      ['a', 'u', 'e@x'],
      ['b', null, null],
    ]);
    expect(toConnections(null)).toEqual([]);
  });

  it('reads sync status and runs', () => {
    const [s] = toSyncs({
      syncs: [
        {
          id: '3',
          name: 'lead-fields',
          variant: 'base',
          status: 'ERROR',
          frequency: 'every day',
          latestExecutionStatus: 'ERROR',
          latestResult: { LeadField: { added: 2, updated: 1, deleted: 0 } },
          recordCount: { LeadField: 3 },
          lastError: { type: 'auth', message: 'Token refused' },
        },
      ],
    });
    expect(s).toMatchObject({
      name: 'lead-fields',
      latestResult: [{ model: 'LeadField', added: 2, updated: 1, deleted: 0 }],
      recordCount: [['LeadField', 3]],
      lastError: 'Token refused (auth)',
    });
    expect(syncLabel({ name: 'leads', variant: 'base' })).toBe('leads');
    expect(syncLabel({ name: 'leads', variant: 'eu' })).toBe('leads::eu');
    expect(syncSelector({ name: 'leads', variant: 'base' })).toBe('leads');
    expect(syncSelector({ name: 'leads', variant: 'eu' })).toEqual({ name: 'leads', variant: 'eu' });
    const runs = toRuns({
      runs: [{ id: 9, sync: 'leads', status: 'SUCCESS', added: 5, error: null }],
      next_cursor: null,
    });
    expect(runs.runs[0]).toMatchObject({ id: '9', variant: 'base', added: 5, updated: 0, error: null });
    expect(statusTone('RUNNING')).toBe('running');
    expect(statusTone(null)).toBe('neutral');
  });
});
