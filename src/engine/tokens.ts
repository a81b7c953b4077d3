import { randomUUID } from 'node:crypto';
import type { EngineDeps } from './deps.ts';
import { nowOf } from '../db/context.ts';
import {
  getConnectionById,
  markRefreshFailure,
  markRefreshSuccess,
  type ConnectionCredentials,
  type ConnectionWithCredentials,
} from '../db/connections.ts';
import { getEnvironmentById, type Environment } from '../db/environments.ts';
import { buildTokenRequest, parseTokenResponse, ProviderError } from '../providers/registry.ts';
import { isOutboundError, readResponseBody } from './outbound.ts';
import { authWebhook } from './auth-webhooks.ts';
import { TRAFFIC_PROFILES } from '../providers/traffic.ts';
import { ApiError } from '../api-error.ts';

/**
 * Valid credentials for a connection (Nango spec 3, "refresh-if-needed"), for `GET /connections/{id}`
 * and every later caller (proxy, syncs).
 *
 * - A token is renewed when asked (`force`) or when it expires within {@link EXPIRY_MARGIN_MS}. Not
 *   Nango's 15 minutes: Marketo answers the same token with its remaining lifetime until it expires,
 *   so asking earlier only costs identity calls.
 * - Without `force`: an exhausted connection answers 424 `connection_refresh_exhausted`, and one whose
 *   last refresh failed less than {@link BACKOFF_MS} ago answers 424 `connection_refresh_backoff`,
 *   both without calling the identity endpoint.
 * - Single flight per connection: concurrent callers share one identity call. Inside the flight the
 *   connection is read again, so a caller that read a token just before someone else renewed it does
 *   not renew it a second time.
 * - On failure: `markRefreshFailure` (errors get `{type: "auth", log_id}`), the `refresh` auth webhook
 *   (success false), and a {@link RefreshError} 400 `invalid_credentials`. Messages never carry the
 *   client secret or a token.
 */

/** Renew when the token has less than this left. */
export const EXPIRY_MARGIN_MS = 60_000;
/** Non-forced calls within this time after a failed refresh do not retry (Nango: 30 s). */
export const BACKOFF_MS = 30_000;
/** When the token response has no `expires_in` (Nango: 55 minutes). */
const DEFAULT_LIFETIME_S = 55 * 60;
/** Longest lifetime believed (Marketo's tokens live 1 h). */
const MAX_LIFETIME_S = 24 * 3600;
const IDENTITY_TIMEOUT_MS = 15_000;
const IDENTITY_CONNECT_TIMEOUT_MS = 5_000;

export type RefreshErrorCode =
  'invalid_credentials' | 'connection_refresh_backoff' | 'connection_refresh_exhausted';

/** A refresh that failed or was not attempted; `connection` is the state after it (for error payloads). */
export class RefreshError extends Error {
  constructor(
    readonly status: 400 | 424,
    readonly code: RefreshErrorCode,
    message: string,
    readonly connection: ConnectionWithCredentials,
  ) {
    super(message);
    this.name = 'RefreshError';
  }
}

type TokenDeps = Pick<EngineDeps, 'store' | 'outbound' | 'providers' | 'webhooks' | 'log'> &
  Partial<Pick<EngineDeps, 'usage'>>;

/**
 * Per store and connection pk: a token the identity endpoint just answered again with less than the
 * margin left. Marketo returns the same token until it expires, so asking again before then only costs
 * identity calls (one per caller during the token's last minute): it is used as is until it expires.
 */
const lastAnswer = new WeakMap<object, Map<number, string>>();

function lastAnswerOf(deps: TokenDeps): Map<number, string> {
  let map = lastAnswer.get(deps.store);
  if (!map) {
    map = new Map();
    lastAnswer.set(deps.store, map);
  }
  return map;
}

/** In-flight refreshes, per store (several Tethers may share a process in tests) and connection pk. */
const flights = new WeakMap<object, Map<number, Promise<ConnectionWithCredentials>>>();

function flightsOf(deps: TokenDeps): Map<number, Promise<ConnectionWithCredentials>> {
  let map = flights.get(deps.store);
  if (!map) {
    map = new Map();
    flights.set(deps.store, map);
  }
  return map;
}

function expiresAtMs(c: ConnectionWithCredentials): number | null {
  const raw = c.credentials?.expires_at;
  if (typeof raw !== 'string') return null;
  const t = Date.parse(raw);
  return Number.isNaN(t) ? null : t;
}

/** Has a token that stays valid for more than the margin. No `expires_at` → never renewed unless forced. */
export function isFresh(c: ConnectionWithCredentials, now: Date): boolean {
  if (!c.credentials || typeof c.credentials.token !== 'string' || c.credentials.token === '') return false;
  const exp = expiresAtMs(c);
  return exp === null || exp - now.getTime() > EXPIRY_MARGIN_MS;
}

/** The last refresh failed (and nothing succeeded since) less than BACKOFF_MS ago. */
export function inBackoff(c: ConnectionWithCredentials, now: Date): boolean {
  if (c.lastRefreshFailure === null) return false;
  const failed = Date.parse(c.lastRefreshFailure);
  if (Number.isNaN(failed)) return false;
  if (c.lastRefreshSuccess !== null && Date.parse(c.lastRefreshSuccess) >= failed) return false;
  return now.getTime() - failed < BACKOFF_MS;
}

export async function getValidCredentials(
  deps: TokenDeps,
  connection: ConnectionWithCredentials,
  opts: { force?: boolean; environment?: Environment } = {},
): Promise<ConnectionWithCredentials> {
  const force = opts.force ?? false;
  const now = nowOf(deps.store.ctx);
  if (!force) {
    if (connection.refreshExhausted) {
      throw new RefreshError(
        424,
        'connection_refresh_exhausted',
        'Refreshing the credentials failed too many times. Reconnect the account, or force a refresh.',
        connection,
      );
    }
    if (inBackoff(connection, now)) {
      throw new RefreshError(
        424,
        'connection_refresh_backoff',
        'A recent refresh attempt failed. Backing off before retrying.',
        connection,
      );
    }
    if (isFresh(connection, now)) return connection;
    const exp = expiresAtMs(connection);
    const token = connection.credentials?.token;
    if (exp !== null && exp > now.getTime() && token && lastAnswerOf(deps).get(connection.id) === token) {
      return connection;
    }
  }
  const map = flightsOf(deps);
  let flight = map.get(connection.id);
  if (!flight) {
    flight = refresh(deps, connection.id, force, opts.environment).finally(() => {
      map.delete(connection.id);
    });
    map.set(connection.id, flight);
  }
  return flight;
}

/** Strings of connection_config (what URL templates may use). */
function stringConfig(config: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(config)) if (typeof v === 'string') out[k] = v;
  return out;
}

/** Remove every secret we know of from a message meant for users, webhooks and logs. */
function scrub(message: string, secrets: unknown[]): string {
  let out = message;
  for (const s of secrets) {
    if (typeof s === 'string' && s.length >= 4) out = out.split(s).join('[redacted]');
  }
  return out;
}

class Failure extends Error {}

/** Deleted while we were refreshing it. */
const gone = () => new ApiError(404, 'not_found', 'Failed to find connection');

async function fetchToken(deps: TokenDeps, c: ConnectionWithCredentials): Promise<ConnectionCredentials> {
  const provider = deps.providers.get(c.provider);
  if (!provider) throw new Failure(`Provider '${c.provider}' is not known.`);
  const creds = c.credentials;
  const clientId = typeof creds?.client_id === 'string' ? creds.client_id : '';
  const clientSecret = typeof creds?.client_secret === 'string' ? creds.client_secret : '';
  if (clientId === '' || clientSecret === '') {
    throw new Failure('The connection has no Client ID / Client Secret to get a token with.');
  }
  let built;
  try {
    built = buildTokenRequest(provider, stringConfig(c.connectionConfig), {
      client_id: clientId,
      client_secret: clientSecret,
    });
  } catch (err) {
    throw new Failure(
      err instanceof ProviderError ? err.message : 'The identity URL of the connection is not valid.',
    );
  }
  const host = new URL(built.url).host;
  // Identity calls are free at Marketo but worth seeing in usage (a storm of them means a bug).
  const profile = TRAFFIC_PROFILES[c.provider];
  if (deps.usage && profile) {
    deps.usage.identityCall({
      instanceKey: profile.instanceKey(stringConfig(c.connectionConfig)),
      connectionId: String(c.id),
    });
  }
  let status: number;
  let text: string;
  try {
    const res = await deps.outbound.request({
      ...built,
      timeoutMs: IDENTITY_TIMEOUT_MS,
      connectTimeoutMs: IDENTITY_CONNECT_TIMEOUT_MS,
    });
    status = res.status;
    text = (await readResponseBody(res, 64 * 1024)).toString('utf8');
  } catch (err) {
    if (isOutboundError(err)) {
      throw new Failure(`Could not reach the identity endpoint at ${host}: ${err.message}.`);
    }
    throw err;
  }
  let json: unknown;
  try {
    json = text.trim() === '' ? undefined : JSON.parse(text);
  } catch {
    json = undefined;
  }
  if (status !== 200) {
    const o = (typeof json === 'object' && json !== null ? json : {}) as Record<string, unknown>;
    const detail = [o.error, o.error_description].filter((v) => typeof v === 'string').join(': ');
    throw new Failure(
      `The identity endpoint at ${host} refused to issue a token (HTTP ${status}${detail ? `, ${detail}` : ''}).`,
    );
  }
  let parsed;
  try {
    parsed = parseTokenResponse(provider, json);
  } catch (err) {
    if (err instanceof ProviderError) {
      throw new Failure(`The identity endpoint at ${host} answered without a usable token (${err.message}).`);
    }
    throw err;
  }
  // Garbage lifetimes (negative, or so large the date is invalid) must not break the refresh.
  const lifetime = Math.min(Math.max(parsed.expiresIn ?? DEFAULT_LIFETIME_S, 0), MAX_LIFETIME_S);
  const next: ConnectionCredentials = {
    type: 'OAUTH2_CC',
    token: parsed.token,
    expires_at: new Date(nowOf(deps.store.ctx).getTime() + lifetime * 1000).toISOString(),
    client_id: clientId,
    client_secret: clientSecret,
    raw: parsed.raw,
  };
  for (const k of ['client_certificate', 'client_private_key'] as const) {
    if (typeof creds?.[k] === 'string' && creds[k] !== '') next[k] = creds[k];
  }
  return next;
}

async function refresh(
  deps: TokenDeps,
  id: number,
  force: boolean,
  environment: Environment | undefined,
): Promise<ConnectionWithCredentials> {
  const ctx = deps.store.ctx;
  const current = await getConnectionById(ctx, id);
  if (!current) throw gone();
  // Someone renewed it between our read and this flight: nothing to do.
  if (!force && isFresh(current, nowOf(ctx))) return current;
  try {
    const credentials = await fetchToken(deps, current);
    const token = String(credentials.token);
    if (token === current.credentials?.token && !isFresh({ ...current, credentials }, nowOf(ctx))) {
      lastAnswerOf(deps).set(id, token);
    } else lastAnswerOf(deps).delete(id);
    await markRefreshSuccess(ctx, id, credentials);
    const updated = await getConnectionById(ctx, id);
    if (!updated) throw gone();
    return updated;
  } catch (err) {
    if (!(err instanceof Failure)) throw err;
    const message = scrub(`Failed to refresh the access token: ${err.message}`, [
      current.credentials?.client_secret,
      current.credentials?.token,
    ]);
    const logId = randomUUID();
    deps.log.warn(
      {
        connectionId: current.connectionId,
        providerConfigKey: current.providerConfigKey,
        logId,
        reason: message,
      },
      'token refresh failed',
    );
    await markRefreshFailure(ctx, id, { type: 'auth', log_id: logId });
    const failed = (await getConnectionById(ctx, id)) ?? current;
    const env = environment ?? (await getEnvironmentById(ctx, current.environmentId));
    if (env) {
      authWebhook(deps, env, failed, {
        operation: 'refresh',
        success: false,
        error: { type: 'refresh_token_external_error', description: message },
      });
    }
    throw new RefreshError(400, 'invalid_credentials', message, failed);
  }
}
