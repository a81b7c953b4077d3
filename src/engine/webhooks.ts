import { createHash, createHmac } from 'node:crypto';
import os from 'node:os';
import type { DbContext } from '../db/context.ts';
import {
  claimDueWebhooks,
  deferWebhook,
  enqueueWebhook,
  pruneFailedWebhooks,
  removeWebhook,
  rescheduleWebhook,
  webhookHeaders,
  type OutboxDelivery,
} from '../db/webhook-outbox.ts';
import { abortableSleep, OutboundClient, readResponseBody, type OutboundError } from './outbound.ts';

/**
 * Webhooks to the customer's backend in Nango's shape (spec nango-api.md 2.6): the body is
 * stable-sorted compact JSON, signed twice (`X-Nango-Signature` = sha256(key + body), legacy;
 * `X-Nango-Hmac-Sha256` = HMAC-SHA256(key, body)). Delivery never delays the caller: `send()`
 * returns at once and retries in the background on network errors and 5xx (3 s, 6 s), as Nango does.
 *
 * With an outbox (the database; `npm start` has one), a delivery is also written down before its first
 * attempt and only removed once delivered: one still failing after those retries is attempted again
 * later (1 min, doubling up to 1 h, 12 attempts in all: about 4 hours), and one cut short by a shutdown
 * or lost to a crash is made by the next start. Nango gives up after the 3 attempts; a receiver down for
 * a deploy then misses sync notifications for good. What a retry needs is stored: the body and its
 * signature headers, never the signing key. Answers 3xx/4xx and URLs the outbound policy refuses are
 * final (kept as `failed` for a week).
 */

/** JSON with object keys sorted at every level and no spaces: the exact bytes that are signed. */
export function stableStringify(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value))
    return `[${value.map((v) => (v === undefined ? 'null' : stableStringify(v))).join(',')}]`;
  const entries = Object.keys(value as Record<string, unknown>)
    .sort()
    .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
    .map((k) => `${JSON.stringify(k)}:${stableStringify((value as Record<string, unknown>)[k])}`);
  return `{${entries.join(',')}}`;
}

export function signatures(signingKey: string, body: string): Record<string, string> {
  return {
    'X-Nango-Signature': createHash('sha256').update(`${signingKey}${body}`).digest('hex'),
    'X-Nango-Hmac-Sha256': createHmac('sha256', signingKey).update(body).digest('hex'),
  };
}

export interface WebhookDelivery {
  url: string;
  signingKey: string;
  payload: Record<string, unknown>;
  /** The environment whose key signs it (a rotation signs its pending deliveries again). */
  environmentId?: number;
}

export interface WebhookResult {
  url: string;
  ok: boolean;
  attempts: number;
  status?: number;
  error?: string;
}

/** Where deliveries wait between attempts (see the module comment), and its timings. */
export interface WebhookOutboxOptions {
  ctx: DbContext;
  /** How often due deliveries are looked for (default 5 s). */
  pollMs?: number;
  /** Delay before the outbox's attempt n (0-based) after the first round failed (default 1 min × 2^n, ≤ 1 h). */
  laterMs?: (attempt: number) => number;
  /** Attempts in all before a delivery is given up (default 12). */
  maxAttempts?: number;
  /** How long a process holds a delivery it is attempting (default 2 min). */
  leaseMs?: number;
  /** Failed deliveries are dropped after this long (default 7 days). */
  keepFailedMs?: number;
  /** Wall clock in ms (tests). */
  now?: () => number;
  onError?: (err: unknown, what: string) => void;
}

export interface WebhookSenderOptions {
  client: OutboundClient;
  timeoutMs?: number;
  /** Retries after the first attempt (Nango: 2). */
  retries?: number;
  /** Delay before retry n (0-based); Nango waits 3 s then 6 s. */
  backoffMs?: (attempt: number) => number;
  onResult?: (r: WebhookResult) => void;
  version?: string;
  /** How long {@link WebhookSender.drain} lets deliveries finish before it abandons them (default 3 s). */
  drainGraceMs?: number;
  /** Keep deliveries until made (see the module comment); without it they live in memory only. */
  outbox?: WebhookOutboxOptions;
}

/** A delivery ready to go: the exact bytes and headers (the same for every attempt). */
interface Prepared {
  environmentId?: number;
  url: string;
  body: string;
  headers: Record<string, string>;
}

/** How a round of attempts ended: `retry` = worth another round later; `final` = not. */
type Outcome = WebhookResult & { end: 'ok' | 'final' | 'retry' | 'aborted' };

export class WebhookSender {
  private readonly pending = new Set<Promise<unknown>>();
  /** Aborted when a drain's grace ran out: cancels waits between retries and calls in flight. */
  private stop = new AbortController();
  private readonly userAgent: string;
  private poller: NodeJS.Timeout | undefined;
  private polling = false;
  private closed = false;

  constructor(private readonly opts: WebhookSenderOptions) {
    this.userAgent = `tether/${opts.version ?? '0.1.0'} (${os.platform()}/${os.release()}; node.js/${process.versions.node})`;
    const outbox = opts.outbox;
    if (outbox) {
      // Deliveries left by an earlier process are due at once; then every pollMs.
      this.poller = setInterval(() => this.poll(), outbox.pollMs ?? 5_000);
      this.poller.unref();
      setImmediate(() => this.poll());
    }
  }

  /** Queue a delivery; never throws, never waits. */
  send(delivery: WebhookDelivery): void {
    const prepared: Prepared = {
      ...(delivery.environmentId !== undefined ? { environmentId: delivery.environmentId } : {}),
      url: delivery.url,
      body: stableStringify(delivery.payload),
      headers: {},
    };
    prepared.headers = signatures(delivery.signingKey, prepared.body);
    this.track(this.sendNew(prepared));
  }

  /**
   * Wait until every queued delivery finished (tests, shutdown). Deliveries still running after the
   * grace are abandoned (reported with error `aborted`): a receiver that never answers, or retries
   * waiting 3 s and 6 s, must not hold a shutdown for a minute. With an outbox they stay queued there
   * for the next start.
   */
  async drain(): Promise<void> {
    if (this.pending.size === 0) return;
    const stop = this.stop;
    const timer = setTimeout(() => stop.abort(), this.opts.drainGraceMs ?? 3000);
    try {
      while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
    } finally {
      clearTimeout(timer);
      // Deliveries queued after this drain get a fresh signal.
      if (stop.signal.aborted) this.stop = new AbortController();
    }
  }

  /** Stops looking for due deliveries, then drains (shutdown). */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.poller);
    await this.drain();
  }

  private track(p: Promise<unknown>): void {
    const tracked = p.finally(() => this.pending.delete(tracked));
    this.pending.add(tracked);
  }

  private now(): Date {
    return new Date(this.opts.outbox?.now?.() ?? Date.now());
  }

  private failed(err: unknown, what: string): void {
    this.opts.outbox?.onError?.(err, what);
  }

  private async sendNew(d: Prepared): Promise<void> {
    const outbox = this.opts.outbox;
    let id: number | undefined;
    if (outbox && !this.closed) {
      try {
        const now = this.now();
        id = await enqueueWebhook(outbox.ctx, {
          ...d,
          now,
          claimedUntil: new Date(now.getTime() + (outbox.leaseMs ?? 120_000)),
        });
      } catch (err) {
        // The database is gone (shutdown) or failing: deliver from memory, as without an outbox.
        this.failed(err, 'queue');
      }
    }
    const r = await this.attempt(d, this.opts.retries ?? 2, 0, id);
    if (id !== undefined) await this.settle(id, r);
  }

  /**
   * Attempts the deliveries that are due (earlier processes' and retries'), once each. Receivers are
   * attempted side by side, each one's deliveries in order, so one receiver that hangs (20 s per try)
   * does not hold back the others; once a receiver fails in a round, its other deliveries are not tried
   * in that round but wait as long as the one that failed (no attempt counted).
   */
  private poll(): void {
    const outbox = this.opts.outbox;
    if (!outbox || this.polling || this.closed) return;
    this.polling = true;
    const round = (async () => {
      try {
        const now = this.now();
        await pruneFailedWebhooks(
          outbox.ctx,
          new Date(now.getTime() - (outbox.keepFailedMs ?? 7 * 86_400_000)),
        );
        const due = await claimDueWebhooks(
          outbox.ctx,
          now,
          new Date(now.getTime() + (outbox.leaseMs ?? 120_000)),
          20,
        );
        const byUrl = new Map<string, OutboxDelivery[]>();
        for (const row of due) {
          const rows = byUrl.get(row.url);
          if (rows) rows.push(row);
          else byUrl.set(row.url, [row]);
        }
        await Promise.all([...byUrl.values()].map((rows) => this.deliverInOrder(rows)));
      } catch (err) {
        this.failed(err, 'poll');
      } finally {
        this.polling = false;
      }
    })();
    this.track(round);
  }

  /** One receiver's due deliveries, in order, until one is not taken. */
  private async deliverInOrder(rows: OutboxDelivery[]): Promise<void> {
    const outbox = this.opts.outbox!;
    for (let i = 0; i < rows.length; i++) {
      if (this.closed) return;
      const row = rows[i]!;
      const next = await this.settle(row.id, await this.attempt(row, 0, row.attempts));
      if (next === undefined || next === null) continue;
      // Failing (or cut short): the others wait with it, their attempts untouched.
      try {
        for (const rest of rows.slice(i + 1)) await deferWebhook(outbox.ctx, rest.id, next, this.now());
      } catch (err) {
        this.failed(err, 'defer');
      }
      return;
    }
  }

  /**
   * Records the outcome of a round in the outbox: removed (undefined), given up (null), or due again at
   * the date returned.
   */
  private async settle(id: number, r: Outcome): Promise<Date | null | undefined> {
    const outbox = this.opts.outbox!;
    const now = this.now();
    try {
      if (r.end === 'ok') {
        await removeWebhook(outbox.ctx, id);
        return undefined;
      }
      const max = outbox.maxAttempts ?? 12;
      let next: Date | null;
      if (r.end === 'final' || r.attempts >= max) next = null;
      else if (r.end === 'aborted') next = now;
      else {
        const later = outbox.laterMs ?? ((n: number) => Math.min(60_000 * 2 ** n, 3_600_000));
        // The outbox's own attempts count from the end of the first round (3 attempts with Nango's defaults).
        const n = Math.max(0, r.attempts - 1 - (this.opts.retries ?? 2));
        next = new Date(now.getTime() + later(n));
      }
      await rescheduleWebhook(outbox.ctx, id, {
        attempts: r.attempts,
        ...(r.status !== undefined ? { lastStatus: r.status } : {}),
        ...(r.error !== undefined ? { lastError: r.error } : {}),
        next,
        now,
      });
      return next;
    } catch (err) {
      this.failed(err, 'settle');
      return undefined;
    }
  }

  /** The signature headers an outbox row holds now ({} when it cannot be read: the ones in hand stay). */
  private async storedHeaders(id: number): Promise<Record<string, string>> {
    try {
      return (await webhookHeaders(this.opts.outbox!.ctx, id)) ?? {};
    } catch (err) {
      this.failed(err, 'read');
      return {};
    }
  }

  /** Up to 1 + `retries` attempts (3 s, 6 s apart); `before` = attempts made in earlier rounds. */
  private async attempt(d: Prepared, retries: number, before: number, outboxId?: number): Promise<Outcome> {
    let headers: Record<string, string> = {
      'Content-Type': 'application/json',
      'User-Agent': this.userAgent,
      ...d.headers,
    };
    const backoff = this.opts.backoffMs ?? ((n: number) => 3000 * 2 ** n);
    const signal = this.stop.signal;
    let result: Outcome = { url: d.url, ok: false, attempts: before, end: 'retry' };
    for (let attempt = 0; attempt <= retries; attempt++) {
      if (attempt > 0) {
        await abortableSleep(backoff(attempt - 1), signal);
        // The environment's key may have been rotated meanwhile: the outbox row holds the current signatures.
        if (outboxId !== undefined) headers = { ...headers, ...(await this.storedHeaders(outboxId)) };
      }
      if (signal.aborted) {
        result.error = 'aborted';
        result.end = 'aborted';
        break;
      }
      result = { url: d.url, ok: false, attempts: before + attempt + 1, end: 'retry' };
      try {
        const res = await this.opts.client.request({
          method: 'POST',
          url: d.url,
          headers,
          body: d.body,
          timeoutMs: this.opts.timeoutMs ?? 20_000,
          signal,
        });
        await readResponseBody(res, 64 * 1024).catch(() => undefined);
        result.status = res.status;
        if (res.status < 300) {
          result.ok = true;
          result.end = 'ok';
          break;
        }
        // 3xx and 4xx are the receiver's answer: retrying would not change it.
        if (res.status < 500) {
          result.end = 'final';
          break;
        }
      } catch (err) {
        const e = err as OutboundError;
        result.error = e.code ?? 'network_error';
        if (e.code === 'aborted' || signal.aborted) {
          result.end = 'aborted';
          break;
        }
        // A URL the policy refuses will be refused again.
        if (e.code === 'host_not_allowed' || e.code === 'private_address' || e.code === 'invalid_url') {
          result.end = 'final';
          break;
        }
      }
    }
    const { end: _end, ...reported } = result;
    this.opts.onResult?.(reported);
    return result;
  }
}
