/**
 * The credential vault: authenticated encryption of secrets at rest, and keyed hashes for token lookup.
 *
 * Encryption: AES-256-GCM (as Nango), a fresh random 12-byte IV per write, 16-byte tag. The value is
 * JSON-serialised first, so anything JSON can carry round-trips. Output is one compact ASCII string:
 *
 *     v1:<iv base64>:<tag base64>:<ciphertext base64>
 *
 * The `v1` prefix leaves room for another scheme or key later without guessing. An optional `purpose`
 * (e.g. "connection.credentials") is bound as GCM additional authenticated data: a ciphertext copied into a
 * column of another kind fails to decrypt instead of being silently accepted.
 *
 * Lookup hashes: see `hash()`.
 */
import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  hkdfSync,
  randomBytes,
  timingSafeEqual,
} from 'node:crypto';

const VERSION = 'v1';
const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BYTES = 32;
const KEY_CHECK_LABEL = 'tether-key-check';
const LOOKUP_HASH_LABEL = 'tether-lookup-hash';

export class VaultError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'VaultError';
  }
}

/**
 * Check value of an encryption key, stored in the database meta table so that a start with another key is
 * refused: HMAC-SHA256(key, "tether-key-check"), hex. Reveals nothing about the key.
 */
export function keyCheckValue(key: Buffer): string {
  assertKey(key);
  return createHmac('sha256', key).update(KEY_CHECK_LABEL).digest('hex');
}

/** Constant-time comparison of two hex/ASCII strings. */
export function safeEqual(a: string, b: string): boolean {
  const ab = Buffer.from(a);
  const bb = Buffer.from(b);
  return ab.length === bb.length && timingSafeEqual(ab, bb);
}

function assertKey(key: Buffer): void {
  if (!Buffer.isBuffer(key) || key.length !== KEY_BYTES)
    throw new VaultError(`The encryption key must be exactly ${KEY_BYTES} bytes.`);
}

export class Vault {
  readonly #key: Buffer;
  readonly #hashKey: Buffer;

  constructor(key: Buffer) {
    assertKey(key);
    this.#key = Buffer.from(key);
    // A separate sub-key for lookup hashes (HKDF), so the AES key itself is used for one purpose only.
    this.#hashKey = Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), LOOKUP_HASH_LABEL, 32));
  }

  /** Encrypts a JSON-serialisable value. `purpose` (optional) must be given again to decrypt. */
  encrypt(value: unknown, purpose = ''): string {
    const json = JSON.stringify(value);
    if (json === undefined) throw new VaultError('Only JSON-serialisable values can be encrypted.');
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv, { authTagLength: TAG_BYTES });
    if (purpose) cipher.setAAD(Buffer.from(purpose, 'utf8'));
    const ciphertext = Buffer.concat([cipher.update(json, 'utf8'), cipher.final()]);
    const tag = cipher.getAuthTag();
    return `${VERSION}:${iv.toString('base64')}:${tag.toString('base64')}:${ciphertext.toString('base64')}`;
  }

  /**
   * Decrypts a string made by `encrypt` (with the same `purpose`). Throws `VaultError` if the string is
   * malformed, was altered, or was encrypted with another key or purpose.
   */
  decrypt<T = unknown>(payload: string, purpose = ''): T {
    const parts = payload.split(':');
    if (parts.length !== 4 || parts[0] !== VERSION)
      throw new VaultError('Encrypted value is malformed or of an unknown version.');
    const iv = Buffer.from(parts[1] ?? '', 'base64');
    const tag = Buffer.from(parts[2] ?? '', 'base64');
    const ciphertext = Buffer.from(parts[3] ?? '', 'base64');
    if (iv.length !== IV_BYTES || tag.length !== TAG_BYTES)
      throw new VaultError('Encrypted value is malformed (IV or tag length).');
    let json: string;
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.#key, iv, { authTagLength: TAG_BYTES });
      if (purpose) decipher.setAAD(Buffer.from(purpose, 'utf8'));
      decipher.setAuthTag(tag);
      json = Buffer.concat([decipher.update(ciphertext), decipher.final()]).toString('utf8');
    } catch (cause) {
      throw new VaultError(
        'Encrypted value failed authentication: it was altered, or encrypted with another key.',
        { cause },
      );
    }
    return JSON.parse(json) as T;
  }

  /**
   * Keyed hash of a token, for storing and looking up tokens we must recognise but never need to read back
   * (connect session tokens, environment secret keys): hex HMAC-SHA256 under a key derived from the
   * encryption key.
   *
   * Why HMAC and not a slow password hash (Nango uses PBKDF2 with 310 000 iterations): slow hashes protect
   * low-entropy secrets chosen by people. Every token hashed here is machine-generated with at least 122
   * random bits (UUID v4 secret keys; 256-bit connect session tokens), so guessing one is infeasible at any
   * hash speed, and a slow hash would only add tens of milliseconds to every authenticated request. The hash
   * is also keyed: a copy of the database alone does not even allow checking a guess. It is deterministic,
   * so it can be stored in a unique, indexed column and looked up by equality.
   */
  hash(token: string): string {
    return createHmac('sha256', this.#hashKey).update(token, 'utf8').digest('hex');
  }

  /** This key's check value (see `keyCheckValue`). */
  keyCheck(): string {
    return keyCheckValue(this.#key);
  }
}
