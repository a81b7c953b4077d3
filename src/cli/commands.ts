import { readFile } from 'node:fs/promises';
import type { Invocation, OptionValue } from './args.ts';
import { CliError, errorFromBody, type ApiClient } from './client.ts';
import { compactJson, keyValues, table, type Cell } from './format.ts';
import type { CommandId } from './spec.ts';

/**
 * What each command does: the API call(s) and how the answer is printed. The HTTP answers are read as
 * `unknown` and picked apart with the small accessors below (the CLI must not crash on a field it does
 * not expect; it prints `-`).
 */

export interface Output {
  /** Writes to stdout, waiting when the pipe is full (records streams in constant memory). */
  out(chunk: string | Uint8Array): Promise<void>;
  err(text: string): Promise<void>;
  /** stdout is a terminal (the proxy adds a final newline for readability then, never in a pipe). */
  stdoutIsTty: boolean;
  /** Reads all of stdin (`--data-file -`). */
  readStdin(): Promise<Uint8Array<ArrayBuffer>>;
}

export interface CommandContext {
  api: ApiClient;
  io: Output;
  json: boolean;
}

type Json = Record<string, unknown>;
const obj = (v: unknown): Json =>
  typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : {};
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const cell = (v: unknown): Cell =>
  typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean'
    ? v
    : v == null
      ? null
      : compactJson(v);
const opt = (v: OptionValue): string | undefined => (typeof v === 'string' ? v : undefined);

async function printJson(ctx: CommandContext, body: unknown): Promise<void> {
  await ctx.io.out(`${JSON.stringify(body, null, 2)}\n`);
}

/** Connection-scoped options as the sync routes take them. */
function connectionOf(inv: Invocation): { provider_config_key: string; connection_id: string } {
  return { provider_config_key: opt(inv.options.integration)!, connection_id: opt(inv.options.connection)! };
}

/** The `{name, variant}` selector of the sync routes. */
function selector(inv: Invocation): string | { name: string; variant: string } {
  const variant = opt(inv.options.variant);
  return variant ? { name: inv.args.sync!, variant } : inv.args.sync!;
}

async function health(ctx: CommandContext): Promise<void> {
  const body = await ctx.api.json('GET', '/health');
  if (ctx.json) return printJson(ctx, body);
  await ctx.io.out(`ok: Tether at ${ctx.api.baseUrl} answers (${cell(obj(body).result) ?? '-'})\n`);
}

async function integrationsList(ctx: CommandContext): Promise<void> {
  const body = await ctx.api.json('GET', '/integrations');
  if (ctx.json) return printJson(ctx, body);
  const rows = list(obj(body).data).map((i) => {
    const o = obj(i);
    return [o.unique_key, o.provider, o.display_name, o.created_at].map(cell);
  });
  await ctx.io.out(table(['INTEGRATION', 'PROVIDER', 'DISPLAY NAME', 'CREATED'], rows));
}

function endUserText(v: unknown): Cell {
  const u = obj(v);
  if (u.id === undefined) return null;
  const extra = [u.display_name, u.email].filter((x) => typeof x === 'string' && x !== '');
  return extra.length > 0 ? `${cell(u.id)} (${extra.join(', ')})` : cell(u.id);
}

function errorsText(v: unknown): Cell {
  const errors = list(v).map((e) => cell(obj(e).type) ?? 'error');
  return errors.length > 0 ? errors.join(',') : null;
}

async function connectionsList(ctx: CommandContext, inv: Invocation): Promise<void> {
  const body = await ctx.api.json('GET', '/connections', {
    query: {
      search: opt(inv.options.search),
      integrationId: opt(inv.options.integration),
      endUserId: opt(inv.options['end-user']),
      limit: opt(inv.options.limit),
    },
  });
  if (ctx.json) return printJson(ctx, body);
  const rows = list(obj(body).connections).map((c) => {
    const o = obj(c);
    return [
      cell(o.connection_id),
      cell(o.provider_config_key),
      endUserText(o.end_user),
      errorsText(o.errors),
      cell(o.created),
    ];
  });
  await ctx.io.out(table(['CONNECTION ID', 'INTEGRATION', 'END USER', 'ERRORS', 'CREATED'], rows));
}

async function connectionsShow(ctx: CommandContext, inv: Invocation): Promise<void> {
  // The overview route: never a token or a client secret, and looking does not renew an expired token.
  const body = obj(
    await ctx.api.json('GET', `/connections/${encodeURIComponent(inv.args.connectionId!)}/overview`, {
      query: { provider_config_key: opt(inv.options.integration) },
    }),
  );
  if (ctx.json) return printJson(ctx, body);
  await ctx.io.out(
    keyValues([
      ['connection_id', cell(body.connection_id)],
      ['integration', cell(body.provider_config_key)],
      ['provider', cell(body.provider)],
      ['end_user', endUserText(body.end_user)],
      ['errors', errorsText(body.errors)],
      ['created_at', cell(body.created_at)],
      ['updated_at', cell(body.updated_at)],
      ['last_fetched_at', cell(body.last_fetched_at)],
      ['tags', compactJson(body.tags)],
      ['metadata', compactJson(body.metadata)],
      ['connection_config', compactJson(body.connection_config)],
      ['credentials', compactJson(body.credentials_status)],
    ]),
  );
}

async function connectionsDelete(ctx: CommandContext, inv: Invocation): Promise<void> {
  const id = inv.args.connectionId!;
  const body = await ctx.api.json('DELETE', `/connections/${encodeURIComponent(id)}`, {
    query: { provider_config_key: opt(inv.options.integration) },
  });
  if (ctx.json) return printJson(ctx, body);
  await ctx.io.out(`deleted connection ${id} of integration ${opt(inv.options.integration)}\n`);
}

async function connectLink(ctx: CommandContext, inv: Invocation): Promise<void> {
  const email = opt(inv.options.email);
  const name = opt(inv.options.name);
  const body = await ctx.api.json('POST', '/connect/sessions', {
    json: {
      end_user: {
        id: opt(inv.options['end-user']),
        ...(email !== undefined ? { email } : {}),
        ...(name !== undefined ? { display_name: name } : {}),
      },
      allowed_integrations: [opt(inv.options.integration)],
    },
  });
  if (ctx.json) return printJson(ctx, body);
  const data = obj(obj(body).data);
  await ctx.io.out(
    keyValues([
      ['connect_link', cell(data.connect_link)],
      ['expires_at', cell(data.expires_at)],
    ]),
  );
}

function recordCounts(v: unknown): Cell {
  const entries = Object.entries(obj(v));
  if (entries.length === 0) return null;
  if (entries.length === 1) return cell(entries[0]![1]);
  return entries.map(([m, n]) => `${m}=${cell(n)}`).join(' ');
}

function errorText(v: unknown): Cell {
  const e = obj(v);
  if (e.message === undefined && e.type === undefined) return cell(v);
  const text = [e.type, e.message].filter((x) => typeof x === 'string').join(': ');
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

async function syncsStatus(ctx: CommandContext, inv: Invocation): Promise<void> {
  const sync = opt(inv.options.sync);
  const variant = opt(inv.options.variant);
  const body = await ctx.api.json('GET', '/sync/status', {
    query: { syncs: sync ? (variant ? `${sync}::${variant}` : sync) : '*', ...connectionOf(inv) },
  });
  if (ctx.json) return printJson(ctx, body);
  const rows = list(obj(body).syncs).map((s) => {
    const o = obj(s);
    return [
      cell(o.name),
      cell(o.variant),
      cell(o.status),
      cell(o.latestExecutionStatus),
      cell(o.finishedAt),
      cell(o.nextScheduledSyncAt),
      recordCounts(o.recordCount),
      errorText(o.lastError),
    ];
  });
  await ctx.io.out(
    table(['SYNC', 'VARIANT', 'STATUS', 'LAST RUN', 'FINISHED', 'NEXT RUN', 'RECORDS', 'ERROR'], rows),
  );
}

async function syncsAction(ctx: CommandContext, inv: Invocation, action: 'trigger' | 'pause' | 'start') {
  const fullResync = inv.options['full-resync'] === true;
  const body = await ctx.api.json('POST', `/sync/${action}`, {
    json: {
      syncs: [selector(inv)],
      ...connectionOf(inv),
      ...(action === 'trigger' && fullResync ? { opts: { reset: true } } : {}),
    },
  });
  if (ctx.json) return printJson(ctx, body);
  const variant = opt(inv.options.variant);
  const what = `sync ${inv.args.sync}${variant ? ` (variant ${variant})` : ''} of connection ${opt(inv.options.connection)}`;
  const done =
    action === 'trigger'
      ? `triggered ${what}${fullResync ? ' (full resync)' : ''}`
      : `${action === 'pause' ? 'paused' : 'started'} ${what}`;
  await ctx.io.out(`${done}\n`);
}

async function syncsRuns(ctx: CommandContext, inv: Invocation): Promise<void> {
  const body = await ctx.api.json('GET', '/sync/runs', {
    query: { ...connectionOf(inv), syncs: opt(inv.options.sync), limit: opt(inv.options.limit) },
  });
  if (ctx.json) return printJson(ctx, body);
  const rows = list(obj(body).runs).map((r) => {
    const o = obj(r);
    return [
      cell(o.id),
      cell(o.sync),
      cell(o.variant),
      cell(o.type),
      cell(o.reason),
      cell(o.status),
      cell(o.started_at),
      cell(o.ended_at),
      cell(o.added),
      cell(o.updated),
      cell(o.deleted),
      errorText(o.error),
    ];
  });
  await ctx.io.out(
    table(
      [
        'RUN',
        'SYNC',
        'VARIANT',
        'TYPE',
        'REASON',
        'STATUS',
        'STARTED',
        'ENDED',
        'ADDED',
        'UPDATED',
        'DELETED',
        'ERROR',
      ],
      rows,
    ),
  );
  const next = obj(body).next_cursor;
  if (typeof next === 'string') await ctx.io.err(`(older runs exist: raise --limit, up to 100)\n`);
}

async function syncsLogs(ctx: CommandContext, inv: Invocation): Promise<void> {
  let cursor: string | undefined;
  do {
    const body = obj(
      await ctx.api.json('GET', `/sync/runs/${inv.args.runId}/logs`, {
        query: { ...connectionOf(inv), limit: '500', cursor },
      }),
    );
    for (const line of list(body.logs)) {
      const o = obj(line);
      const data = o.data === null || o.data === undefined ? '' : `  ${compactJson(o.data)}`;
      await ctx.io.out(
        ctx.json
          ? `${JSON.stringify(line)}\n`
          : `${cell(o.at)}  ${String(cell(o.level)).padEnd(5)}  ${cell(o.message)}${data}\n`,
      );
    }
    cursor = typeof body.next_cursor === 'string' ? body.next_cursor : undefined;
  } while (cursor !== undefined);
}

async function records(ctx: CommandContext, inv: Invocation): Promise<void> {
  const all = inv.options.all === true;
  const limit = opt(inv.options.limit) ?? (all ? '1000' : '100');
  let cursor = opt(inv.options.cursor);
  const headers = {
    'connection-id': opt(inv.options.connection)!,
    'provider-config-key': opt(inv.options.integration)!,
  };
  for (;;) {
    // One page in memory at a time; each record is written (and the pipe drained) before the next page.
    const page = obj(
      await ctx.api.json('GET', '/records', {
        headers,
        query: {
          model: inv.args.model,
          variant: opt(inv.options.variant),
          modified_after: opt(inv.options['modified-after']),
          filter: opt(inv.options.filter),
          limit,
          cursor,
        },
      }),
    );
    for (const r of list(page.records)) await ctx.io.out(`${JSON.stringify(r)}\n`);
    const next =
      typeof page.next_cursor === 'string' && page.next_cursor !== '' ? page.next_cursor : undefined;
    if (next === undefined) return;
    if (!all) {
      await ctx.io.err(`next_cursor: ${next} (more records: pass --cursor with it, or --all)\n`);
      return;
    }
    cursor = next;
  }
}

/** `--header name:value` → the proxy's headers: a few are Tether's own, the rest go as `Nango-Proxy-<name>`. */
export function proxyHeaders(given: string[]): Record<string, string> {
  const direct = new Set(['content-type', 'accept', 'range', 'if-range']);
  const out: Record<string, string> = {};
  for (const h of given) {
    const at = h.indexOf(':');
    const name = h.slice(0, at).trim().toLowerCase();
    out[direct.has(name) ? name : `nango-proxy-${name}`] = h.slice(at + 1).trim();
  }
  return out;
}

async function proxy(ctx: CommandContext, inv: Invocation): Promise<void> {
  const headers: Record<string, string> = {
    'connection-id': opt(inv.options.connection)!,
    'provider-config-key': opt(inv.options.integration)!,
    ...proxyHeaders(Array.isArray(inv.options.header) ? inv.options.header : []),
  };
  const dataFile = opt(inv.options['data-file']);
  const data = opt(inv.options.data);
  let body: Uint8Array<ArrayBuffer> | undefined;
  if (data !== undefined) body = Buffer.from(data, 'utf8');
  else if (dataFile !== undefined) {
    try {
      body = dataFile === '-' ? await ctx.io.readStdin() : await readFile(dataFile);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'error';
      throw new CliError('data_file_unreadable', `cannot read --data-file ${dataFile} (${code})`);
    }
  }
  if (body !== undefined && headers['content-type'] === undefined)
    headers['content-type'] = 'application/json';
  // Longer than the API calls: the proxy may queue a call for the instance's limits (30 s by default).
  const res = await ctx.api.send(inv.args.method!, `/proxy${inv.args.path!}`, {
    headers,
    ...(body !== undefined ? { body } : {}),
    timeoutMs: 300_000,
  });
  if (res.status >= 400) {
    const text = await res.text();
    const err = errorFromBody(res.status, text);
    // Not Tether's envelope: Marketo's (or a server's) own answer, which the caller wants to see.
    if (err.code.startsWith('http_')) {
      if (text !== '') await ctx.io.out(text.endsWith('\n') ? text : `${text}\n`);
      throw new CliError(`http_${res.status}`, `the call answered HTTP ${res.status}`);
    }
    throw err;
  }
  let last = 10;
  if (res.body) {
    for await (const chunk of res.body) {
      if (chunk.length > 0) last = chunk[chunk.length - 1]!;
      await ctx.io.out(chunk);
    }
  }
  if (ctx.io.stdoutIsTty && last !== 10) await ctx.io.out('\n');
}

/** The input of `actions run`: `--input` JSON, `--input-file` (or stdin), else none. */
async function actionInput(ctx: CommandContext, inv: Invocation): Promise<unknown> {
  const file = opt(inv.options['input-file']);
  let text = opt(inv.options.input);
  if (text === undefined && file !== undefined) {
    try {
      text = Buffer.from(file === '-' ? await ctx.io.readStdin() : await readFile(file)).toString('utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'error';
      throw new CliError('input_file_unreadable', `cannot read --input-file ${file} (${code})`);
    }
  }
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new CliError('invalid_input', 'the action input is not JSON', 2);
  }
}

async function actionsRun(ctx: CommandContext, inv: Invocation): Promise<void> {
  const async = inv.options.async === true;
  const retries = opt(inv.options['max-retries']);
  const headers: Record<string, string> = {
    'connection-id': opt(inv.options.connection)!,
    'provider-config-key': opt(inv.options.integration)!,
    ...(async ? { 'x-async': 'true' } : {}),
    ...(retries !== undefined ? { 'x-max-retries': retries } : {}),
  };
  const input = await actionInput(ctx, inv);
  // A sync run may take up to Tether's own bound (120 s) plus queueing for the instance's limits.
  const out = await ctx.api.json('POST', '/action/trigger', {
    headers,
    json: { action_name: inv.args.action, ...(input !== undefined ? { input } : {}) },
    timeoutMs: 300_000,
  });
  await ctx.io.out(`${JSON.stringify(out, null, ctx.json ? undefined : 2)}\n`);
}

async function actionsResult(ctx: CommandContext, inv: Invocation): Promise<void> {
  const out = await ctx.api.json('GET', `/action/${encodeURIComponent(inv.args.id!)}`);
  await ctx.io.out(`${JSON.stringify(out, null, ctx.json ? undefined : 2)}\n`);
}

async function functionsList(ctx: CommandContext, inv: Invocation): Promise<void> {
  const body = await ctx.api.json(
    'GET',
    `/integrations/${encodeURIComponent(inv.args.integration!)}/functions`,
    { query: { limit: '100' } },
  );
  if (ctx.json) return printJson(ctx, body);
  const rows = list(obj(body).data).map((f) => {
    const o = obj(f);
    return [o.name, o.type, o.enabled, o.type === 'sync' ? o.auto_start : null, o.runs].map(cell);
  });
  await ctx.io.out(table(['NAME', 'TYPE', 'ENABLED', 'AUTO START', 'RUNS'], rows));
}

/** `--auto-start on|off` as a boolean (undefined when absent); anything else is a usage error. */
function autoStartOf(inv: Invocation): boolean | undefined {
  const v = opt(inv.options['auto-start'])?.toLowerCase();
  if (v === undefined) return undefined;
  if (v === 'on' || v === 'off') return v === 'on';
  throw new CliError('invalid_input', `--auto-start must be on or off, not '${v}'`, 2);
}

async function functionsSet(ctx: CommandContext, inv: Invocation, enabled: boolean): Promise<void> {
  const autoStart = autoStartOf(inv);
  const { integration, name } = inv.args;
  const body = await ctx.api.json(
    'PATCH',
    `/integrations/${encodeURIComponent(integration!)}/functions/${encodeURIComponent(name!)}`,
    { json: { enabled, ...(autoStart !== undefined ? { auto_start: autoStart } : {}) } },
  );
  if (ctx.json) return printJson(ctx, body);
  const f = obj(obj(body).data);
  const start = f.type === 'sync' ? `, auto start ${f.auto_start === false ? 'off' : 'on'}` : '';
  await ctx.io.out(
    `${cell(f.type) ?? 'function'} ${name} of ${integration}: ${enabled ? 'enabled' : 'disabled'}${start}\n`,
  );
}

type Handler = (ctx: CommandContext, inv: Invocation) => Promise<void>;

export const HANDLERS: Record<CommandId, Handler> = {
  health,
  'integrations list': integrationsList,
  'connections list': connectionsList,
  'connections show': connectionsShow,
  'connections delete': connectionsDelete,
  'connect-link': connectLink,
  'syncs status': syncsStatus,
  'syncs trigger': (ctx, inv) => syncsAction(ctx, inv, 'trigger'),
  'syncs pause': (ctx, inv) => syncsAction(ctx, inv, 'pause'),
  'syncs start': (ctx, inv) => syncsAction(ctx, inv, 'start'),
  'syncs runs': syncsRuns,
  'syncs logs': syncsLogs,
  records,
  proxy,
  'actions run': actionsRun,
  'actions result': actionsResult,
  'functions list': functionsList,
  'functions enable': (ctx, inv) => functionsSet(ctx, inv, true),
  'functions disable': (ctx, inv) => functionsSet(ctx, inv, false),
};
