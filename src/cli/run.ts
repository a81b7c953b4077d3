import { readFile } from 'node:fs/promises';
import { parseArgv } from './args.ts';
import { ApiClient, CliError, parseBaseUrl } from './client.ts';
import { HANDLERS, type Output } from './commands.ts';
import { errorLine, redact } from './format.ts';
import { commandSpec, DEFAULT_URL } from './spec.ts';

/**
 * One run of the command line, with its environment and streams given (main.ts passes the process's;
 * tests may pass their own). Returns the exit code: 0 success, 1 failure, 2 usage error. Never throws and
 * never prints a stack trace or the secret key.
 */

/** The key from `--secret-key-file` (wins: it was given explicitly) or TETHER_SECRET_KEY. */
async function secretKeyOf(
  file: string | undefined,
  env: Record<string, string | undefined>,
): Promise<string> {
  if (file !== undefined) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'error';
      throw new CliError('secret_key_file_unreadable', `cannot read --secret-key-file ${file} (${code})`);
    }
    const key = text.trim();
    if (key === '') throw new CliError('missing_secret_key', `--secret-key-file ${file} is empty`);
    return key;
  }
  const key = env.TETHER_SECRET_KEY?.trim();
  if (!key) {
    throw new CliError(
      'missing_secret_key',
      "set TETHER_SECRET_KEY to the environment's secret key, or pass --secret-key-file <path>",
      2,
    );
  }
  return key;
}

export async function runCli(
  argv: string[],
  env: Record<string, string | undefined>,
  io: Output,
): Promise<number> {
  const parsed = parseArgv(argv);
  if (parsed.kind === 'help') {
    await io.out(parsed.text);
    return 0;
  }
  if (parsed.kind === 'usage') {
    // The usage line and a pointer to the help page: the whole page would bury the error.
    const usageLine = parsed.help.split('\n')[0] ?? '';
    await io.err(`${errorLine('usage', parsed.message)}${usageLine}\nRun with --help for details.\n`);
    return 2;
  }
  const inv = parsed.invocation;
  let secret: string | undefined;
  // Everything that reaches stderr passes through here, so the key cannot leak even through a message.
  const err = (text: string) => io.err(redact(text, secret));
  try {
    const baseUrl = parseBaseUrl(inv.globals.url ?? (env.TETHER_URL?.trim() || DEFAULT_URL));
    if (commandSpec(inv.command).auth) secret = await secretKeyOf(inv.globals.secretKeyFile, env);
    const verbose = inv.globals.verbose ? (line: string) => void err(`${line}\n`) : undefined;
    const api = new ApiClient(baseUrl, secret, verbose);
    await HANDLERS[inv.command]({ api, io: { ...io, err }, json: inv.globals.json }, inv);
    return 0;
  } catch (e) {
    if (e instanceof CliError) {
      await err(errorLine(e.code, e.message));
      return e.exitCode;
    }
    // A bug or an unexpected transport failure: one line, no stack trace.
    await err(errorLine('unexpected', e instanceof Error ? e.message : String(e)));
    return 1;
  }
}
