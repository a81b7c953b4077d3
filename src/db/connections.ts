/**
 * Connections repository. A connection is one customer's Marketo account linked to an integration:
 * `(environment, provider_config_key, connection_id)` is unique among live (non-deleted) connections.
 *
 * Credentials are stored encrypted (vault purpose "connection.credentials") and decrypted only by the
 * functions that return `ConnectionWithCredentials`. Deleting a connection is a soft delete that also erases
 * its credentials and tag index.
 */
import { sql } from 'kysely';
import { inTransaction, nowOf, toJson, type DbContext } from './context.ts';
import { isUniqueViolation } from './database.ts';
import { fromIntBool, toIso, type ConnectionRow, type ConnectionRowUpdate } from './schema.ts';

export const CREDENTIALS_PURPOSE = 'connection.credentials';
/** `refresh_exhausted` is set when `refresh_attempts` reaches this (Nango: 4). */
export const REFRESH_MAX_ATTEMPTS = 4;
/** Default `limit` of listConnections (Nango's server default). */
export const LIST_DEFAULT_LIMIT = 10_000;

export interface EndUserOrganization {
  id: string;
  display_name?: string | null;
}

/** As shown in `ApiPublicConnectionFull.end_user`. */
export interface EndUser {
  id: string;
  display_name?: string | null;
  email?: string | null;
  tags?: Record<string, string> | null;
  organization?: EndUserOrganization | null;
}

/** An entry of the connection's `errors` array, e.g. `{type: "auth", log_id: "…"}`. */
export interface ConnectionError {
  type: string;
  log_id?: string;
  [key: string]: unknown;
}

/** Stored credentials (for Marketo: OAUTH2_CC `{type, token, expires_at, client_id, client_secret, raw}`). */
export interface ConnectionCredentials {
  type: string;
  /** ISO date; mirrored into `credentials_expires_at`. */
  expires_at?: string;
  [key: string]: unknown;
}

export type JsonObject = Record<string, unknown>;

export interface Connection {
  /** Numeric id (`id` in the API). */
  id: number;
  environmentId: number;
  connectionId: string;
  providerConfigKey: string;
  provider: string;
  connectionConfig: JsonObject;
  metadata: JsonObject | null;
  tags: Record<string, string>;
  endUser: EndUser | null;
  webhookUrlOverride: string | null;
  errors: ConnectionError[];
  hasCredentials: boolean;
  credentialsExpiresAt: string | null;
  lastRefreshSuccess: string | null;
  lastRefreshFailure: string | null;
  refreshAttempts: number | null;
  refreshExhausted: boolean;
  createdAt: string;
  updatedAt: string;
  lastFetchedAt: string | null;
  deletedAt: string | null;
}

export interface ConnectionWithCredentials extends Connection {
  credentials: ConnectionCredentials | null;
}

export interface NewConnection {
  environmentId: number;
  connectionId: string;
  providerConfigKey: string;
  provider: string;
  connectionConfig?: JsonObject;
  credentials?: ConnectionCredentials | null;
  metadata?: JsonObject | null;
  tags?: Record<string, string>;
  endUser?: EndUser | null;
  webhookUrlOverride?: string | null;
}

export class ConnectionExistsError extends Error {
  constructor(providerConfigKey: string, connectionId: string) {
    super(`A connection "${connectionId}" already exists for integration "${providerConfigKey}".`);
    this.name = 'ConnectionExistsError';
  }
}

function toConnection(row: ConnectionRow): Connection {
  return {
    id: row.id,
    environmentId: row.environment_id,
    connectionId: row.connection_id,
    providerConfigKey: row.provider_config_key,
    provider: row.provider,
    connectionConfig: JSON.parse(row.connection_config) as JsonObject,
    metadata: row.metadata === null ? null : (JSON.parse(row.metadata) as JsonObject),
    tags: JSON.parse(row.tags) as Record<string, string>,
    endUser: row.end_user === null ? null : (JSON.parse(row.end_user) as EndUser),
    webhookUrlOverride: row.webhook_url_override,
    errors: JSON.parse(row.errors) as ConnectionError[],
    hasCredentials: row.credentials_encrypted !== null,
    credentialsExpiresAt: row.credentials_expires_at,
    lastRefreshSuccess: row.last_refresh_success,
    lastRefreshFailure: row.last_refresh_failure,
    refreshAttempts: row.refresh_attempts,
    refreshExhausted: fromIntBool(row.refresh_exhausted),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    lastFetchedAt: row.last_fetched_at,
    deletedAt: row.deleted_at,
  };
}

function withCredentials(ctx: DbContext, row: ConnectionRow): ConnectionWithCredentials {
  return {
    ...toConnection(row),
    credentials:
      row.credentials_encrypted === null
        ? null
        : ctx.vault.decrypt<ConnectionCredentials>(row.credentials_encrypted, CREDENTIALS_PURPOSE),
  };
}

/** Columns for a credentials write: ciphertext and the mirrored expiry. */
function credentialColumns(
  ctx: DbContext,
  credentials: ConnectionCredentials | null,
): Pick<ConnectionRowUpdate, 'credentials_encrypted' | 'credentials_expires_at'> {
  if (credentials === null) return { credentials_encrypted: null, credentials_expires_at: null };
  let expires: string | null = null;
  if (typeof credentials.expires_at === 'string') {
    const d = new Date(credentials.expires_at);
    if (!Number.isNaN(d.getTime())) expires = toIso(d);
  }
  return {
    credentials_encrypted: ctx.vault.encrypt(credentials, CREDENTIALS_PURPOSE),
    credentials_expires_at: expires,
  };
}

function endUserColumns(endUser: EndUser | null): {
  end_user: string | null;
  end_user_id: string | null;
  end_user_organization_id: string | null;
} {
  return {
    end_user: endUser === null ? null : toJson(endUser),
    end_user_id: endUser?.id ?? null,
    end_user_organization_id: endUser?.organization?.id ?? null,
  };
}

async function writeTagIndex(ctx: DbContext, pk: number, tags: Record<string, string>): Promise<void> {
  await ctx.db.deleteFrom('connection_tags').where('connection_pk', '=', pk).execute();
  const rows = new Map<string, string>();
  for (const [k, v] of Object.entries(tags)) rows.set(k.toLowerCase(), String(v));
  if (rows.size > 0)
    await ctx.db
      .insertInto('connection_tags')
      .values([...rows].map(([key, value]) => ({ connection_pk: pk, key, value })))
      .execute();
}

function liveConnection(
  ctx: DbContext,
  environmentId: number,
  providerConfigKey: string,
  connectionId: string,
) {
  return ctx.db
    .selectFrom('connections')
    .where('environment_id', '=', environmentId)
    .where('provider_config_key', '=', providerConfigKey)
    .where('connection_id', '=', connectionId)
    .where('deleted_at', 'is', null);
}

/** Inserts a connection. Throws `ConnectionExistsError` if a live one has the same key and id. */
export async function createConnection(
  ctx: DbContext,
  input: NewConnection,
): Promise<ConnectionWithCredentials> {
  const now = toIso(nowOf(ctx));
  const tags = input.tags ?? {};
  try {
    return await inTransaction(ctx, async (tx) => {
      const row = await tx.db
        .insertInto('connections')
        .values({
          environment_id: input.environmentId,
          connection_id: input.connectionId,
          provider_config_key: input.providerConfigKey,
          provider: input.provider,
          connection_config: toJson(input.connectionConfig ?? {}),
          ...credentialColumns(tx, input.credentials ?? null),
          metadata: input.metadata == null ? null : toJson(input.metadata),
          tags: toJson(tags),
          ...endUserColumns(input.endUser ?? null),
          webhook_url_override: input.webhookUrlOverride ?? null,
          errors: '[]',
          refresh_exhausted: 0,
          created_at: now,
          updated_at: now,
          last_fetched_at: input.credentials ? now : null,
        })
        .returningAll()
        .executeTakeFirstOrThrow();
      await writeTagIndex(tx, row.id, tags);
      return withCredentials(tx, row);
    });
  } catch (err) {
    if (isUniqueViolation(err)) throw new ConnectionExistsError(input.providerConfigKey, input.connectionId);
    throw err;
  }
}

/**
 * Creates the connection, or overwrites the live one with the same key and id (a reconnect: Nango's
 * `override` operation). On overwrite: provider, connection_config and credentials are replaced; end user,
 * tags, metadata and webhook override are replaced only when given; errors and refresh-failure state are
 * cleared; id and created_at are kept.
 */
export async function upsertConnection(
  ctx: DbContext,
  input: NewConnection,
): Promise<{ connection: ConnectionWithCredentials; operation: 'creation' | 'override' }> {
  return inTransaction(ctx, async (tx) => {
    const existing = await liveConnection(
      tx,
      input.environmentId,
      input.providerConfigKey,
      input.connectionId,
    )
      .select('id')
      .executeTakeFirst();
    if (!existing) return { connection: await createConnection(tx, input), operation: 'creation' };
    const now = toIso(nowOf(tx));
    const update: ConnectionRowUpdate = {
      provider: input.provider,
      connection_config: toJson(input.connectionConfig ?? {}),
      ...credentialColumns(tx, input.credentials ?? null),
      errors: '[]',
      last_refresh_failure: null,
      refresh_attempts: null,
      refresh_exhausted: 0,
      updated_at: now,
      ...(input.credentials ? { last_fetched_at: now } : {}),
      ...(input.endUser !== undefined ? endUserColumns(input.endUser) : {}),
      ...(input.metadata !== undefined
        ? { metadata: input.metadata === null ? null : toJson(input.metadata) }
        : {}),
      ...(input.webhookUrlOverride !== undefined ? { webhook_url_override: input.webhookUrlOverride } : {}),
      ...(input.tags !== undefined ? { tags: toJson(input.tags) } : {}),
    };
    const row = await tx.db
      .updateTable('connections')
      .set(update)
      .where('id', '=', existing.id)
      .returningAll()
      .executeTakeFirstOrThrow();
    if (input.tags !== undefined) await writeTagIndex(tx, row.id, input.tags);
    return { connection: withCredentials(tx, row), operation: 'override' };
  });
}

/** The live connection, with decrypted credentials, or undefined. */
export async function getConnection(
  ctx: DbContext,
  environmentId: number,
  providerConfigKey: string,
  connectionId: string,
): Promise<ConnectionWithCredentials | undefined> {
  const row = await liveConnection(ctx, environmentId, providerConfigKey, connectionId)
    .selectAll()
    .executeTakeFirst();
  return row ? withCredentials(ctx, row) : undefined;
}

/** By numeric id; deleted connections only with `includeDeleted`. */
export async function getConnectionById(
  ctx: DbContext,
  id: number,
  options: { includeDeleted?: boolean } = {},
): Promise<ConnectionWithCredentials | undefined> {
  let q = ctx.db.selectFrom('connections').selectAll().where('id', '=', id);
  if (!options.includeDeleted) q = q.where('deleted_at', 'is', null);
  const row = await q.executeTakeFirst();
  return row ? withCredentials(ctx, row) : undefined;
}

export interface ConnectionFilter {
  /** Exact connection id. */
  connectionId?: string;
  /** Case-insensitive substring of the connection id (legacy `search`). */
  search?: string;
  endUserId?: string;
  endUserOrganizationId?: string;
  /** Provider config keys (any of). Empty array → no match. */
  integrationIds?: string[];
  /** Every given tag must match (keys compared lower-cased, values exactly). */
  tags?: Record<string, string>;
  /** Page size, default LIST_DEFAULT_LIMIT. */
  limit?: number;
  /** 0-based page number; offset = page × limit. */
  page?: number;
}

/** Live connections of an environment, newest first (created_at, then id, descending). No credentials. */
export async function listConnections(
  ctx: DbContext,
  environmentId: number,
  filter: ConnectionFilter = {},
): Promise<Connection[]> {
  if (filter.integrationIds && filter.integrationIds.length === 0) return [];
  let q = ctx.db
    .selectFrom('connections')
    .selectAll()
    .where('environment_id', '=', environmentId)
    .where('deleted_at', 'is', null);
  if (filter.connectionId !== undefined) q = q.where('connection_id', '=', filter.connectionId);
  if (filter.search) {
    const pattern = `%${filter.search.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    q = q.where(sql<boolean>`lower(connection_id) like ${pattern} escape '\\'`);
  }
  if (filter.endUserId !== undefined) q = q.where('end_user_id', '=', filter.endUserId);
  if (filter.endUserOrganizationId !== undefined)
    q = q.where('end_user_organization_id', '=', filter.endUserOrganizationId);
  if (filter.integrationIds) q = q.where('provider_config_key', 'in', filter.integrationIds);
  for (const [key, value] of Object.entries(filter.tags ?? {})) {
    q = q.where(({ exists, selectFrom }) =>
      exists(
        selectFrom('connection_tags')
          .select('connection_tags.connection_pk')
          .whereRef('connection_tags.connection_pk', '=', 'connections.id')
          .where('connection_tags.key', '=', key.toLowerCase())
          .where('connection_tags.value', '=', value),
      ),
    );
  }
  const limit = filter.limit ?? LIST_DEFAULT_LIMIT;
  const rows = await q
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .limit(limit)
    .offset((filter.page ?? 0) * limit)
    .execute();
  return rows.map(toConnection);
}

export interface ConnectionPatch {
  endUser?: EndUser | null;
  tags?: Record<string, string>;
  webhookUrlOverride?: string | null;
  connectionConfig?: JsonObject;
}

/** Updates the given fields of a live connection. Returns false if there is none. */
export async function patchConnection(
  ctx: DbContext,
  environmentId: number,
  providerConfigKey: string,
  connectionId: string,
  patch: ConnectionPatch,
): Promise<boolean> {
  return inTransaction(ctx, async (tx) => {
    const existing = await liveConnection(tx, environmentId, providerConfigKey, connectionId)
      .select('id')
      .executeTakeFirst();
    if (!existing) return false;
    const r = await tx.db
      .updateTable('connections')
      .set({
        updated_at: toIso(nowOf(tx)),
        ...(patch.endUser !== undefined ? endUserColumns(patch.endUser) : {}),
        ...(patch.tags !== undefined ? { tags: toJson(patch.tags) } : {}),
        ...(patch.webhookUrlOverride !== undefined ? { webhook_url_override: patch.webhookUrlOverride } : {}),
        ...(patch.connectionConfig !== undefined
          ? { connection_config: toJson(patch.connectionConfig) }
          : {}),
      })
      .where('id', '=', existing.id)
      // A delete that committed after our read (PostgreSQL) wins: no tag index for a deleted row.
      .where('deleted_at', 'is', null)
      .executeTakeFirst();
    if (Number(r.numUpdatedRows) === 0) return false;
    if (patch.tags !== undefined) await writeTagIndex(tx, existing.id, patch.tags);
    return true;
  });
}

/** Soft delete; erases credentials and the tag index. Returns false if there was no live connection. */
export async function deleteConnection(
  ctx: DbContext,
  environmentId: number,
  providerConfigKey: string,
  connectionId: string,
): Promise<boolean> {
  return inTransaction(ctx, async (tx) => {
    const existing = await liveConnection(tx, environmentId, providerConfigKey, connectionId)
      .select('id')
      .executeTakeFirst();
    if (!existing) return false;
    const now = toIso(nowOf(tx));
    const r = await tx.db
      .updateTable('connections')
      .set({ deleted_at: now, updated_at: now, credentials_encrypted: null, credentials_expires_at: null })
      .where('id', '=', existing.id)
      // On PostgreSQL two concurrent deletes both read the row live; only the first update still matches.
      .where('deleted_at', 'is', null)
      .executeTakeFirst();
    if (Number(r.numUpdatedRows) === 0) return false;
    await tx.db.deleteFrom('connection_tags').where('connection_pk', '=', existing.id).execute();
    return true;
  });
}

async function writeMetadata(
  ctx: DbContext,
  environmentId: number,
  providerConfigKey: string,
  connectionIds: string[],
  metadata: JsonObject,
  merge: boolean,
): Promise<{ missing: string[] }> {
  return inTransaction(ctx, async (tx) => {
    const ids = [...new Set(connectionIds)];
    const rows =
      ids.length === 0
        ? []
        : await tx.db
            .selectFrom('connections')
            .select(['id', 'connection_id', 'metadata'])
            .where('environment_id', '=', environmentId)
            .where('provider_config_key', '=', providerConfigKey)
            .where('connection_id', 'in', ids)
            .where('deleted_at', 'is', null)
            .execute();
    const found = new Set(rows.map((r) => r.connection_id));
    const missing = ids.filter((id) => !found.has(id));
    if (missing.length > 0) return { missing }; // no partial writes
    const now = toIso(nowOf(tx));
    for (const row of rows) {
      const next = merge
        ? { ...(row.metadata === null ? {} : (JSON.parse(row.metadata) as JsonObject)), ...metadata }
        : metadata;
      await tx.db
        .updateTable('connections')
        .set({ metadata: toJson(next), updated_at: now })
        .where('id', '=', row.id)
        .execute();
    }
    return { missing };
  });
}

/**
 * Replaces the metadata of each connection (`POST /connections/metadata`). If any id is unknown nothing is
 * written and the unknown ids are returned in `missing`.
 */
export function setMetadata(
  ctx: DbContext,
  environmentId: number,
  providerConfigKey: string,
  connectionIds: string[],
  metadata: JsonObject,
): Promise<{ missing: string[] }> {
  return writeMetadata(ctx, environmentId, providerConfigKey, connectionIds, metadata, false);
}

/** Shallow-merges into the metadata of each connection (`PATCH /connections/metadata`); same contract. */
export function updateMetadata(
  ctx: DbContext,
  environmentId: number,
  providerConfigKey: string,
  connectionIds: string[],
  metadata: JsonObject,
): Promise<{ missing: string[] }> {
  return writeMetadata(ctx, environmentId, providerConfigKey, connectionIds, metadata, true);
}

/**
 * Replaces the stored credentials (encrypted) of live connection `id`; `credentials_expires_at` follows.
 */
export async function setCredentials(
  ctx: DbContext,
  id: number,
  credentials: ConnectionCredentials | null,
): Promise<void> {
  await ctx.db
    .updateTable('connections')
    .set({ ...credentialColumns(ctx, credentials), updated_at: toIso(nowOf(ctx)) })
    .where('id', '=', id)
    // A deleted connection's credentials stay erased (a refresh may end after the delete).
    .where('deleted_at', 'is', null)
    .execute();
}

/**
 * A refresh succeeded: new credentials, `last_refresh_success = last_fetched_at = now`, attempts reset,
 * not exhausted, `auth` errors cleared. Nothing is written when the stored client credentials are no
 * longer the ones the refresh used (a reconnect changed them meanwhile).
 */
export async function markRefreshSuccess(
  ctx: DbContext,
  id: number,
  credentials: ConnectionCredentials,
): Promise<void> {
  await inTransaction(ctx, async (tx) => {
    const row = await tx.db
      .selectFrom('connections')
      .select(['errors', 'credentials_encrypted'])
      .where('id', '=', id)
      // A refresh that ends after the connection was deleted must not store its new token there.
      .where('deleted_at', 'is', null)
      .executeTakeFirst();
    if (!row) return;
    // A reconnect that stored other client credentials while this refresh was asking (with the old
    // ones) wins: its credentials and token are newer, so this token is not written over them.
    const stored =
      row.credentials_encrypted === null
        ? null
        : tx.vault.decrypt<ConnectionCredentials>(row.credentials_encrypted, CREDENTIALS_PURPOSE);
    if (
      stored !== null &&
      (stored.client_id !== credentials.client_id || stored.client_secret !== credentials.client_secret)
    )
      return;
    const errors = (JSON.parse(row.errors) as ConnectionError[]).filter((e) => e.type !== 'auth');
    const now = toIso(nowOf(tx));
    await tx.db
      .updateTable('connections')
      .set({
        ...credentialColumns(tx, credentials),
        last_refresh_success: now,
        last_fetched_at: now,
        refresh_attempts: null,
        refresh_exhausted: 0,
        errors: toJson(errors),
        updated_at: now,
      })
      .where('id', '=', id)
      .execute();
  });
}

/**
 * A refresh failed: `last_refresh_failure = now`; `refresh_attempts` goes up by one at most once per UTC
 * calendar day; `refresh_exhausted` once it reaches REFRESH_MAX_ATTEMPTS. `error` (e.g. `{type: "auth",
 * log_id}`) replaces any error of the same type. Returns the new state, or undefined for an unknown or
 * deleted id.
 */
export async function markRefreshFailure(
  ctx: DbContext,
  id: number,
  error?: ConnectionError,
): Promise<{ refreshAttempts: number; refreshExhausted: boolean } | undefined> {
  return inTransaction(ctx, async (tx) => {
    const row = await tx.db
      .selectFrom('connections')
      .select(['errors', 'refresh_attempts', 'last_refresh_failure'])
      .where('id', '=', id)
      .where('deleted_at', 'is', null)
      .executeTakeFirst();
    if (!row) return undefined;
    const now = toIso(nowOf(tx));
    const sameDay =
      row.last_refresh_failure !== null && row.last_refresh_failure.slice(0, 10) === now.slice(0, 10);
    const previous = row.refresh_attempts ?? 0;
    const attempts = sameDay && previous > 0 ? previous : previous + 1;
    const exhausted = attempts >= REFRESH_MAX_ATTEMPTS;
    let errors = JSON.parse(row.errors) as ConnectionError[];
    if (error) errors = [...errors.filter((e) => e.type !== error.type), error];
    await tx.db
      .updateTable('connections')
      .set({
        last_refresh_failure: now,
        refresh_attempts: attempts,
        refresh_exhausted: exhausted ? 1 : 0,
        errors: toJson(errors),
        updated_at: now,
      })
      .where('id', '=', id)
      .execute();
    return { refreshAttempts: attempts, refreshExhausted: exhausted };
  });
}

/** Records that the connection's credentials were read (`last_fetched_at = now`). */
export async function touchConnection(ctx: DbContext, id: number): Promise<void> {
  await ctx.db
    .updateTable('connections')
    .set({ last_fetched_at: toIso(nowOf(ctx)) })
    .where('id', '=', id)
    .execute();
}

/**
 * Live, not exhausted connections whose credentials were not fetched since `notFetchedSince` (or never),
 * oldest first: the refresh cron's work list.
 */
export async function listConnectionsToRefresh(
  ctx: DbContext,
  options: { notFetchedSince: Date; limit: number },
): Promise<Connection[]> {
  const since = toIso(options.notFetchedSince);
  const rows = await ctx.db
    .selectFrom('connections')
    .selectAll()
    .where('deleted_at', 'is', null)
    .where('refresh_exhausted', '=', 0)
    .where((eb) => eb.or([eb('last_fetched_at', 'is', null), eb('last_fetched_at', '<', since)]))
    // coalesce: never-fetched first on both databases (NULL ordering differs between SQLite and PostgreSQL).
    .orderBy(sql`coalesce(last_fetched_at, '')`, 'asc')
    .orderBy('id', 'asc')
    .limit(options.limit)
    .execute();
  return rows.map(toConnection);
}

/**
 * Renames an integration's key on its connections (used when an integration's unique key changes).
 * Returns the number of connections changed.
 */
export async function renameConnectionsIntegration(
  ctx: DbContext,
  environmentId: number,
  fromKey: string,
  toKey: string,
): Promise<number> {
  const r = await ctx.db
    .updateTable('connections')
    .set({ provider_config_key: toKey, updated_at: toIso(nowOf(ctx)) })
    .where('environment_id', '=', environmentId)
    .where('provider_config_key', '=', fromKey)
    .executeTakeFirst();
  return Number(r.numUpdatedRows);
}

/** Every live connection of an integration with its credentials (read before the integration's deletion). */
export async function liveConnectionsOfIntegration(
  ctx: DbContext,
  environmentId: number,
  providerConfigKey: string,
): Promise<ConnectionWithCredentials[]> {
  const rows = await ctx.db
    .selectFrom('connections')
    .selectAll()
    .where('environment_id', '=', environmentId)
    .where('provider_config_key', '=', providerConfigKey)
    .where('deleted_at', 'is', null)
    .orderBy('id')
    .execute();
  return rows.map((r) => withCredentials(ctx, r));
}

/** Soft-deletes every live connection of an integration (when the integration is deleted). */
export async function deleteConnectionsOfIntegration(
  ctx: DbContext,
  environmentId: number,
  providerConfigKey: string,
): Promise<number> {
  return inTransaction(ctx, async (tx) => {
    const now = toIso(nowOf(tx));
    const ids = (
      await tx.db
        .selectFrom('connections')
        .select('id')
        .where('environment_id', '=', environmentId)
        .where('provider_config_key', '=', providerConfigKey)
        .where('deleted_at', 'is', null)
        .execute()
    ).map((r) => r.id);
    if (ids.length === 0) return 0;
    await tx.db
      .updateTable('connections')
      .set({ deleted_at: now, updated_at: now, credentials_encrypted: null, credentials_expires_at: null })
      .where('id', 'in', ids)
      .execute();
    await tx.db.deleteFrom('connection_tags').where('connection_pk', 'in', ids).execute();
    return ids.length;
  });
}
