/**
 * The form, derived from provider data only: which fields, in which order, with which texts, and how a
 * "host" field fills another one. Pure: no DOM. Nothing here knows Marketo's field names.
 */
import type { Translate } from './i18n.ts';
import type { Provider, ProviderConfigField, ProviderCredentialField } from './types.ts';

export type FieldGroup = 'credentials' | 'params';

export interface FieldModel {
  /** Key in `credentials` or `connection_config` (e.g. `client_id`, `endpointURL`). */
  name: string;
  group: FieldGroup;
  title: string;
  description: string;
  example?: string;
  prefix?: string;
  suffix?: string;
  /** Link to the guide's section about this field. */
  docUrl?: string;
  secret: boolean;
  required: boolean;
  format?: string;
  pattern?: string;
  /** Not shown (preconfigured by the session, `hidden` or `automated`). */
  hidden: boolean;
  /** Value set by the session's integrations_config_defaults (sent as is; the server overrides anyway). */
  preset?: string;
  /** Initial value of a visible field. */
  initial: string;
}

/** Auth modes this form knows how to submit. */
export const SUPPORTED_AUTH_MODES = ['OAUTH2_CC'] as const;

export function isSupportedAuthMode(mode: string | undefined): boolean {
  return (SUPPORTED_AUTH_MODES as readonly string[]).includes(mode ?? '');
}

/** Credentials an OAUTH2_CC form sends (what @nangohq/frontend puts in the JSON body). */
const OAUTH2_CC_CREDENTIALS = ['client_id', 'client_secret'] as const;

/** An http(s) URL, or undefined (never `javascript:` and the like). */
export function safeHttpUrl(value: string | undefined | null, base?: string): string | undefined {
  if (!value) return undefined;
  try {
    const u = base ? new URL(value, base) : new URL(value);
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.toString() : undefined;
  } catch {
    return undefined;
  }
}

/** The guide URL of a field: `docs_connect` + `doc_section` (an anchor, or a full URL). */
export function docUrlFor(
  docsConnect: string | undefined,
  docSection: string | undefined,
): string | undefined {
  const base = safeHttpUrl(docsConnect);
  if (!docSection) return base;
  if (/^https?:\/\//i.test(docSection)) return safeHttpUrl(docSection);
  if (!base) return undefined;
  const section = docSection.startsWith('#') ? docSection : `#${docSection}`;
  return base.replace(/#.*$/, '') + section;
}

function nonEmptyString(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

export interface BuildFieldsOptions {
  t: Translate;
  /** `integrations_config_defaults[key].connection_config` of the session. */
  presets?: Record<string, unknown>;
  /** Session override of the guide URL. */
  docsConnect?: string;
}

function credentialField(
  name: (typeof OAUTH2_CC_CREDENTIALS)[number],
  def: ProviderCredentialField | undefined,
  docsConnect: string | undefined,
  t: Translate,
): FieldModel {
  const field: FieldModel = {
    name,
    group: 'credentials',
    title: def?.title || t(`default.${name}.title`),
    description: def?.description || t(`default.${name}.description`),
    secret: def?.secret ?? name === 'client_secret',
    required: !def?.optional,
    hidden: false,
    initial: '',
  };
  if (def?.example) field.example = def.example;
  if (def?.prefix) field.prefix = def.prefix;
  if (def?.suffix) field.suffix = def.suffix;
  if (def?.pattern) field.pattern = def.pattern;
  const doc = docUrlFor(docsConnect, def?.doc_section);
  if (doc) field.docUrl = doc;
  return field;
}

function paramField(
  name: string,
  def: ProviderConfigField,
  preset: string | undefined,
  docsConnect: string | undefined,
): FieldModel {
  const field: FieldModel = {
    name,
    group: 'params',
    title: def.title || name,
    description: def.description ?? '',
    secret: false,
    required: !def.optional && def.default_value === undefined,
    hidden: preset !== undefined || def.hidden === true || def.automated === true,
    initial: def.default_value ?? '',
  };
  if (def.example) field.example = def.example;
  if (def.prefix) field.prefix = def.prefix;
  if (def.suffix) field.suffix = def.suffix;
  if (def.format) field.format = def.format;
  if (def.pattern) field.pattern = def.pattern;
  if (preset !== undefined) field.preset = preset;
  const doc = docUrlFor(docsConnect, def.doc_section);
  if (doc) field.docUrl = doc;
  return field;
}

/**
 * The fields of the form, in display order: the auth mode's credentials, then `connection_config` by
 * `order` (automated fields are left out: the server fills them).
 */
export function buildFields(provider: Provider, opts: BuildFieldsOptions): FieldModel[] {
  const docsConnect = opts.docsConnect ?? provider.docs_connect;
  const fields: FieldModel[] = OAUTH2_CC_CREDENTIALS.map((name) =>
    credentialField(name, provider.credentials?.[name], docsConnect, opts.t),
  );
  const params = Object.entries(provider.connection_config ?? {})
    .filter(([, def]) => def && def.automated !== true)
    .map(([name, def], index) => ({ name, def, index }))
    .sort((a, b) => (a.def.order ?? Infinity) - (b.def.order ?? Infinity) || a.index - b.index);
  for (const { name, def } of params) {
    fields.push(paramField(name, def, nonEmptyString(opts.presets?.[name]), docsConnect));
  }
  return fields;
}

const HOST_FORMATS = new Set(['hostname', 'uri']);

export function isHostField(field: Pick<FieldModel, 'format'>): boolean {
  return HOST_FORMATS.has(field.format ?? '');
}

/**
 * Which field fills which: a visible host field (format hostname/uri) after another visible host field of
 * the same format and the same example (or none) mirrors its host while the user has not edited it.
 * Returns target name → source name.
 */
export function autofillPairs(fields: readonly FieldModel[]): Map<string, string> {
  const pairs = new Map<string, string>();
  const visible = fields.filter((f) => f.group === 'params' && !f.hidden && isHostField(f));
  const source = visible[0];
  if (!source) return pairs;
  for (const target of visible.slice(1)) {
    if (target.format !== source.format) continue;
    if (target.example !== undefined && source.example !== undefined && target.example !== source.example)
      continue;
    pairs.set(target.name, source.name);
  }
  return pairs;
}

const SCHEME_RE = /^([a-z][a-z0-9+.-]*):\/\//i;

/**
 * The host part of what the user pasted, as the form shows it: no whitespace, no `https://`, no query or
 * fragment, no trailing slash, and no trailing API path words (`/rest`, `/identity/oauth/token`); other
 * path segments (e.g. an instance id) and a non-https scheme are kept. Host name lower-cased.
 */
export function deriveHost(value: string): string {
  let v = value.replace(/[\s\u200B-\u200D\u2060\uFEFF]+/g, '');
  if (v === '') return '';
  v = v.replace(/[?#].*$/, '');
  const m = SCHEME_RE.exec(v);
  let scheme = '';
  if (m) {
    scheme = m[1]!.toLowerCase();
    v = v.slice(m[0].length);
  } else if (v.startsWith('//')) {
    v = v.slice(2);
  }
  const slash = v.indexOf('/');
  const host = (slash === -1 ? v : v.slice(0, slash)).toLowerCase();
  const segments = (slash === -1 ? '' : v.slice(slash)).split('/').filter((s) => s !== '');
  while (segments.length > 0 && /^[a-z]+$/i.test(segments[segments.length - 1]!)) segments.pop();
  const path = segments.length > 0 ? `/${segments.join('/')}` : '';
  if (host === '') return '';
  return `${scheme !== '' && scheme !== 'https' ? `${scheme}://` : ''}${host}${path}`;
}

/** What the server will probably use for a host field: prefix + host + suffix (display only). */
export function previewUrl(
  field: Pick<FieldModel, 'prefix' | 'suffix' | 'format'>,
  value: string,
): string | null {
  if (!isHostField(field)) return null;
  const host = deriveHost(value);
  if (host === '') return null;
  const withScheme = SCHEME_RE.test(host) ? host : `${field.prefix ?? 'https://'}${host}`;
  const suffix = field.suffix ?? '';
  return withScheme.endsWith('/') && suffix.startsWith('/')
    ? withScheme + suffix.slice(1)
    : withScheme + suffix;
}

/** Does the value already carry a scheme (so a `https://` prefix adornment would be misleading)? */
export function hasScheme(value: string): boolean {
  return SCHEME_RE.test(value.trim());
}

/** Does the value already carry a path (so a suffix adornment would be misleading)? */
export function hasPath(value: string): boolean {
  const v = value.trim().replace(SCHEME_RE, '').replace(/^\/\//, '');
  return /\/./.test(v);
}

export interface AuthRequest {
  credentials: Record<string, string>;
  params: [string, string][];
}

/**
 * What the form sends: credentials (JSON body) and connection_config params (query), in field order.
 * Values are sent exactly as typed; empty optional values are left out; preconfigured ones are sent.
 */
export function collectAuthRequest(
  fields: readonly FieldModel[],
  values: ReadonlyMap<string, string>,
): AuthRequest {
  const credentials: Record<string, string> = {};
  const params: [string, string][] = [];
  for (const f of fields) {
    const value = f.preset ?? values.get(f.name) ?? f.initial;
    if (f.group === 'credentials') {
      if (value !== '' || f.required) credentials[f.name] = value;
    } else if (value !== '') {
      params.push([f.name, value]);
    }
  }
  return { credentials, params };
}
