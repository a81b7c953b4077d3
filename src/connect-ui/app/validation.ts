/**
 * Inline validation: required fields and obviously wrong values only. Addresses are NOT held to a
 * host-name regex (users paste `https://…/rest` from their admin page); the server normalizes them and
 * has the last word. Pure: no DOM.
 */
import type { Translate } from './i18n.ts';
import { isHostField, type FieldModel } from './form-model.ts';

export type ValidationIssue = 'required' | 'spaces' | 'scheme' | 'url' | 'pattern' | 'email' | 'uuid';

const SCHEME_RE = /^([a-z][a-z0-9+.-]*):\/\//i;
const EMAIL_RE = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function addressIssue(value: string): ValidationIssue | null {
  if (/\s/.test(value)) return 'spaces';
  const m = SCHEME_RE.exec(value);
  if (m && !/^https?$/i.test(m[1]!)) return 'scheme';
  // `mailto:x`, `https:/x` (but not `host:8443`).
  if (!m && /^[a-z][a-z0-9+.-]*:(?!\d)/i.test(value)) return 'scheme';
  let url: URL;
  try {
    url = new URL(m ? value : `https://${value.replace(/^\/\//, '')}`);
  } catch {
    return 'url';
  }
  if (url.hostname === '' || url.username !== '' || url.password !== '') return 'url';
  return null;
}

/** The first problem with a value, or null. Surrounding whitespace is ignored. */
export function validateValue(
  field: Pick<FieldModel, 'required' | 'format' | 'pattern'>,
  raw: string,
): ValidationIssue | null {
  const value = raw.trim();
  if (value === '') return field.required ? 'required' : null;
  if (isHostField(field)) {
    const issue = addressIssue(value);
    if (issue) return issue;
  } else if (field.format === 'email' && !EMAIL_RE.test(value)) {
    return 'email';
  } else if (field.format === 'uuid' && !UUID_RE.test(value)) {
    return 'uuid';
  }
  if (field.pattern) {
    let re: RegExp | null = null;
    try {
      re = new RegExp(field.pattern);
    } catch {
      re = null;
    }
    if (re && !re.test(value)) return 'pattern';
  }
  return null;
}

/** The message for an issue, in the UI language. */
export function issueMessage(
  issue: ValidationIssue,
  field: Pick<FieldModel, 'title' | 'example'>,
  t: Translate,
): string {
  const vars = { field: field.title, example: field.example ?? '' };
  switch (issue) {
    case 'required':
      return t('validation.required', vars);
    case 'spaces':
      return t('validation.spaces', vars);
    case 'scheme':
      return t('validation.scheme', vars);
    case 'url':
      return field.example ? t('validation.url', vars) : t('validation.urlNoExample', vars);
    case 'pattern':
      return t('validation.pattern', vars);
    case 'email':
      return t('validation.email', vars);
    case 'uuid':
      return t('validation.uuid', vars);
  }
}
