/**
 * The few named functions a provider definition may refer to (definitions are data; code lives here):
 * field normalizers, whole-config normalizers and response classifiers.
 */
import { normalizeMarketoConfig, normalizeMarketoUrl, type MarketoUrlErrorCode } from '../marketo/urls.ts';
import { classifyEnvelope, type EnvelopeClass } from '../marketo/envelope.ts';

export interface NormalizeContext {
  /** Is `hostname:port` allowlisted for outbound calls (TETHER_ALLOWED_HOSTS)? Omitted: accept any host. */
  isAllowedHost?: (hostPort: string) => boolean;
}

export interface NormalizeError {
  ok: false;
  code: string;
  message: string;
  field?: string;
}

export type FieldNormalizer = (
  value: string,
  ctx: NormalizeContext,
) => { ok: true; value: string } | NormalizeError;

export type ConfigNormalizer = (
  config: Record<string, string>,
  ctx: NormalizeContext,
) => { ok: true; config: Record<string, string> } | NormalizeError;

/** What a connection-test response means, provider-neutral. */
export type TestResponseClass = EnvelopeClass;

export type ResponseClassifier = (status: number, json: unknown) => TestResponseClass;

const HOSTNAME_RE = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;

export const FIELD_NORMALIZERS: Readonly<Record<string, FieldNormalizer>> = {
  /** Strip surrounding whitespace. */
  trim: (value) => ({ ok: true, value: value.trim() }),
  /** A bare host name: drop scheme, path, whitespace; lower-case. */
  hostname: (value) => {
    const v = value
      .replace(/\s+/g, '')
      .replace(/^[a-z][a-z0-9+.-]*:\/\//i, '')
      .replace(/[/?#].*$/, '')
      .toLowerCase();
    if (v === '') return { ok: false, code: 'empty', message: 'This field is empty.' };
    if (!HOSTNAME_RE.test(v)) return { ok: false, code: 'invalid_hostname', message: 'Invalid hostname' };
    return { ok: true, value: v };
  },
  /** A Marketo Endpoint or Identity URL, as pasted, to its canonical base (marketo/urls.ts). */
  marketo_base: (value, ctx) => {
    const r = normalizeMarketoUrl(value, ctx);
    return r.ok ? { ok: true, value: r.value } : { ok: false, code: r.code, message: r.message };
  },
};

export const CONFIG_NORMALIZERS: Readonly<Record<string, ConfigNormalizer>> = {
  /** endpointURL / identityURL: derive one from the other, refuse two different instances. */
  marketo_instance: (config, ctx) => {
    const r = normalizeMarketoConfig(
      { endpointURL: config.endpointURL, identityURL: config.identityURL },
      ctx,
    );
    if (!r.ok) {
      const err: NormalizeError = {
        ok: false,
        code: r.code satisfies MarketoUrlErrorCode,
        message: r.message,
      };
      if (r.field) err.field = r.field;
      return err;
    }
    return { ok: true, config: { ...config, ...r.config } };
  },
};

export const RESPONSE_CLASSIFIERS: Readonly<Record<string, ResponseClassifier>> = {
  /** Marketo: HTTP 200 + envelope; success:false carries the code. */
  marketo_envelope: (_status, json) => classifyEnvelope(json),
};
