/**
 * Turning an error (the server's `{error:{code, message, step?, hint?, field?}}`, a network failure…)
 * into what the user reads: which step failed, what happened, what to do, and which field is at fault.
 * Pure: no DOM.
 */
import { lookup, translator, type Lang } from './i18n.ts';

export type ErrorStep = 'input' | 'identity' | 'api' | 'session';

export interface ApiError {
  /** HTTP status, 0 when there was no answer. */
  status: number;
  code: string;
  message?: string;
  step?: string;
  hint?: string;
  field?: string;
  /** Value for a `{detail}` placeholder of the fallback text (client-side errors). */
  detail?: string;
}

export interface DisplayError {
  code: string;
  step: ErrorStep | null;
  /** Heading: which step failed. */
  title: string;
  /** What happened. */
  message: string;
  /** What to do, when known. */
  hint: string | null;
  /** The server's own words when the UI shows a translation instead. */
  details: string | null;
  /** The form field at fault, when there is one. */
  field: string | null;
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v.trim() !== '' ? v : undefined;
}

/** Read an error body (any shape) into an ApiError. */
export function parseApiError(status: number, body: unknown): ApiError {
  const err: ApiError = { status, code: status === 0 ? 'network_error' : 'unknown_error' };
  const e = typeof body === 'object' && body !== null ? (body as { error?: unknown }).error : undefined;
  if (typeof e === 'object' && e !== null) {
    const o = e as Record<string, unknown>;
    const code = str(o.code);
    if (code) err.code = code;
    const message = str(o.message);
    if (message) err.message = message;
    const step = str(o.step);
    if (step) err.step = step;
    const hint = str(o.hint);
    if (hint) err.hint = hint;
    const field = str(o.field);
    if (field) err.field = field;
  } else if (typeof e === 'string' && e !== '') {
    // Older shape: {error: "message"}.
    err.message = e;
  } else if (status === 429) {
    err.code = 'too_many_request';
  } else if (status === 404) {
    err.code = 'not_found';
  }
  if (!err.message && status >= 400 && err.code === 'unknown_error') err.message = `HTTP ${status}`;
  return err;
}

const STEP_BY_CODE: Readonly<Record<string, ErrorStep>> = {
  missing_client_id: 'input',
  missing_client_secret: 'input',
  invalid_url: 'input',
  missing_field: 'input',
  invalid_format: 'input',
  host_mismatch: 'input',
  empty: 'input',
  invalid_client_secret: 'identity',
  unknown_client_id: 'identity',
  invalid_credentials: 'identity',
  identity_unexpected_response: 'identity',
  client_credentials_fetch_error: 'identity',
  marketo_permission_missing: 'api',
  marketo_ip_restricted: 'api',
  marketo_access_denied: 'api',
  marketo_token_rejected: 'api',
  marketo_rate_limited: 'api',
  marketo_temporarily_unavailable: 'api',
  marketo_daily_quota_exhausted: 'api',
  marketo_api_error: 'api',
  api_unexpected_response: 'api',
  missing_connect_session_token: 'session',
  unknown_connect_session_token: 'session',
  invalid_connect_session_token_format: 'session',
  missing_auth_header: 'session',
  malformed_auth_header: 'session',
};

/** Credential codes name their field even when the server does not. */
const FIELD_BY_CODE: Readonly<Record<string, string>> = {
  missing_client_id: 'client_id',
  unknown_client_id: 'client_id',
  missing_client_secret: 'client_secret',
  invalid_client_secret: 'client_secret',
};

const STEPS: readonly ErrorStep[] = ['input', 'identity', 'api', 'session'];

/** `credentials.client_id`, `params.endpointURL`, `connection_config.x` → the bare field name. */
export function normalizeFieldName(field: string): string {
  return field.replace(/^(credentials|params|connection_config|connectionConfig)[.[]/, '').replace(/\]$/, '');
}

export interface DescribeOptions {
  lang: Lang;
  /** Provider display name, for step titles. */
  providerName: string;
  /** Names of the visible form fields (an error on another name is not attached to a field). */
  fieldNames?: readonly string[];
}

/**
 * What to show. In English the server's message and hint win (they name hosts and permissions); in other
 * languages a translation of a known code wins and the server's message goes to `details`.
 */
export function describeError(err: ApiError, opts: DescribeOptions): DisplayError {
  const t = translator(opts.lang);
  const code = err.code || 'unknown_error';
  const step: ErrorStep | null = STEPS.includes(err.step as ErrorStep)
    ? (err.step as ErrorStep)
    : (STEP_BY_CODE[code] ?? null);
  const title =
    step === 'input'
      ? t('step.input')
      : step === 'identity'
        ? t('step.identity')
        : step === 'api'
          ? t('step.api', { provider: opts.providerName })
          : step === 'session'
            ? t('step.session')
            : t('step.unknown');

  const vars = { detail: err.detail ?? err.message ?? '' };
  const fallbackMessage = lookup(opts.lang, `code.${code}.message`, vars);
  const fallbackHint = lookup(opts.lang, `code.${code}.hint`, vars);
  const genericMessage = t('code.unknown_error.message');
  const genericHint = t('code.unknown_error.hint');

  let message: string;
  let hint: string | null;
  let details: string | null = null;
  if (opts.lang === 'en' || !fallbackMessage) {
    message = err.message ?? fallbackMessage ?? genericMessage;
    hint = err.hint ?? fallbackHint ?? (fallbackMessage ? null : genericHint);
  } else {
    message = fallbackMessage;
    hint = fallbackHint ?? err.hint ?? null;
    const serverWords = [err.message, err.hint].filter((s): s is string => !!s).join(' ');
    if (serverWords !== '' && serverWords !== message) details = serverWords;
  }

  const rawField = err.field ? normalizeFieldName(err.field) : FIELD_BY_CODE[code];
  const field =
    rawField && (opts.fieldNames === undefined || opts.fieldNames.includes(rawField)) ? rawField : null;
  return { code, step, title, message, hint, details, field };
}
