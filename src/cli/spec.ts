/**
 * The commands of the `tether` command line as data: names, positionals, options and help text. The parser
 * (args.ts) and the help pages are driven by this table, so a command's options are declared once.
 */

/**
 * Tether's default port (CONFIG_DEFAULTS.port in src/config.ts; a test keeps them equal). Not imported:
 * config.ts loads zod, which would slow every start of the command line.
 */
export const DEFAULT_PORT = 3003;
/** Where a Tether started with the defaults listens (README: `npm start`). */
export const DEFAULT_URL = `http://localhost:${DEFAULT_PORT}`;

export type CommandId =
  | 'health'
  | 'integrations list'
  | 'connections list'
  | 'connections show'
  | 'connections delete'
  | 'connect-link'
  | 'syncs status'
  | 'syncs trigger'
  | 'syncs pause'
  | 'syncs start'
  | 'syncs runs'
  | 'syncs logs'
  | 'records'
  | 'proxy'
  | 'actions run'
  | 'actions result'
  | 'functions list'
  | 'functions enable'
  | 'functions disable';

export interface OptionSpec {
  type: 'string' | 'boolean';
  /** May be given several times (values collected in order). */
  multiple?: boolean;
  /** Placeholder shown in help, e.g. `<key>`. */
  value?: string;
  help: string;
  required?: boolean;
}

export interface CommandSpec {
  id: CommandId;
  summary: string;
  /** Required positionals, in order. */
  positionals: { name: string; help: string }[];
  options: Record<string, OptionSpec>;
  /** Needs the secret key (every command but `health`). */
  auth: boolean;
  /** Extra help paragraph. */
  details?: string;
}

export const GLOBAL_OPTIONS: Record<string, OptionSpec & { short?: string }> = {
  url: { type: 'string', value: '<url>', help: `Tether server URL (default: $TETHER_URL or ${DEFAULT_URL})` },
  'secret-key-file': {
    type: 'string',
    value: '<path>',
    help: 'file holding the secret key (default: $TETHER_SECRET_KEY)',
  },
  json: { type: 'boolean', help: 'print the raw JSON answer instead of a table' },
  verbose: { type: 'boolean', help: 'print each HTTP request and its status to stderr (never the key)' },
  help: { type: 'boolean', short: 'h', help: 'show help' },
};

const integration: OptionSpec = {
  type: 'string',
  value: '<key>',
  help: 'integration unique key (provider config key), e.g. marketo',
  required: true,
};
const connection: OptionSpec = { type: 'string', value: '<id>', help: 'connection id', required: true };

export const COMMANDS: readonly CommandSpec[] = [
  {
    id: 'health',
    summary: 'Check that the Tether server answers',
    positionals: [],
    options: {},
    auth: false,
  },
  {
    id: 'integrations list',
    summary: 'List the integrations of the environment',
    positionals: [],
    options: {},
    auth: true,
  },
  {
    id: 'connections list',
    summary: 'List connections (never their credentials)',
    positionals: [],
    options: {
      search: { type: 'string', value: '<text>', help: 'only connections whose id or end user matches' },
      integration: { type: 'string', value: '<key>', help: 'only connections of this integration' },
      'end-user': { type: 'string', value: '<id>', help: 'only connections of this end user' },
      limit: { type: 'string', value: '<n>', help: 'at most n connections (1-2000; default 100)' },
    },
    auth: true,
  },
  {
    id: 'connections show',
    summary: 'Show one connection and its credential status (never a secret)',
    positionals: [{ name: 'connectionId', help: 'the connection id' }],
    options: { integration },
    auth: true,
    details: 'Tokens and client secrets are never printed, not even with --json.',
  },
  {
    id: 'connections delete',
    summary: 'Delete a connection (its credentials are erased)',
    positionals: [{ name: 'connectionId', help: 'the connection id' }],
    options: { integration },
    auth: true,
  },
  {
    id: 'connect-link',
    summary: 'Create a Connect session and print its link',
    positionals: [],
    options: {
      integration,
      'end-user': { type: 'string', value: '<id>', help: 'end user id in your product', required: true },
      email: { type: 'string', value: '<email>', help: "end user's email" },
      name: { type: 'string', value: '<name>', help: "end user's display name" },
    },
    auth: true,
    details: 'Prints the connect_link (open it in a browser to link a Marketo account) and its expiry.',
  },
  {
    id: 'syncs status',
    summary: "Show the status of a connection's syncs",
    positionals: [],
    options: {
      connection,
      integration,
      sync: { type: 'string', value: '<name>', help: 'only this sync (default: all)' },
      variant: { type: 'string', value: '<variant>', help: 'only this variant of --sync' },
    },
    auth: true,
  },
  {
    id: 'syncs trigger',
    summary: 'Run a sync now',
    positionals: [{ name: 'sync', help: 'sync name, e.g. leads' }],
    options: {
      connection,
      integration,
      'full-resync': { type: 'boolean', help: 'start from an empty checkpoint (read everything again)' },
      variant: { type: 'string', value: '<variant>', help: 'a variant of the sync' },
    },
    auth: true,
  },
  {
    id: 'syncs pause',
    summary: "Pause a sync's schedule",
    positionals: [{ name: 'sync', help: 'sync name' }],
    options: {
      connection,
      integration,
      variant: { type: 'string', value: '<variant>', help: 'a variant of the sync' },
    },
    auth: true,
  },
  {
    id: 'syncs start',
    summary: "Resume a sync's schedule",
    positionals: [{ name: 'sync', help: 'sync name' }],
    options: {
      connection,
      integration,
      variant: { type: 'string', value: '<variant>', help: 'a variant of the sync' },
    },
    auth: true,
  },
  {
    id: 'syncs runs',
    summary: "List a connection's sync runs, newest first",
    positionals: [],
    options: {
      connection,
      integration,
      sync: { type: 'string', value: '<name>', help: 'only runs of this sync' },
      limit: { type: 'string', value: '<n>', help: 'at most n runs (1-100; default 20)' },
    },
    auth: true,
  },
  {
    id: 'syncs logs',
    summary: 'Print the log lines of a sync run (every page)',
    positionals: [{ name: 'runId', help: 'run id (from `tether syncs runs`)' }],
    options: { connection, integration },
    auth: true,
    details: 'With --json, one JSON log line per output line (NDJSON).',
  },
  {
    id: 'records',
    summary: 'Print cached records of a model as NDJSON (one record per line)',
    positionals: [{ name: 'model', help: 'model name, e.g. Lead' }],
    options: {
      connection,
      integration,
      variant: { type: 'string', value: '<variant>', help: 'records of this sync variant' },
      'modified-after': {
        type: 'string',
        value: '<date>',
        help: 'only records changed after this ISO 8601 date',
      },
      filter: { type: 'string', value: '<kinds>', help: 'added, updated, deleted (comma list)' },
      limit: {
        type: 'string',
        value: '<n>',
        help: 'records per page (1-10000; default 100, 1000 with --all)',
      },
      cursor: { type: 'string', value: '<cursor>', help: 'start after this cursor (a next_cursor)' },
      all: { type: 'boolean', help: 'follow next_cursor until the last page' },
    },
    auth: true,
    details:
      'Without --all, one page is printed and its next_cursor (if any) goes to stderr. Pages are read one\n' +
      'at a time, so --all streams any number of records in constant memory.',
  },
  {
    id: 'proxy',
    summary: "Call the Marketo API through the connection's credentials",
    positionals: [
      { name: 'method', help: 'GET, POST, PUT, PATCH, DELETE or HEAD' },
      { name: 'path', help: 'Marketo path, e.g. /rest/v1/leads/describe.json' },
    ],
    options: {
      connection,
      integration,
      data: { type: 'string', value: '<json>', help: 'JSON request body' },
      'data-file': { type: 'string', value: '<path>', help: 'request body read from a file (- for stdin)' },
      header: {
        type: 'string',
        multiple: true,
        value: '<name:value>',
        help: 'header sent to Marketo (repeatable)',
      },
    },
    auth: true,
    details: 'Prints the response body as received. An HTTP error status exits with code 1.',
  },
  {
    id: 'actions run',
    summary: 'Run a Marketo action (upsert-leads, add-to-list, trigger-campaign...)',
    positionals: [
      { name: 'action', help: 'action name, e.g. upsert-leads (GET /scripts/config lists them)' },
    ],
    options: {
      connection,
      integration,
      input: { type: 'string', value: '<json>', help: "the action's input as JSON" },
      'input-file': { type: 'string', value: '<path>', help: 'the input read from a file (- for stdin)' },
      async: { type: 'boolean', help: 'queue it and print its id and status URL instead of waiting' },
      'max-retries': { type: 'string', value: '<n>', help: 'with --async: retries of a failed run (0-5)' },
    },
    auth: true,
    details:
      "Prints the action's output as JSON (per-record statuses included). With --async, read the result\n" +
      'later with `tether actions result <id>`.',
  },
  {
    id: 'actions result',
    summary: 'Print the result of an async action run',
    positionals: [{ name: 'id', help: 'the id `actions run --async` printed' }],
    options: {},
    auth: true,
    details: 'Exits with code 1 and error not_found while the run has not finished.',
  },
  {
    id: 'functions list',
    summary: "List an integration's syncs and actions: enabled, auto-started",
    positionals: [{ name: 'integration', help: 'integration unique key, e.g. marketo' }],
    options: {},
    auth: true,
  },
  ...(['enable', 'disable'] as const).map((verb): CommandSpec => ({
    id: `functions ${verb}`,
    summary:
      verb === 'enable'
        ? 'Enable a sync or an action of an integration'
        : 'Disable a sync or an action of an integration (a sync stops running)',
    positionals: [
      { name: 'integration', help: 'integration unique key, e.g. marketo' },
      { name: 'name', help: 'function name, e.g. leads' },
    ],
    options: {
      'auto-start': {
        type: 'string',
        value: '<on|off>',
        help: 'a sync: whether new connections get it started (off: paused until started)',
      },
    },
    auth: true,
  })),
];

export function commandSpec(id: CommandId): CommandSpec {
  const spec = COMMANDS.find((c) => c.id === id);
  if (!spec) throw new Error(`no command ${id}`);
  return spec;
}

/** Command groups (`connections`, `syncs`, ...) and their subcommands. */
export function subcommandsOf(group: string): CommandSpec[] {
  return COMMANDS.filter((c) => c.id.startsWith(`${group} `));
}
