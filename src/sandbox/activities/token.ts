import { MarketoError } from '../core/envelope.ts';
import { base32DecodeText, base32EncodeText } from '../core/base32.ts';
import type { Position } from './generator.ts';

/**
 * Date paging tokens (spec 5.4): RFC 4648 base32 (A–Z, 2–7, `=` padding) like Marketo's.
 * A token carries an activity-stream position: the ISO instant plus the id of the last
 * activity already handed out at that instant, so the text it encodes starts with the date just
 * as Marketo's `GIYDAOBN…` tokens do.
 */

export function encodeDateToken(pos: Position): string {
  const iso = new Date(pos.time).toISOString();
  return base32EncodeText(pos.id > 0 ? `${iso}#${pos.id}` : iso);
}

const TOKEN_TEXT = /^(-?\+?\d{4,6}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z)(?:#(\d{1,16}))?$/;

/** The position of a date token; 1003 when it is not one (e.g. a lead-paging token). */
export function decodeDateToken(token: string): Position {
  const m = TOKEN_TEXT.exec(base32DecodeText(token, { canonical: true }) ?? '');
  const time = m ? Date.parse(m[1]!) : NaN;
  if (!m || Number.isNaN(time)) throw new MarketoError('1003', 'Invalid nextPageToken');
  return { time, id: m[2] ? Number(m[2]) : 0 };
}

const DATE_RE =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?\s*(Z|[+\- ]\d{2}(?::?\d{2})?)?$/i;

/**
 * A `sinceDatetime` as Marketo accepts it: ISO-8601 date or date-time, with `Z`, `±HH:MM`,
 * `±HHMM` or no zone (taken as UTC). A `+` left unencoded in a query arrives as a space, so a
 * space before the offset reads as `+`. Undefined when it is not a valid instant.
 */
export function parseDateTime(text: string): number | undefined {
  const m = DATE_RE.exec(text.trim());
  if (!m) return undefined;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const [h, mi, s] = [Number(m[4] ?? 0), Number(m[5] ?? 0), Number(m[6] ?? 0)];
  const ms = m[7] ? Number(m[7].slice(0, 3).padEnd(3, '0')) : 0;
  if (mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || s > 59) return undefined;
  let t = Date.UTC(y, mo - 1, d, h, mi, s, ms);
  if (new Date(t).getUTCDate() !== d) return undefined;
  const zone = m[8];
  if (zone && zone.toUpperCase() !== 'Z') {
    const sign = zone[0] === '-' ? -1 : 1;
    const digits = zone.slice(1).replace(':', '');
    const oh = Number(digits.slice(0, 2));
    const om = Number(digits.slice(2) || 0);
    if (oh > 14 || om > 59) return undefined;
    t -= sign * (oh * 60 + om) * 60_000;
  }
  return t;
}
