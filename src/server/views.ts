import type { Integration } from '../db/integrations.ts';
import type { Connection, ConnectionWithCredentials } from '../db/connections.ts';
import type { ProviderDefinition } from '../providers/types.ts';

/**
 * Response shapes in Nango's public API (spec nango-api.md 1.2, 1.7). Secrets appear only where Nango
 * shows them: `GET /connections/{id}` credentials; never in lists.
 */

/** Nango prints connection timestamps with `+00:00` instead of `Z` on this endpoint. */
const plusZero = (iso: string | null) => (iso === null ? null : iso.replace(/Z$/, '+00:00'));

export function integrationView(i: Integration, provider: ProviderDefinition | undefined, publicUrl: string) {
  return {
    unique_key: i.uniqueKey,
    provider: i.provider,
    display_name: i.displayName ?? provider?.display_name ?? i.provider,
    logo: `${publicUrl}/images/template-logos/${i.provider}.svg`,
    forward_webhooks: i.forwardWebhooks,
    created_at: i.createdAt,
    updated_at: i.updatedAt,
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

/** `GET /connections/{id}`; credentials only when asked (the caller decides). */
export function connectionFull(c: ConnectionWithCredentials, opts: { withCredentials: boolean }) {
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
    connection_config: c.connectionConfig,
    webhook_url_override: c.webhookUrlOverride,
    created_at: plusZero(c.createdAt),
    updated_at: plusZero(c.updatedAt),
    last_fetched_at: plusZero(c.lastFetchedAt),
    credentials: opts.withCredentials && creds ? creds : {},
  };
}
