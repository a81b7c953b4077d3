/**
 * The server's two keys:
 * - the secret key (UUID v4): the API key of the default environment (`Authorization: Bearer <key>`);
 * - the encryption key (32 bytes): the vault key for every secret at rest.
 *
 * Each comes from the environment (TETHER_SECRET_KEY / TETHER_ENCRYPTION_KEY) if set; otherwise from a file in
 * the data dir (`secret-key`, `encryption-key`), generated on first start with owner-only permissions (files
 * 0600, data dir 0700 when Tether creates it). Keys given through the environment are never written to disk.
 *
 * The encryption key cannot change once data was written with it: `verifyEncryptionKey` stores a check value
 * in the database meta table on first use and refuses any other key afterwards.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Kysely } from 'kysely';
import { decodeKey32, isUuidV4, type TetherConfig } from '../config.ts';
import { getMeta, META_KEYS, setMetaIfAbsent } from '../db/meta.ts';
import type { Database } from '../db/schema.ts';
import { keyCheckValue, safeEqual } from './vault.ts';

export const SECRET_KEY_FILE = 'secret-key';
export const ENCRYPTION_KEY_FILE = 'encryption-key';

export type KeySource = 'env' | 'file' | 'generated';

export interface TetherKeys {
  secretKey: string;
  encryptionKey: Buffer;
  secretKeySource: KeySource;
  encryptionKeySource: KeySource;
  /** Absolute paths of the key files (used or not). */
  secretKeyFile: string;
  encryptionKeyFile: string;
  /** Non-fatal findings worth logging (e.g. permissions that were too open and have been tightened). */
  warnings: string[];
}

export class KeyError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'KeyError';
  }
}

export class EncryptionKeyMismatchError extends KeyError {
  constructor() {
    super(
      'The encryption key does not match the key this database was created with. Tether cannot read the ' +
        'secrets stored in it and refuses to start. Restore the original key (TETHER_ENCRYPTION_KEY or the ' +
        `"${ENCRYPTION_KEY_FILE}" file in the data dir); changing the encryption key of an existing database is not supported.`,
    );
    this.name = 'EncryptionKeyMismatchError';
  }
}

/** Reads or creates the keys. Synchronous: it runs once at startup, before anything is served. */
export function loadOrCreateKeys(
  config: Pick<TetherConfig, 'dataDir' | 'secretKey' | 'encryptionKey'>,
): TetherKeys {
  const warnings: string[] = [];
  const secretKeyFile = path.join(config.dataDir, SECRET_KEY_FILE);
  const encryptionKeyFile = path.join(config.dataDir, ENCRYPTION_KEY_FILE);
  const needFiles = config.secretKey === undefined || config.encryptionKey === undefined;
  if (needFiles) ensureDataDir(config.dataDir, warnings);

  let secretKey: string;
  let secretKeySource: KeySource;
  if (config.secretKey !== undefined) {
    secretKey = config.secretKey;
    secretKeySource = 'env';
  } else {
    const r = readOrCreate(secretKeyFile, () => `${randomUUID()}\n`, warnings);
    secretKey = r.text.trim();
    secretKeySource = r.created ? 'generated' : 'file';
    if (!isUuidV4(secretKey))
      throw new KeyError(
        `${secretKeyFile} does not hold a UUID v4 secret key. Fix it, delete it to generate a new one ` +
          '(clients using the old key will be refused), or set TETHER_SECRET_KEY.',
      );
  }

  let encryptionKey: Buffer;
  let encryptionKeySource: KeySource;
  if (config.encryptionKey !== undefined) {
    encryptionKey = config.encryptionKey;
    encryptionKeySource = 'env';
  } else {
    const r = readOrCreate(encryptionKeyFile, () => `${randomBytes(32).toString('base64')}\n`, warnings);
    const key = decodeKey32(r.text);
    if (!key)
      throw new KeyError(
        `${encryptionKeyFile} does not hold a base64-encoded 32-byte key. Restore it from a backup: without ` +
          'the original key the secrets in the database cannot be read.',
      );
    encryptionKey = key;
    encryptionKeySource = r.created ? 'generated' : 'file';
  }

  return {
    secretKey,
    encryptionKey,
    secretKeySource,
    encryptionKeySource,
    secretKeyFile,
    encryptionKeyFile,
    warnings,
  };
}

function ensureDataDir(dir: string, warnings: string[]): void {
  let existed = true;
  try {
    statSync(dir);
  } catch {
    existed = false;
  }
  if (!existed) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    chmodSync(dir, 0o700);
    return;
  }
  const st = statSync(dir);
  if (!st.isDirectory()) throw new KeyError(`TETHER_DATA_DIR ${dir} exists and is not a directory.`);
  // An existing directory may be shared on purpose (e.g. a mounted volume): report, do not change it.
  if (st.mode & 0o077)
    warnings.push(
      `Data dir ${dir} is accessible to other users (mode ${(st.mode & 0o777).toString(8)}); 700 is advised.`,
    );
}

function readOrCreate(
  file: string,
  make: () => string,
  warnings: string[],
): { text: string; created: boolean } {
  try {
    writeFileSync(file, make(), { mode: 0o600, flag: 'wx' });
    chmodSync(file, 0o600);
    return { text: readFileSync(file, 'utf8'), created: true };
  } catch (err) {
    // EEXIST: the usual later start (or another process won a first-start race): read what is there.
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST')
      throw new KeyError(`Cannot create ${file}: ${(err as Error).message}`, { cause: err });
  }
  const st = statSync(file);
  if (st.mode & 0o077) {
    try {
      chmodSync(file, 0o600);
      warnings.push(`${file} was readable by other users; its permissions were set to 600.`);
    } catch {
      warnings.push(
        `${file} is readable by other users (mode ${(st.mode & 0o777).toString(8)}); 600 is advised.`,
      );
    }
  }
  return { text: readFileSync(file, 'utf8'), created: false };
}

/**
 * Checks `encryptionKey` against the check value stored in the database; stores it if the database has none
 * yet (first start). Throws `EncryptionKeyMismatchError` if the database was set up with another key.
 * Returns 'stored' on first use, 'match' afterwards.
 */
export async function verifyEncryptionKey(
  db: Kysely<Database>,
  encryptionKey: Buffer,
): Promise<'stored' | 'match'> {
  const check = keyCheckValue(encryptionKey);
  const before = await getMeta(db, META_KEYS.encryptionKeyCheck);
  // setMetaIfAbsent returns whatever is stored, so two processes racing on first start agree on one key.
  const stored = before ?? (await setMetaIfAbsent(db, META_KEYS.encryptionKeyCheck, check));
  if (!safeEqual(stored, check)) throw new EncryptionKeyMismatchError();
  return before === undefined ? 'stored' : 'match';
}
