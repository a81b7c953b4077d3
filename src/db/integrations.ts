/**
 * Integrations repository: one row per (environment, unique_key). For Marketo (OAUTH2_CC) the client id and
 * secret belong to each connection, so `credentials` is usually null; it exists for providers whose app
 * credentials live on the integration (stored encrypted, vault purpose "integration.credentials").
 */
import { deleteConnectionsOfIntegration, renameConnectionsIntegration } from './connections.ts';
import { inTransaction, isPostgres, nowOf, type DbContext } from './context.ts';
import { isUniqueViolation } from './database.ts';
import { fromIntBool, toIntBool, toIso, type IntegrationRow } from './schema.ts';

export const INTEGRATION_CREDENTIALS_PURPOSE = 'integration.credentials';

export type IntegrationCredentials = Record<string, unknown>;

export interface Integration {
  id: number;
  environmentId: number;
  uniqueKey: string;
  provider: string;
  displayName: string | null;
  credentials: IntegrationCredentials | null;
  forwardWebhooks: boolean;
  createdAt: string;
  updatedAt: string;
}

export interface NewIntegration {
  environmentId: number;
  uniqueKey: string;
  provider: string;
  displayName?: string | null;
  credentials?: IntegrationCredentials | null;
  /** Default true. */
  forwardWebhooks?: boolean;
}

export interface IntegrationPatch {
  /** Renames the integration; its connections follow. */
  uniqueKey?: string;
  displayName?: string | null;
  credentials?: IntegrationCredentials | null;
  forwardWebhooks?: boolean;
}

export class IntegrationExistsError extends Error {
  constructor(uniqueKey: string) {
    super(`An integration with the unique key "${uniqueKey}" already exists.`);
    this.name = 'IntegrationExistsError';
  }
}

function toIntegration(ctx: DbContext, row: IntegrationRow): Integration {
  return {
    id: row.id,
    environmentId: row.environment_id,
    uniqueKey: row.unique_key,
    provider: row.provider,
    displayName: row.display_name,
    credentials:
      row.credentials_encrypted === null
        ? null
        : ctx.vault.decrypt<IntegrationCredentials>(
            row.credentials_encrypted,
            INTEGRATION_CREDENTIALS_PURPOSE,
          ),
    forwardWebhooks: fromIntBool(row.forward_webhooks),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

function encryptCredentials(ctx: DbContext, credentials: IntegrationCredentials | null): string | null {
  return credentials === null ? null : ctx.vault.encrypt(credentials, INTEGRATION_CREDENTIALS_PURPOSE);
}

/** Throws `IntegrationExistsError` if the key is taken in this environment. */
export async function createIntegration(ctx: DbContext, input: NewIntegration): Promise<Integration> {
  const now = toIso(nowOf(ctx));
  try {
    const row = await ctx.db
      .insertInto('integrations')
      .values({
        environment_id: input.environmentId,
        unique_key: input.uniqueKey,
        provider: input.provider,
        display_name: input.displayName ?? null,
        credentials_encrypted: encryptCredentials(ctx, input.credentials ?? null),
        forward_webhooks: toIntBool(input.forwardWebhooks ?? true),
        created_at: now,
        updated_at: now,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    return toIntegration(ctx, row);
  } catch (err) {
    if (isUniqueViolation(err)) throw new IntegrationExistsError(input.uniqueKey);
    throw err;
  }
}

export async function getIntegration(
  ctx: DbContext,
  environmentId: number,
  uniqueKey: string,
): Promise<Integration | undefined> {
  const row = await ctx.db
    .selectFrom('integrations')
    .selectAll()
    .where('environment_id', '=', environmentId)
    .where('unique_key', '=', uniqueKey)
    .executeTakeFirst();
  return row ? toIntegration(ctx, row) : undefined;
}

/**
 * Whether the integration exists, read inside transaction `tx` so that a deletion cannot slip between
 * this check and the transaction's writes: on SQLite transactions run one at a time; on PostgreSQL the
 * row is locked (FOR SHARE) until the transaction ends, so a concurrent delete waits for it.
 */
export async function integrationExistsLocked(
  tx: DbContext,
  environmentId: number,
  uniqueKey: string,
): Promise<boolean> {
  if (!tx.db.isTransaction) throw new Error('integrationExistsLocked runs inside a transaction');
  let q = tx.db
    .selectFrom('integrations')
    .select('id')
    .where('environment_id', '=', environmentId)
    .where('unique_key', '=', uniqueKey);
  if (isPostgres(tx)) q = q.forShare();
  return (await q.executeTakeFirst()) !== undefined;
}

/** Oldest first. */
export async function listIntegrations(ctx: DbContext, environmentId: number): Promise<Integration[]> {
  const rows = await ctx.db
    .selectFrom('integrations')
    .selectAll()
    .where('environment_id', '=', environmentId)
    .orderBy('created_at', 'asc')
    .orderBy('id', 'asc')
    .execute();
  return rows.map((r) => toIntegration(ctx, r));
}

/**
 * Updates the given fields. Returns the updated integration, or undefined if `uniqueKey` is unknown.
 * Throws `IntegrationExistsError` when renaming onto a key already in use.
 */
export async function updateIntegration(
  ctx: DbContext,
  environmentId: number,
  uniqueKey: string,
  patch: IntegrationPatch,
): Promise<Integration | undefined> {
  try {
    return await inTransaction(ctx, async (tx) => {
      const row = await tx.db
        .updateTable('integrations')
        .set({
          updated_at: toIso(nowOf(tx)),
          ...(patch.uniqueKey !== undefined ? { unique_key: patch.uniqueKey } : {}),
          ...(patch.displayName !== undefined ? { display_name: patch.displayName } : {}),
          ...(patch.credentials !== undefined
            ? { credentials_encrypted: encryptCredentials(tx, patch.credentials) }
            : {}),
          ...(patch.forwardWebhooks !== undefined
            ? { forward_webhooks: toIntBool(patch.forwardWebhooks) }
            : {}),
        })
        .where('environment_id', '=', environmentId)
        .where('unique_key', '=', uniqueKey)
        .returningAll()
        .executeTakeFirst();
      if (!row) return undefined;
      if (patch.uniqueKey !== undefined && patch.uniqueKey !== uniqueKey)
        await renameConnectionsIntegration(tx, environmentId, uniqueKey, patch.uniqueKey);
      return toIntegration(tx, row);
    });
  } catch (err) {
    if (isUniqueViolation(err) && patch.uniqueKey !== undefined)
      throw new IntegrationExistsError(patch.uniqueKey);
    throw err;
  }
}

/** Deletes the integration and soft-deletes its connections. Returns false if it did not exist. */
export async function deleteIntegration(
  ctx: DbContext,
  environmentId: number,
  uniqueKey: string,
): Promise<boolean> {
  return inTransaction(ctx, async (tx) => {
    const r = await tx.db
      .deleteFrom('integrations')
      .where('environment_id', '=', environmentId)
      .where('unique_key', '=', uniqueKey)
      .executeTakeFirst();
    if (Number(r.numDeletedRows) === 0) return false;
    await deleteConnectionsOfIntegration(tx, environmentId, uniqueKey);
    return true;
  });
}
