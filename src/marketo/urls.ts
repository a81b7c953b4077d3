/**
 * What users paste as their Marketo "Domain" (REST endpoint) and "Identity URL", turned into one
 * canonical value, and the URLs Tether builds from it. Pure functions: no I/O, no config.
 *
 * Stored connection_config (Nango-compatible names):
 *   - real Marketo: `endpointURL` / `identityURL` = `123-abc-456.mktorest.com` (host only, as Nango stores it;
 *     HTTPS implied);
 *   - another (allowlisted) host, e.g. Tether's sandbox: the base with its scheme and Munchkin path prefix,
 *     `http://127.0.0.1:4010/123-ABC-456`. An HTTPS host without prefix is stored bare (`host:port`).
 * `/rest`, `/bulk` and `/identity` live right below that base.
 *
 * Error messages never echo the input (a pasted token URL may carry `client_secret=` in its query).
 */

export type MarketoUrlErrorCode =
  | 'empty'
  | 'invalid_url'
  | 'unsupported_scheme'
  | 'wrong_path'
  | 'not_api_host'
  | 'host_not_allowed'
  | 'host_mismatch';

export type MarketoField = 'endpointURL' | 'identityURL';

export interface MarketoUrlError {
  ok: false;
  code: MarketoUrlErrorCode;
  message: string;
  /** Which connection_config field is wrong, when known. */
  field?: MarketoField;
}

export type MarketoUrlResult<T> = ({ ok: true } & T) | MarketoUrlError;

/** What the user's URL was pointing at (informational; the base is the same for all). */
export type MarketoUrlKind = 'root' | 'rest' | 'identity' | 'bulk';

export interface MarketoBase {
  /** Always `https` for *.mktorest.com; allowlisted hosts keep what was given (default `https`). */
  scheme: 'https' | 'http';
  /** Lower-cased host name; IPv6 literals in brackets. */
  hostname: string;
  /** Explicit non-default port, or null. */
  port: number | null;
  /** `hostname[:port]` as it appears in a URL. */
  host: string;
  /** `hostname:effectivePort`, the key an outbound allowlist matches (e.g. `127.0.0.1:4010`). */
  hostPort: string;
  /** Path prefix before `/rest` etc.: '' for Marketo, `/123-ABC-456` for the sandbox. */
  prefix: string;
  /** Munchkin ID (upper case) from the host or the prefix, when present. */
  munchkinId: string | null;
  /** True for `*.mktorest.com`. */
  marketoCloud: boolean;
  kind: MarketoUrlKind;
}

export interface ParseOptions {
  /**
   * Hosts other than *.mktorest.com are accepted only if this says so (given `hostname:port`,
   * port always present). Omitted: every syntactically valid host is accepted (pure parsing).
   */
  isAllowedHost?: (hostPort: string) => boolean;
}

const MUNCHKIN_RE = /^\d{3}-[a-z]{3}-\d{3}$/i;
const MKTOREST_SUFFIX = '.mktorest.com';
const LABEL_RE = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const SCHEME_RE = /^([a-z][a-z0-9+.-]*):\/\//i;
/** Characters users bring along when copying from a web page: whitespace, zero-width and BOM. */
const INVISIBLE_RE = /[\s\u200B-\u200D\u2060\uFEFF]+/g;

/** Marketo hosts that are not the REST API: where the user probably copied from by mistake. */
const NOT_API_HOSTS: { suffix: string; message: string }[] = [
  {
    suffix: '.mktoapi.com',
    message:
      'This is the SOAP API endpoint. Use the REST API "Endpoint" from Admin > Integration > Web Services (it ends in .mktorest.com/rest).',
  },
  {
    suffix: '.marketo.com',
    message:
      'This is the address of the Marketo application, not of its API. Use the REST API "Endpoint" from Admin > Integration > Web Services (it ends in .mktorest.com/rest).',
  },
  {
    suffix: '.mktoweb.com',
    message:
      'This is a Marketo landing-page domain, not the API. Use the REST API "Endpoint" from Admin > Integration > Web Services (it ends in .mktorest.com/rest).',
  },
];

function fail(code: MarketoUrlErrorCode, message: string, field?: MarketoField): MarketoUrlError {
  return field === undefined ? { ok: false, code, message } : { ok: false, code, message, field };
}

function isIpv4(s: string): boolean {
  const parts = s.split('.');
  return parts.length === 4 && parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255);
}

/** Munchkin ID in canonical (upper) case, or null. */
export function asMunchkinId(s: string): string | null {
  return MUNCHKIN_RE.test(s) ? s.toUpperCase() : null;
}

/**
 * Parse one pasted value: `https://123-ABC-456.mktorest.com/rest`, `…/identity`, `…/identity/oauth/token`,
 * `123-abc-456.mktorest.com`, a bare Munchkin ID `123-ABC-456`, or a sandbox base
 * `http://127.0.0.1:4010/123-ABC-456/rest`. Whitespace anywhere, a trailing slash, letter case, a query
 * string and a fragment are ignored.
 */
export function parseMarketoBase(input: string, opts: ParseOptions = {}): MarketoUrlResult<MarketoBase> {
  const s = (input ?? '').replace(INVISIBLE_RE, '');
  if (s === '') return fail('empty', 'This field is empty.');

  let schemeGiven: 'http' | 'https' | null = null;
  let candidate = s;
  const sm = SCHEME_RE.exec(s);
  if (sm) {
    const scheme = sm[1]!.toLowerCase();
    if (scheme !== 'http' && scheme !== 'https') {
      return fail('unsupported_scheme', 'Only https:// addresses are accepted.');
    }
    schemeGiven = scheme;
  } else if (s.startsWith('//')) {
    candidate = `https:${s}`;
  } else {
    candidate = `https://${s}`;
  }

  let url: URL;
  try {
    url = new URL(candidate);
  } catch {
    return fail(
      'invalid_url',
      'This is not a web address. Expected something like 123-ABC-456.mktorest.com.',
    );
  }
  if (url.username !== '' || url.password !== '') {
    return fail('invalid_url', 'The address must not contain a user name or password.');
  }

  let hostname = url.hostname.toLowerCase();
  if (hostname.endsWith('.')) hostname = hostname.slice(0, -1);
  const ipv6 = hostname.startsWith('[');
  if (!ipv6 && !isIpv4(hostname)) {
    const labels = hostname.split('.');
    if (labels.length === 0 || !labels.every((l) => LABEL_RE.test(l))) {
      return fail(
        'invalid_url',
        'This is not a valid host name. Expected something like 123-ABC-456.mktorest.com.',
      );
    }
  }

  // A bare Munchkin ID ("123-ABC-456", maybe with "/rest") stands for its Marketo host.
  if (schemeGiven === null && url.port === '' && asMunchkinId(hostname)) {
    hostname = `${hostname}${MKTOREST_SUFFIX}`;
  }

  const marketoCloud = hostname.endsWith(MKTOREST_SUFFIX) && hostname.length > MKTOREST_SUFFIX.length;
  if (!marketoCloud) {
    const wrong = NOT_API_HOSTS.find((h) => hostname === h.suffix.slice(1) || hostname.endsWith(h.suffix));
    if (wrong) return fail('not_api_host', wrong.message);
    if (hostname === 'mktorest.com') {
      return fail('invalid_url', 'The Munchkin ID is missing: expected 123-ABC-456.mktorest.com.');
    }
  }

  const scheme: 'http' | 'https' = marketoCloud ? 'https' : (schemeGiven ?? 'https');
  let port: number | null = url.port === '' ? null : Number(url.port);
  if (marketoCloud && port !== null) {
    if (port !== 443) return fail('invalid_url', 'Marketo API addresses do not use a port number.');
    port = null;
  }
  if (port !== null && port === (scheme === 'https' ? 443 : 80)) port = null;

  // Path: optional Munchkin prefix (non-Marketo hosts only), then rest | identity | bulk (and anything below).
  const segments = url.pathname.split('/').filter((p) => p !== '');
  let prefix = '';
  let munchkinId: string | null = null;
  if (marketoCloud) munchkinId = asMunchkinId(hostname.slice(0, -MKTOREST_SUFFIX.length));
  if (!marketoCloud && segments.length > 0) {
    const m = asMunchkinId(segments[0]!);
    if (m) {
      prefix = `/${m}`;
      munchkinId = m;
      segments.shift();
    }
  }
  let kind: MarketoUrlKind = 'root';
  if (segments.length > 0) {
    const first = segments[0]!.toLowerCase();
    if (first === 'rest' || first === 'identity' || first === 'bulk') {
      kind = first;
    } else if (segments.some((p) => p.toLowerCase() === 'soap')) {
      return fail(
        'wrong_path',
        'This is a SOAP API address. Use the REST API "Endpoint" from Admin > Integration > Web Services (it ends in /rest).',
      );
    } else {
      return fail(
        'wrong_path',
        'Unexpected path: the address should end in /rest (Endpoint) or /identity (Identity), as shown in Admin > Integration > Web Services.',
      );
    }
  }

  const host = port === null ? hostname : `${hostname}:${port}`;
  const hostPort = `${hostname}:${port ?? (scheme === 'https' ? 443 : 80)}`;
  if (!marketoCloud && opts.isAllowedHost && !opts.isAllowedHost(hostPort)) {
    return fail(
      'host_not_allowed',
      `Tether only connects to Marketo hosts (*.mktorest.com); ${host} is not one and is not in this server's allowlist.`,
    );
  }
  return { ok: true, scheme, hostname, port, host, hostPort, prefix, munchkinId, marketoCloud, kind };
}

/** The canonical stored value of a base (see the module comment). */
export function formatMarketoBase(b: Pick<MarketoBase, 'scheme' | 'host' | 'prefix'>): string {
  if (b.scheme === 'https' && b.prefix === '') return b.host;
  return `${b.scheme}://${b.host}${b.prefix}`;
}

/** Parse and return the canonical stored value. */
export function normalizeMarketoUrl(
  input: string,
  opts: ParseOptions = {},
): MarketoUrlResult<{ value: string }> {
  const r = parseMarketoBase(input, opts);
  if (!r.ok) return r;
  return { ok: true, value: formatMarketoBase(r) };
}

export interface MarketoConnectionConfig {
  endpointURL: string;
  identityURL: string;
}

/**
 * Normalize the pair the user typed. Either may be empty (derived from the other: Marketo serves both
 * from the same host); both empty → `empty` on endpointURL; different instances → `host_mismatch`.
 */
export function normalizeMarketoConfig(
  input: { endpointURL?: string | null; identityURL?: string | null },
  opts: ParseOptions = {},
): MarketoUrlResult<{ config: MarketoConnectionConfig; munchkinId: string | null; base: MarketoBase }> {
  const rawE = (input.endpointURL ?? '').replace(INVISIBLE_RE, '');
  const rawI = (input.identityURL ?? '').replace(INVISIBLE_RE, '');
  if (rawE === '' && rawI === '') {
    return fail(
      'empty',
      'The Domain is missing. Copy the REST API "Endpoint" from Admin > Integration > Web Services.',
      'endpointURL',
    );
  }
  const e = rawE === '' ? null : parseMarketoBase(rawE, opts);
  if (e && !e.ok) return { ...e, field: 'endpointURL' };
  const i = rawI === '' ? null : parseMarketoBase(rawI, opts);
  if (i && !i.ok) return { ...i, field: 'identityURL' };
  const eb = e as MarketoBase | null;
  const ib = i as MarketoBase | null;
  if (eb && ib) {
    const a = formatMarketoBase(eb);
    const b = formatMarketoBase(ib);
    if (a !== b) {
      return fail(
        'host_mismatch',
        `The Domain (${a}) and the Identity URL (${b}) point to different Marketo instances. Copy both from Admin > Integration > Web Services of the same instance.`,
        'identityURL',
      );
    }
  }
  const base = (eb ?? ib)!;
  const value = formatMarketoBase(base);
  return { ok: true, config: { endpointURL: value, identityURL: value }, munchkinId: base.munchkinId, base };
}

/** Extract the Munchkin ID from anything `parseMarketoBase` accepts, or null. */
export function extractMunchkinId(input: string): string | null {
  const r = parseMarketoBase(input);
  return r.ok ? r.munchkinId : null;
}

function rootOf(value: string, what: string): string {
  const r = parseMarketoBase(value);
  if (!r.ok) throw new Error(`invalid Marketo ${what} in connection config: ${r.code}`);
  return `${r.scheme}://${r.host}${r.prefix}`;
}

/** `https://123-abc-456.mktorest.com` (or `http://127.0.0.1:4010/123-ABC-456`): parent of /rest and /bulk. */
export function instanceRoot(config: Pick<MarketoConnectionConfig, 'endpointURL'>): string {
  return rootOf(config.endpointURL, 'endpointURL');
}

/** Base of lead-database and asset calls: `…/rest` (append `/v1/leads.json`, `/asset/v1/…`). */
export function restBase(config: Pick<MarketoConnectionConfig, 'endpointURL'>): string {
  return `${instanceRoot(config)}/rest`;
}

/** Base of bulk calls, NOT under /rest: `…/bulk` (append `/v1/leads/export/create.json`). */
export function bulkBase(config: Pick<MarketoConnectionConfig, 'endpointURL'>): string {
  return `${instanceRoot(config)}/bulk`;
}

/** `…/identity`, as Admin > Web Services shows it. */
export function identityBase(config: Pick<MarketoConnectionConfig, 'identityURL'>): string {
  return `${rootOf(config.identityURL, 'identityURL')}/identity`;
}

/** The token endpoint: `…/identity/oauth/token`. */
export function identityTokenUrl(config: Pick<MarketoConnectionConfig, 'identityURL'>): string {
  return `${identityBase(config)}/oauth/token`;
}
