/**
 * The pure parts of the action engine: what a thrown error means (HTTP status and code, and whether the
 * provider did not run the work), input validation with the action's schema, the retry and parking rules of
 * async runs, and the JSON Schema published for an action.
 */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ApiError } from '../../api-error.ts';
import { MarketoSyncError, type AnyActionDef } from '../../marketo/actions/types.ts';
import { PausedUntil, ProviderCallError } from '../provider-call.ts';
import { TrafficError } from '../traffic.ts';
import { actionInputJsonSchema } from './registry.ts';
import { ActionFailed, classifyActionError, parseActionInput } from './runner.ts';
import { mayRetry, parkingOf } from './queue.ts';

const NOW = Date.parse('2025-03-01T12:00:00.000Z');

const def: AnyActionDef = {
  name: 'add-things',
  description: 'Adds things.',
  input: z.object({
    listId: z.number().int().positive(),
    ids: z.array(z.number()).min(1).max(3),
  }) as z.ZodType<unknown>,
  run: () => Promise.resolve({ ok: true }),
  idempotent: false,
};

describe('classifyActionError', () => {
  it('a Marketo refusal is 424 marketo_error with the upstream code', () => {
    const f = classifyActionError(
      new MarketoSyncError('1003', 'List not found', '/rest/v1/lists/9/leads.json'),
      NOW,
    );
    expect(f).toMatchObject({
      status: 424,
      code: 'marketo_error',
      extra: { upstream: { code: '1003' } },
      notRun: false,
    });
    expect(f.message).toContain('1003');
  });

  it('rate limits, quota and unavailability say Marketo did not run the call; 604 does not', () => {
    for (const code of ['606', '615', '607', '608', '601']) {
      expect(classifyActionError(new MarketoSyncError(code, 'x', '/p', 'back_off'), NOW).notRun).toBe(true);
    }
    expect(classifyActionError(new MarketoSyncError('604', 'timed out', '/p', 'back_off'), NOW).notRun).toBe(
      false,
    );
  });

  it('a spent quota or budget is the proxy 429 with reset_at and retry_after', () => {
    const resetAt = NOW + 90_500;
    const quota = classifyActionError(new PausedUntil(resetAt, 'quota_exhausted', 'spent'), NOW);
    expect(quota).toMatchObject({
      status: 429,
      code: 'marketo_daily_quota_exhausted',
      extra: { reset_at: new Date(resetAt).toISOString(), retry_after: 91 },
      notRun: true,
    });
    const budget = classifyActionError(new PausedUntil(resetAt, 'budget_exhausted', 'budget spent'), NOW);
    expect(budget).toMatchObject({ status: 429, code: 'daily_budget_exhausted', notRun: true, resetAt });
    expect(quota.resetAt).toBe(resetAt);
    const refused = classifyActionError(new TrafficError('budget_exhausted', 'spent', { resetAt }), NOW);
    expect(refused).toMatchObject({ code: 'daily_budget_exhausted', resetAt });
    expect(classifyActionError(new TrafficError('capacity_timeout', 'busy'), NOW).resetAt).toBeUndefined();
  });

  it('traffic refusals: a busy instance is 429 too_many_requests, a closed controller 503', () => {
    expect(classifyActionError(new ProviderCallError('capacity_timeout', 'waited 30 s'), NOW)).toMatchObject({
      status: 429,
      code: 'too_many_requests',
      notRun: true,
    });
    expect(classifyActionError(new TrafficError('closed', 'closed'), NOW)).toMatchObject({
      status: 503,
      code: 'closed',
      notRun: true,
    });
  });

  it('provider HTTP failures: 424 with status; 5xx counts as not run; no answer is 502/504', () => {
    expect(classifyActionError(new ProviderCallError('http_503', 'x', 503), NOW)).toMatchObject({
      status: 424,
      code: 'marketo_error',
      extra: { upstream: { code: 'http_503', status: 503 } },
      notRun: true,
    });
    expect(classifyActionError(new ProviderCallError('http_400', 'x', 400), NOW).notRun).toBe(false);
    expect(classifyActionError(new ProviderCallError('upstream_timeout', 'x'), NOW).status).toBe(504);
    expect(classifyActionError(new ProviderCallError('upstream_network_error', 'x'), NOW)).toMatchObject({
      status: 502,
      code: 'upstream_network_error',
      notRun: false,
    });
  });

  it('an ApiError keeps its status; a bug in the action is 500 action_script_failure', () => {
    expect(classifyActionError(new ApiError(400, 'unknown_connection', 'gone'), NOW)).toMatchObject({
      status: 400,
      code: 'unknown_connection',
    });
    expect(classifyActionError(new TypeError('x is undefined'), NOW)).toMatchObject({
      status: 500,
      code: 'action_script_failure',
      notRun: false,
    });
  });
});

describe('parseActionInput', () => {
  it('returns the parsed input', () => {
    expect(parseActionInput(def, { listId: 1, ids: [1, 2] })).toEqual({ listId: 1, ids: [1, 2] });
  });

  it('400 invalid_action_input listing every issue with its path', () => {
    let err: unknown;
    try {
      parseActionInput(def, { listId: -1, ids: [] });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ApiError);
    const api = err as ApiError;
    expect(api.status).toBe(400);
    expect(api.code).toBe('invalid_action_input');
    expect(api.message).toContain('listId');
    expect(api.message).toContain('ids');
    expect((api.extra.errors as unknown[]).length).toBe(2);
    expect(() => parseActionInput(def, undefined)).toThrow(/Invalid input for action "add-things"/);
  });
});

describe('mayRetry', () => {
  const failed = (notRun: boolean, writesApplied: number) =>
    new ActionFailed({ status: 424, code: 'marketo_error', message: 'x', extra: {}, notRun }, writesApplied);
  it('idempotent actions always; others only when nothing ran', () => {
    expect(mayRetry(true, failed(false, 3))).toBe(true);
    expect(mayRetry(false, failed(true, 0))).toBe(true);
    expect(mayRetry(false, failed(true, 1))).toBe(false);
    expect(mayRetry(false, failed(false, 0))).toBe(false);
  });
});

describe('parkingOf', () => {
  const HOUR = 3_600_000;
  const spent = (resetAt: number | undefined, notRun = true, writes = 0) =>
    new ActionFailed(
      {
        status: 429,
        code: 'daily_budget_exhausted',
        message: 'x',
        extra: {},
        notRun,
        ...(resetAt !== undefined ? { resetAt } : {}),
      },
      writes,
    );
  const opts = { parkedAt: NOW, maxParkMs: 48 * HOUR, jitterMs: 0 };

  it('parks until the reset plus jitter when a retry is safe', () => {
    expect(parkingOf(spent(NOW + HOUR), false, NOW, opts)).toEqual({ kind: 'park', notBefore: NOW + HOUR });
    expect(parkingOf(spent(NOW + HOUR), false, NOW, { ...opts, jitterMs: 1234 })).toEqual({
      kind: 'park',
      notBefore: NOW + HOUR + 1234,
    });
    // Part written: only an idempotent action may wait and run again.
    expect(parkingOf(spent(NOW + HOUR, true, 2), false, NOW, opts)).toEqual({ kind: 'none' });
    expect(parkingOf(spent(NOW + HOUR, true, 2), true, NOW, opts).kind).toBe('park');
  });

  it('no reset, or one already past: an ordinary failure', () => {
    expect(parkingOf(spent(undefined), true, NOW, opts)).toEqual({ kind: 'none' });
    expect(parkingOf(spent(NOW), true, NOW, opts)).toEqual({ kind: 'none' });
  });

  it('the cap counts from the first parking', () => {
    expect(parkingOf(spent(NOW + 49 * HOUR), true, NOW, opts)).toEqual({ kind: 'too_long' });
    const parkedAt = NOW - 30 * HOUR;
    expect(parkingOf(spent(NOW + 17 * HOUR), true, NOW, { ...opts, parkedAt }).kind).toBe('park');
    expect(parkingOf(spent(NOW + 19 * HOUR), true, NOW, { ...opts, parkedAt })).toEqual({ kind: 'too_long' });
  });
});

describe('actionInputJsonSchema', () => {
  it('is the JSON Schema of the input, without the draft marker', () => {
    const schema = actionInputJsonSchema(def);
    expect(schema.$schema).toBeUndefined();
    expect(schema).toMatchObject({
      type: 'object',
      properties: { listId: { type: 'integer' }, ids: { type: 'array', minItems: 1, maxItems: 3 } },
      required: ['listId', 'ids'],
    });
  });
});
