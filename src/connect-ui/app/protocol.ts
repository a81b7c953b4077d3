/**
 * The Connect UI's contract with its host page and the API: query parameters, the postMessage protocol
 * of @nangohq/frontend, and the URL of the auth request. Pure: no DOM.
 */

export type ThemeParam = 'light' | 'dark' | 'system';

export interface Startup {
  /** `session_token` from the URL (standalone link), or null. */
  sessionToken: string | null;
  /** API base URL without trailing slash, or null when `apiURL` is not an http(s) URL. */
  apiURL: string | null;
  lang: string | null;
  theme: ThemeParam | null;
  /** `embedded` parameter: true/false when given, null when absent. */
  embedded: boolean | null;
}

function bool(v: string | null): boolean | null {
  if (v === null) return null;
  const s = v.trim().toLowerCase();
  if (s === '' || s === 'true' || s === '1' || s === 'yes') return true;
  if (s === 'false' || s === '0' || s === 'no') return false;
  return null;
}

/** The API URL: the `apiURL` parameter, else the page's origin. Trailing slashes removed. */
export function resolveApiUrl(param: string | null, pageUrl: string): string | null {
  const page = new URL(pageUrl);
  if (param === null || param.trim() === '') return page.origin;
  try {
    const u = new URL(param.trim(), page);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return null;
    u.search = '';
    u.hash = '';
    return u.toString().replace(/\/+$/, '');
  } catch {
    return null;
  }
}

/** Read the page URL. */
export function parseStartup(pageUrl: string): Startup {
  const q = new URL(pageUrl).searchParams;
  const theme = q.get('theme');
  return {
    sessionToken: q.get('session_token')?.trim() || null,
    apiURL: resolveApiUrl(q.get('apiURL'), pageUrl),
    lang: q.get('lang')?.trim() || null,
    theme: theme === 'light' || theme === 'dark' || theme === 'system' ? theme : null,
    embedded: bool(q.get('embedded')),
  };
}

/** Embedded when told so, else when framed. */
export function isEmbedded(param: boolean | null, framed: boolean): boolean {
  return param ?? framed;
}

/** Messages from the Connect UI to the page that opened it (@nangohq/frontend's protocol). */
export type OutgoingMessage =
  | { type: 'ready' }
  | { type: 'connect'; payload: { providerConfigKey: string; connectionId: string; isPending?: boolean } }
  | { type: 'error'; payload: { errorType: string; errorMessage: string } }
  | { type: 'close' };

/** The session token in a `{type:'session_token', sessionToken}` message, or null for anything else. */
export function readSessionTokenMessage(data: unknown): string | null {
  if (typeof data !== 'object' || data === null) return null;
  const m = data as { type?: unknown; sessionToken?: unknown };
  if (m.type !== 'session_token' || typeof m.sessionToken !== 'string') return null;
  const token = m.sessionToken.trim();
  return token === '' ? null : token;
}

/**
 * `POST {apiURL}/oauth2/auth/{key}?connect_session_token=<token>&params[k]=<v>…`, built exactly like
 * @nangohq/frontend: the token raw, parameter names and values URI-encoded.
 */
export function buildAuthUrl(
  apiURL: string,
  providerConfigKey: string,
  sessionToken: string,
  params: readonly (readonly [string, string])[],
): string {
  const query = [`connect_session_token=${sessionToken}`];
  for (const [k, v] of params) query.push(`params[${encodeURIComponent(k)}]=${encodeURIComponent(v)}`);
  return `${apiURL}/oauth2/auth/${encodeURIComponent(providerConfigKey)}?${query.join('&')}`;
}

/** A CSS color the theme may use (hex only: nothing that could escape a custom property). */
export function safeColor(v: unknown): string | null {
  return typeof v === 'string' && /^#(?:[0-9a-f]{3,4}|[0-9a-f]{6}|[0-9a-f]{8})$/i.test(v.trim())
    ? v.trim()
    : null;
}

/** Telemetry event body (POST /connect/telemetry via sendBeacon). */
export function telemetryBody(token: string, event: string, integration?: string): string {
  return JSON.stringify({
    token,
    event,
    timestamp: new Date().toISOString(),
    ...(integration ? { dimensions: { integration } } : {}),
  });
}

/** Black or white, whichever reads better on a hex background. */
export function readableTextOn(hex: string): '#000000' | '#ffffff' {
  let h = hex.replace('#', '');
  if (h.length === 3 || h.length === 4) h = [...h.slice(0, 3)].map((c) => c + c).join('');
  const [r, g, b] = [0, 2, 4].map((i) => parseInt(h.slice(i, i + 2), 16) / 255) as [number, number, number];
  const lin = (c: number) => (c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4);
  const luminance = 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
  // Contrast against white vs black: pick the larger.
  return 1.05 / (luminance + 0.05) >= (luminance + 0.05) / 0.05 ? '#ffffff' : '#000000';
}
