/// <reference lib="dom" />
/**
 * End to end, in Chromium: Nango's own browser SDK (@nangohq/frontend 0.71.10, bundled here with esbuild)
 * embeds Tether's Connect UI in a host page, exactly as a customer's app would:
 *
 *   new Nango({ connectSessionToken }).openConnectUI({ baseURL: `${tether}/connect`, apiURL: tether, onEvent })
 *
 * The host page (another site: http://localhost:<port>) records every event; the test fills the iframe's
 * form against the real Tether server and Marketo sandbox. Screenshots: test-artifacts/e2e/.
 */
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  SKIP,
  clickRemovingItsFrame,
  connectionsOf,
  createSession,
  fillForm,
  openPage,
  startStaticServer,
  waitForErrorSummary,
  waitForForm,
  waitForSuccess,
  useE2E,
} from './helpers.ts';

if (SKIP) console.warn(`[e2e @nangohq/frontend] ${SKIP}`);

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** @nangohq/frontend as one browser ES module exporting `Nango` (default) and `ConnectUI`. */
async function bundleNangoFrontend(): Promise<string> {
  const out = await build({
    stdin: {
      contents: "export { default, ConnectUI } from '@nangohq/frontend';",
      resolveDir: ROOT,
      loader: 'js',
      sourcefile: 'nango-frontend-entry.js',
    },
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'browser',
    target: 'es2020',
    logLevel: 'silent',
  });
  const js = out.outputFiles[0];
  if (!js) throw new Error('esbuild produced no bundle for @nangohq/frontend');
  return js.text;
}

/** The customer's page: opens the Connect UI with the SDK and records events in `window.__events`. */
const HOST_PAGE = `<!doctype html>
<html lang="en">
  <head><meta charset="utf-8"><title>Host app</title></head>
  <body>
    <h1>Host app</h1>
    <p id="connected"></p>
    <script type="module">
      import Nango from '/nango-frontend.js';
      const q = new URLSearchParams(location.search);
      window.__events = [];
      const nango = new Nango({ connectSessionToken: q.get('token') });
      nango.openConnectUI({
        baseURL: q.get('baseURL'),
        apiURL: q.get('apiURL'),
        onEvent: (event) => {
          window.__events.push(JSON.parse(JSON.stringify(event)));
          if (event.type === 'connect') document.getElementById('connected').textContent = event.payload.connectionId;
        },
      });
    </script>
  </body>
</html>`;

interface HostEvent {
  type: string;
  payload?: Record<string, unknown>;
}

function events(page: Page): Promise<HostEvent[]> {
  return page.evaluate(() => (window as unknown as { __events?: HostEvent[] }).__events ?? []);
}

describe.skipIf(SKIP !== null)('@nangohq/frontend openConnectUI → Tether Connect UI (Chromium)', () => {
  const e2e = useE2E();
  let host: Awaited<ReturnType<typeof startStaticServer>>;

  beforeAll(async () => {
    const bundle = await bundleNangoFrontend();
    host = await startStaticServer(
      new Map([
        ['/', ['text/html; charset=utf-8', HOST_PAGE]],
        ['/nango-frontend.js', ['text/javascript; charset=utf-8', bundle]],
      ]),
    );
  });

  afterAll(async () => {
    await host?.close();
  });

  it('embedded by the SDK: ready, error for a wrong secret, connect with the connection id, close on Finish', async () => {
    const { t } = e2e.env;
    const endUserId = 'e2e-sdk';
    const session = await createSession(t, { id: endUserId, email: 'grace@example.com' });
    const p = await openPage(e2e.browser, { width: 900, height: 900 });
    const { page } = p;
    try {
      const q = new URLSearchParams({ token: session.token, baseURL: `${t.url}/connect`, apiURL: t.url });
      await page.goto(`${host.url}/?${q}`);

      // The SDK's iframe: Tether's Connect UI, with apiURL and without the token in its URL.
      const iframe = page.locator('iframe#connect-ui');
      await iframe.waitFor();
      const src = new URL((await iframe.getAttribute('src'))!);
      expect(`${src.origin}${src.pathname}`).toBe(`${t.url}/connect/`);
      expect(src.searchParams.get('apiURL')).toBe(t.url);
      expect(src.search).not.toContain(session.token);
      const frame = page.frameLocator('#connect-ui');
      await waitForForm(frame);
      expect(await events(page)).toEqual([{ type: 'ready' }]);
      // Embedded: a Close button in the corner.
      expect(await frame.locator('button[aria-label="Close"]').count()).toBe(1);

      // A wrong secret: error event with the server's code and message; nothing stored.
      await fillForm(frame, {
        clientId: t.sandbox.clientId,
        clientSecret: 'not-the-secret',
        domain: t.sandbox.endpoint,
      });
      await frame.locator('#submit').click();
      const summary = await waitForErrorSummary(frame);
      expect(summary.title).toBe('Step 1 of 2 failed: getting an access token');
      await p.shot('11-sdk-error');
      await expect
        .poll(() => events(page))
        .toContainEqual({
          type: 'error',
          payload: {
            errorType: 'invalid_client_secret',
            errorMessage: 'Marketo refused the Client Secret for this Client ID.',
          },
        });
      expect(await connectionsOf(t, endUserId)).toEqual([]);

      // The right secret: connect event with {providerConfigKey, connectionId}, the stored connection's id.
      await frame.locator('#field-client_secret').fill(t.sandbox.clientSecret);
      await frame.locator('#field-client_secret').press('Enter');
      await waitForSuccess(frame);
      await p.shot('12-sdk-success');
      await expect.poll(() => events(page).then((e) => e.map((x) => x.type))).toContain('connect');
      const connect = (await events(page)).find((e) => e.type === 'connect')!;
      const stored = await connectionsOf(t, endUserId);
      expect(stored).toHaveLength(1);
      expect(connect.payload).toEqual({
        providerConfigKey: 'marketo',
        connectionId: stored[0]!.connection_id,
      });
      expect(stored[0]!.end_user).toMatchObject({ id: endUserId, email: 'grace@example.com' });

      // Finish: close event, and the SDK removes its iframe.
      await clickRemovingItsFrame(page, frame.locator('#finish'));
      await expect.poll(() => page.locator('iframe#connect-ui').count()).toBe(0);
      expect((await events(page)).map((e) => e.type)).toEqual(['ready', 'error', 'connect', 'close']);
      expect(await page.evaluate(() => document.body.style.overflow)).toBe('');
      await p.shot('13-sdk-closed');
      expect(p.errors).toEqual([]);
    } finally {
      await p.close();
    }
  });

  // Retried: about one run in four, under load, a Playwright step of this test hangs until the test
  // timeout (not yet pinned down; every assertion holds whenever it completes). See the closing note.
  it('Escape in the embedded UI closes it (close event) without connecting', { retry: 2 }, async () => {
    const { t } = e2e.env;
    const endUserId = 'e2e-sdk-escape';
    const session = await createSession(t, { id: endUserId });
    const p = await openPage(e2e.browser);
    const { page } = p;
    try {
      const q = new URLSearchParams({ token: session.token, baseURL: `${t.url}/connect`, apiURL: t.url });
      await page.goto(`${host.url}/?${q}`);
      const frame = page.frameLocator('#connect-ui');
      await waitForForm(frame);
      // keydown alone: the SDK removes the iframe on `close`, so a keyup sent meanwhile could wait
      // forever for a target that no longer exists (Playwright's step then hung until the test's
      // timeout). The key is released once the iframe is gone, on the page itself.
      await frame.locator('#field-client_id').focus();
      await page.keyboard.down('Escape');
      await expect.poll(() => page.locator('iframe#connect-ui').count()).toBe(0);
      await page.keyboard.up('Escape');
      expect((await events(page)).map((e) => e.type)).toEqual(['ready', 'close']);
      expect(p.errors).toEqual([]);
    } finally {
      await p.close();
    }
    expect(await connectionsOf(t, endUserId)).toEqual([]);
  });
});
