import { randomBytes, randomUUID } from 'node:crypto';
import { rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../config.ts';
import { EncryptionKeyMismatchError } from '../engine/keys.ts';
import { getEnvironmentBySecretKey } from './environments.ts';
import { openStore } from './store.ts';
import { makeTempDir } from './testing.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function config(env: Record<string, string> = {}) {
  const root = makeTempDir();
  dirs.push(root);
  return loadConfig({ TETHER_DATA_DIR: path.join(root, 'data'), ...env }, root);
}

describe('openStore', () => {
  it('first start generates keys and the default environment; a restart finds them again', async () => {
    const cfg = config();
    const first = await openStore(cfg);
    expect(first.keyCheck).toBe('stored');
    expect(first.keys.secretKeySource).toBe('generated');
    expect(first.environment).toMatchObject({ name: 'dev', secretKey: first.keys.secretKey });
    expect(statSync(path.join(cfg.dataDir, 'tether.sqlite')).mode & 0o777).toBe(0o600);
    await first.close();

    const second = await openStore(cfg);
    expect(second.keyCheck).toBe('match');
    expect(second.keys.secretKeySource).toBe('file');
    expect(second.environment.id).toBe(first.environment.id);
    expect((await getEnvironmentBySecretKey(second.ctx, first.keys.secretKey))?.name).toBe('dev');
    await second.close();
  });

  it('an operator-set secret key replaces the default environment key', async () => {
    const cfg = config();
    const first = await openStore(cfg);
    await first.close();
    const secretKey = randomUUID();
    const second = await openStore({ ...cfg, secretKey });
    expect(second.environment).toMatchObject({ id: first.environment.id, secretKey });
    expect(await getEnvironmentBySecretKey(second.ctx, first.keys.secretKey)).toBeUndefined();
    await second.close();
  });

  it('refuses to start with a different encryption key', async () => {
    const cfg = config();
    const first = await openStore(cfg);
    await first.close();
    await expect(openStore({ ...cfg, encryptionKey: randomBytes(32) })).rejects.toBeInstanceOf(
      EncryptionKeyMismatchError,
    );
    // still fine with the original key afterwards
    const again = await openStore(cfg);
    await again.close();
  });

  it('accepts keys given through the environment', async () => {
    const key = randomBytes(32);
    const secret = randomUUID();
    const cfg = config({ TETHER_ENCRYPTION_KEY: key.toString('base64'), TETHER_SECRET_KEY: secret });
    const store = await openStore(cfg);
    expect(store.keys).toMatchObject({
      secretKey: secret,
      secretKeySource: 'env',
      encryptionKeySource: 'env',
    });
    expect(store.environment.secretKey).toBe(secret);
    await store.close();
  });
});
