/**
 * For the action tests: a sandbox (limits off, small seed) and an {@link ActionIO} over its HTTP API with
 * a token fetched from its identity endpoint, as the engine would build one (without traffic control).
 */
import { unlimited } from '../../sandbox/index.ts';
import { startTestSandbox, type MarketoBody, type TestSandbox } from '../../sandbox/testing.ts';
import type { ActionDef, ActionIO } from './types.ts';

export interface ActionHarness {
  sb: TestSandbox;
  io: ActionIO;
  /** Every call made through `io`, as `METHOD path`. */
  calls: string[];
  logs: { message: string; data?: Record<string, unknown> }[];
  /** A sandbox call that must succeed (checks the effect of an action). */
  ok(path: string, init?: RequestInit & { json?: unknown }): Promise<MarketoBody>;
  /** Validates `input` with the action's schema (as the engine does), then runs it. */
  run<I, O>(def: ActionDef<I, O>, input: unknown): Promise<O>;
  /** How many calls the sandbox counted for `METHOD routePath` (e.g. 'POST /rest/v1/leads.json'). */
  counted(endpoint: string): Promise<number>;
  close(): Promise<void>;
}

export async function startActionHarness(leads = 200, seed = 7): Promise<ActionHarness> {
  const sb = await startTestSandbox({ limits: unlimited(), seed: { leads, seed } });
  const calls: string[] = [];
  const logs: ActionHarness['logs'] = [];
  const send = async (method: string, path: string, body?: unknown): Promise<unknown> => {
    calls.push(`${method} ${path}`);
    const init: RequestInit & { json?: unknown } = { method };
    if (body !== undefined) init.json = body;
    const res = await sb.api(path, init);
    return res.json();
  };
  const io: ActionIO = {
    get: (path) => send('GET', path),
    post: (path, body) => send('POST', path, body),
    delete: (path, body) => send('DELETE', path, body),
    log: (message, data) => void logs.push(data ? { message, data } : { message }),
  };
  return {
    sb,
    io,
    calls,
    logs,
    async ok(path, init) {
      const body = await sb.apiJson(path, init);
      if (!body.success) throw new Error(`${path}: ${JSON.stringify(body.errors)}`);
      return body;
    },
    async run(def, input) {
      return def.run(io, def.input.parse(input));
    },
    async counted(endpoint) {
      const c = await sb.control<{ byEndpoint: Record<string, number> }>(
        'GET',
        `/instances/${sb.munchkinId}/counters`,
      );
      return c.body.byEndpoint[endpoint] ?? 0;
    },
    close: () => sb.close(),
  };
}
