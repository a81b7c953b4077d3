/**
 * The connection test run when a user connects Marketo (and on demand): get a token from the identity
 * endpoint, then make one read that needs the Read-Only Lead permission. Every failure says which step
 * failed and what to do, in plain words; secrets never appear in messages.
 */
import {
  OutboundError,
  requestJson,
  type OutboundJsonResponse,
  type OutboundRequestOptions,
  type OutboundResponse,
} from '../engine/outbound.ts';
import { RESPONSE_CLASSIFIERS } from '../providers/hooks.ts';
import { marketoProvider } from '../providers/marketo.ts';
import {
  buildTokenRequest,
  localize,
  normalizeConnectionConfig,
  parseTokenResponse,
  proxyBaseUrl,
} from '../providers/registry.ts';
import type { ProviderDefinition } from '../providers/types.ts';
import { classifyEnvelope, type EnvelopeClass } from './envelope.ts';
import { extractMunchkinId, parseMarketoBase } from './urls.ts';

export interface MarketoConnectionInput {
  clientId: string;
  clientSecret: string;
  /** Domain, as typed or canonical. */
  endpointURL: string;
  /** Identity URL, as typed or canonical; empty/omitted → same as the Domain. */
  identityURL?: string | null;
}

export interface ConnectionTestDeps {
  /** `outboundRequest` or a client's `request` (tests may fake it). */
  request: (opts: OutboundRequestOptions) => Promise<OutboundResponse>;
  /** For the allowlist check while normalizing the URLs (outbound checks again anyway). */
  isAllowedHost?: (hostPort: string) => boolean;
  /** Per-call total timeout (default 15 s) and connect timeout (default 5 s). */
  timeoutMs?: number;
  connectTimeoutMs?: number;
  /** Wait before the one retry after a rate/concurrency limit or transient error (default 2 s). */
  backOffMs?: number;
  sleep?: (ms: number) => Promise<void>;
  /** The provider definition (default: Marketo's). */
  provider?: ProviderDefinition;
  signal?: AbortSignal;
}

export type ConnectionTestStep = 'input' | 'identity' | 'api';

export type ConnectionTestCode =
  // input
  | 'missing_client_id'
  | 'missing_client_secret'
  | 'invalid_url'
  // identity (and network failures of either step)
  | 'invalid_client_secret'
  | 'unknown_client_id'
  | 'invalid_credentials'
  | 'identity_unexpected_response'
  | 'host_not_found'
  | 'host_unreachable'
  | 'host_not_allowed'
  | 'tls_error'
  | 'timeout'
  | 'aborted'
  // api
  | 'marketo_permission_missing'
  | 'marketo_ip_restricted'
  | 'marketo_access_denied'
  | 'marketo_token_rejected'
  | 'marketo_rate_limited'
  | 'marketo_temporarily_unavailable'
  | 'marketo_daily_quota_exhausted'
  | 'marketo_api_error'
  | 'api_unexpected_response';

export interface ConnectionTestSuccess {
  ok: true;
  token: string;
  /** Seconds left on the token when it was fetched. */
  expiresIn: number | null;
  /** Marketo: the API-only user owning the service (e.g. `api@acme.com`). */
  scope: string | null;
  /** The identity response as received (Nango stores it as `credentials.raw`). */
  raw: Record<string, unknown>;
  /** The normalized connection_config to store (`endpointURL`, `identityURL`). */
  connectionConfig: Record<string, string>;
  munchkinId: string | null;
}

export interface ConnectionTestFailure {
  ok: false;
  step: ConnectionTestStep;
  code: ConnectionTestCode;
  /** What went wrong, for the end user. */
  message: string;
  /** What to do about it. */
  hint: string;
  /** For input errors: the connection_config field or credential at fault. */
  field?: string;
  /** HTTP status of the failing answer, when there was one. */
  status?: number;
  /** Marketo error code (`603`, `1003`…), when the envelope had one. */
  marketoCode?: string;
}

export type ConnectionTestResult = ConnectionTestSuccess | ConnectionTestFailure;

/** Needs no permission: tells an IP restriction (still 603) from a missing role permission. */
const PERMISSIONLESS_PROBE = '/rest/v1/stats/usage.json';

const WEB_SERVICES = 'Admin > Integration > Web Services';
const LAUNCHPOINT = 'Admin > Integration > LaunchPoint, then View Details on your service';

function failure(
  step: ConnectionTestStep,
  code: ConnectionTestCode,
  message: string,
  hint: string,
  extra: Partial<Pick<ConnectionTestFailure, 'field' | 'status' | 'marketoCode'>> = {},
): ConnectionTestFailure {
  return { ok: false, step, code, message, hint, ...extra };
}

const STEP_WORDS: Record<'identity' | 'api', string> = {
  identity: 'getting an access token from the Identity URL',
  api: 'reading from the Marketo API at the Domain',
};

function networkFailure(step: 'identity' | 'api', err: OutboundError, host: string): ConnectionTestFailure {
  const doing = STEP_WORDS[step];
  const field = step === 'identity' ? 'Identity URL' : 'Domain';
  switch (err.code) {
    case 'dns_not_found':
      return failure(
        step,
        'host_not_found',
        `The host ${host} does not exist (while ${doing}).`,
        `Check the ${field}: copy it from ${WEB_SERVICES}. It looks like 123-ABC-456.mktorest.com.`,
      );
    case 'connection_refused':
    case 'network_error':
      return failure(
        step,
        'host_unreachable',
        `Could not reach ${host} (while ${doing}).`,
        `Check the ${field} (${WEB_SERVICES}) and try again in a few minutes.`,
      );
    case 'timeout':
      return failure(
        step,
        'timeout',
        `${host} did not answer in time (while ${doing}).`,
        'Marketo may be slow or unavailable right now. Try again in a few minutes.',
      );
    case 'tls_error':
      return failure(
        step,
        'tls_error',
        `The secure connection to ${host} failed (while ${doing}).`,
        `Check the ${field}: it must be your Marketo REST address from ${WEB_SERVICES}.`,
      );
    case 'aborted':
      return failure(step, 'aborted', `The connection test was cancelled (while ${doing}).`, 'Try again.');
    case 'response_too_large':
      return failure(
        step,
        step === 'identity' ? 'identity_unexpected_response' : 'api_unexpected_response',
        `${host} sent an unexpectedly large answer (while ${doing}).`,
        `Check the ${field}: copy it from ${WEB_SERVICES}.`,
      );
    case 'invalid_url':
    case 'host_not_allowed':
    case 'private_address':
      return failure(
        step,
        'host_not_allowed',
        `Tether does not connect to ${host}: only Marketo hosts (*.mktorest.com) are allowed.`,
        `Use the REST API addresses from ${WEB_SERVICES} (they end in .mktorest.com).`,
      );
  }
}

function errorFields(json: unknown): { error: string; description: string } {
  if (typeof json !== 'object' || json === null) return { error: '', description: '' };
  const o = json as Record<string, unknown>;
  return {
    error: typeof o.error === 'string' ? o.error : '',
    description: typeof o.error_description === 'string' ? o.error_description : '',
  };
}

function identityFailure(res: OutboundJsonResponse): ConnectionTestFailure {
  const status = res.status;
  const { error, description } = errorFields(res.json);
  if (/no client with requested id/i.test(description) || error === 'unauthorized') {
    return failure(
      'identity',
      'unknown_client_id',
      'Marketo does not know this Client ID.',
      `Copy the Client ID again from ${LAUNCHPOINT}, and check that the Identity URL belongs to the same Marketo instance.`,
      { status },
    );
  }
  if (error === 'invalid_client' || /bad client credentials/i.test(description)) {
    return failure(
      'identity',
      'invalid_client_secret',
      'Marketo refused the Client Secret for this Client ID.',
      `Copy the Client Secret again from ${LAUNCHPOINT}.`,
      { status },
    );
  }
  if (status === 401) {
    return failure(
      'identity',
      'invalid_credentials',
      'Marketo refused the Client ID or the Client Secret.',
      `Copy both again from ${LAUNCHPOINT}.`,
      { status },
    );
  }
  if (status >= 300 && status < 400) {
    return failure(
      'identity',
      'identity_unexpected_response',
      `The Identity URL answered with a redirect (HTTP ${status}) instead of a token.`,
      `Check the Identity URL: copy it from ${WEB_SERVICES}; it looks like https://123-ABC-456.mktorest.com/identity.`,
      { status },
    );
  }
  if (status >= 500) {
    return failure(
      'identity',
      'identity_unexpected_response',
      `Marketo's identity service failed (HTTP ${status}).`,
      'Marketo may be unavailable right now. Try again in a few minutes.',
      { status },
    );
  }
  return failure(
    'identity',
    'identity_unexpected_response',
    `The Identity URL did not answer like Marketo's identity service (HTTP ${status}${res.json === undefined ? ', not JSON' : ''}).`,
    `Check the Identity URL: copy it from ${WEB_SERVICES}; it looks like https://123-ABC-456.mktorest.com/identity.`,
    { status },
  );
}

function hostOf(value: string): string {
  const r = parseMarketoBase(value);
  return r.ok ? r.host : 'the Marketo host';
}

/**
 * Test Marketo credentials and addresses end to end. Never throws for network or Marketo failures
 * (programming errors excepted).
 */
export async function testMarketoConnection(
  input: MarketoConnectionInput,
  deps: ConnectionTestDeps,
): Promise<ConnectionTestResult> {
  const provider = deps.provider ?? marketoProvider;
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const backOffMs = deps.backOffMs ?? 2_000;
  const callOpts = {
    timeoutMs: deps.timeoutMs ?? 15_000,
    connectTimeoutMs: deps.connectTimeoutMs ?? 5_000,
    signal: deps.signal,
  };

  // Step 0: what the user typed.
  const clientId = (input.clientId ?? '').trim();
  const clientSecret = (input.clientSecret ?? '').trim();
  if (clientId === '') {
    return failure(
      'input',
      'missing_client_id',
      'The Client ID is missing.',
      `Copy it from ${LAUNCHPOINT}.`,
      {
        field: 'client_id',
      },
    );
  }
  if (clientSecret === '') {
    return failure(
      'input',
      'missing_client_secret',
      'The Client Secret is missing.',
      `Copy it from ${LAUNCHPOINT}.`,
      {
        field: 'client_secret',
      },
    );
  }
  const normalized = normalizeConnectionConfig(
    provider,
    { endpointURL: input.endpointURL ?? '', identityURL: input.identityURL ?? '' },
    deps.isAllowedHost ? { isAllowedHost: deps.isAllowedHost } : {},
  );
  if (!normalized.ok) {
    const failed = failure(
      'input',
      normalized.code === 'host_not_allowed' ? 'host_not_allowed' : 'invalid_url',
      normalized.message,
      `Copy the Endpoint and Identity URLs from ${WEB_SERVICES}.`,
    );
    if (normalized.field) failed.field = normalized.field;
    return failed;
  }
  const config = normalized.config;
  const identityHost = hostOf(config.identityURL ?? '');
  const apiHost = hostOf(config.endpointURL ?? '');
  const credentials = { client_id: clientId, client_secret: clientSecret };

  // Step 1: a token.
  const fetchToken = async (): Promise<ConnectionTestFailure | ConnectionTestSuccess> => {
    const built = buildTokenRequest(provider, config, credentials);
    let res: OutboundJsonResponse;
    try {
      res = await requestJson(deps.request, { ...built, ...callOpts, maxBytes: 64 * 1024 });
    } catch (err) {
      if (err instanceof OutboundError) return networkFailure('identity', err, identityHost);
      throw err;
    }
    if (res.status !== 200) return identityFailure(res);
    let parsed;
    try {
      parsed = parseTokenResponse(provider, res.json);
    } catch {
      return identityFailure(res);
    }
    const scope = parsed.raw.scope;
    return {
      ok: true,
      token: parsed.token,
      expiresIn: parsed.expiresIn,
      scope: typeof scope === 'string' ? scope : null,
      raw: parsed.raw,
      connectionConfig: config,
      munchkinId: extractMunchkinId(config.endpointURL ?? ''),
    };
  };

  let auth = await fetchToken();
  if (!auth.ok) return auth;

  const test = provider.connection_test;
  if (!test) return auth;
  const base = proxyBaseUrl(provider, config);
  const classify = (status: number, json: unknown): EnvelopeClass =>
    test.classifier ? RESPONSE_CLASSIFIERS[test.classifier]!(status, json) : classifyEnvelope(json);
  const permission = test.permission ? localize(test.permission) : 'read';

  const get = async (path: string, token: string): Promise<OutboundJsonResponse | ConnectionTestFailure> => {
    try {
      return await requestJson(deps.request, {
        method: 'GET',
        url: base + path,
        headers: { ...provider.proxy.headers, authorization: `Bearer ${token}` },
        ...callOpts,
        maxBytes: 4 * 1024 * 1024,
      });
    } catch (err) {
      if (err instanceof OutboundError) return networkFailure('api', err, apiHost);
      throw err;
    }
  };

  // Step 2: one read needing the permission; one token refresh and one back-off retry at most.
  let refreshed = false;
  let waited = false;
  while (true) {
    const res = await get(test.path, auth.token);
    if ('ok' in res) return res;
    const status = res.status;
    if (status >= 500 && !waited) {
      waited = true;
      await sleep(backOffMs);
      continue;
    }
    if (status !== 200 || res.json === undefined) {
      return failure(
        'api',
        'api_unexpected_response',
        `The Domain did not answer like the Marketo REST API (HTTP ${status}${res.json === undefined ? ', not JSON' : ''}).`,
        status === 404
          ? `Check the Domain: copy the REST API Endpoint from ${WEB_SERVICES}.`
          : status >= 500
            ? 'Marketo may be unavailable right now. Try again in a few minutes.'
            : `Check the Domain: copy the REST API Endpoint from ${WEB_SERVICES}.`,
        { status },
      );
    }
    const c = classify(status, res.json);
    switch (c.kind) {
      case 'ok':
        return auth;
      case 'refresh_token': {
        if (refreshed) {
          return failure(
            'api',
            'marketo_token_rejected',
            `Marketo rejected the access token it had just issued (error ${c.code}).`,
            'Check that the Domain and the Identity URL belong to the same Marketo instance, then try again.',
            { status, marketoCode: c.code },
          );
        }
        refreshed = true;
        const again = await fetchToken();
        if (!again.ok) return again;
        auth = again;
        continue;
      }
      case 'back_off': {
        if (!waited) {
          waited = true;
          await sleep(backOffMs);
          continue;
        }
        const limited = c.code === '606' || c.code === '615';
        return failure(
          'api',
          limited ? 'marketo_rate_limited' : 'marketo_temporarily_unavailable',
          limited
            ? `Marketo is receiving too many API calls for this instance right now (error ${c.code}).`
            : `Marketo could not answer right now (error ${c.code}: ${c.message}).`,
          'Try again in a minute.',
          { status, marketoCode: c.code },
        );
      }
      case 'quota_spent':
        return failure(
          'api',
          'marketo_daily_quota_exhausted',
          "This Marketo instance has used up its daily API quota (error 607), so the connection can't be checked.",
          `The quota resets at midnight US Central time; try again after that. Admin > Integration > Web Services shows the usage.`,
          { status, marketoCode: c.code },
        );
      case 'fail': {
        if (c.code === '603') return accessDenied(auth.token, status);
        if (c.code === 'invalid_envelope') {
          return failure(
            'api',
            'api_unexpected_response',
            'The Domain did not answer like the Marketo REST API.',
            `Check the Domain: copy the REST API Endpoint from ${WEB_SERVICES}.`,
            { status },
          );
        }
        return failure(
          'api',
          'marketo_api_error',
          `Marketo answered the test read with error ${c.code}${c.message ? ` (${c.message})` : ''}.`,
          c.code === '610'
            ? `Check the Domain: copy the REST API Endpoint from ${WEB_SERVICES}.`
            : 'Try again; if it persists, contact Tether support with this error code.',
          { status, marketoCode: c.code },
        );
      }
    }
  }

  /** 603: missing permission or IP restriction? A read that needs no permission tells them apart. */
  async function accessDenied(token: string, status: number): Promise<ConnectionTestFailure> {
    const probe = await get(PERMISSIONLESS_PROBE, token);
    const probeClass = 'ok' in probe || probe.status !== 200 ? null : classifyEnvelope(probe.json);
    if (probeClass?.kind === 'ok') {
      return failure(
        'api',
        'marketo_permission_missing',
        `The API user of this LaunchPoint service lacks the "${permission}" permission.`,
        `In Marketo, open Admin > Users & Roles > Roles, give the API role of this service's API-only user the "${permission}" permission (or pick a role that has it), then try again.`,
        { status, marketoCode: '603' },
      );
    }
    if (probeClass?.kind === 'fail' && probeClass.code === '603') {
      return failure(
        'api',
        'marketo_ip_restricted',
        "This Marketo instance only accepts API calls from listed IP addresses, and Tether's address is not listed.",
        "In Marketo, open Admin > Integration > Web Services > IP Restrictions and add this Tether server's outbound IP address (or turn the restriction off), then try again.",
        { status, marketoCode: '603' },
      );
    }
    return failure(
      'api',
      'marketo_access_denied',
      'Marketo denied access to the test read (error 603).',
      `Either the API role lacks the "${permission}" permission (Admin > Users & Roles > Roles) or the instance restricts API calls by IP address (Admin > Integration > Web Services > IP Restrictions).`,
      { status, marketoCode: '603' },
    );
  }
}
