import {
  COMMANDS,
  DEFAULT_URL,
  GLOBAL_OPTIONS,
  subcommandsOf,
  type CommandSpec,
  type OptionSpec,
} from './spec.ts';

/** Help pages, built from the command table (spec.ts). Pure. */

function optionLines(options: Record<string, OptionSpec & { short?: string }>): string[] {
  const rows = Object.entries(options).map(([name, o]) => {
    const flag = `${o.short ? `-${o.short}, ` : ''}--${name}${o.value ? ` ${o.value}` : ''}`;
    const notes = [o.required ? 'required' : '', o.multiple ? 'repeatable' : ''].filter(Boolean);
    return [
      flag,
      notes.length > 0 && !o.help.includes('repeatable') ? `${o.help} (${notes.join(', ')})` : o.help,
    ];
  });
  const width = Math.max(0, ...rows.map(([f]) => f!.length));
  return rows.map(([f, h]) => `  ${f!.padEnd(width)}  ${h}`);
}

function usageLine(spec: CommandSpec): string {
  const positionals = spec.positionals.map((p) => `<${p.name}>`);
  const required = Object.entries(spec.options)
    .filter(([, o]) => o.required)
    .map(([name, o]) => `--${name} ${o.value ?? ''}`.trim());
  const hasOptional = Object.values(spec.options).some((o) => !o.required);
  return ['tether', spec.id, ...positionals, ...required, hasOptional ? '[options]' : '']
    .filter(Boolean)
    .join(' ');
}

export function commandHelp(spec: CommandSpec): string {
  const lines = [`Usage: ${usageLine(spec)}`, '', `${spec.summary}.`];
  if (spec.details) lines.push('', spec.details);
  if (spec.positionals.length > 0) {
    const width = Math.max(...spec.positionals.map((p) => p.name.length + 2));
    lines.push(
      '',
      'Arguments:',
      ...spec.positionals.map((p) => `  ${`<${p.name}>`.padEnd(width)}  ${p.help}`),
    );
  }
  if (Object.keys(spec.options).length > 0) lines.push('', 'Options:', ...optionLines(spec.options));
  lines.push('', 'Global options:', ...optionLines(GLOBAL_OPTIONS));
  return `${lines.join('\n')}\n`;
}

function commandList(specs: readonly CommandSpec[]): string[] {
  const width = Math.max(...specs.map((c) => c.id.length));
  return specs.map((c) => `  ${c.id.padEnd(width)}  ${c.summary}`);
}

export function groupHelp(group: string): string {
  return `Usage: tether ${group} <command> [options]\n\nCommands:\n${commandList(subcommandsOf(group)).join('\n')}\n\nRun \`tether ${group} <command> --help\` for a command's options.\n`;
}

export function mainHelp(): string {
  return [
    'Usage: tether <command> [arguments] [options]',
    '',
    'Scripts and inspects a running Tether server over its HTTP API.',
    '',
    'Commands:',
    ...commandList(COMMANDS),
    '',
    'Global options:',
    ...optionLines(GLOBAL_OPTIONS),
    '',
    'Environment:',
    `  TETHER_URL          server URL (default ${DEFAULT_URL})`,
    "  TETHER_SECRET_KEY   the environment's secret key (or use --secret-key-file)",
    '',
    'Exit codes: 0 success, 1 error (printed as `error <code>: <message>`), 2 usage error.',
    "Run `tether <command> --help` for a command's options.",
    '',
  ].join('\n');
}
