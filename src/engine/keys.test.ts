import { randomBytes, randomUUID } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openDatabase } from '../db/database.ts';
import { getMeta, META_KEYS } from '../db/meta.ts';
import { makeTempDir } from '../db/testing.ts';
import {
  ENCRYPTION_KEY_FILE,
  EncryptionKeyMismatchError,
  KeyError,
  loadOrCreateKeys,
  SECRET_KEY_FILE,
  verifyEncryptionKey,
} from './keys.ts';
import { keyCheckValue } from './vault.ts';

const dirs: string[] = [];
function tempDataDir(): string {
  const root = makeTempDir();
  dirs.push(root);
  return path.join(root, 'data');
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const mode = (p: string) => statSync(p).mode & 0o777;

describe('loadOrCreateKeys', () => {
  it('generates both keys on first start with owner-only permissions, and reuses them later', () => {
    const dataDir = tempDataDir();
    const first = loadOrCreateKeys({ dataDir, secretKey: undefined, encryptionKey: undefined });
    expect(first.secretKeySource).toBe('generated');
    expect(first.encryptionKeySource).toBe('generated');
    expect(first.secretKey).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(first.encryptionKey).toHaveLength(32);
    expect(mode(dataDir)).toBe(0o700);
    expect(mode(path.join(dataDir, SECRET_KEY_FILE))).toBe(0o600);
    expect(mode(path.join(dataDir, ENCRYPTION_KEY_FILE))).toBe(0o600);
    expect(readFileSync(path.join(dataDir, ENCRYPTION_KEY_FILE), 'utf8').trim()).toBe(
      first.encryptionKey.toString('base64'),
    );
    expect(first.warnings).toEqual([]);

    const second = loadOrCreateKeys({ dataDir, secretKey: undefined, encryptionKey: undefined });
    expect(second.secretKeySource).toBe('file');
    expect(second.encryptionKeySource).toBe('file');
    expect(second.secretKey).toBe(first.secretKey);
    expect(second.encryptionKey.equals(first.encryptionKey)).toBe(true);
  });

  it('uses keys given through the environment and writes nothing', () => {
    const dataDir = tempDataDir();
    const secretKey = randomUUID();
    const encryptionKey = randomBytes(32);
    const keys = loadOrCreateKeys({ dataDir, secretKey, encryptionKey });
    expect(keys).toMatchObject({ secretKey, secretKeySource: 'env', encryptionKeySource: 'env' });
    expect(keys.encryptionKey.equals(encryptionKey)).toBe(true);
    expect(existsSync(dataDir)).toBe(false);
  });

  it('lets environment keys override existing files', () => {
    const dataDir = tempDataDir();
    const onDisk = loadOrCreateKeys({ dataDir, secretKey: undefined, encryptionKey: undefined });
    const secretKey = randomUUID();
    const keys = loadOrCreateKeys({ dataDir, secretKey, encryptionKey: undefined });
    expect(keys.secretKey).toBe(secretKey);
    expect(keys.encryptionKey.equals(onDisk.encryptionKey)).toBe(true);
    expect(readFileSync(path.join(dataDir, SECRET_KEY_FILE), 'utf8').trim()).toBe(onDisk.secretKey);
  });

  it('tightens key files that others can read, with a warning', () => {
    const dataDir = tempDataDir();
    loadOrCreateKeys({ dataDir, secretKey: undefined, encryptionKey: undefined });
    const file = path.join(dataDir, ENCRYPTION_KEY_FILE);
    chmodSync(file, 0o644);
    const keys = loadOrCreateKeys({ dataDir, secretKey: undefined, encryptionKey: undefined });
    expect(mode(file)).toBe(0o600);
    expect(keys.warnings.join('\n')).toContain(ENCRYPTION_KEY_FILE);
  });

  it('refuses corrupt key files with a clear error', () => {
    const dataDir = tempDataDir();
    loadOrCreateKeys({ dataDir, secretKey: undefined, encryptionKey: undefined });
    writeFileSync(path.join(dataDir, ENCRYPTION_KEY_FILE), 'too-short');
    expect(() => loadOrCreateKeys({ dataDir, secretKey: undefined, encryptionKey: undefined })).toThrow(
      /does not hold a base64-encoded 32-byte key/,
    );
    writeFileSync(path.join(dataDir, SECRET_KEY_FILE), 'nope');
    expect(() => loadOrCreateKeys({ dataDir, secretKey: undefined, encryptionKey: randomBytes(32) })).toThrow(
      KeyError,
    );
  });
});

describe('verifyEncryptionKey', () => {
  it('stores the check value on first use, accepts the same key and refuses another', async () => {
    const dataDir = tempDataDir();
    const file = path.join(dataDir, 'tether.sqlite');
    const key = randomBytes(32);
    const first = await openDatabase({ database: { kind: 'sqlite', file } });
    expect(await verifyEncryptionKey(first.db, key)).toBe('stored');
    expect(await getMeta(first.db, META_KEYS.encryptionKeyCheck)).toBe(keyCheckValue(key));
    expect(await verifyEncryptionKey(first.db, key)).toBe('match');
    await first.close();

    const again = await openDatabase({ database: { kind: 'sqlite', file } });
    expect(await verifyEncryptionKey(again.db, Buffer.from(key))).toBe('match');
    await expect(verifyEncryptionKey(again.db, randomBytes(32))).rejects.toBeInstanceOf(
      EncryptionKeyMismatchError,
    );
    await expect(verifyEncryptionKey(again.db, randomBytes(32))).rejects.toThrow(/does not match the key/);
    await again.close();
  });
});
