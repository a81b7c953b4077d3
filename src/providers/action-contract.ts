/**
 * The contract between a provider's actions (provider code, e.g. src/marketo/actions/, with no engine
 * dependency) and the engine that runs them for `POST /action/trigger` (Nango's actions: `triggerAction`,
 * `triggerActionAsync`). The action knows its provider (endpoints, batch sizes, per-record statuses,
 * error codes); the engine does auth, traffic control (interactive priority), retries of calls the
 * provider did not run, input validation with the action's schema, async execution, and turns a thrown
 * {@link ProviderResponseError} into an HTTP error.
 */
import type { z } from 'zod';
import type { SyncIO } from './sync-contract.ts';

export { ProviderResponseError } from './sync-contract.ts';

/** What an action may use: calls to the connection's instance (envelopes parsed), and a log line. */
export interface ActionIO {
  /** One call (path below the instance root); resolves to the parsed JSON envelope. */
  get: SyncIO['get'];
  /** A JSON POST (the body is JSON-encoded); resolves to the parsed JSON envelope. */
  post(path: string, body: unknown): Promise<unknown>;
  /** A DELETE with a JSON body (e.g. Marketo's list membership removal); resolves to the parsed envelope. */
  delete(path: string, body?: unknown): Promise<unknown>;
  /** A line for Tether's log (structured; never put record contents or secrets in it). */
  log(message: string, data?: Record<string, unknown>): void;
}

export interface ActionDef<I = unknown, O = unknown> {
  /** Name used in `action_name`, kebab-case, e.g. 'upsert-leads'. */
  name: string;
  /** One or two sentences for docs, `GET /scripts/config` and the OpenAI function list. */
  description: string;
  /**
   * The input schema (zod 4): the engine validates `input` with it before `run` (400
   * `invalid_action_input` listing the issues) and publishes it as JSON Schema (`z.toJSONSchema`).
   */
  input: z.ZodType<I>;
  /**
   * Runs the action. Returns its JSON output (the body of a sync trigger, the result of an async one).
   * Per-record outcomes the provider reports (Marketo: `skipped` with reasons) are part of the output,
   * not errors; a call the provider refuses as a whole is thrown as a {@link ProviderResponseError}.
   * Input the schema cannot express (e.g. a list id the provider does not know) is the provider's to
   * refuse.
   */
  run(io: ActionIO, input: I): Promise<O>;
  /**
   * Whether running it twice with the same input gives the same state (an async run may then be retried
   * after a failure, or run again after a crash), for any input.
   */
  idempotent: boolean;
  /** The same per input, when it depends on it (e.g. `upsert-leads`: yes, except with `createDuplicate`). */
  idempotentFor?(input: I): boolean;
}

/**
 * An action of any input and output, as registries hold them (`run` is a method: its input parameter is
 * checked bivariantly, so every `ActionDef<I, O>` is one; the engine passes what `input` parsed).
 */
export type AnyActionDef = ActionDef<unknown, unknown>;

/** Whether running `def` twice with `input` (already parsed by its schema) is safe. */
export function isIdempotent<I>(
  def: Pick<ActionDef<I, unknown>, 'idempotent' | 'idempotentFor'>,
  input: I,
): boolean {
  return def.idempotentFor ? def.idempotentFor(input) : def.idempotent;
}
