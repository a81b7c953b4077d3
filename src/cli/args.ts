import { parseArgs, type ParseArgsConfig } from 'node:util';
import { commandHelp, groupHelp, mainHelp } from './help.ts';
import {
  COMMANDS,
  GLOBAL_OPTIONS,
  subcommandsOf,
  type CommandId,
  type CommandSpec,
  type OptionSpec,
} from './spec.ts';

/**
 * Pure argument parsing: argv (without `node` and the script) → what to run, a help page, or a usage
 * error (exit code 2). Command words come first (`tether syncs status ...`); options may be anywhere.
 */

export type OptionValue = string | boolean | string[] | undefined;

export interface Globals {
  url: string | undefined;
  secretKeyFile: string | undefined;
  json: boolean;
  verbose: boolean;
}

export interface Invocation {
  command: CommandId;
  /** Positionals by name (all present). */
  args: Record<string, string>;
  /** The command's own options, validated and normalized (e.g. `--modified-after` as ISO 8601 UTC). */
  options: Record<string, OptionValue>;
  globals: Globals;
}

export type ParseResult =
  | { kind: 'run'; invocation: Invocation }
  | { kind: 'help'; text: string }
  | { kind: 'usage'; message: string; help: string };

type ParseOptions = NonNullable<ParseArgsConfig['options']>;

function toParseOptions(options: Record<string, OptionSpec & { short?: string }>): ParseOptions {
  const out: ParseOptions = {};
  for (const [name, o] of Object.entries(options)) {
    out[name] = {
      type: o.type,
      ...(o.multiple ? { multiple: true } : {}),
      ...(o.short ? { short: o.short } : {}),
    };
  }
  return out;
}

/** Every option any command knows: enough to tell option values from positionals in a first pass. */
function allOptions(): ParseOptions {
  const merged: Record<string, OptionSpec & { short?: string }> = { ...GLOBAL_OPTIONS };
  for (const c of COMMANDS) Object.assign(merged, c.options);
  return toParseOptions(merged);
}

function usage(message: string, help: string): ParseResult {
  return { kind: 'usage', message, help };
}

/** Finds the command named by the leading positionals. */
function findCommand(
  positionals: string[],
  wantsHelp: boolean,
): { spec: CommandSpec; words: number } | ParseResult {
  const [first, second] = positionals;
  if (first === undefined)
    return wantsHelp ? { kind: 'help', text: mainHelp() } : usage('missing command', mainHelp());
  const single = COMMANDS.find((c) => c.id === first);
  if (single) return { spec: single, words: 1 };
  const subs = subcommandsOf(first);
  if (subs.length === 0) return usage(`unknown command '${first}'`, mainHelp());
  if (second === undefined) {
    return wantsHelp
      ? { kind: 'help', text: groupHelp(first) }
      : usage(
          `missing ${first} command (${subs.map((s) => s.id.split(' ')[1]).join(', ')})`,
          groupHelp(first),
        );
  }
  const spec = subs.find((s) => s.id === `${first} ${second}`);
  if (!spec) return usage(`unknown command '${first} ${second}'`, groupHelp(first));
  return { spec, words: 2 };
}

const LIMITS: Partial<Record<CommandId, [number, number]>> = {
  'connections list': [1, 2000],
  'syncs runs': [1, 100],
  records: [1, 10_000],
};
const FILTERS = new Set(['added', 'updated', 'deleted']);
const METHODS = new Set(['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD']);

/** Checks and normalizes values; returns an error message or undefined. Mutates `args` / `options`. */
function checkValues(
  id: CommandId,
  args: Record<string, string>,
  options: Record<string, OptionValue>,
): string | undefined {
  for (const [name, v] of Object.entries(options)) {
    if (v === '') return `--${name} needs a value`;
  }
  for (const [name, v] of Object.entries(args)) {
    if (v === '') return `<${name}> must not be empty`;
  }
  const limit = options.limit;
  const range = LIMITS[id];
  if (typeof limit === 'string' && range) {
    const n = /^\d{1,6}$/.test(limit) ? Number(limit) : NaN;
    if (!(n >= range[0] && n <= range[1]))
      return `--limit must be an integer from ${range[0]} to ${range[1]}`;
  }
  if (id === 'records') {
    const filter = options.filter;
    if (typeof filter === 'string') {
      const bad = filter.split(',').filter((f) => !FILTERS.has(f.trim().toLowerCase()));
      if (bad.length > 0)
        return `--filter takes added, updated or deleted (comma list), not '${bad.join(',')}'`;
    }
    const after = options['modified-after'];
    if (typeof after === 'string') {
      const t = /^\d{4}-\d{2}-\d{2}/.test(after) ? Date.parse(after) : NaN;
      if (Number.isNaN(t)) return `--modified-after must be an ISO 8601 date, e.g. 2025-01-31T00:00:00Z`;
      options['modified-after'] = new Date(t).toISOString();
    }
  }
  if (id === 'syncs logs' && !/^[1-9]\d{0,15}$/.test(args.runId ?? '')) {
    return '<runId> must be a positive integer (see `tether syncs runs`)';
  }
  if (id === 'syncs status' && options.variant !== undefined && options.sync === undefined) {
    return '--variant needs --sync';
  }
  if (id === 'proxy') {
    const method = (args.method ?? '').toUpperCase();
    if (!METHODS.has(method)) return `<method> must be one of ${[...METHODS].join(', ')}`;
    args.method = method;
    const path = args.path ?? '';
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(path)) {
      return "<path> is a Marketo path such as /rest/v1/leads.json, not a URL (calls go to the connection's own instance)";
    }
    if (!path.startsWith('/')) args.path = `/${path}`;
    if (options.data !== undefined && options['data-file'] !== undefined) {
      return 'give --data or --data-file, not both';
    }
    if (typeof options.data === 'string') {
      try {
        JSON.parse(options.data);
      } catch {
        return '--data must be valid JSON (use --data-file for other bodies)';
      }
    }
    const headers = Array.isArray(options.header) ? options.header : [];
    const bad = headers.find((h) => !/^[A-Za-z0-9!#$%&'*+.^_`|~-]+:/.test(h));
    if (bad !== undefined) return `--header must be name:value, not '${bad}'`;
    if (
      (method === 'GET' || method === 'HEAD') &&
      (options.data !== undefined || options['data-file'] !== undefined)
    ) {
      return `${method} takes no body`;
    }
  }
  return undefined;
}

export function parseArgv(argv: string[]): ParseResult {
  let pre;
  try {
    pre = parseArgs({ args: argv, options: allOptions(), strict: false, allowPositionals: true });
  } catch (err) {
    return usage(err instanceof Error ? err.message : String(err), mainHelp());
  }
  const wantsHelp = pre.values.help === true;
  let positionals = pre.positionals;
  if (positionals[0] === 'help') {
    // `tether help [command...]` is `tether [command...] --help`.
    const found = findCommand(positionals.slice(1), true);
    return 'kind' in found ? found : { kind: 'help', text: commandHelp(found.spec) };
  }
  const found = findCommand(positionals, wantsHelp);
  if ('kind' in found) return found;
  const { spec, words } = found;
  const help = commandHelp(spec);
  if (wantsHelp) return { kind: 'help', text: help };

  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: toParseOptions({ ...GLOBAL_OPTIONS, ...spec.options }),
      strict: true,
      allowPositionals: true,
    });
  } catch (err) {
    // node:util's messages are clear ("Unknown option '--x'"); its hints about `--` are not useful here.
    const message =
      err instanceof Error ? err.message.split('. To specify')[0]!.replace(/\.$/, '') : String(err);
    return usage(message, help);
  }
  positionals = parsed.positionals.slice(words);
  if (positionals.length < spec.positionals.length) {
    return usage(`missing <${spec.positionals[positionals.length]!.name}>`, help);
  }
  if (positionals.length > spec.positionals.length) {
    return usage(`unexpected argument '${positionals[spec.positionals.length]}'`, help);
  }
  const args: Record<string, string> = {};
  spec.positionals.forEach((p, i) => (args[p.name] = positionals[i]!));

  const values = parsed.values as Record<string, OptionValue>;
  const options: Record<string, OptionValue> = {};
  for (const name of Object.keys(spec.options)) {
    if (values[name] !== undefined) options[name] = values[name];
  }
  for (const [name, o] of Object.entries(spec.options)) {
    if (o.required && options[name] === undefined)
      return usage(`missing --${name} ${o.value ?? ''}`.trim(), help);
  }
  const problem = checkValues(spec.id, args, options);
  if (problem) return usage(problem, help);

  const str = (v: OptionValue) => (typeof v === 'string' ? v : undefined);
  return {
    kind: 'run',
    invocation: {
      command: spec.id,
      args,
      options,
      globals: {
        url: str(values.url),
        secretKeyFile: str(values['secret-key-file']),
        json: values.json === true,
        verbose: values.verbose === true,
      },
    },
  };
}
