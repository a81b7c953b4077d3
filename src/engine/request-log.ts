/**
 * The request log: one redacted entry per proxied call (method, path without secrets, status, the
 * provider's codes, duration, attempts), kept `retentionDays` days, readable per connection through
 * `GET /connections/{id}/requests`.
 *
 * `record()` is synchronous and never throws: the proxy calls it on its hot path. Entries are buffered
 * and written in batches (every `flushMs`, or at once past `batchSize`); a read flushes first, so it
 * sees every call recorded before it. If the database stalls, the buffer is bounded (`maxBuffered`):
 * the oldest entries are dropped and counted rather than growing memory. Old entries are deleted every
 * `pruneEvery` written entries and every `pruneIntervalMs`.
 */
import { inTransaction, nowOf, type DbContext } from '../db/context.ts';
import {
  insertRequestLog,
  listRequestLog,
  pruneRequestLog,
  type RequestLogEntry,
  type RequestLogRow,
} from '../db/request-log.ts';

export interface RequestRecord {
  /** The connection's numeric id (primary key), as traffic control and usage know it. */
  connectionId: number;
  providerConfigKey: string;
  method: string;
  /** The endpoint as called, query included; redacted here. */
  path: string;
  /** The status the caller got (the provider's, or Tether's own: 429, 502…). */
  status: number;
  /** Provider codes seen on the way (e.g. `["606", "601"]`), retries included. */
  codes: readonly string[];
  durationMs: number;
  /** Calls made to the provider (1 + retries; 0 when refused before any call). */
  attempts: number;
  /** When the call started (epoch ms or Date); default now. */
  at?: number | Date;
}

export interface RequestLogOptions {
  /** Days kept (default 7). */
  retentionDays?: number;
  /** Longest time an entry waits in the buffer (default 250 ms). */
  flushMs?: number;
  /** Entries that trigger a write at once (default 500). */
  batchSize?: number;
  /** Entries held at most while writes fail or lag (default 20,000); older ones are dropped. */
  maxBuffered?: number;
  /** Prune after this many written entries (default 5,000)… */
  pruneEvery?: number;
  /** …and at least this often (default 1 h). */
  pruneIntervalMs?: number;
  /** Clock (default: the store context's clock). */
  now?: () => number;
  /** Write or prune failures (logging only; the log never breaks a call). */
  onError?: (err: unknown, what: 'write' | 'prune') => void;
}

export interface RequestLogPage {
  entries: RequestLogEntry[];
  /** Opaque; pass back as `cursor` for the next (older) page. `null` at the end. */
  nextCursor: string | null;
}

export const DEFAULT_REQUEST_LOG_DAYS = 7;
/** Longest path kept (Marketo GETs may be up to 8 KB). */
export const MAX_LOGGED_PATH = 1024;
export const REDACTED = '[redacted]';

const SENSITIVE_KEYS = new Set([
  'token',
  'access_token',
  'refresh_token',
  'id_token',
  'client_secret',
  'secret',
  'password',
  'passwd',
  'apikey',
  'api_key',
  'authorization',
]);

/** A query key whose value must never be stored (`access_token`, `params[client_secret]`, `X-Api-Key`…). */
export function isSensitiveKey(key: string): boolean {
  for (const part of key
    .toLowerCase()
    .replace(/-/g, '_')
    .split(/[[\].]+/)) {
    if (part === '') continue;
    if (SENSITIVE_KEYS.has(part)) return true;
    // `*_token`, `*_secret`, `*password`, `*_api_key`; not Marketo's `nextPageToken` (a paging cursor).
    if (/(?:_token|_secret|password|passwd|_api_?key)$/.test(part)) return true;
  }
  return false;
}

function decodeKey(raw: string): string {
  try {
    return decodeURIComponent(raw.replace(/\+/g, ' '));
  } catch {
    return raw;
  }
}

/**
 * The path as logged: the path itself kept, the values of sensitive query keys replaced by
 * `[redacted]`, any fragment dropped, at most {@link MAX_LOGGED_PATH} characters.
 */
export function redactPath(path: string): string {
  const hash = path.indexOf('#');
  const noHash = hash === -1 ? path : path.slice(0, hash);
  const q = noHash.indexOf('?');
  let out = noHash;
  if (q !== -1) {
    const parts = noHash
      .slice(q + 1)
      .split('&')
      .map((p) => {
        const eq = p.indexOf('=');
        const key = eq === -1 ? p : p.slice(0, eq);
        return eq !== -1 && isSensitiveKey(decodeKey(key)) ? `${key}=${REDACTED}` : p;
      });
    out = `${noHash.slice(0, q)}?${parts.join('&')}`;
  }
  return out.length > MAX_LOGGED_PATH ? `${out.slice(0, MAX_LOGGED_PATH - 1)}…` : out;
}

function encodeCursor(e: RequestLogEntry): string {
  return Buffer.from(`${e.at}|${e.id}`, 'utf8').toString('base64url');
}

/** Decode a cursor from {@link RequestLog.list}; `undefined` when it is not one. */
export function decodeCursor(cursor: string): { at: string; id: number } | undefined {
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z)\|(\d{1,15})$/.exec(text);
  return m ? { at: m[1]!, id: Number(m[2]) } : undefined;
}

/** Rows per INSERT of a full batch (the repository's own chunk). */
const FULL_INSERT = 500;

/**
 * Insert rows as INSERTs of a few fixed sizes (500, then powers of two), in one transaction: a
 * multi-row INSERT is compiled once per size and reused (compiling one costs ~1 µs per row), where an
 * odd-sized batch would compile a new statement on every write.
 */
async function writeRows(ctx: DbContext, rows: RequestLogRow[]): Promise<void> {
  if (rows.length % FULL_INSERT === 0) return insertRequestLog(ctx, rows);
  await inTransaction(ctx, async (tx) => {
    let i = 0;
    const full = rows.length - (rows.length % FULL_INSERT);
    if (full > 0) {
      await insertRequestLog(tx, rows.slice(0, full));
      i = full;
    }
    for (let size = 256; size >= 1; size >>= 1) {
      if (rows.length - i < size) continue;
      await insertRequestLog(tx, rows.slice(i, i + size));
      i += size;
    }
  });
}

export class RequestLog {
  private buffer: RequestLogRow[] = [];
  private flushing: Promise<void> | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private readonly pruneTimer: ReturnType<typeof setInterval> | undefined;
  private sincePrune = 0;
  private closed = false;
  /** Entries dropped because the buffer was full (the database lagged or failed). */
  dropped = 0;
  readonly retentionDays: number;
  private readonly flushMs: number;
  private readonly batchSize: number;
  private readonly maxBuffered: number;
  private readonly pruneEvery: number;
  private readonly now: () => number;
  private readonly onError: (err: unknown, what: 'write' | 'prune') => void;

  constructor(
    private readonly ctx: DbContext,
    opts: RequestLogOptions = {},
  ) {
    this.retentionDays = Math.max(1, Math.floor(opts.retentionDays ?? DEFAULT_REQUEST_LOG_DAYS));
    this.flushMs = Math.max(0, opts.flushMs ?? 250);
    this.batchSize = Math.max(1, opts.batchSize ?? 500);
    this.maxBuffered = Math.max(this.batchSize, opts.maxBuffered ?? 20_000);
    this.pruneEvery = Math.max(1, opts.pruneEvery ?? 5_000);
    this.now = opts.now ?? (() => nowOf(ctx).getTime());
    this.onError = opts.onError ?? (() => {});
    const interval = opts.pruneIntervalMs ?? 3600_000;
    if (interval > 0) {
      this.pruneTimer = setInterval(() => void this.prune().catch(() => {}), interval);
      this.pruneTimer.unref();
    }
  }

  /** The ISO form of the second last logged, up to its `.`: each call then only appends its milliseconds. */
  private lastSecond = NaN;
  private lastPrefix = '';

  private iso(at: number): string {
    const ms = Math.round(at);
    const second = Math.floor(ms / 1000);
    if (second !== this.lastSecond) {
      const whole = new Date(second * 1000).toISOString();
      // `YYYY-MM-DDTHH:MM:SS.000Z`; years past 9999 take the slow path below.
      if (whole.length !== 24) return new Date(ms).toISOString();
      this.lastPrefix = whole.slice(0, 20);
      this.lastSecond = second;
    }
    const milli = ms - second * 1000;
    return `${this.lastPrefix}${milli < 10 ? '00' : milli < 100 ? '0' : ''}${milli}Z`;
  }

  /** Buffer one call (redacted). Never throws; ignored once closed. */
  record(r: RequestRecord): void {
    if (this.closed) return;
    try {
      const at = r.at === undefined ? this.now() : typeof r.at === 'number' ? r.at : r.at.getTime();
      const codes = r.codes;
      this.buffer.push({
        connectionPk: r.connectionId,
        providerConfigKey: r.providerConfigKey,
        method: r.method.toUpperCase().slice(0, 16),
        path: redactPath(r.path),
        status: Math.trunc(r.status),
        codes: codes.length === 0 ? [] : codes.slice(0, 50).map((c) => String(c).slice(0, 64)),
        durationMs: Math.max(0, Math.round(r.durationMs)),
        attempts: Math.max(0, Math.trunc(r.attempts)),
        at: this.iso(at),
      });
      if (this.buffer.length > this.maxBuffered) {
        const over = this.buffer.length - this.maxBuffered;
        this.buffer.splice(0, over);
        this.dropped += over;
      }
      if (this.buffer.length >= this.batchSize) void this.write(false);
      else if (!this.timer) {
        this.timer = setTimeout(() => {
          this.timer = undefined;
          void this.flush();
        }, this.flushMs);
        this.timer.unref();
      }
    } catch (err) {
      this.onError(err, 'write');
    }
  }

  /** Write what is buffered (one write at a time; resolves when everything recorded so far is written). */
  async flush(): Promise<void> {
    await this.write(true);
  }

  /**
   * Write the buffer: all of it, or (a full batch triggered it) whole batches only, the rest waiting
   * for the timer. Whole batches keep the INSERT the same size, so the database reuses one prepared
   * statement instead of compiling a new multi-row statement for each odd size under load.
   */
  private async write(all: boolean): Promise<void> {
    while (this.flushing) await this.flushing;
    if (all && this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    const size = this.buffer.length;
    const n = all ? size : size - (size % this.batchSize);
    if (n === 0) return;
    const batch = n === size ? this.buffer : this.buffer.slice(0, n);
    this.buffer = n === size ? [] : this.buffer.slice(n);
    const run = (async () => {
      try {
        await writeRows(this.ctx, batch);
        this.sincePrune += batch.length;
      } catch (err) {
        this.onError(err, 'write');
      }
      if (this.sincePrune >= this.pruneEvery) {
        this.sincePrune = 0;
        try {
          await this.prune();
        } catch {
          // reported by prune
        }
      }
    })();
    this.flushing = run;
    try {
      await run;
    } finally {
      if (this.flushing === run) this.flushing = undefined;
    }
  }

  /** Delete entries older than the retention. Returns how many went. */
  async prune(): Promise<number> {
    const cutoff = new Date(this.now() - this.retentionDays * 86_400_000).toISOString();
    try {
      return await pruneRequestLog(this.ctx, cutoff);
    } catch (err) {
      this.onError(err, 'prune');
      throw err;
    }
  }

  /** A connection's entries, newest first. Throws `RangeError` for a cursor that is not one. */
  async list(
    connectionPk: number,
    opts: { limit: number; cursor?: string | undefined },
  ): Promise<RequestLogPage> {
    let before: { at: string; id: number } | undefined;
    if (opts.cursor !== undefined && opts.cursor !== '') {
      before = decodeCursor(opts.cursor);
      if (!before) throw new RangeError('invalid cursor');
    }
    await this.flush();
    const rows = await listRequestLog(this.ctx, connectionPk, { limit: opts.limit + 1, before });
    const more = rows.length > opts.limit;
    const entries = more ? rows.slice(0, opts.limit) : rows;
    return { entries, nextCursor: more ? encodeCursor(entries[entries.length - 1]!) : null };
  }

  /** Stop the timers and write what is buffered. Later records are ignored. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.pruneTimer) clearInterval(this.pruneTimer);
    await this.flush();
  }
}

/** `TETHER_REQUEST_LOG_DAYS` (whole days ≥ 1), or the default. */
export function requestLogDaysFromEnv(env: Record<string, string | undefined> = process.env): number {
  const raw = env.TETHER_REQUEST_LOG_DAYS?.trim();
  if (raw === undefined || raw === '') return DEFAULT_REQUEST_LOG_DAYS;
  if (!/^\d{1,5}$/.test(raw) || Number(raw) < 1) {
    throw new Error(
      `TETHER_REQUEST_LOG_DAYS must be a whole number of days ≥ 1 (got ${JSON.stringify(raw)})`,
    );
  }
  return Number(raw);
}
