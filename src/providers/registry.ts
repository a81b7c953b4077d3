/**
 * The provider registry and the generic machinery that runs a definition: validation, localisation,
 * the Nango view (`GET /providers/{provider}`), connection_config normalisation, URL templates and the
 * client-credentials token request.
 */
import {
  providerDefinitionSchema,
  type CredentialField,
  type LocalizedText,
  type NangoConnectionConfigField,
  type NangoCredentialField,
  type NangoProvider,
  type ProviderDefinition,
} from './types.ts';
import {
  CONFIG_NORMALIZERS,
  FIELD_NORMALIZERS,
  RESPONSE_CLASSIFIERS,
  type NormalizeContext,
  type NormalizeError,
} from './hooks.ts';
import { marketoProvider } from './marketo.ts';

export class ProviderError extends Error {
  constructor(
    readonly code: 'invalid_provider' | 'missing_connection_config' | 'invalid_token_response',
    message: string,
    readonly details: string[] = [],
  ) {
    super(message);
    this.name = 'ProviderError';
  }
}

// ---------------------------------------------------------------------------------------------------
// Validation

const PLACEHOLDER_RE = /\$\{(connectionConfig|credentials)\.([A-Za-z0-9_]+)\}/g;

/** Problems with a definition (empty when valid): schema, unknown hooks, placeholders, inconsistencies. */
export function validateProviderDefinition(input: unknown): string[] {
  const parsed = providerDefinitionSchema.safeParse(input);
  if (!parsed.success) {
    return parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
  }
  const def = parsed.data;
  const problems: string[] = [];
  const fields = new Set(Object.keys(def.connection_config));
  const checkTemplate = (where: string, template: string, allowCredentials: boolean) => {
    for (const m of template.matchAll(PLACEHOLDER_RE)) {
      if (m[1] === 'connectionConfig' && !fields.has(m[2]!)) {
        problems.push(`${where}: unknown connection_config field '${m[2]}'`);
      }
      if (
        m[1] === 'credentials' &&
        (!allowCredentials || (m[2] !== 'client_id' && m[2] !== 'client_secret'))
      ) {
        problems.push(`${where}: credentials.${m[2]} cannot be used here`);
      }
    }
    const rest = template.replace(PLACEHOLDER_RE, '');
    if (rest.includes('${')) problems.push(`${where}: unknown placeholder`);
  };
  checkTemplate('token_request.url', def.token_request.url, false);
  for (const [k, v] of Object.entries(def.token_request.params))
    checkTemplate(`token_request.params.${k}`, v, true);
  checkTemplate('proxy.base_url', def.proxy.base_url, false);
  for (const [k, v] of Object.entries(def.proxy.headers ?? {})) checkTemplate(`proxy.headers.${k}`, v, false);
  const paramsIn = def.token_request.params_in ?? defaultParamsIn(def);
  if (
    def.token_request.method === 'GET' &&
    (def.token_request.credentials_in === 'form' || paramsIn === 'form')
  ) {
    problems.push('token_request: a GET request has no form body');
  }
  for (const [name, f] of Object.entries(def.connection_config)) {
    if (f.normalize && !FIELD_NORMALIZERS[f.normalize]) {
      problems.push(`connection_config.${name}.normalize: unknown normalizer '${f.normalize}'`);
    }
    if (f.pattern) {
      try {
        new RegExp(f.pattern);
      } catch {
        problems.push(`connection_config.${name}.pattern: invalid regular expression`);
      }
    }
  }
  if (def.connection_config_normalizer && !CONFIG_NORMALIZERS[def.connection_config_normalizer]) {
    problems.push(`connection_config_normalizer: unknown normalizer '${def.connection_config_normalizer}'`);
  }
  const classifier = def.connection_test?.classifier;
  if (classifier && !RESPONSE_CLASSIFIERS[classifier]) {
    problems.push(`connection_test.classifier: unknown classifier '${classifier}'`);
  }
  return problems;
}

/** Validate and return a typed definition; throws `invalid_provider` listing every problem. */
export function defineProvider(input: unknown): ProviderDefinition {
  const problems = validateProviderDefinition(input);
  if (problems.length > 0) {
    throw new ProviderError(
      'invalid_provider',
      `invalid provider definition: ${problems.join('; ')}`,
      problems,
    );
  }
  return providerDefinitionSchema.parse(input);
}

// ---------------------------------------------------------------------------------------------------
// Registry

export interface ProviderRegistry {
  get(name: string): ProviderDefinition | undefined;
  list(): ProviderDefinition[];
}

/** A registry over validated definitions (throws on an invalid one or a duplicate name). */
export function createProviderRegistry(definitions: readonly unknown[]): ProviderRegistry {
  const map = new Map<string, ProviderDefinition>();
  for (const input of definitions) {
    const def = defineProvider(input);
    if (map.has(def.name)) throw new ProviderError('invalid_provider', `duplicate provider '${def.name}'`);
    map.set(def.name, def);
  }
  return {
    get: (name) => map.get(name),
    list: () => [...map.values()],
  };
}

/** The providers Tether ships. */
export const providers: ProviderRegistry = createProviderRegistry([marketoProvider]);

export function getProvider(name: string): ProviderDefinition | undefined {
  return providers.get(name);
}

// ---------------------------------------------------------------------------------------------------
// Languages

/** Language tags from an Accept-Language header, best first (`en` always last as the fallback). */
export function preferredLanguages(acceptLanguage: string | undefined | null): string[] {
  const tags = (acceptLanguage ?? '')
    .split(',')
    .map((part, index) => {
      const [tag, ...params] = part.trim().split(';');
      const q = params.map((p) => /^\s*q=([0-9.]+)\s*$/.exec(p)?.[1]).find((v) => v !== undefined);
      return { tag: (tag ?? '').trim().toLowerCase(), q: q === undefined ? 1 : Number(q), index };
    })
    .filter((t) => t.tag !== '' && t.tag !== '*' && t.q > 0 && Number.isFinite(t.q))
    .sort((a, b) => b.q - a.q || a.index - b.index)
    .map((t) => t.tag);
  return [...tags, 'en'];
}

/** The text in the first preferred language it has (exact tag, then primary subtag), else English. */
export function localize(text: LocalizedText, languages: readonly string[] = ['en']): string {
  const byLower = new Map(Object.entries(text).map(([k, v]) => [k.toLowerCase(), v]));
  for (const lang of languages) {
    const exact = byLower.get(lang.toLowerCase());
    if (exact !== undefined) return exact;
    const primary = byLower.get(lang.toLowerCase().split('-')[0]!);
    if (primary !== undefined) return primary;
  }
  return text.en;
}

// ---------------------------------------------------------------------------------------------------
// Nango view

export interface ToNangoOptions {
  /** Accept-Language header or an explicit list of tags. */
  languages?: string | readonly string[];
  /** Public base URL of the server; logos are served below `<publicUrl>/images/template-logos/`. */
  publicUrl?: string;
}

function stripUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

/** The `data` of `GET /providers/{provider}`: Nango's providers.yaml entry plus `name` and `logo_url`. */
export function toNangoProvider(def: ProviderDefinition, opts: ToNangoOptions = {}): NangoProvider {
  const langs =
    typeof opts.languages === 'string' || opts.languages === undefined
      ? preferredLanguages(opts.languages)
      : [...opts.languages, 'en'];
  const connection_config: Record<string, NangoConnectionConfigField> = {};
  for (const [name, f] of Object.entries(def.connection_config)) {
    connection_config[name] = stripUndefined({
      type: f.type,
      title: localize(f.title, langs),
      description: localize(f.description, langs),
      format: f.format,
      pattern: f.pattern,
      example: f.example,
      prefix: f.prefix,
      suffix: f.suffix,
      order: f.order,
      doc_section: f.doc_section,
      hidden: f.hidden,
      automated: f.automated,
      optional: f.optional,
      default_value: f.default_value,
    });
  }
  const credential = (c: CredentialField): NangoCredentialField =>
    stripUndefined({
      type: c.type,
      title: localize(c.title, langs),
      description: localize(c.description, langs),
      example: c.example,
      pattern: c.pattern,
      doc_section: c.doc_section,
      secret: c.secret,
    });
  const t = def.token_request;
  const paramsIn = t.params_in ?? defaultParamsIn(def);
  const publicUrl = (opts.publicUrl ?? '').replace(/\/+$/, '');
  return stripUndefined({
    name: def.name,
    display_name: def.display_name,
    auth_mode: def.auth_mode,
    categories: [...def.categories],
    docs: def.docs,
    docs_connect: def.docs_connect,
    token_url: t.url,
    token_params: { ...t.params },
    body_format: paramsIn === 'query' && t.credentials_in !== 'form' ? ('query' as const) : undefined,
    token_request_auth_method: t.credentials_in === 'basic' ? ('basic' as const) : undefined,
    token_expiration_buffer: def.token_expiration_buffer,
    proxy: stripUndefined({ base_url: def.proxy.base_url, headers: def.proxy.headers }),
    connection_config,
    credentials: {
      client_id: credential(def.credentials.client_id),
      client_secret: credential(def.credentials.client_secret),
    },
    logo_url: `${publicUrl}/images/template-logos/${def.logo ?? `${def.name}.svg`}`,
  });
}

// ---------------------------------------------------------------------------------------------------
// connection_config normalisation

export type NormalizeConfigResult =
  { ok: true; config: Record<string, string> } | (NormalizeError & { field?: string });

/**
 * Normalize what the user typed (`params[...]`): field normalizers on non-empty values, then the
 * whole-config normalizer, then required fields. Unknown keys are kept as is (Nango stores every
 * string param).
 */
export function normalizeConnectionConfig(
  def: ProviderDefinition,
  input: Record<string, unknown>,
  ctx: NormalizeContext = {},
): NormalizeConfigResult {
  const config: Record<string, string> = {};
  for (const [k, v] of Object.entries(input)) if (typeof v === 'string') config[k] = v;
  for (const [name, f] of Object.entries(def.connection_config)) {
    const value = config[name];
    if (value === undefined || value.trim() === '') {
      if (value !== undefined) config[name] = '';
      continue;
    }
    if (!f.normalize) continue;
    const r = FIELD_NORMALIZERS[f.normalize]!(value, ctx);
    if (!r.ok) return { ...r, field: r.field ?? name };
    config[name] = r.value;
  }
  if (def.connection_config_normalizer) {
    const r = CONFIG_NORMALIZERS[def.connection_config_normalizer]!(config, ctx);
    if (!r.ok) return r;
    Object.assign(config, r.config);
  }
  for (const [name, f] of Object.entries(def.connection_config)) {
    const value = config[name];
    if (value === undefined || value === '') {
      if (f.default_value !== undefined) {
        config[name] = f.default_value;
        continue;
      }
      if (f.optional || f.automated) continue;
      return { ok: false, code: 'missing_field', message: `${localize(f.title)} is required.`, field: name };
    }
    if (f.pattern && !new RegExp(f.pattern).test(value)) {
      return { ok: false, code: 'invalid_format', message: `Incorrect ${localize(f.title)}`, field: name };
    }
  }
  return { ok: true, config };
}

// ---------------------------------------------------------------------------------------------------
// Templates and the token request

/** Characters a value may contain to be inserted into a URL as is; anything else is percent-encoded. */
const URL_SAFE_VALUE_RE = /^[A-Za-z0-9._~:/[\]-]*$/;

function substitute(
  template: string,
  connectionConfig: Record<string, string>,
  credentials: Record<string, string> | null,
  encode: (v: string) => string,
): string {
  const missing: string[] = [];
  const out = template.replace(PLACEHOLDER_RE, (_m, scope: string, key: string) => {
    const source = scope === 'connectionConfig' ? connectionConfig : credentials;
    const v = source?.[key];
    if (v === undefined || v === '') {
      missing.push(`${scope}.${key}`);
      return '';
    }
    return encode(v);
  });
  if (missing.length > 0) {
    throw new ProviderError(
      'missing_connection_config',
      `Missing Connection Config param(s): ${missing.join(', ')}`,
      missing,
    );
  }
  return out;
}

/**
 * Fill a URL template from connection_config. Values made of URL-safe characters go in as is (a
 * normalized base may hold `host:port/PREFIX`); others are percent-encoded. When a value brings its own
 * scheme (`http://127.0.0.1:4010/123-ABC-456`), it replaces the template's leading scheme.
 */
export function interpolateUrl(template: string, connectionConfig: Record<string, string>): string {
  const out = substitute(template, connectionConfig, null, (v) =>
    URL_SAFE_VALUE_RE.test(v) ? v : encodeURIComponent(v),
  );
  return out.replace(/^https?:\/\/(?=https?:\/\/)/i, '');
}

/** The proxy base URL of a connection (e.g. `https://123-abc-456.mktorest.com`). */
export function proxyBaseUrl(def: ProviderDefinition, connectionConfig: Record<string, string>): string {
  return interpolateUrl(def.proxy.base_url, connectionConfig).replace(/\/+$/, '');
}

function defaultParamsIn(def: ProviderDefinition): 'query' | 'form' {
  const t = def.token_request;
  if (t.credentials_in === 'query' || t.credentials_in === 'form') return t.credentials_in;
  return t.method === 'GET' ? 'query' : 'form';
}

export interface BuiltRequest {
  method: 'GET' | 'POST';
  url: string;
  headers: Record<string, string>;
  body?: string;
}

/** The client-credentials token request, exactly as the definition describes it. */
export function buildTokenRequest(
  def: ProviderDefinition,
  connectionConfig: Record<string, string>,
  credentials: { client_id: string; client_secret: string },
): BuiltRequest {
  const t = def.token_request;
  const url = new URL(interpolateUrl(t.url, connectionConfig));
  const creds = { client_id: credentials.client_id, client_secret: credentials.client_secret };
  const params: [string, string][] = Object.entries(t.params).map(([k, v]) => [
    k,
    substitute(v, connectionConfig, creds, (x) => x),
  ]);
  const paramsIn = t.params_in ?? defaultParamsIn(def);
  const query: [string, string][] = [];
  const form: [string, string][] = [];
  (paramsIn === 'query' ? query : form).push(...params);
  const headers: Record<string, string> = { accept: 'application/json' };
  if (t.credentials_in === 'basic') {
    const basic = Buffer.from(
      `${encodeURIComponent(creds.client_id)}:${encodeURIComponent(creds.client_secret)}`,
    );
    headers.authorization = `Basic ${basic.toString('base64')}`;
  } else {
    (t.credentials_in === 'query' ? query : form).push(
      ['client_id', creds.client_id],
      ['client_secret', creds.client_secret],
    );
  }
  for (const [k, v] of query) url.searchParams.append(k, v);
  const built: BuiltRequest = { method: t.method, url: url.toString(), headers };
  if (form.length > 0) {
    headers['content-type'] = 'application/x-www-form-urlencoded';
    built.body = new URLSearchParams(form).toString();
  }
  return built;
}

export interface ParsedToken {
  token: string;
  /** Seconds, or null when the response has none. */
  expiresIn: number | null;
  raw: Record<string, unknown>;
}

/** Read the token out of a token response body (per `token_field` / `expires_in_field`). */
export function parseTokenResponse(def: ProviderDefinition, json: unknown): ParsedToken {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new ProviderError('invalid_token_response', 'the token response is not a JSON object');
  }
  const raw = json as Record<string, unknown>;
  const token = raw[def.token_request.token_field ?? 'access_token'];
  if (typeof token !== 'string' || token === '') {
    throw new ProviderError('invalid_token_response', 'the token response has no access token');
  }
  const e = raw[def.token_request.expires_in_field ?? 'expires_in'];
  const n = typeof e === 'number' ? e : typeof e === 'string' && e.trim() !== '' ? Number(e) : NaN;
  return { token, expiresIn: Number.isFinite(n) ? n : null, raw };
}
