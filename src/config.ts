/**
 * Tether server configuration, read from the environment once at startup.
 *
 * `loadConfig(env)` is pure (it only reads the object it is given) so tests can call it with a plain object;
 * `getConfig()` reads `process.env` the first time and returns the same object afterwards.
 *
 * Every problem is reported at once in a single `ConfigError` whose message names each variable, what was
 * expected and what was given (secrets are never echoed back).
 *
 * Conventions:
 * - An empty value (`TETHER_PORT=`) counts as unset, so docker-compose files can list a variable without a value.
 * - `TETHER_HOST` defaults to `127.0.0.1`: a fresh install is reachable only from the same machine. Set
 *   `TETHER_HOST=0.0.0.0` (e.g. in a container) to listen on every interface.
 * - Relative paths (`TETHER_DATA_DIR`, `sqlite:` URLs) are resolved against the current directory.
 */
import path from 'node:path';
import { z } from 'zod';

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export type DatabaseConfig =
  /** `file` is an absolute path, or `:memory:`. */
  | { kind: 'sqlite'; file: string }
  /**
   * `preparedStatements: false` (TETHER_DATABASE_PREPARED=off) runs every statement unnamed: for a
   * connection pooler that cannot keep named prepared statements (PgBouncer before 1.21 in transaction
   * mode). Absent: on.
   */
  | { kind: 'postgres'; url: string; preparedStatements?: false };

export interface TetherConfig {
  /** TETHER_PORT, default 3003 (Nango's SERVER_PORT default). */
  port: number;
  /** TETHER_HOST, default 127.0.0.1 (loopback only; use 0.0.0.0 to listen on every interface). */
  host: string;
  /** TETHER_DATA_DIR, default ./data, resolved to an absolute path. Holds keys and the SQLite database. */
  dataDir: string;
  /** TETHER_SECRET_KEY (UUID v4), or undefined: then src/engine/keys.ts generates/reads data/secret-key. */
  secretKey: string | undefined;
  /** TETHER_ENCRYPTION_KEY (base64 of 32 bytes), decoded; undefined → data/encryption-key. */
  encryptionKey: Buffer | undefined;
  /** TETHER_DATABASE_URL as given, or the default `sqlite:<dataDir>/tether.sqlite`. */
  databaseUrl: string;
  /** Parsed form of databaseUrl. */
  database: DatabaseConfig;
  /** TETHER_SANDBOX on|off (default on): start the Marketo sandbox next to the server. */
  sandbox: boolean;
  /** TETHER_SYNCS on|off (default on): run the sync scheduler. */
  syncs: boolean;
  /** TETHER_SANDBOX_PORT, default 4010. */
  sandboxPort: number;
  /**
   * TETHER_ALLOWED_HOSTS: comma-separated `host:port` entries that outbound calls may reach even though they
   * are private/loopback addresses (e.g. a sandbox or a Marketo stand-in on the LAN). Default empty.
   * Hosts are lower-cased; IPv6 addresses are written in brackets: `[::1]:4010`.
   */
  allowedHosts: string[];
  /** TETHER_PUBLIC_URL, default http://localhost:<port>, no trailing slash. Base for links Tether hands out. */
  publicUrl: string;
  /** TETHER_WEBHOOK_URL: default webhook URL of the default environment, or undefined. */
  webhookUrl: string | undefined;
  /** TETHER_LOG_LEVEL (pino level), default info. */
  logLevel: LogLevel;
}

export interface ConfigIssue {
  variable: string;
  message: string;
}

export class ConfigError extends Error {
  readonly issues: ConfigIssue[];
  constructor(issues: ConfigIssue[]) {
    super(
      `Invalid Tether configuration:\n${issues.map((i) => `  - ${i.variable}: ${i.message}`).join('\n')}`,
    );
    this.name = 'ConfigError';
    this.issues = issues;
  }
  /** The variables at fault, in order. */
  get variables(): string[] {
    return this.issues.map((i) => i.variable);
  }
}

export const CONFIG_DEFAULTS = {
  port: 3003,
  host: '127.0.0.1',
  dataDir: './data',
  sandbox: true,
  syncs: true,
  sandboxPort: 4010,
  logLevel: 'info' as LogLevel,
  sqliteFileName: 'tether.sqlite',
};

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** True for a UUID v4 in the form Nango accepts as a secret key (case-insensitive). */
export function isUuidV4(value: string): boolean {
  return UUID_V4.test(value);
}

/** Decodes a base64 string that must encode exactly 32 bytes; returns undefined if it does not. */
export function decodeKey32(value: string): Buffer | undefined {
  const v = value.trim();
  if (!BASE64.test(v)) return undefined;
  const buf = Buffer.from(v, 'base64');
  return buf.length === 32 ? buf : undefined;
}

function quote(v: string): string {
  return JSON.stringify(v.length > 80 ? `${v.slice(0, 77)}...` : v);
}

const port = z
  .string()
  .regex(/^\d+$/, 'must be an integer between 0 and 65535 (0 = any free port)')
  .transform(Number)
  .refine((n) => n >= 0 && n <= 65535, 'must be an integer between 0 and 65535 (0 = any free port)');

const onOff = z
  .string()
  .transform((v) => v.toLowerCase())
  .refine((v) => ['on', 'off', 'true', 'false', '1', '0'].includes(v), 'must be "on" or "off"')
  .transform((v) => v === 'on' || v === 'true' || v === '1');

const httpUrl = z.string().refine((v) => {
  try {
    const u = new URL(v);
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname !== '';
  } catch {
    return false;
  }
}, 'must be an absolute http:// or https:// URL');

const hostPort = /^(?:\[[0-9a-fA-F:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?):(\d{1,5})$/;

function parseAllowedHosts(raw: string): { hosts: string[]; bad: string[] } {
  const hosts: string[] = [];
  const bad: string[] = [];
  for (const part of raw.split(',')) {
    const entry = part.trim();
    if (entry === '') continue;
    const m = hostPort.exec(entry);
    const p = m ? Number(m[1]) : 0;
    if (!m || p < 1 || p > 65535) bad.push(entry);
    else hosts.push(entry.toLowerCase());
  }
  return { hosts, bad };
}

/**
 * Parses TETHER_DATABASE_URL. Accepted forms:
 * - `postgres://…` / `postgresql://…` → PostgreSQL (connection string passed to `pg`).
 * - `sqlite:<path>`, `sqlite://<path>`, `file:<path>` → SQLite file (relative to `cwd`); `sqlite::memory:` → in memory.
 */
export function parseDatabaseUrl(url: string, cwd: string): DatabaseConfig | undefined {
  if (/^postgres(?:ql)?:\/\//i.test(url)) {
    try {
      new URL(url);
    } catch {
      return undefined;
    }
    return { kind: 'postgres', url };
  }
  const m = /^(?:sqlite:(?:\/\/)?|file:)(.+)$/i.exec(url);
  if (!m || !m[1]) return undefined;
  const file = m[1];
  if (file === ':memory:') return { kind: 'sqlite', file };
  return { kind: 'sqlite', file: path.resolve(cwd, file) };
}

/**
 * Builds the configuration from `env` (default `process.env`). Throws `ConfigError` listing every invalid
 * variable. `cwd` resolves relative paths (default `process.cwd()`).
 */
export function loadConfig(
  env: Record<string, string | undefined> = process.env,
  cwd: string = process.cwd(),
): TetherConfig {
  const issues: ConfigIssue[] = [];
  const get = (name: string): string | undefined => {
    const v = env[name];
    return v === undefined || v.trim() === '' ? undefined : v.trim();
  };
  function parse<T>(name: string, schema: z.ZodType<T, string>, fallback: T, secret = false): T {
    const raw = get(name);
    if (raw === undefined) return fallback;
    const r = schema.safeParse(raw);
    if (r.success) return r.data;
    const msg = r.error.issues[0]?.message ?? 'is invalid';
    issues.push({ variable: name, message: secret ? msg : `${msg} (got ${quote(raw)})` });
    return fallback;
  }

  const cfgPort = parse('TETHER_PORT', port, CONFIG_DEFAULTS.port);
  const host = parse(
    'TETHER_HOST',
    z
      .string()
      .regex(/^[A-Za-z0-9.:\-[\]]+$/, 'must be a host name or IP address (e.g. 127.0.0.1 or 0.0.0.0)'),
    CONFIG_DEFAULTS.host,
  );
  const dataDir = path.resolve(cwd, get('TETHER_DATA_DIR') ?? CONFIG_DEFAULTS.dataDir);

  const secretKey = parse(
    'TETHER_SECRET_KEY',
    z.string().refine(isUuidV4, 'must be a UUID v4 (e.g. the output of `node -p "crypto.randomUUID()"`)'),
    undefined as string | undefined,
    true,
  );
  let encryptionKey: Buffer | undefined;
  const rawEncryptionKey = get('TETHER_ENCRYPTION_KEY');
  if (rawEncryptionKey !== undefined) {
    encryptionKey = decodeKey32(rawEncryptionKey);
    if (!encryptionKey)
      issues.push({
        variable: 'TETHER_ENCRYPTION_KEY',
        message:
          'must be the base64 encoding of exactly 32 bytes (e.g. the output of `openssl rand -base64 32`)',
      });
  }

  const defaultDbUrl = `sqlite:${path.join(dataDir, CONFIG_DEFAULTS.sqliteFileName)}`;
  const databaseUrl = get('TETHER_DATABASE_URL') ?? defaultDbUrl;
  let database = parseDatabaseUrl(databaseUrl, cwd);
  if (!database) {
    issues.push({
      variable: 'TETHER_DATABASE_URL',
      message:
        'must be postgres://user:password@host:port/db, sqlite:<path> or sqlite::memory:' +
        // The URL may hold a password: only echo the scheme.
        ` (got a value starting with ${quote(databaseUrl.split(':')[0] ?? '')}:)`,
    });
    database = { kind: 'sqlite', file: path.join(dataDir, CONFIG_DEFAULTS.sqliteFileName) };
  }

  if (database.kind === 'postgres' && !parse('TETHER_DATABASE_PREPARED', onOff, true))
    database = { ...database, preparedStatements: false };

  const sandbox = parse('TETHER_SANDBOX', onOff, CONFIG_DEFAULTS.sandbox);
  const syncs = parse('TETHER_SYNCS', onOff, CONFIG_DEFAULTS.syncs);
  const sandboxPort = parse('TETHER_SANDBOX_PORT', port, CONFIG_DEFAULTS.sandboxPort);
  if (sandbox && sandboxPort === cfgPort && cfgPort !== 0 && get('TETHER_SANDBOX_PORT') !== undefined) {
    issues.push({
      variable: 'TETHER_SANDBOX_PORT',
      message: `must differ from TETHER_PORT (${cfgPort}) while TETHER_SANDBOX is on`,
    });
  } else if (sandbox && sandboxPort === cfgPort && cfgPort !== 0) {
    issues.push({
      variable: 'TETHER_PORT',
      message: `must differ from TETHER_SANDBOX_PORT (${sandboxPort}) while TETHER_SANDBOX is on`,
    });
  }

  let allowedHosts: string[] = [];
  const rawAllowed = get('TETHER_ALLOWED_HOSTS');
  if (rawAllowed !== undefined) {
    const { hosts, bad } = parseAllowedHosts(rawAllowed);
    if (bad.length > 0)
      issues.push({
        variable: 'TETHER_ALLOWED_HOSTS',
        message: `must be a comma-separated list of host:port entries; invalid: ${bad.map(quote).join(', ')}`,
      });
    allowedHosts = hosts;
  }

  const publicUrl = parse('TETHER_PUBLIC_URL', httpUrl, `http://localhost:${cfgPort}`).replace(/\/+$/, '');
  const webhookUrl = parse('TETHER_WEBHOOK_URL', httpUrl, undefined as string | undefined);
  const logLevel = parse(
    'TETHER_LOG_LEVEL',
    z
      .string()
      .transform((v) => v.toLowerCase())
      .pipe(z.enum(LOG_LEVELS, { error: `must be one of ${LOG_LEVELS.join(', ')}` })),
    CONFIG_DEFAULTS.logLevel,
  );

  if (issues.length > 0) throw new ConfigError(issues);
  return {
    port: cfgPort,
    host,
    dataDir,
    secretKey,
    encryptionKey,
    databaseUrl,
    database,
    sandbox,
    syncs,
    sandboxPort,
    allowedHosts,
    publicUrl,
    webhookUrl,
    logLevel,
  };
}

let cached: TetherConfig | undefined;

/** The process configuration: `loadConfig(process.env)` on the first call, the same object afterwards. */
export function getConfig(): TetherConfig {
  cached ??= loadConfig(process.env);
  return cached;
}
