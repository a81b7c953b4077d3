/**
 * Reading Marketo's response envelope (`{requestId, success, result?, errors?, warnings?}`): what a
 * caller should do next. Pure; shared by the connection test, the proxy and the sync runner.
 * Facts: shared spec marketo-api.md §3.1 (response-level codes) and §3.3 (retry policy of maintained clients).
 */

export type EnvelopeClass =
  /** `success: true` (record-level `status:"skipped"` reasons are the caller's business). */
  | { kind: 'ok' }
  /** 600/601/602: get a fresh access token, then retry once. */
  | { kind: 'refresh_token'; code: string; message: string }
  /** Transient: wait `waitMs` (a suggestion) and retry, a few times at most. */
  | { kind: 'back_off'; code: string; message: string; waitMs: number }
  /** A quota is spent until it resets (daily API quota 607, daily bulk export volume 1029). */
  | { kind: 'quota_spent'; code: string; message: string; resetsAt: 'midnight_america_chicago' }
  /** Do not retry as is: the request or the account setup must change. */
  | { kind: 'fail'; code: string; message: string };

export interface MarketoCodeFact {
  message: string;
  /** R = retry with backoff, A = re-auth then retry, Q = quota, F = fix the request. */
  class: 'R' | 'A' | 'Q' | 'F';
  meaning: string;
}

/** Response-level codes (spec §3.1) and the 1xxx codes that matter at response level. */
export const MARKETO_CODES: Readonly<Record<string, MarketoCodeFact>> = {
  '500': { message: 'Internal Server error', class: 'R', meaning: 'unexpected error, incl. malformed URLs' },
  '502': { message: 'Bad Gateway', class: 'R', meaning: 'upstream error or timeout' },
  '600': { message: 'Access token not specified', class: 'A', meaning: 'no token was sent' },
  '601': { message: 'Access token invalid', class: 'A', meaning: 'bad or already-reported-expired token' },
  '602': { message: 'Access token expired', class: 'A', meaning: 'first use of a token after its lifetime' },
  '603': {
    message: 'Access denied',
    class: 'F',
    meaning:
      "the API user's role lacks a permission, or the caller's IP is not in the instance's IP allowlist",
  },
  '604': { message: 'Request timed out', class: 'R', meaning: 'ran past its timeout; split the batch' },
  '605': { message: 'HTTP Method not supported', class: 'F', meaning: 'wrong method for this endpoint' },
  '606': {
    message: "Max rate limit '100' exceeded with in '20' secs",
    class: 'R',
    meaning: 'more than 100 calls in a rolling 20 s window (instance-wide)',
  },
  '607': {
    message: 'Daily quota reached',
    class: 'Q',
    meaning: 'daily API call quota spent (resets midnight Central)',
  },
  '608': { message: 'API Temporarily Unavailable', class: 'R', meaning: 'temporary outage' },
  '609': { message: 'Invalid JSON', class: 'F', meaning: 'body is not valid JSON' },
  '610': { message: 'Requested resource not found', class: 'F', meaning: 'unknown path or resource' },
  '611': { message: 'System error', class: 'R', meaning: 'unhandled exception' },
  '612': { message: 'Invalid Content Type', class: 'F', meaning: 'wrong Content-Type' },
  '613': { message: 'Invalid Multipart Request', class: 'F', meaning: 'bad multipart body' },
  '614': {
    message: 'Invalid Subscription',
    class: 'R',
    meaning: 'subscription unreachable; usually temporary',
  },
  '615': {
    message: "Concurrent access limit '10' reached",
    class: 'R',
    meaning: 'more than 10 calls in flight (instance-wide)',
  },
  '616': { message: 'Invalid subscription type', class: 'F', meaning: 'feature not licensed' },
  '701': { message: 'cannot be blank', class: 'F', meaning: 'required field empty' },
  '702': { message: 'No data found for a given search scenario', class: 'F', meaning: 'nothing found' },
  '703': { message: 'The feature is not enabled for the subscription', class: 'F', meaning: 'beta feature' },
  '704': { message: 'Invalid date format', class: 'F', meaning: 'bad date' },
  '709': { message: 'Business Rule Violation', class: 'F', meaning: 'asset rule' },
  '710': { message: 'Parent Folder Not Found', class: 'F', meaning: 'folder' },
  '711': { message: 'Incompatible Folder Type', class: 'F', meaning: 'folder' },
  '712': {
    message: 'Merge to person Account operation is invalid',
    class: 'F',
    meaning: 'SFDC person accounts',
  },
  '713': { message: 'Transient Error', class: 'R', meaning: 'resource temporarily unavailable' },
  '714': { message: 'Unable to find the default record type', class: 'F', meaning: 'merge' },
  '718': { message: 'ExternalSalesPersonID not found', class: 'F', meaning: 'sync opportunities' },
  '719': { message: 'Lock wait timeout exception', class: 'R', meaning: 'clone program' },
  '1016': { message: 'Too many imports', class: 'R', meaning: 'more than 10 bulk imports queued' },
  '1019': { message: 'Import in progress', class: 'R', meaning: 'target list being imported' },
  '1022': { message: 'Object in use', class: 'R', meaning: 'object busy' },
  '1029': {
    message: 'Too many jobs in queue / Export daily quota exceeded / Job already queued',
    class: 'R',
    meaning: 'bulk queue full (retry later) or daily export volume spent (quota)',
  },
};

/** Suggested waits before a retry (ms); 606 waits out the 20-second window. */
const WAIT_MS: Record<string, number> = {
  '606': 20_000,
  '615': 1_000,
  '604': 2_000,
  '502': 3_000,
  '500': 3_000,
  '608': 5_000,
  '611': 3_000,
  '614': 5_000,
  '713': 3_000,
  '719': 3_000,
  '1016': 60_000,
  '1019': 30_000,
  '1022': 10_000,
  '1029': 60_000,
};

const REFRESH = new Set(['600', '601', '602']);
const BACK_OFF = new Set([
  '500',
  '502',
  '604',
  '606',
  '608',
  '611',
  '614',
  '615',
  '713',
  '719',
  '1016',
  '1019',
  '1022',
]);

function firstError(body: Record<string, unknown>): { code: string; message: string } {
  const errors = body.errors;
  if (Array.isArray(errors) && errors.length > 0) {
    const e = errors[0] as { code?: unknown; message?: unknown } | null;
    if (e && (typeof e.code === 'string' || typeof e.code === 'number')) {
      return { code: String(e.code), message: typeof e.message === 'string' ? e.message : '' };
    }
  }
  return { code: 'unknown', message: 'success:false without an error code' };
}

/**
 * Classify a parsed Marketo JSON body. Something that is not an envelope (no boolean `success`) is
 * `fail('invalid_envelope')`.
 */
export function classifyEnvelope(body: unknown): EnvelopeClass {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return { kind: 'fail', code: 'invalid_envelope', message: 'the response is not a Marketo envelope' };
  }
  const b = body as Record<string, unknown>;
  if (b.success === true) return { kind: 'ok' };
  if (b.success !== false) {
    return { kind: 'fail', code: 'invalid_envelope', message: 'the response is not a Marketo envelope' };
  }
  const { code, message } = firstError(b);
  const msg = message || MARKETO_CODES[code]?.message || '';
  if (REFRESH.has(code)) return { kind: 'refresh_token', code, message: msg };
  if (code === '607')
    return { kind: 'quota_spent', code, message: msg, resetsAt: 'midnight_america_chicago' };
  if (code === '1029') {
    // Same code for "Export daily quota 500MB exceeded." (quota) and a full queue / job already queued.
    if (/quota/i.test(msg))
      return { kind: 'quota_spent', code, message: msg, resetsAt: 'midnight_america_chicago' };
    if (/already queued/i.test(msg)) return { kind: 'fail', code, message: msg };
    return { kind: 'back_off', code, message: msg, waitMs: WAIT_MS[code]! };
  }
  if (BACK_OFF.has(code)) return { kind: 'back_off', code, message: msg, waitMs: WAIT_MS[code] ?? 3_000 };
  return { kind: 'fail', code, message: msg };
}
