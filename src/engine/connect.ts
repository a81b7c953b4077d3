import { randomUUID } from 'node:crypto';
import type { EngineDeps } from './deps.ts';
import type { Environment } from '../db/environments.ts';
import type { ConnectSession } from '../db/sessions.ts';
import { getIntegration, integrationExistsLocked } from '../db/integrations.ts';
import { upsertConnection, type ConnectionWithCredentials } from '../db/connections.ts';
import { CONNECTION_TESTERS } from '../providers/testers.ts';
import { ApiError } from '../api-error.ts';
import { inTransaction, nowOf } from '../db/context.ts';
import { authWebhook } from './auth-webhooks.ts';
import { TRAFFIC_PROFILES } from '../providers/traffic.ts';
import { isTrafficError } from './traffic.ts';
import type { OutboundRequestOptions, OutboundResponse } from './outbound.ts';
import { ensureSyncsForConnection } from './sync/scheduler.ts';

/**
 * The moment after "Connect": check the integration and session, prove the credentials work with
 * the provider's connection test (token, then one read), and only then store the connection
 * (secrets encrypted) and announce it with the auth webhook, without waiting for delivery.
 */
export interface ConnectRequest {
  environment: Environment;
  session: ConnectSession;
  providerConfigKey: string;
  /** `params[...]` from the query: connection_config as typed. */
  params: Record<string, string>;
  clientId: string;
  clientSecret: string;
}

export async function connectClientCredentials(
  deps: EngineDeps,
  req: ConnectRequest,
): Promise<{ connection: ConnectionWithCredentials; operation: 'creation' | 'override' }> {
  const { environment, session, providerConfigKey } = req;
  const integration = await getIntegration(deps.store.ctx, environment.id, providerConfigKey);
  if (!integration) {
    throw new ApiError(400, 'unknown_provider_config', `There is no integration '${providerConfigKey}'.`);
  }
  const provider = deps.providers.get(integration.provider);
  if (!provider)
    throw new ApiError(400, 'unknown_provider', `Provider '${integration.provider}' is not known.`);
  if (provider.auth_mode !== 'OAUTH2_CC') {
    throw new ApiError(
      400,
      'invalid_auth_mode',
      `Integration '${providerConfigKey}' does not use client credentials.`,
    );
  }
  if (session.allowedIntegrations && !session.allowedIntegrations.includes(providerConfigKey)) {
    throw new ApiError(
      400,
      'integration_not_allowed',
      `This session may not connect '${providerConfigKey}'.`,
    );
  }
  if (
    session.connectionId !== null &&
    session.integrationKey !== null &&
    session.integrationKey !== providerConfigKey
  ) {
    throw new ApiError(
      400,
      'integration_not_allowed',
      `This reconnect session is for '${session.integrationKey}', not '${providerConfigKey}'.`,
    );
  }
  if (req.clientId.trim() === '') throw new ApiError(400, 'missing_client_id', 'The Client ID is missing.');
  if (req.clientSecret.trim() === '')
    throw new ApiError(400, 'missing_client_secret', 'The Client Secret is missing.');

  // Preconfigured values from the session override what the user typed (Nango merges them the same way).
  const defaults = session.integrationsConfigDefaults?.[providerConfigKey]?.connection_config ?? {};
  const params: Record<string, string> = { ...req.params };
  for (const [k, v] of Object.entries(defaults)) if (typeof v === 'string') params[k] = v;

  const tester = CONNECTION_TESTERS[provider.name];
  if (!tester)
    throw new ApiError(400, 'unsupported_provider', `No connection test for provider '${provider.name}'.`);
  const result = await tester(
    { clientId: req.clientId.trim(), clientSecret: req.clientSecret.trim(), params },
    {
      request: (o) => testRequest(deps, provider.name, o),
      isAllowedHost: (hp) => deps.outbound.policy.isAllowlisted(hp),
    },
  );
  if (!result.ok) {
    deps.log.info({ providerConfigKey, step: result.step, code: result.code }, 'connection test failed');
    throw new ApiError(400, result.code, result.message, {
      step: result.step,
      hint: result.hint,
      ...(result.field ? { field: result.field } : {}),
      ...(result.marketoCode ? { marketo_code: result.marketoCode } : {}),
    });
  }

  // The store's clock, so tests that move time see the same expiry the token manager uses.
  const now = nowOf(deps.store.ctx).getTime();
  const credentials = {
    type: 'OAUTH2_CC',
    token: result.token,
    expires_at: new Date(now + (result.expiresIn ?? 3300) * 1000).toISOString(),
    client_id: req.clientId.trim(),
    client_secret: req.clientSecret.trim(),
    raw: result.raw,
  };
  const endUser = session.endUser
    ? {
        id: session.endUser.id,
        email: session.endUser.email ?? null,
        display_name: session.endUser.display_name ?? null,
        tags: session.endUser.tags ?? null,
        organization: session.organization
          ? { id: session.organization.id, display_name: session.organization.display_name ?? null }
          : null,
      }
    : null;
  // The connection test took a while: the integration may have been deleted meanwhile. Checked in the
  // same transaction as the write, or the connection would outlive its integration (an orphan).
  const stored = await inTransaction(deps.store.ctx, async (tx) => {
    if (!(await integrationExistsLocked(tx, environment.id, providerConfigKey))) {
      throw new ApiError(
        400,
        'unknown_provider_config',
        `There is no integration '${providerConfigKey}' (it was deleted).`,
      );
    }
    return upsertConnection(tx, {
      environmentId: environment.id,
      connectionId: session.connectionId ?? randomUUID(),
      providerConfigKey,
      provider: provider.name,
      connectionConfig: result.connectionConfig,
      credentials,
      ...(endUser ? { endUser } : {}),
      ...(session.tags ? { tags: session.tags } : {}),
      ...(session.webhookUrlOverride !== null ? { webhookUrlOverride: session.webhookUrlOverride } : {}),
    });
  });
  await ensureSyncsForConnection(deps, stored.connection);
  authWebhook(deps, environment, stored.connection, {
    operation: stored.operation,
    success: true,
    urlOverride: session.webhookUrlOverride,
  });
  return stored;
}

/**
 * The connection test's calls to the instance's API go through the same traffic control as
 * everything else, so a connect at a busy instance queues instead of causing a 606.
 */
async function testRequest(
  deps: EngineDeps,
  providerName: string,
  opts: OutboundRequestOptions,
): Promise<OutboundResponse> {
  const key = TRAFFIC_PROFILES[providerName]?.instanceKeyOfUrl?.(opts.url);
  const traffic = deps.traffic.get(providerName);
  if (key === undefined || !traffic) return deps.outbound.request(opts);
  let permit;
  try {
    permit = await traffic.acquire({
      instanceKey: key,
      connectionId: 'connect-test',
      priority: 'interactive',
    });
  } catch (err) {
    if (isTrafficError(err)) {
      throw new ApiError(429, 'too_many_requests', `The Marketo instance is busy: ${err.message}`);
    }
    throw err;
  }
  try {
    const res = await deps.outbound.request(opts);
    // Held until the body is read: Marketo counts the call in flight until then.
    res.body.once('close', () => permit.release({ kind: 'ok' }));
    // A body nobody reads must not hold the slot forever (release is idempotent).
    setTimeout(() => permit.release({ kind: 'ok' }), 60_000).unref();
    return res;
  } catch (err) {
    permit.release({ kind: 'fail', code: 'network' });
    throw err;
  }
}
