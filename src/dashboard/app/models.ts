/**
 * What the dashboard shows, read out of the API's JSON. Pure: no DOM, no fetch. Every reader takes
 * `unknown` and copies only the fields it names, so a field the API adds later (or a credential) never
 * reaches the page by accident. A connection is read through `GET /connections/{id}/overview`, which
 * carries no credentials and renews no token; `toConnectionDetail` keeps its `credentials_status` only.
 */

export interface ApiFailure {
  /** HTTP status; 0 when Tether could not be reached. */
  status: number;
  code: string;
  message: string;
}

type Obj = Record<string, unknown>;

const obj = (v: unknown): Obj => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Obj) : {});
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const str = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);
const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const int0 = (v: unknown): number => num(v) ?? 0;

/** An error body (`{error: {code, message}}`, or anything else) as one failure. */
export function toFailure(status: number, body: unknown): ApiFailure {
  const e = obj(body).error;
  const inner = obj(e);
  const code = str(inner.code) ?? (status === 404 ? 'not_found' : 'unknown_error');
  const message =
    str(inner.message) ?? (typeof e === 'string' && e !== '' ? e : `Tether answered HTTP ${status}.`);
  return { status, code, message };
}

// ---------------------------------------------------------------------------------------------------
// Integrations and connections

export interface IntegrationItem {
  uniqueKey: string;
  provider: string;
  displayName: string;
}

export function toIntegrations(json: unknown): IntegrationItem[] {
  const out: IntegrationItem[] = [];
  for (const item of arr(obj(json).data)) {
    const o = obj(item);
    const uniqueKey = str(o.unique_key);
    const provider = str(o.provider);
    if (!uniqueKey || !provider) continue;
    out.push({ uniqueKey, provider, displayName: str(o.display_name) ?? provider });
  }
  return out;
}

export interface ConnectionItem {
  connectionId: string;
  integration: string;
  provider: string;
  endUserId: string | null;
  endUserEmail: string | null;
  endUserName: string | null;
  created: string | null;
  /** Types of the connection's errors (`auth`, `sync`…). */
  errors: string[];
}

export function toConnections(json: unknown): ConnectionItem[] {
  const out: ConnectionItem[] = [];
  for (const item of arr(obj(json).connections)) {
    const o = obj(item);
    const connectionId = str(o.connection_id);
    const integration = str(o.provider_config_key);
    if (!connectionId || !integration) continue;
    const endUser = obj(o.end_user);
    out.push({
      connectionId,
      integration,
      provider: str(o.provider) ?? '',
      endUserId: str(endUser.id),
      endUserEmail: str(endUser.email),
      endUserName: str(endUser.display_name),
      created: str(o.created) ?? str(o.created_at),
      errors: arr(o.errors)
        .map((e) => str(obj(e).type))
        .filter((t): t is string => t !== null),
    });
  }
  return out;
}

/** Config keys that may hold a secret: never shown, whatever a provider stores there. */
export function isSecretKey(key: string): boolean {
  return /secret|token|password|passwd|private|credential|api_?key|certificate|signature|auth/i.test(key);
}

export interface RefreshFailure {
  code: string;
  message: string;
  at: string | null;
  logId: string | null;
}

/** What the overview says about the credentials (never the token or the client secret). */
export interface CredentialsStatus {
  type: string | null;
  /** When the current access token expires. */
  expiresAt: string | null;
  /** No token, or it expired (by Tether's clock); `null` when the answer did not say. */
  expired: boolean | null;
  lastRenewedAt: string | null;
  /** The last renewal failed and none succeeded since. */
  lastRefreshError: RefreshFailure | null;
  refreshAttempts: number;
  refreshExhausted: boolean;
}

export interface ConnectionDetail {
  connectionId: string;
  integration: string;
  provider: string;
  /** Non-secret connection config (Marketo: endpointURL, identityURL), as text. */
  config: [string, string][];
  createdAt: string | null;
  updatedAt: string | null;
  lastFetchedAt: string | null;
  credentials: CredentialsStatus;
  errors: string[];
}

function toRefreshFailure(v: unknown): RefreshFailure | null {
  const o = obj(v);
  const code = str(o.code);
  if (!code) return null;
  return {
    code,
    message: str(o.message) ?? 'The last token renewal failed.',
    at: str(o.at),
    logId: str(o.log_id),
  };
}

function toCredentialsStatus(v: unknown): CredentialsStatus {
  const o = obj(v);
  return {
    type: str(o.type),
    expiresAt: str(o.expires_at),
    expired: typeof o.expired === 'boolean' ? o.expired : null,
    lastRenewedAt: str(o.last_refresh_success_at),
    lastRefreshError: toRefreshFailure(o.last_refresh_error),
    refreshAttempts: int0(o.refresh_attempts),
    refreshExhausted: o.refresh_exhausted === true,
  };
}

/** The safe part of `GET /connections/{id}/overview`: never a `credentials` field, even if one were sent. */
export function toConnectionDetail(json: unknown): ConnectionDetail {
  const o = obj(json);
  const config: [string, string][] = [];
  for (const [k, v] of Object.entries(obj(o.connection_config))) {
    if (isSecretKey(k)) continue;
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') config.push([k, String(v)]);
  }
  config.sort((a, b) => a[0].localeCompare(b[0]));
  return {
    connectionId: str(o.connection_id) ?? '',
    integration: str(o.provider_config_key) ?? '',
    provider: str(o.provider) ?? '',
    config,
    createdAt: str(o.created_at),
    updatedAt: str(o.updated_at),
    lastFetchedAt: str(o.last_fetched_at),
    credentials: toCredentialsStatus(o.credentials_status),
    errors: arr(o.errors)
      .map((e) => str(obj(e).type))
      .filter((t): t is string => t !== null),
  };
}

export type HealthState = 'healthy' | 'error' | 'unknown';

export interface CredentialHealth {
  state: HealthState;
  text: string;
}

/**
 * Are the credentials usable, as far as Tether knows without trying? The overview renews nothing, so an
 * expired token is not a failure: it is renewed at the connection's next call, and only then checked.
 */
export function credentialHealth(
  detail: ConnectionDetail | null,
  failure: ApiFailure | null,
): CredentialHealth {
  if (failure) {
    if (failure.status === 0 || failure.status >= 500 || failure.code === 'not_found') {
      return { state: 'unknown', text: `Could not check: ${failure.message} (${failure.code})` };
    }
    return { state: 'error', text: `${failure.message} (${failure.code})` };
  }
  if (!detail) return { state: 'unknown', text: 'Not checked yet.' };
  const c = detail.credentials;
  if (c.lastRefreshError) {
    return { state: 'error', text: `${c.lastRefreshError.message} (${c.lastRefreshError.code})` };
  }
  if (detail.errors.includes('auth')) return { state: 'error', text: 'The last token renewal failed.' };
  if (c.type === null) return { state: 'error', text: 'No credentials are stored for this connection.' };
  if (c.expired === true) {
    return {
      state: 'unknown',
      text: 'The access token expired; a new one is requested at the connection’s next call.',
    };
  }
  return { state: 'healthy', text: 'The access token is valid.' };
}

// ---------------------------------------------------------------------------------------------------
// Usage, limits, requests

export interface Budget {
  limit: number;
  used: number;
  left: number;
  resetAt: string | null;
}

function toBudget(v: unknown): Budget | null {
  const o = obj(v);
  if (num(o.limit) === null) return null;
  return { limit: int0(o.limit), used: int0(o.used), left: int0(o.left), resetAt: str(o.reset_at) };
}

export interface UsageCounters {
  calls: number;
  identityCalls: number;
  errors: number;
  retries: number;
  rejected: number;
  queuedMs: number;
  errorsByCode: [string, number][];
  budget: Budget | null;
}

function toCounters(v: unknown): UsageCounters {
  const o = obj(v);
  return {
    calls: int0(o.calls),
    identityCalls: int0(o.identity_calls),
    errors: int0(o.errors),
    retries: int0(o.retries),
    rejected: int0(o.rejected),
    queuedMs: int0(o.queued_ms),
    errorsByCode: Object.entries(obj(o.errors_by_code))
      .map(([k, n]): [string, number] => [k, int0(n)])
      .sort((a, b) => b[1] - a[1]),
    budget: toBudget(o.budget),
  };
}

export interface UsageView {
  day: string;
  connection: UsageCounters;
  instanceKey: string;
  instance: UsageCounters;
}

export function toUsage(json: unknown): UsageView {
  const o = obj(json);
  return {
    day: str(o.day) ?? '',
    connection: toCounters(o.connection),
    instanceKey: str(obj(o.instance).key) ?? '',
    instance: toCounters(o.instance),
  };
}

export interface LimitsView {
  budget: (Budget & { isDefault: boolean }) | null;
  instanceKey: string;
  /** The instance's limits in force (numbers only), by API name. */
  limits: [string, number][];
  configured: string[];
}

export function toLimits(json: unknown): LimitsView {
  const o = obj(json);
  const inst = obj(o.instance);
  const budget = toBudget(o.budget);
  return {
    budget: budget ? { ...budget, isDefault: obj(o.budget).is_default === true } : null,
    instanceKey: str(inst.key) ?? '',
    limits: Object.entries(obj(inst.limits))
      .filter((e): e is [string, number] => num(e[1]) !== null)
      .map(([k, v]): [string, number] => [k, v]),
    configured: Object.keys(obj(inst.configured)),
  };
}

export interface RequestItem {
  id: string;
  method: string;
  path: string;
  status: number;
  codes: string[];
  durationMs: number;
  attempts: number;
  at: string | null;
}

export function toRequests(json: unknown): RequestItem[] {
  return arr(obj(json).requests).map((item) => {
    const o = obj(item);
    return {
      id: String(o.id ?? ''),
      method: str(o.method) ?? '',
      path: str(o.path) ?? '',
      status: int0(o.status),
      codes: arr(o.codes).filter((c): c is string => typeof c === 'string'),
      durationMs: int0(o.duration_ms),
      attempts: int0(o.attempts),
      at: str(o.at) ?? (num(o.at) !== null ? new Date(num(o.at)!).toISOString() : null),
    };
  });
}

// ---------------------------------------------------------------------------------------------------
// Syncs, runs, logs

export interface ModelCounts {
  model: string;
  added: number;
  updated: number;
  deleted: number;
}

export interface SyncItem {
  id: string;
  name: string;
  variant: string;
  status: string;
  frequency: string | null;
  latestExecutionStatus: string | null;
  type: string;
  finishedAt: string | null;
  nextScheduledSyncAt: string | null;
  latestResult: ModelCounts[];
  recordCount: [string, number][];
  pausedUntil: string | null;
  lastError: string | null;
}

/** A run's or a sync's error (`{type, message}` or text) as one line. */
function errorText(v: unknown): string | null {
  if (typeof v === 'string') return v === '' ? null : v;
  const o = obj(v);
  const message = str(o.message);
  const type = str(o.type);
  if (!message && !type) return null;
  return type && message ? `${message} (${type})` : (message ?? type);
}

function toModelCounts(v: unknown): ModelCounts[] {
  return Object.entries(obj(v)).map(([model, c]) => {
    const o = obj(c);
    return { model, added: int0(o.added), updated: int0(o.updated), deleted: int0(o.deleted) };
  });
}

export function toSyncs(json: unknown): SyncItem[] {
  return arr(obj(json).syncs)
    .map((item) => {
      const o = obj(item);
      return {
        id: String(o.id ?? ''),
        name: str(o.name) ?? '',
        variant: str(o.variant) ?? 'base',
        status: str(o.status) ?? 'UNKNOWN',
        frequency: str(o.frequency),
        latestExecutionStatus: str(o.latestExecutionStatus),
        type: str(o.type) ?? '',
        finishedAt: str(o.finishedAt),
        nextScheduledSyncAt: str(o.nextScheduledSyncAt),
        latestResult: toModelCounts(o.latestResult),
        recordCount: Object.entries(obj(o.recordCount)).map(([k, n]): [string, number] => [k, int0(n)]),
        pausedUntil: str(o.pausedUntil),
        lastError: errorText(o.lastError),
      };
    })
    .filter((s) => s.name !== '');
}

/** `name` for a base sync, `name::variant` otherwise (how the API's `syncs` lists name one). */
export function syncLabel(s: { name: string; variant: string }): string {
  return s.variant === 'base' ? s.name : `${s.name}::${s.variant}`;
}

/** The `syncs` item that selects exactly this sync (and variant) in trigger / pause / start bodies. */
export function syncSelector(s: {
  name: string;
  variant: string;
}): string | { name: string; variant: string } {
  return s.variant === 'base' ? s.name : { name: s.name, variant: s.variant };
}

export interface RunItem {
  id: string;
  sync: string;
  variant: string;
  type: string;
  reason: string;
  status: string;
  startedAt: string | null;
  endedAt: string | null;
  added: number;
  updated: number;
  deleted: number;
  unchanged: number;
  apiCalls: number;
  error: string | null;
  pausedUntil: string | null;
}

export function toRuns(json: unknown): { runs: RunItem[]; nextCursor: string | null } {
  const o = obj(json);
  const runs = arr(o.runs).map((item) => {
    const r = obj(item);
    return {
      id: String(r.id ?? ''),
      sync: str(r.sync) ?? '',
      variant: str(r.variant) ?? 'base',
      type: str(r.type) ?? '',
      reason: str(r.reason) ?? '',
      status: str(r.status) ?? 'UNKNOWN',
      startedAt: str(r.started_at),
      endedAt: str(r.ended_at),
      added: int0(r.added),
      updated: int0(r.updated),
      deleted: int0(r.deleted),
      unchanged: int0(r.unchanged),
      apiCalls: int0(r.api_calls),
      error: errorText(r.error),
      pausedUntil: str(r.paused_until),
    };
  });
  return { runs, nextCursor: str(o.next_cursor) };
}

export interface LogLine {
  id: string;
  at: string | null;
  level: string;
  message: string;
  data: unknown;
}

export function toLogs(json: unknown): { logs: LogLine[]; nextCursor: string | null } {
  const o = obj(json);
  const logs = arr(o.logs).map((item) => {
    const l = obj(item);
    return {
      id: String(l.id ?? ''),
      at: str(l.at),
      level: str(l.level) ?? 'info',
      message: str(l.message) ?? '',
      data: l.data ?? null,
    };
  });
  return { logs, nextCursor: str(o.next_cursor) };
}

/** A status word as a badge tone. */
export function statusTone(status: string | null): 'ok' | 'running' | 'warn' | 'error' | 'neutral' {
  switch (status) {
    case 'SUCCESS':
      return 'ok';
    case 'RUNNING':
      return 'running';
    case 'PAUSED':
    case 'STOPPED':
    case 'CANCELLED':
      return 'warn';
    case 'ERROR':
      return 'error';
    default:
      return 'neutral';
  }
}

export interface ConnectLink {
  connectLink: string;
  expiresAt: string | null;
}

export function toConnectLink(json: unknown): ConnectLink | null {
  const d = obj(obj(json).data);
  const connectLink = str(d.connect_link);
  return connectLink ? { connectLink, expiresAt: str(d.expires_at) } : null;
}
