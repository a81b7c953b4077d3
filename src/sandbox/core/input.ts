import { MarketoError } from './envelope.ts';

/**
 * The `input` member of a JSON write request (Sync Leads, field schema, …), checked as Marketo checks
 * it before looking at any item: a call-level error, not a per-item skip.
 */

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The body as an object and its `input`: 701 when either is absent (spec 3.1), 1003 for a non-object body. */
export function requestInput(body: unknown): { body: Record<string, unknown>; input: unknown } {
  if (body === undefined || body === null) throw new MarketoError('701', 'input cannot be blank');
  if (!isPlainObject(body)) throw new MarketoError('1003', 'Invalid data');
  const input = body.input;
  if (input === undefined || input === null) throw new MarketoError('701', 'input cannot be blank');
  return { body, input };
}

/** `input` as a list of 1..`max` items; 1003 otherwise (spec 3.2). */
export function inputList(input: unknown, max: number): unknown[] {
  if (!Array.isArray(input)) throw new MarketoError('1003', "Invalid value for 'input'");
  if (input.length === 0) throw new MarketoError('1003', 'Input is empty');
  if (input.length > max)
    throw new MarketoError('1003', `Input size ${input.length} exceeds the maximum of ${max}`);
  return input;
}

const NUMBER_RE = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;

/** A written float/currency value as Marketo takes it (a number, or a numeric string); else undefined. */
export function numberInput(v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'string' && NUMBER_RE.test(v.trim())) return Number(v);
  return undefined;
}

/** A written boolean as Marketo takes it (true/false, 1/0, their strings in any case); else undefined. */
export function booleanInput(v: unknown): boolean | undefined {
  if (typeof v === 'boolean') return v;
  if (v === 1 || v === 0) return v === 1;
  if (typeof v === 'string') {
    const t = v.trim().toLowerCase();
    if (t === 'true' || t === '1') return true;
    if (t === 'false' || t === '0') return false;
  }
  return undefined;
}
