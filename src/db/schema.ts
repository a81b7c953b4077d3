/**
 * Typed table interfaces (Kysely) for the Tether database. The DDL lives in ./migrations/.
 *
 * Portable representation, identical on SQLite and PostgreSQL:
 * - Timestamps: ISO-8601 UTC text from `Date.prototype.toISOString()` (`2025-01-01T00:00:00.000Z`, always 24
 *   characters), so string order is time order and `<`/`>` comparisons work in SQL on both databases; readable
 *   in a database shell; the API answers with ISO strings anyway. Compare only against values made by
 *   `toIso()` below.
 * - Booleans: `integer` 0/1 (no native boolean in SQLite; PostgreSQL stores the same integer). Repositories
 *   convert to `boolean`; tables only ever hold 0 or 1.
 * - JSON: `text` holding `JSON.stringify` output, parsed by the repositories (no JSON operators in SQL).
 * - Secrets: `text` holding a vault string `v1:<iv>:<tag>:<ciphertext>` (src/engine/vault.ts), column names
 *   end with `_encrypted`. Tokens looked up by value are stored only as keyed hashes (`*_hash`).
 * - Ids: `integer` autoincrement (SQLite `autoincrement`, PostgreSQL identity column).
 */
import type { Generated, Insertable, Selectable, Updateable } from 'kysely';

/** 0 or 1. */
export type IntBool = 0 | 1;

export interface MetaTable {
  key: string;
  value: string;
  updated_at: string;
}

export interface EnvironmentsTable {
  id: Generated<number>;
  /** e.g. "dev"; unique. */
  name: string;
  /** vault.hash(secret key), unique: the bearer token lookup. */
  secret_key_hash: string;
  /** vault.encrypt(secret key): shown to the operator. */
  secret_key_encrypted: string;
  webhook_url: string | null;
  webhook_url_secondary: string | null;
  /** vault.encrypt(UUID v4) used to sign outgoing webhooks. */
  webhook_signing_key_encrypted: string;
  /** Send auth webhooks on connection creation (Nango `on_auth_creation`). */
  on_auth_creation: Generated<IntBool>;
  /** Send auth webhooks on refresh failure (Nango `on_auth_refresh_error`). */
  on_auth_refresh_error: Generated<IntBool>;
  created_at: string;
  updated_at: string;
}

export interface IntegrationsTable {
  id: Generated<number>;
  environment_id: number;
  /** The provider config key; unique per environment. */
  unique_key: string;
  /** Provider name, e.g. "marketo". */
  provider: string;
  display_name: string | null;
  /** vault.encrypt(IntegrationCredentials) or null (OAUTH2_CC integrations need none). */
  credentials_encrypted: string | null;
  forward_webhooks: IntBool;
  created_at: string;
  updated_at: string;
}

export interface ConnectionsTable {
  /** Nango's numeric connection id (`id` in API answers). */
  id: Generated<number>;
  environment_id: number;
  connection_id: string;
  provider_config_key: string;
  provider: string;
  /** JSON object. */
  connection_config: string;
  /** vault.encrypt(ConnectionCredentials) or null (deleted / not yet fetched). */
  credentials_encrypted: string | null;
  credentials_expires_at: string | null;
  /** JSON object or null. */
  metadata: string | null;
  /** JSON object of string values (never null: `{}`). Mirrored into connection_tags for filtering. */
  tags: string;
  /** JSON EndUser or null. */
  end_user: string | null;
  /** end_user.id, denormalised for the `endUserId` filter. */
  end_user_id: string | null;
  /** end_user.organization.id, denormalised for the `endUserOrganizationId` filter. */
  end_user_organization_id: string | null;
  webhook_url_override: string | null;
  /** JSON array of ConnectionError (`[{type, log_id}]`), `[]` when healthy. */
  errors: string;
  last_refresh_success: string | null;
  last_refresh_failure: string | null;
  refresh_attempts: number | null;
  refresh_exhausted: IntBool;
  created_at: string;
  updated_at: string;
  last_fetched_at: string | null;
  deleted_at: string | null;
}

/** Tag index for list filters: one row per (connection, lower-cased key). Kept in step by connections.ts. */
export interface ConnectionTagsTable {
  connection_pk: number;
  key: string;
  value: string;
}

export interface ConnectSessionsTable {
  id: Generated<number>;
  environment_id: number;
  /** vault.hash(token), unique. The token itself is never stored. */
  token_hash: string;
  /** JSON or null. */
  end_user: string | null;
  organization: string | null;
  allowed_integrations: string | null;
  integrations_config_defaults: string | null;
  tags: string | null;
  /** Reconnect sessions: the connection to overwrite, and its integration key. */
  connection_id: string | null;
  integration_key: string | null;
  webhook_url_override: string | null;
  overrides: string | null;
  expires_at: string;
  created_at: string;
}

export interface Database {
  meta: MetaTable;
  environments: EnvironmentsTable;
  integrations: IntegrationsTable;
  connections: ConnectionsTable;
  connection_tags: ConnectionTagsTable;
  connect_sessions: ConnectSessionsTable;
}

export type EnvironmentRow = Selectable<EnvironmentsTable>;
export type IntegrationRow = Selectable<IntegrationsTable>;
export type NewIntegrationRow = Insertable<IntegrationsTable>;
export type ConnectionRow = Selectable<ConnectionsTable>;
export type NewConnectionRow = Insertable<ConnectionsTable>;
export type ConnectionRowUpdate = Updateable<ConnectionsTable>;
export type ConnectSessionRow = Selectable<ConnectSessionsTable>;

/** The one timestamp format stored in the database. */
export function toIso(date: Date): string {
  return date.toISOString();
}

export function toIntBool(value: boolean): IntBool {
  return value ? 1 : 0;
}

export function fromIntBool(value: number | null | undefined): boolean {
  return value === 1;
}
