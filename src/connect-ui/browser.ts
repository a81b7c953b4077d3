/**
 * Headless Chromium for browser tests (Debian's /usr/bin/chromium driven by playwright-core; no browser
 * download). Test-only: nothing in the server imports this.
 *
 *   const browser = await launchChromium();           // throws ChromiumMissingError when absent
 *   if (!chromiumAvailable()) it.skip(...)            // or skip the suite with CHROMIUM_SKIP_REASON
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser, type LaunchOptions } from 'playwright-core';

export const CHROMIUM_PATH = process.env.TETHER_CHROMIUM_PATH || '/usr/bin/chromium';

export const CHROMIUM_ARGS: readonly string[] = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export class ChromiumMissingError extends Error {
  constructor(path: string) {
    super(`Chromium not found at ${path} (apt-get install chromium, or set TETHER_CHROMIUM_PATH)`);
    this.name = 'ChromiumMissingError';
  }
}

export function chromiumAvailable(path: string = CHROMIUM_PATH): boolean {
  return existsSync(path);
}

/** Why browser tests are skipped, or null when they can run. */
export function chromiumSkipReason(path: string = CHROMIUM_PATH): string | null {
  return chromiumAvailable(path) ? null : `skipped: Chromium not found at ${path}`;
}

/** Launch headless Chromium. Close it with `browser.close()` (e.g. in afterAll). */
export async function launchChromium(options: LaunchOptions = {}): Promise<Browser> {
  const executablePath = options.executablePath ?? CHROMIUM_PATH;
  if (!chromiumAvailable(executablePath)) throw new ChromiumMissingError(executablePath);
  return chromium.launch({
    timeout: 30_000,
    ...options,
    executablePath,
    args: [...CHROMIUM_ARGS, ...(options.args ?? [])],
  });
}
