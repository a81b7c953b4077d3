/**
 * Runs one action on one connection: validates its input with the action's schema, hands it an
 * {@link ActionIO} whose calls go through {@link providerCall} (token manager, per-instance traffic
 * control at the given priority, retries of calls the provider did not run), bounds the run in time, and
 * turns whatever it throws into an {@link ActionFailure}: the HTTP error a sync trigger answers (the
 * proxy's statuses and codes for traffic, budget, quota and auth; 424 for a provider refusal; never a 500
 * for one) and whether the provider did not run the work (what the async queue may retry).
 */
import type { z } from 'zod';
import type { EngineDeps } from '../deps.ts';
import type { ConnectionWithCredentials } from '../../db/connections.ts';
import { nowOf } from '../../db/context.ts';
import { ApiError } from '../../api-error.ts';
import { ProviderResponseError, type ActionIO, type AnyActionDef } from '../../providers/action-contract.ts';
import { isPausedUntil, providerCall, ProviderCallError, type ProviderCallDeps } from '../provider-call.ts';
import { RefreshError } from '../tokens.ts';
import { isTrafficError, type Priority } from '../traffic.ts';
import { trafficApiError } from '../proxy.ts';

/** Longest run of a sync trigger (the caller waits for the answer). */
export const SYNC_ACTION_TIMEOUT_MS = 120_000;
/** Longest run of an async attempt (nobody waits, but a hung run must not hold its environment's queue). */
export const ASYNC_ACTION_TIMEOUT_MS = 15 * 60_000;
/**
 * Retries of one write call after a transient failure (HTTP 5xx, Marketo 608/611/713…): the action
 * contract (src/marketo/actions/types.ts) leaves retries of calls the provider did not run to the engine.
 * Rate and concurrency limit hits (606/615) are retried by traffic control's policy anyway.
 */
const WRITE_RETRIES = 2;

export interface ActionFailure {
  status: number;
  code: string;
  message: string;
  /** Extra fields of the error body (`upstream`, `retry_after`, `reset_at`…). */
  extra: Record<string, unknown>;
  /**
   * The provider (or traffic control before it) refused the call without running it: a spent budget or
   * quota, a busy instance, rate/concurrency limits, an unavailable service (5xx), a refused token.
   */
  notRun: boolean;
  /**
   * A spent daily budget or quota: the epoch ms at which it resets (the async queue parks the run until
   * then instead of spending its retries).
   */
  resetAt?: number;
}

/** A run that failed: why, and how many writes the provider had already taken before the failure. */
export class ActionFailed extends Error {
  constructor(
    readonly failure: ActionFailure,
    readonly writesApplied: number,
  ) {
    super(failure.message);
    this.name = 'ActionFailed';
  }

  toApiError(): ApiError {
    return new ApiError(this.failure.status, this.failure.code, this.failure.message, this.failure.extra);
  }
}

class ActionTimeout extends Error {
  constructor(readonly ms: number) {
    super(`The action did not finish within ${Math.round(ms / 1000)} s; it was stopped.`);
    this.name = 'ActionTimeout';
  }
}

/**
 * Provider envelope codes of a refusal made before the provider did any work (Marketo: rate and
 * concurrency limits 606/615, the daily quota 607, service unavailable 608, system error 611, transient
 * 713, and the token codes). 604 (request timed out) is not one: the request may have been half done.
 */
const NOT_RUN_ENVELOPE_CODES: ReadonlySet<string> = new Set([
  '600',
  '601',
  '602',
  '606',
  '607',
  '608',
  '611',
  '615',
  '713',
]);

/** What a thrown error means for the caller (pure; `now` = epoch ms, for `retry_after`). */
export function classifyActionError(err: unknown, now: number): ActionFailure {
  const fail = (
    status: number,
    code: string,
    message: string,
    notRun: boolean,
    extra: Record<string, unknown> = {},
  ): ActionFailure => ({ status, code, message, extra, notRun });

  if (err instanceof ActionTimeout) return fail(408, 'action_timeout', err.message, false);
  if (err instanceof ProviderResponseError) {
    return fail(424, 'marketo_error', err.message, NOT_RUN_ENVELOPE_CODES.has(err.code), {
      upstream: { code: err.code },
    });
  }
  // Refused by traffic control (nothing was sent): the proxy's answers.
  const refused = (e: Parameters<typeof trafficApiError>[0]) => {
    const api = trafficApiError(e);
    return fail(api.status, api.code, api.message, true, api.extra);
  };
  if (isPausedUntil(err)) {
    const code = err.reason === 'quota_exhausted' ? 'quota_exhausted' : 'budget_exhausted';
    const f = refused({ code, message: err.message, resetAt: err.resetAt, retryAfterMs: err.resetAt - now });
    return { ...f, resetAt: err.resetAt };
  }
  if (err instanceof RefreshError) return fail(err.status, err.code, err.message, true);
  if (isTrafficError(err)) {
    const f = refused(err);
    const daily = err.code === 'budget_exhausted' || err.code === 'quota_exhausted';
    return daily && err.resetAt !== undefined ? { ...f, resetAt: err.resetAt } : f;
  }
  if (err instanceof ProviderCallError) {
    switch (err.code) {
      case 'capacity_timeout':
        return fail(
          429,
          'too_many_requests',
          `The instance is busy (rate or concurrency limit): ${err.message}.`,
          true,
          { retry_after: 1 },
        );
      case 'closed':
        return fail(503, 'closed', err.message, true);
      case 'aborted':
        return fail(503, 'action_aborted', 'The action was stopped before it finished.', false);
      case 'unsupported_provider':
        return fail(400, 'unsupported_provider', err.message, true);
      case 'unauthorized':
        return fail(424, 'marketo_error', err.message, true, {
          upstream: { code: err.code, ...(err.status !== undefined ? { status: err.status } : {}) },
        });
    }
    if (err.status === undefined) {
      // No answer (network error, timeout): the request may or may not have reached the provider.
      const timeout = err.code === 'upstream_timeout';
      return fail(
        timeout ? 504 : 502,
        err.code.startsWith('upstream_') ? err.code : `upstream_${err.code}`,
        err.message,
        false,
      );
    }
    return fail(424, 'marketo_error', err.message, err.status >= 500 || err.status === 429, {
      upstream: { code: err.code, status: err.status },
    });
  }
  if (err instanceof ApiError) return fail(err.status, err.code, err.message, false, err.extra);
  const message = err instanceof Error ? err.message : String(err);
  return fail(500, 'action_script_failure', `The action failed: ${message}`, false);
}

/**
 * The input as the action's schema parses it, or 400 `invalid_action_input` listing the issues (pure).
 * A missing input is validated as `undefined` (an action without input accepts it).
 */
export function parseActionInput(def: AnyActionDef, input: unknown): unknown {
  const r = (def.input as z.ZodType<unknown>).safeParse(input);
  if (r.success) return r.data;
  const issues = r.error.issues.map((i) => ({
    code: i.code,
    message: i.message,
    path: i.path.map(String),
  }));
  const text = issues
    .slice(0, 10)
    .map((i) => (i.path.length > 0 ? `${i.path.join('.')}: ${i.message}` : i.message))
    .join('; ');
  throw new ApiError(
    400,
    'invalid_action_input',
    `Invalid input for action "${def.name}": ${text}${issues.length > 10 ? ` (and ${issues.length - 10} more)` : ''}`,
    { errors: issues },
  );
}

/** Whether an answer is an envelope refusing the call as a whole (`success: false`): nothing was written. */
function refusedEnvelope(body: unknown): boolean {
  return typeof body === 'object' && body !== null && (body as { success?: unknown }).success === false;
}

export interface RunActionOptions {
  priority: Priority;
  timeoutMs: number;
  /** Stops the run (the queue's shutdown, a lost lease). */
  signal?: AbortSignal;
}

/**
 * Runs `def` with `input` (already parsed by {@link parseActionInput}) on `connection`; resolves to its
 * output (`null` for none), or throws {@link ActionFailed}.
 */
export async function runAction(
  deps: ProviderCallDeps,
  connection: ConnectionWithCredentials,
  def: AnyActionDef,
  input: unknown,
  opts: RunActionOptions,
): Promise<unknown> {
  const ctl = new AbortController();
  const onAbort = () => ctl.abort(opts.signal?.reason);
  if (opts.signal?.aborted) onAbort();
  else opts.signal?.addEventListener('abort', onAbort, { once: true });
  let current = connection;
  let writesApplied = 0;
  const call = async (method: string, path: string, body?: unknown): Promise<unknown> => {
    const write = method !== 'GET';
    const answer = await providerCall(
      deps,
      current,
      { method, path, ...(body !== undefined ? { body } : {}) },
      {
        priority: opts.priority,
        signal: ctl.signal,
        ...(write ? { retries: WRITE_RETRIES } : {}),
        onConnection: (c) => {
          current = c;
        },
      },
    );
    if (write && !refusedEnvelope(answer)) writesApplied++;
    return answer;
  };
  const io: ActionIO = {
    get: (path) => call('GET', path),
    post: (path, body) => call('POST', path, body),
    delete: (path, body) => call('DELETE', path, body),
    log: (message, data) =>
      deps.log.info(
        {
          ...data,
          action: def.name,
          connection: connection.connectionId,
          providerConfigKey: connection.providerConfigKey,
        },
        message,
      ),
  };
  // The run ends at the deadline or a stop even if the action ignores the abort (its calls do not).
  const timer = setTimeout(() => ctl.abort(new ActionTimeout(opts.timeoutMs)), opts.timeoutMs);
  let onStop: (() => void) | undefined;
  const stopped = new Promise<never>((_resolve, reject) => {
    onStop = () => reject(ctl.signal.reason);
    ctl.signal.addEventListener('abort', onStop, { once: true });
  });
  try {
    const output = await Promise.race([def.run(io, input), stopped]);
    return output ?? null;
  } catch (err) {
    const reason = ctl.signal.aborted && ctl.signal.reason instanceof ActionTimeout ? ctl.signal.reason : err;
    throw new ActionFailed(classifyActionError(reason, nowOf(deps.store.ctx).getTime()), writesApplied);
  } finally {
    clearTimeout(timer);
    if (onStop) ctl.signal.removeEventListener('abort', onStop);
    opts.signal?.removeEventListener('abort', onAbort);
  }
}

/** The dependencies of {@link runAction}, named for callers outside this module. */
export type ActionDeps = ProviderCallDeps & Pick<EngineDeps, 'log'>;
