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
