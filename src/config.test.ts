import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './config.ts';

const cwd = '/srv/tether';
const KEY = Buffer.alloc(32, 7).toString('base64');

function configError(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env, cwd);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  it('applies defaults', () => {
    const c = loadConfig({}, cwd);
    expect(c).toMatchObject({
      port: 3003,
      host: '127.0.0.1',
      dataDir: '/srv/tether/data',
      secretKey: undefined,
      encryptionKey: undefined,
      database: { kind: 'sqlite', file: '/srv/tether/data/tether.sqlite' },
      sandbox: true,
      sandboxPort: 4010,
      allowedHosts: [],
      publicUrl: 'http://localhost:3003',
      webhookUrl: undefined,
      logLevel: 'info',
    });
  });

  it('reads every variable', () => {
    const c = loadConfig(
      {
        TETHER_PORT: '8080',
        TETHER_HOST: '0.0.0.0',
        TETHER_DATA_DIR: '/var/lib/tether',
        TETHER_SECRET_KEY: '0b6d5a5e-2f4c-4d8e-9a1b-3c2d1e0f9a8b',
        TETHER_ENCRYPTION_KEY: KEY,
        TETHER_DATABASE_URL: 'postgres://u:p@db:5432/tether',
        TETHER_SANDBOX: 'off',
        TETHER_SANDBOX_PORT: '4011',
        TETHER_ALLOWED_HOSTS: 'localhost:4010, Marketo.Internal:443,[::1]:8080',
        TETHER_PUBLIC_URL: 'https://tether.example.com/',
        TETHER_WEBHOOK_URL: 'https://app.example.com/hooks/tether',
        TETHER_LOG_LEVEL: 'DEBUG',
      },
      cwd,
    );
    expect(c.port).toBe(8080);
    expect(c.host).toBe('0.0.0.0');
    expect(c.dataDir).toBe('/var/lib/tether');
    expect(c.secretKey).toBe('0b6d5a5e-2f4c-4d8e-9a1b-3c2d1e0f9a8b');
    expect(c.encryptionKey?.equals(Buffer.alloc(32, 7))).toBe(true);
    expect(c.database).toEqual({ kind: 'postgres', url: 'postgres://u:p@db:5432/tether' });
    expect(c.sandbox).toBe(false);
    expect(c.sandboxPort).toBe(4011);
    expect(c.allowedHosts).toEqual(['localhost:4010', 'marketo.internal:443', '[::1]:8080']);
    expect(c.publicUrl).toBe('https://tether.example.com');
    expect(c.webhookUrl).toBe('https://app.example.com/hooks/tether');
    expect(c.logLevel).toBe('debug');
  });

  it('defaults the public URL to the configured port and treats empty values as unset', () => {
    const c = loadConfig({ TETHER_PORT: '9000', TETHER_HOST: '', TETHER_WEBHOOK_URL: '' }, cwd);
    expect(c.publicUrl).toBe('http://localhost:9000');
    expect(c.host).toBe('127.0.0.1');
    expect(c.webhookUrl).toBeUndefined();
  });

  it('resolves sqlite URLs and the data dir against cwd', () => {
    expect(loadConfig({ TETHER_DATABASE_URL: 'sqlite:db/t.sqlite' }, cwd).database).toEqual({
      kind: 'sqlite',
      file: path.resolve(cwd, 'db/t.sqlite'),
    });
    expect(loadConfig({ TETHER_DATABASE_URL: 'sqlite::memory:' }, cwd).database).toEqual({
      kind: 'sqlite',
      file: ':memory:',
    });
    expect(loadConfig({ TETHER_DATA_DIR: 'state' }, cwd).database).toEqual({
      kind: 'sqlite',
      file: '/srv/tether/state/tether.sqlite',
    });
  });

  it('names each invalid variable in one clear error', () => {
    const err = configError({
      TETHER_PORT: 'abc',
      TETHER_SANDBOX: 'maybe',
      TETHER_LOG_LEVEL: 'loud',
      TETHER_PUBLIC_URL: 'ftp://x',
    });
    expect(err.variables).toEqual(['TETHER_PORT', 'TETHER_SANDBOX', 'TETHER_PUBLIC_URL', 'TETHER_LOG_LEVEL']);
    expect(err.message).toContain('Invalid Tether configuration');
    expect(err.message).toContain(
      'TETHER_PORT: must be an integer between 0 and 65535 (0 = any free port) (got "abc")',
    );
    expect(err.message).toContain('TETHER_SANDBOX: must be "on" or "off" (got "maybe")');
    expect(err.message).toMatch(/TETHER_LOG_LEVEL: must be one of fatal, error/);
    expect(err.message).toMatch(/TETHER_PUBLIC_URL: must be an absolute http/);
  });

  it('rejects out-of-range ports', () => {
    expect(configError({ TETHER_PORT: '70000' }).variables).toEqual(['TETHER_PORT']);
    expect(configError({ TETHER_SANDBOX_PORT: '65536' }).variables).toEqual(['TETHER_SANDBOX_PORT']);
  });

  it('accepts port 0 (any free port) for the server and the sandbox at once', () => {
    const config = loadConfig({ TETHER_PORT: '0', TETHER_SANDBOX_PORT: '0' }, '/tmp');
    expect([config.port, config.sandboxPort]).toEqual([0, 0]);
  });

  it('rejects a secret key that is not a UUID v4 without echoing it', () => {
    const err = configError({ TETHER_SECRET_KEY: 'hunter2-not-a-uuid' });
    expect(err.variables).toEqual(['TETHER_SECRET_KEY']);
    expect(err.message).toContain('UUID v4');
    expect(err.message).not.toContain('hunter2');
    // UUID v1 is not v4
    expect(configError({ TETHER_SECRET_KEY: 'a8098c1a-f86e-11da-bd1a-00112444be1e' }).variables).toEqual([
      'TETHER_SECRET_KEY',
    ]);
  });

  it('rejects an encryption key that is not base64 of exactly 32 bytes', () => {
    for (const bad of [
      Buffer.alloc(16).toString('base64'),
      Buffer.alloc(33).toString('base64'),
      'not base64!',
    ]) {
      const err = configError({ TETHER_ENCRYPTION_KEY: bad });
      expect(err.variables).toEqual(['TETHER_ENCRYPTION_KEY']);
      expect(err.message).toContain('exactly 32 bytes');
    }
  });

  it('turns PostgreSQL prepared statements off on request (a pooler that cannot keep them)', () => {
    const url = 'postgres://u:p@db:5432/tether';
    expect(loadConfig({ TETHER_DATABASE_URL: url, TETHER_DATABASE_PREPARED: 'off' }, cwd).database).toEqual({
      kind: 'postgres',
      url,
      preparedStatements: false,
    });
    expect(loadConfig({ TETHER_DATABASE_URL: url, TETHER_DATABASE_PREPARED: 'on' }, cwd).database).toEqual({
      kind: 'postgres',
      url,
    });
    // SQLite has nothing to turn off.
    expect(loadConfig({ TETHER_DATABASE_PREPARED: 'off' }, cwd).database.kind).toBe('sqlite');
    expect(
      configError({ TETHER_DATABASE_URL: url, TETHER_DATABASE_PREPARED: 'sometimes' }).variables,
    ).toEqual(['TETHER_DATABASE_PREPARED']);
  });

  it('rejects bad database URLs without echoing credentials', () => {
    const err = configError({ TETHER_DATABASE_URL: 'mysql://root:s3cret@db/x' });
    expect(err.variables).toEqual(['TETHER_DATABASE_URL']);
    expect(err.message).not.toContain('s3cret');
  });

  it('rejects malformed allowed hosts, listing them', () => {
    const err = configError({ TETHER_ALLOWED_HOSTS: 'ok.example:443,nohost,bad:99999' });
    expect(err.variables).toEqual(['TETHER_ALLOWED_HOSTS']);
    expect(err.message).toContain('"nohost"');
    expect(err.message).toContain('"bad:99999"');
  });

  it('rejects the same port for server and sandbox while the sandbox is on', () => {
    expect(configError({ TETHER_PORT: '4010' }).variables).toEqual(['TETHER_PORT']);
    expect(configError({ TETHER_SANDBOX_PORT: '3003' }).variables).toEqual(['TETHER_SANDBOX_PORT']);
    expect(loadConfig({ TETHER_PORT: '4010', TETHER_SANDBOX: 'off' }, cwd).port).toBe(4010);
  });
});
