import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { keyCheckValue, Vault, VaultError } from './vault.ts';

const secretCreds = {
  type: 'OAUTH2_CC',
  token: 'tok',
  client_id: 'cid',
  client_secret: 's3cr3t-value',
  raw: { a: 1 },
};

describe('Vault', () => {
  const vault = new Vault(randomBytes(32));

  it('round-trips JSON values', () => {
    for (const v of [secretCreds, 'a string', 42, null, [1, 'two', { three: 3 }], { nested: { é: '✓' } }])
      expect(vault.decrypt(vault.encrypt(v))).toEqual(v);
  });

  it('produces v1:<iv>:<tag>:<ciphertext> with a 12-byte IV and a 16-byte tag', () => {
    const s = vault.encrypt(secretCreds);
    const [v, iv, tag, ct] = s.split(':');
    expect(v).toBe('v1');
    expect(Buffer.from(iv!, 'base64')).toHaveLength(12);
    expect(Buffer.from(tag!, 'base64')).toHaveLength(16);
    expect(Buffer.from(ct!, 'base64').length).toBe(JSON.stringify(secretCreds).length);
    expect(s).not.toContain('s3cr3t');
  });

  it('uses a fresh IV per write', () => {
    const a = vault.encrypt(secretCreds);
    const b = vault.encrypt(secretCreds);
    expect(a).not.toBe(b);
    expect(a.split(':')[1]).not.toBe(b.split(':')[1]);
    expect(vault.decrypt(a)).toEqual(vault.decrypt(b));
  });

  it('detects tampering with ciphertext, tag or IV', () => {
    const s = vault.encrypt(secretCreds);
    const parts = s.split(':');
    const flip = (b64: string) => {
      const buf = Buffer.from(b64, 'base64');
      buf[0] = buf[0]! ^ 1;
      return buf.toString('base64');
    };
    for (const i of [1, 2, 3]) {
      const altered = parts.map((p, j) => (j === i ? flip(p) : p)).join(':');
      expect(() => vault.decrypt(altered)).toThrow(VaultError);
    }
    expect(() => vault.decrypt('v2:' + parts.slice(1).join(':'))).toThrow(/unknown version/);
    expect(() => vault.decrypt('garbage')).toThrow(VaultError);
    expect(() => vault.decrypt(`v1:${parts[1]}:AAAA:${parts[3]}`)).toThrow(/tag length/);
  });

  it('fails with another key', () => {
    const s = vault.encrypt(secretCreds);
    expect(() => new Vault(randomBytes(32)).decrypt(s)).toThrow(/altered, or encrypted with another key/);
  });

  it('binds the purpose', () => {
    const s = vault.encrypt(secretCreds, 'connection.credentials');
    expect(vault.decrypt(s, 'connection.credentials')).toEqual(secretCreds);
    expect(() => vault.decrypt(s, 'integration.credentials')).toThrow(VaultError);
    expect(() => vault.decrypt(s)).toThrow(VaultError);
  });

  it('refuses keys that are not 32 bytes and values that are not JSON', () => {
    expect(() => new Vault(randomBytes(16))).toThrow(/32 bytes/);
    expect(() => vault.encrypt(undefined)).toThrow(VaultError);
  });

  it('hashes tokens deterministically, keyed', () => {
    const token = 'nango_connect_session_' + 'ab'.repeat(32);
    expect(vault.hash(token)).toBe(vault.hash(token));
    expect(vault.hash(token)).toMatch(/^[0-9a-f]{64}$/);
    expect(vault.hash(token)).not.toBe(vault.hash(token + 'x'));
    expect(new Vault(randomBytes(32)).hash(token)).not.toBe(vault.hash(token));
  });

  it('has a key check value that depends on the key only', () => {
    const key = randomBytes(32);
    expect(new Vault(key).keyCheck()).toBe(keyCheckValue(Buffer.from(key)));
    expect(keyCheckValue(randomBytes(32))).not.toBe(keyCheckValue(key));
  });
});
