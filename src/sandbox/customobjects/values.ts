import { isoSeconds, reason, type Reason } from '../core/envelope.ts';
import { booleanInput, numberInput } from '../core/input.ts';
import type { FieldValue } from '../model.ts';
import type { CoRecord } from './generator.ts';
import { ID_FIELD, LINK_FIELD, type CoField } from './types.ts';

/** Field values of custom object records: what REST and export cells show, and request coercion. */

/** A record-level refusal: the record is skipped with this reason. */
export class Skip {
  constructor(readonly reason: Reason) {}
}

/** One field of a record as REST shows it (datetimes ISO, empty values null). */
export function fieldValue(rec: CoRecord, name: string): FieldValue {
  switch (name) {
    case ID_FIELD:
      return rec.marketoGUID;
    case LINK_FIELD:
      return rec.leadId;
    case 'createdAt':
      return isoSeconds(rec.createdAt);
    case 'updatedAt':
      return isoSeconds(rec.updatedAt);
    default:
      return rec.values[name] ?? null;
  }
}

function show(v: unknown): string {
  return typeof v === 'string' ? v : JSON.stringify(v);
}

const INTEGER_RE = /^[-+]?\d+$/;
const EMAIL_RE = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const DATE_RE = /^(\d{4})-(\d{2})-(\d{2})/;

/** A request value converted to the field's type; `null` or `''` clears it; a bad value skips with 1003. */
export function coerce(f: CoField, v: unknown): FieldValue {
  if (v === null || v === '') return null;
  const bad = () =>
    new Skip(reason('1003', `Invalid value '${show(v)}' for field '${f.name}' of type '${f.dataType}'`));
  switch (f.dataType) {
    case 'integer':
    case 'link': {
      const n = typeof v === 'string' && INTEGER_RE.test(v.trim()) ? Number(v) : v;
      if (typeof n !== 'number' || !Number.isSafeInteger(n)) throw bad();
      if (f.dataType === 'link' && n < 1) throw bad();
      return n;
    }
    case 'float':
    case 'currency': {
      const n = numberInput(v);
      if (n === undefined) throw bad();
      return n;
    }
    case 'boolean': {
      const b = booleanInput(v);
      if (b === undefined) throw bad();
      return b;
    }
    case 'date': {
      const m = typeof v === 'string' ? DATE_RE.exec(v.trim()) : null;
      if (!m || Number.isNaN(Date.parse(`${m[1]}-${m[2]}-${m[3]}`))) throw bad();
      return `${m[1]}-${m[2]}-${m[3]}`;
    }
    case 'datetime': {
      const ms = typeof v === 'string' && DATE_RE.test(v.trim()) ? Date.parse(v.trim()) : NaN;
      if (Number.isNaN(ms)) throw bad();
      return isoSeconds(ms);
    }
    case 'email':
      if (typeof v === 'string' && EMAIL_RE.test(v.trim())) return v.trim();
      throw bad();
    default: {
      const s =
        typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : undefined;
      if (s === undefined) throw bad();
      if (f.length !== undefined && s.length > f.length)
        throw new Skip(reason('1003', `Value for field '${f.name}' exceeds ${f.length} characters`));
      return s;
    }
  }
}
