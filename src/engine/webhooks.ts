import { createHash, createHmac } from 'node:crypto';
import os from 'node:os';
import { abortableSleep, OutboundClient, readResponseBody, type OutboundError } from './outbound.ts';

/**
 * Webhooks to the customer's backend in Nango's shape (spec nango-api.md 2.6): the body is
 * stable-sorted compact JSON, signed twice (`X-Nango-Signature` = sha256(key + body), legacy;
 * `X-Nango-Hmac-Sha256` = HMAC-SHA256(key, body)). Delivery never delays the caller: `send()`
 * returns at once and retries in the background on network errors and 5xx (3 s, 6 s).
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
}

export interface WebhookResult {
  url: string;
  ok: boolean;
  attempts: number;
  status?: number;
  error?: string;
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
}

export class WebhookSender {
  private readonly pending = new Set<Promise<WebhookResult>>();
  /** Aborted when a drain's grace ran out: cancels waits between retries and calls in flight. */
  private stop = new AbortController();
  private readonly userAgent: string;

  constructor(private readonly opts: WebhookSenderOptions) {
    this.userAgent = `tether/${opts.version ?? '0.1.0'} (${os.platform()}/${os.release()}; node.js/${process.versions.node})`;
  }

  /** Queue a delivery; never throws, never waits. */
  send(delivery: WebhookDelivery): void {
    const p = this.deliver(delivery).finally(() => this.pending.delete(p));
    this.pending.add(p);
  }

  /**
   * Wait until every queued delivery finished (tests, shutdown). Deliveries still running after the
   * grace are abandoned (reported with error `aborted`): a receiver that never answers, or retries
   * waiting 3 s and 6 s, must not hold a shutdown for a minute.
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

  private async deliver(d: WebhookDelivery): Promise<WebhookResult> {
    const body = stableStringify(d.payload);
    const headers = {
      'Content-Type': 'application/json',
      'User-Agent': this.userAgent,
      ...signatures(d.signingKey, body),
    };
    const retries = this.opts.retries ?? 2;
    const backoff = this.opts.backoffMs ?? ((n: number) => 3000 * 2 ** n);
    const signal = this.stop.signal;
    let result: WebhookResult = { url: d.url, ok: false, attempts: 0 };
    for (let attempt = 0; attempt <= retries; attempt++) {
      if (attempt > 0) await abortableSleep(backoff(attempt - 1), signal);
      if (signal.aborted) {
        result.error = 'aborted';
        break;
      }
      result = { url: d.url, ok: false, attempts: attempt + 1 };
      try {
        const res = await this.opts.client.request({
          method: 'POST',
          url: d.url,
          headers,
          body,
          timeoutMs: this.opts.timeoutMs ?? 20_000,
          signal,
        });
        await readResponseBody(res, 64 * 1024).catch(() => undefined);
        result.status = res.status;
        if (res.status < 300) {
          result.ok = true;
          break;
        }
        // 3xx and 4xx are the receiver's answer: retrying would not change it.
        if (res.status < 500) break;
      } catch (err) {
        const e = err as OutboundError;
        result.error = e.code ?? 'network_error';
        // A URL the policy refuses will be refused again.
        if (e.code === 'aborted' || signal.aborted) break;
        if (e.code === 'host_not_allowed' || e.code === 'private_address' || e.code === 'invalid_url') break;
      }
    }
    this.opts.onResult?.(result);
    return result;
  }
}
