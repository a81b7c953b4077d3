import type { IncomingMessage } from 'node:http';
import { getEnvironmentById, getEnvironmentBySecretKey } from '../db/environments.ts';
import { cachesOf, TtlCache } from '../engine/lookup-cache.ts';
import { getConnectSessionByToken, isConnectSessionTokenFormat } from '../db/sessions.ts';
import { ApiError } from './errors.ts';
import type { AuthInfo, ServerDeps } from './deps.ts';
import type { AuthKind } from './router.ts';
import type { QueryValue } from './query.ts';

const UUID_V4 = /^[0-9A-F]{8}-[0-9A-F]{4}-4[0-9A-F]{3}-[89AB][0-9A-F]{3}-[0-9A-F]{12}$/i;
const SESSION_PREFIX = 'nango_connect_session_';

/** The bearer token, as Nango reads it (`Authorization.split('Bearer ').pop()`). */
function bearer(req: IncomingMessage): string | undefined {
  const header = req.headers.authorization;
  if (header === undefined) return undefined;
  if (!header.startsWith('Bearer '))
    throw new ApiError(401, 'malformed_auth_header', 'Authorization header must be "Bearer <key>"');
  return header.slice('Bearer '.length).trim();
}

const newKeyCache = () => new TtlCache<string, AuthInfo>(5_000, 100);

/** Drops the cached environments (a change that must be seen at once, e.g. a new webhook signing key). */
export function forgetEnvironments(deps: ServerDeps): void {
  cachesOf(deps.store, 'environments-by-key', newKeyCache).clear();
}

/** The environment of a secret key; cached a few seconds (every proxied call comes through here). */
function bySecretKey(deps: ServerDeps, key: string): AuthInfo | Promise<AuthInfo> {
  if (!UUID_V4.test(key)) {
    throw new ApiError(401, 'invalid_secret_key_format', 'The secret key is not a UUID v4.');
  }
  const cache = cachesOf(deps.store, 'environments-by-key', newKeyCache);
  return cache.get(key) ?? lookUpSecretKey(deps, key, cache);
}

async function lookUpSecretKey(
  deps: ServerDeps,
  key: string,
  cache: TtlCache<string, AuthInfo>,
): Promise<AuthInfo> {
  const environment = await getEnvironmentBySecretKey(deps.store.ctx, key);
  if (!environment) throw new ApiError(401, 'unknown_account', 'No environment matches this secret key.');
  const info: AuthInfo = { environment };
  cache.set(key, info);
  return info;
}

async function bySessionToken(deps: ServerDeps, token: string): Promise<AuthInfo> {
  if (!isConnectSessionTokenFormat(token)) {
    throw new ApiError(
      401,
      'invalid_connect_session_token_format',
      'The connect session token is malformed.',
    );
  }
  const session = await getConnectSessionByToken(deps.store.ctx, token);
  if (!session) {
    throw new ApiError(
      401,
      'unknown_connect_session_token',
      'This connect session is unknown or has expired (sessions last 30 minutes). Ask for a new link.',
    );
  }
  const environment = await getEnvironmentById(deps.store.ctx, session.environmentId);
  if (!environment) throw new ApiError(401, 'unknown_account', 'The session belongs to no environment.');
  return { environment, session };
}

/**
 * Who calls. `from.query` is read only when the token may come from the query string (it is parsed
 * on first use). A cached secret key answers without a promise.
 */
export function authenticate(
  deps: ServerDeps,
  kind: AuthKind,
  req: IncomingMessage,
  from: { readonly query: Record<string, QueryValue> },
): AuthInfo | undefined | Promise<AuthInfo | undefined> {
  if (kind === 'none') return undefined;
  let token = bearer(req);
  if (token === undefined && kind !== 'secret') {
    const q = from.query.connect_session_token;
    token = typeof q === 'string' ? q : undefined;
  }
  if (token === undefined || token === '') {
    throw new ApiError(
      401,
      'missing_auth_header',
      'Authentication is required: send "Authorization: Bearer <key>".',
    );
  }
  const isSession = token.startsWith(SESSION_PREFIX);
  if (kind === 'secret' || (kind === 'secret_or_session' && !isSession)) return bySecretKey(deps, token);
  return bySessionToken(deps, token);
}
