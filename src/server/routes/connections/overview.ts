import { z } from 'zod';
import type { RouteDef } from '../../router.ts';
import { parseWith } from '../../validate.ts';
import { nowOf } from '../../../db/context.ts';
import type { ConnectionCredentials, ConnectionWithCredentials } from '../../../db/connections.ts';
import { connectionFull } from '../../views.ts';
import { connectionIdParam, providerConfigKeySchema } from './schemas.ts';
import { liveConnection } from './lookup.ts';

const querySchema = z.object({ provider_config_key: providerConfigKeySchema }).strict();

/** Why the last refresh failed, as far as Tether stored it (the provider's answer is in the server log). */
export interface RefreshErrorView {
  code: 'invalid_credentials' | 'connection_refresh_exhausted';
  message: string;
  at: string;
  log_id: string | null;
}

/** What is safe to say about a connection's credentials: never a token or a secret. */
export interface CredentialsStatus {
  type: string | null;
  /** ISO date the access token expires, when known. */
  expires_at: string | null;
  /** No token, or its `expires_at` has passed (by Tether's clock). A token without expiry is not expired. */
  expired: boolean;
  last_refresh_success_at: string | null;
  last_refresh_error: RefreshErrorView | null;
  refresh_attempts: number;
  refresh_exhausted: boolean;
}

function isoOrNull(v: unknown): string | null {
  if (typeof v !== 'string') return null;
  const t = Date.parse(v);
  return Number.isNaN(t) ? null : new Date(t).toISOString();
}

/** The last refresh failed and nothing succeeded since. */
function lastRefreshError(c: ConnectionWithCredentials): RefreshErrorView | null {
  const failedAt = isoOrNull(c.lastRefreshFailure);
  if (failedAt === null) return null;
  const succeededAt = isoOrNull(c.lastRefreshSuccess);
  if (succeededAt !== null && Date.parse(succeededAt) >= Date.parse(failedAt)) return null;
  const auth = c.errors.find((e) => e.type === 'auth');
  const logId = typeof auth?.log_id === 'string' ? auth.log_id : null;
  const attempts = c.refreshAttempts ?? 1;
  // The provider's reason is only in the server log (it may quote what the provider said); the log id finds it.
  return c.refreshExhausted
    ? {
        code: 'connection_refresh_exhausted',
        message: `Renewing the access token failed on ${attempts} days; it is no longer retried by itself. Reconnect the account, or force a refresh.`,
        at: failedAt,
        log_id: logId,
      }
    : {
        code: 'invalid_credentials',
        message: 'The last attempt to renew the access token failed (the server log has the reason).',
        at: failedAt,
        log_id: logId,
      };
}

/** Pure: the credential health of a connection at `now`, read from what is stored, nothing renewed. */
export function credentialsStatus(c: ConnectionWithCredentials, now: Date): CredentialsStatus {
  const creds = c.credentials;
  const token = creds?.token;
  const hasToken = typeof token === 'string' && token !== '';
  const expiresAt = isoOrNull(creds?.expires_at) ?? isoOrNull(c.credentialsExpiresAt);
  return {
    type: typeof creds?.type === 'string' ? creds.type : null,
    expires_at: expiresAt,
    expired: !hasToken || (expiresAt !== null && Date.parse(expiresAt) <= now.getTime()),
    last_refresh_success_at: isoOrNull(c.lastRefreshSuccess),
    last_refresh_error: lastRefreshError(c),
    refresh_attempts: c.refreshAttempts ?? 0,
    refresh_exhausted: c.refreshExhausted,
  };
}

/** Credential keys whose values are secret (the access token is also in `raw.access_token`). */
const SECRET_KEY = /token|secret|private|password|assertion|signature/i;
/** Shorter strings are not looked for elsewhere: they could match ordinary text by chance. */
const MIN_SECRET_LENGTH = 8;

/** Every secret string of stored credentials, `raw` included. */
export function secretValues(creds: ConnectionCredentials | null): string[] {
  const out: string[] = [];
  const walk = (o: Record<string, unknown>) => {
    for (const [k, v] of Object.entries(o)) {
      if (typeof v === 'string' && SECRET_KEY.test(k) && k !== 'token_type' && v.length >= MIN_SECRET_LENGTH)
        out.push(v);
      else if (typeof v === 'object' && v !== null && !Array.isArray(v)) walk(v as Record<string, unknown>);
    }
  };
  if (creds) walk(creds);
  return out;
}

/**
 * Pure: `value` with every string containing one of `secrets` replaced by `[redacted]`. The view never
 * includes credentials; this covers a secret copied into connection config or metadata by a caller.
 */
export function redactSecrets(value: unknown, secrets: readonly string[]): unknown {
  if (secrets.length === 0) return value;
  if (typeof value === 'string') return secrets.some((s) => value.includes(s)) ? '[redacted]' : value;
  if (Array.isArray(value)) return value.map((v) => redactSecrets(v, secrets));
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, redactSecrets(v, secrets)]),
    );
  }
  return value;
}

/**
 * `GET /connections/{connectionId}/overview?provider_config_key=…`: the connection as `GET
 * /connections/{id}` shows it, without `credentials`, plus `credentials_status` (type, expiry, whether
 * expired, the last refresh error). Read-only: unlike `GET /connections/{id}` it never renews a token,
 * never calls the provider and does not record a read (`last_fetched_at`, which the refresh cron uses).
 * For dashboards and monitoring, which must not receive credentials.
 */
export const getConnectionOverview: RouteDef = {
  method: 'GET',
  path: '/connections/:connectionId/overview',
  auth: 'secret',
  handler: async (ctx) => {
    const q = parseWith(querySchema, ctx.query, 'invalid_query_params');
    const c = await liveConnection(ctx, q.provider_config_key, connectionIdParam(ctx));
    const { credentials: _omitted, ...view } = connectionFull(c, { withCredentials: false });
    const body = {
      ...view,
      credentials_status: credentialsStatus(c, nowOf(ctx.deps.store.ctx)),
    };
    return { body: redactSecrets(body, secretValues(c.credentials)) };
  },
};
