/// <reference lib="dom" />
/**
 * Shared pieces of the end-to-end browser tests: a real Tether server and a real Marketo sandbox on
 * loopback (no fake API), Debian's Chromium driven by playwright-core, and small helpers to drive the
 * Connect UI and to check what the API stored. Screenshots go to test-artifacts/e2e/ (git-ignored).
 */
import { lookup } from 'node:dns/promises';
import { mkdirSync } from 'node:fs';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { Browser, BrowserContext, FrameLocator, Locator, Page } from 'playwright-core';
import { afterAll, beforeAll } from 'vitest';
import { chromiumSkipReason, launchChromium } from '../connect-ui/browser.ts';
import { listConnections as listStoredConnections } from '../db/connections.ts';
import { startTestTether, type TestTether } from '../server/testing.ts';

/** Why the browser suites are skipped (Chromium missing), or null. */
export const SKIP = chromiumSkipReason();

export const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/e2e/', import.meta.url));

/** How long the UI may take to show the outcome of a real connection test (token + one read). */
export const OUTCOME_TIMEOUT_MS = 10_000;

/**
 * The longest one Playwright step (a click, a fill, a navigation) may take before it fails naming itself.
 * Below the test timeout (30 s) on purpose: a step that hangs then reports which step and its call log,
 * not a bare "test timed out".
 */
export const STEP_TIMEOUT_MS = 15_000;

// ---------------------------------------------------------------------------------------------------
// Servers

/** A port that was free a moment ago (nothing listens on it when this resolves). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createNetServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** A TCP server that accepts connections and never answers (for the timeout case). */
export interface SilentServer {
  port: number;
  close(): Promise<void>;
}

export async function startSilentServer(): Promise<SilentServer> {
  const sockets = new Set<Socket>();
  const server: NetServer = createNetServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
    // Read and drop whatever comes; never write.
    socket.resume();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** An allowlisted host name that never resolves (RFC 6761 `.invalid`), for the "host not found" case. */
export const MISSING_HOST = 'tether-e2e.invalid';

/** Does the system resolver answer "no such host" (ENOTFOUND) for {@link MISSING_HOST}? */
export async function resolverSaysNotFound(): Promise<boolean> {
  try {
    await lookup(MISSING_HOST);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOTFOUND';
  }
}

export interface E2EEnv {
  t: TestTether;
  /** An allowlisted loopback port nothing listens on (connection refused). */
  closedPort: number;
  /** An allowlisted loopback server that accepts connections and never answers. */
  silent: SilentServer;
  close(): Promise<void>;
}

/**
 * Tether + sandbox, with the sandbox port, a closed port, a silent server and a host name that does not
 * exist in TETHER_ALLOWED_HOSTS.
 * startTestTether computes the allowlist from the sandbox it starts, and `env` replaces it: so the sandbox
 * port is chosen here first and passed to both.
 */
export async function startE2E(): Promise<E2EEnv> {
  const silent = await startSilentServer();
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const sandboxPort = await freePort();
    const closedPort = await freePort();
    if (closedPort === sandboxPort) continue;
    try {
      const t = await startTestTether({
        sandbox: { port: sandboxPort },
        env: {
          TETHER_ALLOWED_HOSTS: [
            ...[sandboxPort, closedPort, silent.port].map((p) => `127.0.0.1:${p}`),
            `${MISSING_HOST}:80`,
          ].join(','),
        },
      });
      return {
        t,
        closedPort,
        silent,
        close: async () => {
          await t.close();
          await silent.close();
        },
      };
    } catch (err) {
      // The port was taken between freePort() and listen(): try other ports.
      lastError = err;
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') break;
    }
  }
  await silent.close();
  throw lastError;
}

/**
 * The suite's environment and Chromium, started together before its first test and closed after its
 * last (the shared hooks of the browser suites). Read `env` and `browser` inside the tests.
 */
export function useE2E(): { readonly env: E2EEnv; readonly browser: Browser } {
  const started: { env?: E2EEnv; browser?: Browser } = {};
  beforeAll(async () => {
    [started.env, started.browser] = await Promise.all([startE2E(), launchChromium()]);
  });
  afterAll(async () => {
    await started.browser?.close();
    await started.env?.close();
  });
  return {
    get env(): E2EEnv {
      if (started.env === undefined) throw new Error('useE2E: the environment has not started');
      return started.env;
    },
    get browser(): Browser {
      if (started.browser === undefined) throw new Error('useE2E: Chromium has not started');
      return started.browser;
    },
  };
}

/** A throwaway HTTP server for host pages; routes map a path to `[content type, body]`. */
export async function startStaticServer(
  routes: Map<string, [string, string]>,
): Promise<{ url: string; close(): Promise<void> }> {
  const server: HttpServer = createHttpServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    const hit = routes.get(path);
    if (!hit) {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found');
      return;
    }
    res.writeHead(200, { 'content-type': hit[0], 'cache-control': 'no-store' });
    res.end(hit[1]);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    // `localhost`, not 127.0.0.1: the host page is then another site than the Connect UI, like in real life.
    url: `http://localhost:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

// ---------------------------------------------------------------------------------------------------
// Tether API

export interface EndUserInput {
  id: string;
  email?: string;
  display_name?: string;
}

export interface Session {
  token: string;
  connectLink: string;
}

/** POST /connect/sessions (secret key) for Marketo only; returns the token and the connect_link. */
export async function createSession(t: TestTether, endUser: EndUserInput): Promise<Session> {
  const res = await t.api('/connect/sessions', {
    method: 'POST',
    json: { end_user: endUser, allowed_integrations: ['marketo'] },
  });
  if (res.status !== 201) throw new Error(`POST /connect/sessions: ${res.status} ${await res.text()}`);
  const body = (await res.json()) as { data: { token: string; connect_link: string } };
  return { token: body.data.token, connectLink: body.data.connect_link };
}

/** What GET /connections lists (the fields these tests look at). */
export interface ListedConnection {
  connection_id: string;
  provider_config_key: string;
  provider: string;
  end_user: { id: string; email?: string | null; display_name?: string | null } | null;
}

let warnedNoListRoute = false;

/**
 * The live connections, through `GET /connections` with the secret key. While that route is not served
 * yet (404 "No route"), falls back to the store behind the server and says so once.
 */
export async function listConnections(t: TestTether): Promise<ListedConnection[]> {
  const res = await fetch(`${t.url}/connections`, { headers: { authorization: `Bearer ${t.secretKey}` } });
  if (res.status === 200) return ((await res.json()) as { connections: ListedConnection[] }).connections;
  const text = await res.text();
  if (res.status === 404 && text.includes('No route')) {
    if (!warnedNoListRoute) {
      warnedNoListRoute = true;
      console.warn('[e2e] GET /connections is not served yet: reading the store directly instead.');
    }
    const { store } = t.tether.deps;
    const rows = await listStoredConnections(store.ctx, store.environment.id);
    return rows.map((c) => ({
      connection_id: c.connectionId,
      provider_config_key: c.providerConfigKey,
      provider: c.provider,
      end_user: c.endUser,
    }));
  }
  throw new Error(`GET /connections: ${res.status} ${text}`);
}

export async function connectionsOf(t: TestTether, endUserId: string): Promise<ListedConnection[]> {
  return (await listConnections(t)).filter((c) => c.end_user?.id === endUserId);
}

/** The stored connection_config of a connection (store read: the list endpoint does not show it). */
export async function storedConnectionConfig(
  t: TestTether,
  connectionId: string,
): Promise<Record<string, unknown>> {
  const { store } = t.tether.deps;
  const [row] = await listStoredConnections(store.ctx, store.environment.id, { connectionId });
  if (!row) throw new Error(`no stored connection ${connectionId}`);
  return row.connectionConfig;
}

/** A LaunchPoint service whose API-only user has `role` (sandbox control API); returns its credentials. */
export async function serviceWithRole(
  t: TestTether,
  munchkinId: string,
  role: string,
  email: string,
): Promise<{ clientId: string; clientSecret: string }> {
  const user = await t.sandbox.control('POST', `/instances/${munchkinId}/users`, { email, role });
  if (user.status !== 201) throw new Error(`sandbox user ${email}: ${user.status}`);
  const svc = await t.sandbox.control<{ clientId: string; clientSecret: string }>(
    'POST',
    `/instances/${munchkinId}/services`,
    { name: `Tether e2e (${role})`, user: email },
  );
  if (svc.status !== 201) throw new Error(`sandbox service: ${svc.status}`);
  return { clientId: svc.body.clientId, clientSecret: svc.body.clientSecret };
}

/** A second sandbox instance (same host and port, own Munchkin ID, own default service). */
export async function createInstance(
  t: TestTether,
  body: Record<string, unknown>,
): Promise<{
  munchkinId: string;
  endpoint: string;
  identity: string;
  clientId: string;
  clientSecret: string;
}> {
  const r = await t.sandbox.control<{
    munchkinId: string;
    endpoint: string;
    identity: string;
    clientId: string;
    clientSecret: string;
  }>('POST', '/instances', body);
  if (r.status !== 201) throw new Error(`sandbox instance: ${r.status}`);
  return r.body;
}

// ---------------------------------------------------------------------------------------------------
// Browser

export interface OpenedPage {
  context: BrowserContext;
  page: Page;
  /** Uncaught page errors (should stay empty). */
  errors: string[];
  shot(name: string): Promise<void>;
  close(): Promise<void>;
}

export async function openPage(
  browser: Browser,
  opts: { width?: number; height?: number; locale?: string } = {},
): Promise<OpenedPage> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const context = await browser.newContext({
    viewport: { width: opts.width ?? 800, height: opts.height ?? 900 },
    locale: opts.locale ?? 'en-US',
  });
  context.setDefaultTimeout(STEP_TIMEOUT_MS);
  context.setDefaultNavigationTimeout(STEP_TIMEOUT_MS);
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  if (process.env.E2E_DEBUG) {
    page.on('requestfailed', (r) => console.log('[e2e] request failed', r.url(), r.failure()?.errorText));
    page.on('response', (r) => {
      if (r.status() >= 400) console.log('[e2e] response', r.status(), r.url());
    });
  }
  return {
    context,
    page,
    errors,
    shot: async (name) => {
      // Let images (the provider logo) finish loading so screenshots are stable; never fail on it.
      await page
        .waitForFunction(() => Array.from(document.images).every((i) => i.complete), undefined, {
          timeout: 2_000,
        })
        .catch(() => undefined);
      await page.screenshot({ path: `${ARTIFACTS}${name}.png`, fullPage: true });
    },
    close: () => context.close(),
  };
}

/** A page or an iframe: anything that can locate elements. */
export type Scope = Page | FrameLocator;

export interface FormValues {
  clientId?: string;
  clientSecret?: string;
  domain?: string;
  /** Left untouched when undefined (it then fills itself from the Domain). */
  identity?: string;
}

/** Wait for the Marketo form (English or French heading). */
export async function waitForForm(scope: Scope, timeout: number = OUTCOME_TIMEOUT_MS): Promise<void> {
  await scope.locator('h1', { hasText: /^(Connect|Connecter) Marketo$/ }).waitFor({ timeout });
  await scope.locator('#submit').waitFor({ timeout });
}

/** Fill the form as a user would (Playwright types into each field; `input` events fire). */
export async function fillForm(scope: Scope, v: FormValues): Promise<void> {
  if (v.clientId !== undefined) await scope.locator('#field-client_id').fill(v.clientId);
  if (v.clientSecret !== undefined) await scope.locator('#field-client_secret').fill(v.clientSecret);
  if (v.domain !== undefined) await scope.locator('#field-endpointURL').fill(v.domain);
  if (v.identity !== undefined) await scope.locator('#field-identityURL').fill(v.identity);
}

export interface SummaryText {
  title: string;
  text: string;
}

/** Wait until the error summary shows (after a submit) and return its heading and whole text. */
export async function waitForErrorSummary(
  scope: Scope,
  timeout: number = OUTCOME_TIMEOUT_MS,
): Promise<SummaryText> {
  const summary: Locator = scope.locator('#error-summary');
  await summary.waitFor({ state: 'visible', timeout });
  return {
    title: ((await summary.locator('h2').textContent()) ?? '').trim(),
    text: await summary.innerText(),
  };
}

/** Wait for the success screen (English or French). */
export async function waitForSuccess(scope: Scope, timeout: number = OUTCOME_TIMEOUT_MS): Promise<void> {
  await scope.locator('h1', { hasText: /^(Connected|Connecté)$/ }).waitFor({ timeout });
}

/**
 * Click an element whose click removes the iframe it sits in (Finish or Close in a Connect UI that an SDK
 * embedded: the host page removes the iframe on `close`). A locator's click runs its last checks inside
 * that frame after the mouse goes up; when the frame is gone by then, Playwright can wait on it forever.
 * So the element's actionability is checked first (a trial click: visible, enabled, stable, receives
 * the pointer) and the real click goes through the page's mouse at the element's centre, which returns
 * once Chromium has dispatched it.
 */
export async function clickRemovingItsFrame(page: Page, target: Locator): Promise<void> {
  await target.click({ trial: true });
  const box = await target.boundingBox();
  if (box === null) throw new Error('clickRemovingItsFrame: the element has no box (not visible)');
  await page.mouse.click(box.x + box.width / 2, box.y + box.height / 2);
}

/** The id (or `tag:text`) of the focused element. */
export function focused(page: Page): Promise<string> {
  return page.evaluate(() => {
    const el = document.activeElement as HTMLElement | null;
    if (!el || el === document.body) return '';
    return el.id || `${el.tagName.toLowerCase()}:${(el.textContent ?? '').trim().slice(0, 40)}`;
  });
}

/** Press Tab until the element with `target` (see {@link focused}) has the focus; returns the stops. */
export async function tabTo(page: Page, target: string, max = 30): Promise<string[]> {
  const seen: string[] = [];
  for (let i = 0; i < max; i++) {
    await page.keyboard.press('Tab');
    const desc = await focused(page);
    seen.push(desc);
    if (desc === target) return seen;
  }
  throw new Error(`could not reach ${target} with Tab; saw ${seen.join(', ')}`);
}

/** Horizontal overflow of the page, in CSS pixels (0 = no horizontal scroll). */
export function horizontalOverflow(page: Page): Promise<number> {
  return page.evaluate(() => {
    const el = document.scrollingElement ?? document.documentElement;
    return el.scrollWidth - el.clientWidth;
  });
}
