/**
 * Marketo's response envelope and error vocabulary (spec section 3). Response-level errors travel
 * as HTTP 200 with `success:false`; handlers throw {@link MarketoError} and the server renders it.
 */

/** The exact messages Marketo uses for response-level codes. */
export const MESSAGES: Record<string, string> = {
  '500': 'Internal Server error',
  '502': 'Bad Gateway',
  '600': 'Access token not specified',
  '601': 'Access token invalid',
  '602': 'Access token expired',
  '603': 'Access denied',
  '604': 'Request timed out',
  '605': 'HTTP Method not supported',
  '606': "Max rate limit '100' exceeded with in '20' secs",
  '607': 'Daily quota reached',
  '608': 'API Temporarily Unavailable',
  '609': 'Invalid JSON',
  '610': 'Requested resource not found',
  '611': 'System error',
  '612': 'Invalid Content Type',
  '613': 'Invalid Multipart Request',
  '614': 'Invalid Subscription',
  '615': "Concurrent access limit '10' reached",
  '701': 'cannot be blank',
  '702': 'No data found for a given search scenario',
  '704': 'Invalid date format',
  '713': 'Transient Error',
  '1001': 'Invalid value',
  '1003': 'Invalid data',
  '1004': 'Lead not found',
  '1005': 'Lead already exists',
  '1013': 'Object not found',
  '1029': 'Too many jobs in queue',
  '1035': 'Unsupported filter type for target subscription',
};

export class MarketoError extends Error {
  readonly code: string;
  constructor(code: string | number, message?: string) {
    const c = String(code);
    super(message ?? MESSAGES[c] ?? 'Error');
    this.code = c;
  }
}

/** A record-level reason, e.g. `{code:"1004", message:"Lead not found"}`. */
export interface Reason {
  code: string;
  message: string;
}

export function reason(code: string | number, message?: string): Reason {
  const c = String(code);
  return { code: c, message: message ?? MESSAGES[c] ?? 'Error' };
}

/** What a REST handler returns; the server adds `requestId` and `success`. */
export interface EnvelopeBody {
  success?: boolean;
  result?: unknown[];
  errors?: Reason[];
  warnings?: unknown[];
  moreResult?: boolean;
  nextPageToken?: string;
  [extra: string]: unknown;
}

let requestSeq = Math.floor(Math.random() * 0xffff);

/** `"<hex>#<hex epoch ms>"`: a short hex counter, then the server time in epoch ms as hex. */
export function makeRequestId(nowMs: number): string {
  requestSeq = (requestSeq + 1) & 0xfffff;
  return `${requestSeq.toString(16)}#${Math.floor(nowMs).toString(16)}`;
}

/** Lead-database datetimes: UTC `YYYY-MM-DDTHH:MM:SSZ`. */
export function isoSeconds(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19) + 'Z';
}

/** Asset-API datetimes keep Marketo's odd `…Z+0000` form. */
export function assetDate(ms: number): string {
  return isoSeconds(ms) + '+0000';
}
