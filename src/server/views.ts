import type { Integration } from '../db/integrations.ts';
import type { Connection, ConnectionCredentials, ConnectionWithCredentials } from '../db/connections.ts';
import type { ProviderDefinition } from '../providers/types.ts';

/**
 * Response shapes in Nango's public API (spec nango-api.md 1.2, 1.7). Secrets appear only where Nango
 * shows them: `GET /connections/{id}` credentials; never in lists.
 */

/** Nango prints connection timestamps with `+00:00` instead of `Z` on this endpoint. */
const plusZero = (iso: string | null) => (iso === null ? null : iso.replace(/Z$/, '+00:00'));

/** What `GET /integrations/{key}?include=…` adds (Nango `ApiPublicIntegrationInclude`). */
export interface IntegrationInclude {
  webhook_url?: string | null;
  credentials?: Record<string, unknown> | null;
}

export function integrationView(
  i: Integration,
  provider: ProviderDefinition | undefined,
  publicUrl: string,
  include: IntegrationInclude = {},
) {
  return {
    unique_key: i.uniqueKey,
    provider: i.provider,
    display_name: i.displayName ?? provider?.display_name ?? i.provider,
    logo: `${publicUrl}/images/template-logos/${i.provider}.svg`,
    forward_webhooks: i.forwardWebhooks,
    created_at: i.createdAt,
    updated_at: i.updatedAt,
    ...include,
  };
}

function endUserView(c: Connection) {
  if (!c.endUser) return null;
  return {
    id: c.endUser.id,
    display_name: c.endUser.display_name ?? null,
    email: c.endUser.email ?? null,
    tags: c.endUser.tags ?? null,
    organization: c.endUser.organization
      ? { id: c.endUser.organization.id, display_name: c.endUser.organization.display_name ?? null }
      : null,
  };
}

export function connectionListItem(c: Connection) {
  return {
    id: c.id,
    connection_id: c.connectionId,
    provider_config_key: c.providerConfigKey,
    provider: c.provider,
    errors: c.errors,
    end_user: endUserView(c),
    tags: c.tags,
    metadata: c.metadata,
    created: c.createdAt,
  };
}

/** Nango strips any key whose letters-only lower-case form is `refreshtoken` unless `refresh_token=true`. */
function isRefreshTokenKey(key: string): boolean {
  return key.toLowerCase().replace(/[^a-z]/g, '') === 'refreshtoken';
}

function withoutRefreshTokens(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([k]) => !isRefreshTokenKey(k)));
}

/**
 * Credentials as Nango shows them. OAUTH2_CC: `{type, token, expires_at, client_id, client_secret, raw}`
 * (+ `client_certificate` / `client_private_key` when set); other types as stored.
 */
export function credentialsView(
  creds: ConnectionCredentials,
  opts: { refreshToken?: boolean } = {},
): Record<string, unknown> {
  let out: Record<string, unknown>;
  if (creds.type === 'OAUTH2_CC') {
    out = {
      type: 'OAUTH2_CC',
      token: creds.token,
      expires_at: creds.expires_at,
      client_id: creds.client_id,
      client_secret: creds.client_secret ?? '',
      raw: creds.raw ?? {},
    };
    if (typeof creds.client_certificate === 'string' && creds.client_certificate !== '')
      out.client_certificate = creds.client_certificate;
    if (typeof creds.client_private_key === 'string' && creds.client_private_key !== '')
      out.client_private_key = creds.client_private_key;
  } else {
    out = { ...creds };
  }
  if (opts.refreshToken) return out;
  out = withoutRefreshTokens(out);
  if (typeof out.raw === 'object' && out.raw !== null && !Array.isArray(out.raw)) {
    out.raw = withoutRefreshTokens(out.raw as Record<string, unknown>);
  }
  return out;
}

/** `GET /connections/{id}`; credentials only when asked (the caller decides). */
export function connectionFull(
  c: ConnectionWithCredentials,
  opts: { withCredentials: boolean; refreshToken?: boolean },
) {
  const creds = c.credentials;
  return {
    id: c.id,
    connection_id: c.connectionId,
    provider_config_key: c.providerConfigKey,
    provider: c.provider,
    errors: c.errors,
    end_user: endUserView(c),
    tags: c.tags,
    metadata: c.metadata,
    connection_config: opts.refreshToken ? c.connectionConfig : withoutRefreshTokens(c.connectionConfig),
    webhook_url_override: c.webhookUrlOverride,
    created_at: plusZero(c.createdAt),
    updated_at: plusZero(c.updatedAt),
    last_fetched_at: plusZero(c.lastFetchedAt),
    credentials:
      opts.withCredentials && creds
        ? credentialsView(creds, opts.refreshToken ? { refreshToken: true } : {})
        : {},
  };
}
