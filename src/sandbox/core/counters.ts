import { chicagoDayCached as chicagoDay } from './clock.ts';

/**
 * What the sandbox served, for tests (control API) and for Marketo's own usage and error
 * statistics endpoints (spec 5.9), which report per Central-time day.
 */
export class Counters {
  /** Calls served, keyed by `METHOD path-pattern`. */
  readonly byEndpoint = new Map<string, number>();
  /** Errors returned, keyed by Marketo code (string) or HTTP status for plain HTTP errors. */
  readonly errorsByCode = new Map<string, number>();
  identityCalls = 0;
  /** Identity calls that minted a new token (rather than returning the cached one). */
  tokensIssued = 0;
  apiCalls = 0;
  bytesExported = 0;
  droppedConnections = 0;
  /** day → user → calls. */
  readonly usage = new Map<string, Map<string, number>>();
  /** day → code → count. */
  readonly errorsByDay = new Map<string, Map<string, number>>();

  call(endpoint: string, user: string, now: number): void {
    this.apiCalls++;
    this.byEndpoint.set(endpoint, (this.byEndpoint.get(endpoint) ?? 0) + 1);
    const day = chicagoDay(now);
    let users = this.usage.get(day);
    if (!users) this.usage.set(day, (users = new Map()));
    users.set(user, (users.get(user) ?? 0) + 1);
  }

  error(code: string, now: number): void {
    this.errorsByCode.set(code, (this.errorsByCode.get(code) ?? 0) + 1);
    const day = chicagoDay(now);
    let codes = this.errorsByDay.get(day);
    if (!codes) this.errorsByDay.set(day, (codes = new Map()));
    codes.set(code, (codes.get(code) ?? 0) + 1);
  }

  reset(): void {
    this.byEndpoint.clear();
    this.errorsByCode.clear();
    this.identityCalls = 0;
    this.tokensIssued = 0;
    this.apiCalls = 0;
    this.bytesExported = 0;
    this.droppedConnections = 0;
  }
}
