/**
 * Startup composition of the persistence layer: keys → database (+ migrations) → encryption key check →
 * default environment. The server calls `openStore(getConfig())` once and passes `store.ctx` to the
 * repositories.
 */
import type { TetherConfig } from '../config.ts';
import { loadOrCreateKeys, verifyEncryptionKey, type TetherKeys } from '../engine/keys.ts';
import { Vault } from '../engine/vault.ts';
import type { DbContext } from './context.ts';
import { openDatabase, type Db, type Dialect } from './database.ts';
import { ensureEnvironment, type Environment } from './environments.ts';

/** Name of the environment the configured secret key belongs to (Nango's default environment is "dev"). */
export const DEFAULT_ENVIRONMENT_NAME = 'dev';

export interface Store {
  db: Db;
  dialect: Dialect;
  vault: Vault;
  keys: TetherKeys;
  /** Context for the repository functions. */
  ctx: DbContext;
  /** The default environment (its secret key is `keys.secretKey`). */
  environment: Environment;
  /** 'stored' on the very first start of this database, 'match' afterwards. */
  keyCheck: 'stored' | 'match';
  close(): Promise<void>;
}

export type StoreConfig = Pick<
  TetherConfig,
  'dataDir' | 'secretKey' | 'encryptionKey' | 'database' | 'webhookUrl'
>;

/**
 * Opens everything. Throws `KeyError` / `EncryptionKeyMismatchError` (keys), `MigrationError` (schema) with
 * messages fit for the operator; nothing is left open on failure.
 */
export async function openStore(config: StoreConfig, options: { now?: () => Date } = {}): Promise<Store> {
  const keys = loadOrCreateKeys(config);
  const vault = new Vault(keys.encryptionKey);
  const { db, dialect, close } = await openDatabase(config);
  try {
    const keyCheck = await verifyEncryptionKey(db, keys.encryptionKey);
    const ctx: DbContext = { db, vault, ...(options.now ? { now: options.now } : {}) };
    const environment = await ensureEnvironment(ctx, {
      name: DEFAULT_ENVIRONMENT_NAME,
      secretKey: keys.secretKey,
      ...(config.webhookUrl !== undefined ? { webhookUrl: config.webhookUrl } : {}),
    });
    return { db, dialect, vault, keys, ctx, environment, keyCheck, close };
  } catch (err) {
    await close();
    throw err;
  }
}
