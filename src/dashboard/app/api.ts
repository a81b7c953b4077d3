/**
 * The dashboard's calls to Tether's public JSON API (same origin), authenticated with the environment's
 * secret key as a Bearer header: never in a URL. No DOM: `fetch` is injected so node tests run it against
 * a real Tether. Every failure, a network one included, becomes an {@link ApiCallError} with a code and a
 * message the page can show.
 */
import {
  toConnectLink,
  toConnectionDetail,
  toConnections,
  toFailure,
  toIntegrations,
  toLimits,
  toLogs,
  toRequests,
  toRuns,
  toSyncs,
  toUsage,
  syncSelector,
  type ApiFailure,
  type ConnectLink,
  type ConnectionDetail,
  type ConnectionItem,
  type IntegrationItem,
  type LimitsView,
  type LogLine,
  type RequestItem,
  type RunItem,
  type SyncItem,
  type UsageView,
} from './models.ts';

export class ApiCallError extends Error {
  constructor(readonly failure: ApiFailure) {
    super(failure.message);
    this.name = 'ApiCallError';
  }
}

export interface DashboardApiOptions {
  /** Tether's origin (`''` in the browser: same origin). */
  baseUrl: string;
  getKey: () => string;
  fetch?: typeof fetch;
  timeoutMs?: number;
}

export interface ConnectionRef {
  integration: string;
  connectionId: string;
}

export interface EndUserInput {
  id: string;
  email?: string;
  displayName?: string;
}

/** A page of the connection list. */
export const CONNECTIONS_PAGE_SIZE = 50;
/** Counting an integration's connections stops here (`1000+`). */
export const COUNT_CAP = 1000;

export class DashboardApi {
  private readonly f: typeof fetch;

  constructor(private readonly opts: DashboardApiOptions) {
    this.f = opts.fetch ?? ((input, init) => fetch(input, init));
  }

  private async call(method: 'GET' | 'POST', path: string, body?: unknown): Promise<unknown> {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), this.opts.timeoutMs ?? 30_000);
    const headers: Record<string, string> = {
      Accept: 'application/json',
      Authorization: `Bearer ${this.opts.getKey()}`,
    };
    const init: RequestInit = { method, headers, signal: controller.signal, cache: 'no-store' };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let res: Response;
    let text: string;
    try {
      res = await this.f(this.opts.baseUrl + path, init);
      text = await res.text();
    } catch (err) {
      const timedOut = controller.signal.aborted;
      throw new ApiCallError({
        status: 0,
        code: timedOut ? 'timeout' : 'network_error',
        message: timedOut
          ? 'Tether did not answer in time.'
          : `Could not reach Tether (${err instanceof Error ? err.message : String(err)}).`,
      });
    } finally {
      clearTimeout(timer);
    }
    let json: unknown;
    try {
      json = text === '' ? undefined : (JSON.parse(text) as unknown);
    } catch {
      json = undefined;
    }
    if (!res.ok) throw new ApiCallError(toFailure(res.status, json));
    if (json === undefined) {
      throw new ApiCallError({
        status: res.status,
        code: 'invalid_response',
        message: 'Tether sent no JSON.',
      });
    }
    return json;
  }

  /** A cheap call that only the secret key may make: signing in checks the key with it. */
  async checkKey(): Promise<void> {
    await this.call('GET', '/connections?limit=1');
  }

  async integrations(): Promise<IntegrationItem[]> {
    return toIntegrations(await this.call('GET', '/integrations'));
  }

  /** How many connections an integration has, counted up to {@link COUNT_CAP} + 1. */
  async connectionCount(integration: string): Promise<number> {
    const q = new URLSearchParams({ integrationId: integration, limit: String(COUNT_CAP + 1) });
    return toConnections(await this.call('GET', `/connections?${q}`)).length;
  }

  /**
   * One page of connections (`search`: part of the connection id). `more` is a guess from a full page
   * (the API gives no total): the next page may turn out empty.
   */
  async connections(search: string, page: number): Promise<{ items: ConnectionItem[]; more: boolean }> {
    const q = new URLSearchParams({ limit: String(CONNECTIONS_PAGE_SIZE), page: String(page) });
    if (search !== '') q.set('search', search);
    const items = toConnections(await this.call('GET', `/connections?${q}`));
    return { items, more: items.length >= CONNECTIONS_PAGE_SIZE };
  }

  private static connQuery(c: ConnectionRef, extra: Record<string, string> = {}): string {
    return new URLSearchParams({ provider_config_key: c.integration, ...extra }).toString();
  }

  private static connPath(c: ConnectionRef, suffix = ''): string {
    return `/connections/${encodeURIComponent(c.connectionId)}${suffix}`;
  }

  /**
   * The connection and its credential status, through the read-only overview: no credentials reach the
   * browser, and looking never renews a token (`GET /connections/{id}` would do both).
   */
  async connection(c: ConnectionRef): Promise<ConnectionDetail> {
    return toConnectionDetail(
      await this.call('GET', `${DashboardApi.connPath(c, '/overview')}?${DashboardApi.connQuery(c)}`),
    );
  }

  async usage(c: ConnectionRef): Promise<UsageView> {
    return toUsage(
      await this.call('GET', `${DashboardApi.connPath(c, '/usage')}?${DashboardApi.connQuery(c)}`),
    );
  }

  async limits(c: ConnectionRef): Promise<LimitsView> {
    return toLimits(
      await this.call('GET', `${DashboardApi.connPath(c, '/limits')}?${DashboardApi.connQuery(c)}`),
    );
  }

  async requests(c: ConnectionRef, limit = 20): Promise<RequestItem[]> {
    const q = DashboardApi.connQuery(c, { limit: String(limit) });
    return toRequests(await this.call('GET', `${DashboardApi.connPath(c, '/requests')}?${q}`));
  }

  private static syncQuery(c: ConnectionRef, extra: Record<string, string> = {}): string {
    return new URLSearchParams({
      provider_config_key: c.integration,
      connection_id: c.connectionId,
      ...extra,
    }).toString();
  }

  async syncs(c: ConnectionRef): Promise<SyncItem[]> {
    return toSyncs(await this.call('GET', `/sync/status?${DashboardApi.syncQuery(c, { syncs: '*' })}`));
  }

  async runs(c: ConnectionRef, limit = 20): Promise<RunItem[]> {
    const q = DashboardApi.syncQuery(c, { limit: String(limit) });
    return toRuns(await this.call('GET', `/sync/runs?${q}`)).runs;
  }

  async runLogs(c: ConnectionRef, runId: string): Promise<LogLine[]> {
    const lines: LogLine[] = [];
    let cursor: string | null = null;
    // A run's log is capped server-side; a few pages of 500 cover it.
    for (let page = 0; page < 10; page++) {
      const q = DashboardApi.syncQuery(c, { limit: '500', ...(cursor ? { cursor } : {}) });
      const res = toLogs(await this.call('GET', `/sync/runs/${encodeURIComponent(runId)}/logs?${q}`));
      lines.push(...res.logs);
      cursor = res.nextCursor;
      if (!cursor) break;
    }
    return lines;
  }

  /** Trigger one extra run, pause or resume the schedule of one sync (and variant). */
  async syncAction(c: ConnectionRef, sync: SyncItem, action: 'trigger' | 'pause' | 'start'): Promise<void> {
    await this.call('POST', `/sync/${action}`, {
      syncs: [syncSelector(sync)],
      provider_config_key: c.integration,
      connection_id: c.connectionId,
    });
  }

  async createConnectLink(integration: string, endUser: EndUserInput): Promise<ConnectLink> {
    const json = await this.call('POST', '/connect/sessions', {
      end_user: {
        id: endUser.id,
        ...(endUser.email ? { email: endUser.email } : {}),
        ...(endUser.displayName ? { display_name: endUser.displayName } : {}),
      },
      allowed_integrations: [integration],
    });
    const link = toConnectLink(json);
    if (!link) {
      throw new ApiCallError({
        status: 200,
        code: 'invalid_response',
        message: 'Tether sent no connect_link.',
      });
    }
    return link;
  }
}
