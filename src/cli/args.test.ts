import { describe, expect, it } from 'vitest';
import { parseArgv, type ParseResult } from './args.ts';
import { COMMANDS, DEFAULT_PORT } from './spec.ts';
import { CONFIG_DEFAULTS } from '../config.ts';

function run(argv: string[]) {
  const r = parseArgv(argv);
  if (r.kind !== 'run') throw new Error(`expected a command, got ${JSON.stringify(r).slice(0, 200)}`);
  return r.invocation;
}

function usageMessage(r: ParseResult): string {
  if (r.kind !== 'usage') throw new Error(`expected a usage error, got ${r.kind}`);
  return r.message;
}

const conn = ['--connection', 'c1', '--integration', 'marketo'];

describe('parseArgv', () => {
  it("defaults to Tether's default port", () => {
    expect(DEFAULT_PORT).toBe(CONFIG_DEFAULTS.port);
  });

  it('finds one- and two-word commands, with global options anywhere', () => {
    expect(run(['health']).command).toBe('health');
    const inv = run(['--url', 'http://h:1', 'connections', 'show', 'abc', '--integration', 'mk', '--json']);
    expect(inv).toEqual({
      command: 'connections show',
      args: { connectionId: 'abc' },
      options: { integration: 'mk' },
      globals: { url: 'http://h:1', secretKeyFile: undefined, json: true, verbose: false },
    });
    const trig = run(['syncs', 'trigger', 'leads', ...conn, '--full-resync', '--secret-key-file', '/k']);
    expect(trig.args).toEqual({ sync: 'leads' });
    expect(trig.options).toEqual({ connection: 'c1', integration: 'marketo', 'full-resync': true });
    expect(trig.globals.secretKeyFile).toBe('/k');
    // An option before the command words, and `--opt=value`.
    expect(run(['--integration=marketo', 'connections', 'delete', 'x']).options).toEqual({
      integration: 'marketo',
    });
  });

  it('answers help pages for the tool, a group and a command', () => {
    for (const argv of [[], ['--help'], ['-h'], ['help']]) {
      const r = parseArgv(argv);
      if (argv.length === 0) {
        expect(r.kind).toBe('usage');
        continue;
      }
      expect(r.kind).toBe('help');
      if (r.kind === 'help') for (const c of COMMANDS) expect(r.text).toContain(c.id);
    }
    const group = parseArgv(['syncs', '--help']);
    expect(group.kind === 'help' && group.text).toContain('syncs trigger');
    for (const c of COMMANDS) {
      const r = parseArgv([...c.id.split(' '), '--help']);
      expect(r.kind).toBe('help');
      if (r.kind !== 'help') continue;
      expect(r.text).toContain(`Usage: tether ${c.id}`);
      for (const name of Object.keys(c.options)) expect(r.text).toContain(`--${name}`);
      expect(parseArgv(['help', ...c.id.split(' ')])).toEqual(r);
    }
  });

  it('refuses unknown commands and options, missing and extra arguments, as usage errors', () => {
    expect(usageMessage(parseArgv(['nope']))).toBe("unknown command 'nope'");
    expect(usageMessage(parseArgv(['syncs']))).toMatch(/^missing syncs command \(status, trigger/);
    expect(usageMessage(parseArgv(['syncs', 'explode']))).toBe("unknown command 'syncs explode'");
    expect(usageMessage(parseArgv(['health', '--bogus']))).toMatch(/Unknown option '--bogus'/);
    // An option of another command is unknown here.
    expect(usageMessage(parseArgv(['health', '--integration', 'x']))).toMatch(
      /Unknown option '--integration'/,
    );
    expect(usageMessage(parseArgv(['connections', 'show', '--integration', 'm']))).toBe(
      'missing <connectionId>',
    );
    expect(usageMessage(parseArgv(['connections', 'show', 'a', 'b', '--integration', 'm']))).toBe(
      "unexpected argument 'b'",
    );
    expect(usageMessage(parseArgv(['connections', 'show', 'a']))).toBe('missing --integration <key>');
    expect(usageMessage(parseArgv(['connect-link', '--integration', 'm']))).toBe('missing --end-user <id>');
    expect(usageMessage(parseArgv(['connect-link', '--integration', '', '--end-user', 'u']))).toBe(
      '--integration needs a value',
    );
  });

  it('checks and normalizes values', () => {
    expect(usageMessage(parseArgv(['records', 'Lead', ...conn, '--limit', '0']))).toMatch(/--limit must be/);
    expect(usageMessage(parseArgv(['records', 'Lead', ...conn, '--limit', '10001']))).toMatch(/1 to 10000/);
    expect(usageMessage(parseArgv(['syncs', 'runs', ...conn, '--limit', '101']))).toMatch(/1 to 100$/);
    expect(usageMessage(parseArgv(['records', 'Lead', ...conn, '--filter', 'added,gone']))).toMatch(/'gone'/);
    expect(usageMessage(parseArgv(['records', 'Lead', ...conn, '--modified-after', 'yesterday']))).toMatch(
      /ISO 8601/,
    );
    const rec = run([
      'records',
      'Lead',
      ...conn,
      '--modified-after',
      '2025-03-01',
      '--filter',
      'added,deleted',
      '--all',
    ]);
    expect(rec.options['modified-after']).toBe('2025-03-01T00:00:00.000Z');
    expect(rec.options.all).toBe(true);
    expect(usageMessage(parseArgv(['syncs', 'logs', '0', ...conn]))).toMatch(/positive integer/);
    expect(usageMessage(parseArgv(['syncs', 'status', ...conn, '--variant', 'v']))).toBe(
      '--variant needs --sync',
    );

    const p = run([
      'proxy',
      'get',
      'rest/v1/leads.json',
      ...conn,
      '--header',
      'X-A: 1',
      '--header',
      'accept:text/csv',
    ]);
    expect(p.args).toEqual({ method: 'GET', path: '/rest/v1/leads.json' });
    expect(p.options.header).toEqual(['X-A: 1', 'accept:text/csv']);
    expect(usageMessage(parseArgv(['proxy', 'FETCH', '/x', ...conn]))).toMatch(/<method> must be one of/);
    expect(usageMessage(parseArgv(['proxy', 'GET', 'https://x.mktorest.com/rest', ...conn]))).toMatch(
      /not a URL/,
    );
    expect(usageMessage(parseArgv(['proxy', 'POST', '/x', ...conn, '--data', '{bad']))).toMatch(/valid JSON/);
    expect(
      usageMessage(parseArgv(['proxy', 'POST', '/x', ...conn, '--data', '{}', '--data-file', 'f'])),
    ).toMatch(/not both/);
    expect(usageMessage(parseArgv(['proxy', 'GET', '/x', ...conn, '--data', '{}']))).toBe(
      'GET takes no body',
    );
    expect(usageMessage(parseArgv(['proxy', 'GET', '/x', ...conn, '--header', 'nocolon']))).toMatch(
      /name:value/,
    );
  });
});
