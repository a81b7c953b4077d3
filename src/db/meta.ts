/** The `meta` key/value table: schema-independent facts about this database (e.g. the encryption key check). */
import type { Kysely } from 'kysely';
import type { Database } from './schema.ts';

export const META_KEYS = {
  /** HMAC-SHA256(encryption key, "tether-key-check"), hex. See src/engine/keys.ts. */
  encryptionKeyCheck: 'encryption_key_check',
} as const;

export async function getMeta(db: Kysely<Database>, key: string): Promise<string | undefined> {
  const row = await db.selectFrom('meta').select('value').where('key', '=', key).executeTakeFirst();
  return row?.value;
}

export async function setMeta(
  db: Kysely<Database>,
  key: string,
  value: string,
  now = new Date(),
): Promise<void> {
  const updated_at = now.toISOString();
  // Portable upsert: `on conflict (key) do update` is accepted by both SQLite (3.24+) and PostgreSQL.
  await db
    .insertInto('meta')
    .values({ key, value, updated_at })
    .onConflict((oc) => oc.column('key').doUpdateSet({ value, updated_at }))
    .execute();
}

/**
 * Sets `key` only if it has no value yet; returns the value now stored (the existing one if there was one).
 * Safe against two processes racing on first start.
 */
export async function setMetaIfAbsent(
  db: Kysely<Database>,
  key: string,
  value: string,
  now = new Date(),
): Promise<string> {
  await db
    .insertInto('meta')
    .values({ key, value, updated_at: now.toISOString() })
    .onConflict((oc) => oc.column('key').doNothing())
    .execute();
  return (await getMeta(db, key)) ?? value;
}

export async function deleteMeta(db: Kysely<Database>, key: string): Promise<boolean> {
  const r = await db.deleteFrom('meta').where('key', '=', key).executeTakeFirst();
  return Number(r.numDeletedRows) > 0;
}
