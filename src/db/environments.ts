/**
 * Environments repository. An environment is what a secret key identifies (Nango: account + environment):
 * its integrations, connections and connect sessions belong to it. The secret key is stored twice: as a
 * keyed hash (the bearer-token lookup) and encrypted (so it can be shown again). The webhook signing key
 * is stored encrypted (it must be read to sign).
 */
import { randomUUID } from 'node:crypto';
import { inTransaction, nowOf, type DbContext } from './context.ts';
import { isUniqueViolation } from './database.ts';
import { fromIntBool, toIntBool, toIso, type EnvironmentRow } from './schema.ts';

export const SECRET_KEY_PURPOSE = 'environment.secret_key';
export const WEBHOOK_SIGNING_KEY_PURPOSE = 'environment.webhook_signing_key';

export interface Environment {
  id: number;
  name: string;
  secretKey: string;
  webhookUrl: string | null;
  webhookUrlSecondary: string | null;
  webhookSigningKey: string;
  onAuthCreation: boolean;
  onAuthRefreshError: boolean;
  createdAt: string;
  updatedAt: string;
}

export interface EnvironmentWebhookPatch {
  webhookUrl?: string | null;
  webhookUrlSecondary?: string | null;
  onAuthCreation?: boolean;
  onAuthRefreshError?: boolean;
}

export class SecretKeyInUseError extends Error {
  constructor() {
    super('This secret key is already used by another environment.');
    this.name = 'SecretKeyInUseError';
  }
}

function toEnvironment(ctx: DbContext, row: EnvironmentRow): Environment {
  return {
    id: row.id,
    name: row.name,
    secretKey: ctx.vault.decrypt<string>(row.secret_key_encrypted, SECRET_KEY_PURPOSE),
    webhookUrl: row.webhook_url,
    webhookUrlSecondary: row.webhook_url_secondary,
    webhookSigningKey: ctx.vault.decrypt<string>(
      row.webhook_signing_key_encrypted,
      WEBHOOK_SIGNING_KEY_PURPOSE,
    ),
    onAuthCreation: fromIntBool(row.on_auth_creation),
    onAuthRefreshError: fromIntBool(row.on_auth_refresh_error),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/**
 * Makes sure environment `name` exists with `secretKey` (the operator's key wins: an existing environment
 * whose key differs gets the new one). `webhookUrl`, when given, is applied too (the configuration is the
 * source of truth when set). A new environment gets a random webhook signing key (UUID v4).
 */
export async function ensureEnvironment(
  ctx: DbContext,
  input: { name: string; secretKey: string; webhookUrl?: string },
): Promise<Environment> {
  try {
    return await inTransaction(ctx, async (tx) => {
      const now = toIso(nowOf(tx));
      const hash = tx.vault.hash(input.secretKey);
      const existing = await tx.db
        .selectFrom('environments')
        .selectAll()
        .where('name', '=', input.name)
        .executeTakeFirst();
      if (!existing) {
        const row = await tx.db
          .insertInto('environments')
          .values({
            name: input.name,
            secret_key_hash: hash,
            secret_key_encrypted: tx.vault.encrypt(input.secretKey, SECRET_KEY_PURPOSE),
            webhook_url: input.webhookUrl ?? null,
            webhook_url_secondary: null,
            webhook_signing_key_encrypted: tx.vault.encrypt(randomUUID(), WEBHOOK_SIGNING_KEY_PURPOSE),
            created_at: now,
            updated_at: now,
          })
          .returningAll()
          .executeTakeFirstOrThrow();
        return toEnvironment(tx, row);
      }
      const keyChanged = existing.secret_key_hash !== hash;
      const webhookChanged = input.webhookUrl !== undefined && input.webhookUrl !== existing.webhook_url;
      if (!keyChanged && !webhookChanged) return toEnvironment(tx, existing);
      const row = await tx.db
        .updateTable('environments')
        .set({
          updated_at: now,
          ...(keyChanged
            ? {
                secret_key_hash: hash,
                secret_key_encrypted: tx.vault.encrypt(input.secretKey, SECRET_KEY_PURPOSE),
              }
            : {}),
          ...(webhookChanged ? { webhook_url: input.webhookUrl } : {}),
        })
        .where('id', '=', existing.id)
        .returningAll()
        .executeTakeFirstOrThrow();
      return toEnvironment(tx, row);
    });
  } catch (err) {
    if (isUniqueViolation(err)) throw new SecretKeyInUseError();
    throw err;
  }
}

/** The environment a bearer secret key belongs to, or undefined. */
export async function getEnvironmentBySecretKey(
  ctx: DbContext,
  secretKey: string,
): Promise<Environment | undefined> {
  const row = await ctx.db
    .selectFrom('environments')
    .selectAll()
    .where('secret_key_hash', '=', ctx.vault.hash(secretKey))
    .executeTakeFirst();
  return row ? toEnvironment(ctx, row) : undefined;
}

export async function getEnvironmentById(ctx: DbContext, id: number): Promise<Environment | undefined> {
  const row = await ctx.db.selectFrom('environments').selectAll().where('id', '=', id).executeTakeFirst();
  return row ? toEnvironment(ctx, row) : undefined;
}

export async function getEnvironmentByName(ctx: DbContext, name: string): Promise<Environment | undefined> {
  const row = await ctx.db.selectFrom('environments').selectAll().where('name', '=', name).executeTakeFirst();
  return row ? toEnvironment(ctx, row) : undefined;
}

export async function updateEnvironmentWebhooks(
  ctx: DbContext,
  id: number,
  patch: EnvironmentWebhookPatch,
): Promise<Environment | undefined> {
  const row = await ctx.db
    .updateTable('environments')
    .set({
      updated_at: toIso(nowOf(ctx)),
      ...(patch.webhookUrl !== undefined ? { webhook_url: patch.webhookUrl } : {}),
      ...(patch.webhookUrlSecondary !== undefined
        ? { webhook_url_secondary: patch.webhookUrlSecondary }
        : {}),
      ...(patch.onAuthCreation !== undefined ? { on_auth_creation: toIntBool(patch.onAuthCreation) } : {}),
      ...(patch.onAuthRefreshError !== undefined
        ? { on_auth_refresh_error: toIntBool(patch.onAuthRefreshError) }
        : {}),
    })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirst();
  return row ? toEnvironment(ctx, row) : undefined;
}

/** Replaces the webhook signing key with a new UUID v4 and returns it (undefined for an unknown id). */
export async function rotateWebhookSigningKey(ctx: DbContext, id: number): Promise<string | undefined> {
  const key = randomUUID();
  const r = await ctx.db
    .updateTable('environments')
    .set({
      webhook_signing_key_encrypted: ctx.vault.encrypt(key, WEBHOOK_SIGNING_KEY_PURPOSE),
      updated_at: toIso(nowOf(ctx)),
    })
    .where('id', '=', id)
    .executeTakeFirst();
  return Number(r.numUpdatedRows) > 0 ? key : undefined;
}
