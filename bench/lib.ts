import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { buildTether } from '../scripts/build.ts';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * Tether as `npm start` runs it: the server bundle (scripts/build.ts), built now so that it matches the
 * sources. Measuring through tsx would count its loader (~55 MB of RSS) as Tether's.
 */
export async function tetherBundle(): Promise<string> {
  return buildTether();
}

/** Node flags to run `args[0]`: none for a built `.mjs`, tsx's loader for TypeScript sources. */
export function nodeLoader(args: string[]): string[] {
  return args[0]?.endsWith('.mjs') ? [] : ['--import', 'tsx'];
}

export interface SandboxProcess {
  info: {
    munchkinId: string;
    endpoint: string;
    identity: string;
    clientId: string;
    clientSecret: string;
    admin: string;
  };
  child: ChildProcess;
  stop(): Promise<void>;
}

/** Start `src/sandbox/cli.ts --json` in its own process (its own core) and wait for its line. */
export async function spawnSandbox(args: string[]): Promise<SandboxProcess> {
  // BENCH_SANDBOX_NODE_ARGS: node flags of the sandbox process (diagnostics, e.g. `--cpu-prof`).
  const nodeArgs = (process.env.BENCH_SANDBOX_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const child = spawn(
    process.execPath,
    [...nodeArgs, '--import', 'tsx', join(root, 'src/sandbox/cli.ts'), '--port', '0', '--json', ...args],
    {
      cwd: root,
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const rl = createInterface({ input: child.stdout! });
  const line = await new Promise<string>((resolve, reject) => {
    rl.once('line', resolve);
    child.once('exit', (code) => reject(new Error(`sandbox exited with ${code}`)));
  });
  return {
    info: JSON.parse(line) as SandboxProcess['info'],
    child,
    stop: stopper(child),
  };
}

/** A child process the benches started, with the lines it printed (the last 1,000). */
export interface Child {
  child: ChildProcess;
  lines: string[];
  stop(): Promise<void>;
}

/** Stops `child` (SIGTERM) and resolves once it exited; at once if it already did. */
export function stopper(child: ChildProcess): () => Promise<void> {
  return () =>
    new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    });
}

/**
 * Spawns `node [nodeArgs] <loader> <args>` with `env` (tsx's loader for TypeScript, none for a built
 * `.mjs`) and resolves with the first stdout line matching `pattern`; rejects if the process exits first.
 */
export async function spawnUntil(
  args: string[],
  env: Record<string, string>,
  pattern: RegExp,
  nodeArgs: string[] = [],
): Promise<Child & { match: RegExpExecArray }> {
  const child = spawn(process.execPath, [...nodeArgs, ...nodeLoader(args), ...args], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const rl = createInterface({ input: child.stdout! });
  const lines: string[] = [];
  const match = await new Promise<RegExpExecArray>((resolve, reject) => {
    const onExit = (code: number | null) => reject(new Error(`${args.join(' ')} exited with ${code}`));
    child.once('exit', onExit);
    rl.on('line', (line) => {
      lines.push(line);
      if (lines.length > 1000) lines.shift();
      const m = pattern.exec(line);
      if (m) {
        child.off('exit', onExit);
        resolve(m);
      }
    });
  });
  return { child, match, lines, stop: stopper(child) };
}

export async function getToken(info: SandboxProcess['info']): Promise<string> {
  const res = await fetch(
    `${info.identity}/oauth/token?grant_type=client_credentials&client_id=${info.clientId}&client_secret=${info.clientSecret}`,
  );
  return ((await res.json()) as { access_token: string }).access_token;
}

/** Tether's API with its secret key: JSON in and out, an error for any status ≥ 300. */
export function tetherApi(url: string, secretKey: string) {
  return async <T = Record<string, unknown>>(
    path: string,
    init: { method?: string; json?: unknown } = {},
  ): Promise<T> => {
    const res = await fetch(url + path, {
      method: init.method ?? 'GET',
      headers: {
        authorization: `Bearer ${secretKey}`,
        ...(init.json !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(init.json !== undefined ? { body: JSON.stringify(init.json) } : {}),
    });
    const text = await res.text();
    if (res.status >= 300) throw new Error(`${init.method ?? 'GET'} ${path}: ${res.status} ${text}`);
    return JSON.parse(text) as T;
  };
}

/** A connection made through the connect API, as the Connect UI makes it. */
export async function connectMarketo(
  url: string,
  secretKey: string,
  info: Pick<SandboxProcess['info'], 'endpoint' | 'identity' | 'clientId' | 'clientSecret'>,
): Promise<string> {
  const api = tetherApi(url, secretKey);
  const session = await api<{ data: { token: string } }>('/connect/sessions', {
    method: 'POST',
    json: { end_user: { id: `bench-${randomUUID()}` }, allowed_integrations: ['marketo'] },
  });
  const q = new URLSearchParams({
    connect_session_token: session.data.token,
    'params[endpointURL]': info.endpoint,
    'params[identityURL]': info.identity,
  });
  const res = await fetch(`${url}/oauth2/auth/marketo?${q}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ client_id: info.clientId, client_secret: info.clientSecret }),
  });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`connect: ${res.status} ${text}`);
  return (JSON.parse(text) as { connectionId: string }).connectionId;
}

/**
 * CPU milliseconds of a fixed reference workload (JSON round trips, string building, sha256), none of it
 * Tether's code: the same figure whatever Tether's version, so it tells how fast this machine ran when a
 * bench's figures were taken. A shared virtual machine's speed drifts from hour to hour (the same code's
 * records/s by up to 40%); compare runs whose reference figures are close.
 */
export function referenceWorkMs(): number {
  const rows = Array.from({ length: 2_000 }, (_, i) => ({
    id: i,
    email: `lead.${i}@example.com`,
    score: i * 7.25,
    active: i % 3 === 0,
    tags: ['a', 'b', String(i)],
  }));
  const block = Buffer.alloc(4 * 1024 * 1024, 0x61);
  const before = process.cpuUsage();
  let sink = 0;
  for (let r = 0; r < 20; r++) {
    const text = JSON.stringify(rows);
    sink += (JSON.parse(text) as unknown[]).length;
    let s = '';
    for (let i = 0; i < 20_000; i++) s += i.toString(36);
    sink += s.length;
    const hash = createHash('sha256');
    for (let i = 0; i < 4; i++) hash.update(block);
    sink += hash.digest()[0]!;
  }
  const cpu = process.cpuUsage(before);
  if (sink < 0) throw new Error('unreachable');
  return (cpu.user + cpu.system) / 1000;
}
