/**
 * `npm run sandbox -- --port 0 --json`: a separate process that prints exactly one JSON line with
 * what a client needs, then serves it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

let child: ChildProcess | undefined;

/** Stop the process group we started (npx → tsx → node). */
async function stop(): Promise<void> {
  const c = child;
  child = undefined;
  if (!c || c.exitCode !== null || c.pid === undefined) return;
  const exited = new Promise<void>((resolve) => c.once('exit', () => resolve()));
  try {
    process.kill(-c.pid, 'SIGTERM');
  } catch {
    return;
  }
  await exited;
}

afterAll(stop);

describe('sandbox CLI', () => {
  it('prints one JSON line with the instance and serves it until killed', async () => {
    child = spawn('npx', ['tsx', 'src/sandbox/cli.ts', '--port', '0', '--json', '--leads', '10'], {
      cwd: repoRoot,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const firstLine = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no JSON line within 15 s; stderr: ${stderr}`)),
        15_000,
      );
      child!.stdout!.on('data', (d: Buffer) => {
        stdout += d.toString();
        const nl = stdout.indexOf('\n');
        if (nl !== -1) {
          clearTimeout(timer);
          resolve(stdout.slice(0, nl));
        }
      });
      child!.once('exit', (code) => reject(new Error(`exited with ${code}; stderr: ${stderr}`)));
    });

    const info = JSON.parse(firstLine) as {
      munchkinId: string;
      endpoint: string;
      identity: string;
      clientId: string;
      clientSecret: string;
      admin: string;
    };
    expect(Object.keys(info).sort()).toEqual(
      ['admin', 'clientId', 'clientSecret', 'endpoint', 'identity', 'munchkinId'].sort(),
    );
    expect(info.munchkinId).toMatch(/^\d{3}-[A-Z]{3}-\d{3}$/);
    expect(info.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/.+\/rest$/);
    expect(info.identity).toMatch(/\/identity$/);
    expect(info.endpoint.replace(/\/rest$/, '')).toBe(info.identity.replace(/\/identity$/, ''));
    expect(info.clientId.length).toBeGreaterThan(0);
    expect(info.clientSecret.length).toBeGreaterThan(0);

    const tokenRes = await fetch(
      `${info.identity}/oauth/token?grant_type=client_credentials&client_id=${encodeURIComponent(info.clientId)}&client_secret=${encodeURIComponent(info.clientSecret)}`,
    );
    expect(tokenRes.status).toBe(200);
    const { access_token } = (await tokenRes.json()) as { access_token: string };
    const usage = (await (
      await fetch(`${info.endpoint}/v1/stats/usage.json`, {
        headers: { authorization: `Bearer ${access_token}` },
      })
    ).json()) as { success: boolean };
    expect(usage.success).toBe(true);
    const admin = await fetch(`${info.admin}/instances`);
    expect(admin.status).toBe(200);
    await admin.text();

    // Nothing else was printed on stdout.
    expect(stdout).toBe(firstLine + '\n');
    await stop();
    expect(stdout).toBe(firstLine + '\n');
  });
});
