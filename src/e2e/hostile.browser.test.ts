/// <reference lib="dom" />
/**
 * The Connect UI under clumsy and hostile use, in Chromium, against a real Tether server and a real
 * Marketo sandbox: repeated clicks, pasted junk, dangerous URLs, oversized values, a session that goes
 * away, a retry after a wrong secret, a reconnect, and leaving the form while a connect is running.
 * Every test waits for DOM states (no sleeps) and counts what reached the server.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Page, Request } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import {
  SKIP,
  connectionsOf,
  createSession,
  fillForm,
  focused,
  openPage,
  storedConnectionConfig,
  waitForErrorSummary,
  waitForForm,
  waitForSuccess,
  type OpenedPage,
  startStaticServer,
  useE2E,
} from './helpers.ts';

if (SKIP) console.warn(`[e2e hostile] ${SKIP}`);

const ZW = '\u200B';

/** The auth POSTs a page sent (the connect attempts). */
function recordAuthPosts(page: Page): Request[] {
  const posts: Request[] = [];
  page.on('request', (r) => {
    if (r.method() === 'POST' && new URL(r.url()).pathname.startsWith('/oauth2/auth/')) posts.push(r);
  });
  return posts;
}

// Concurrent: every test has its own end user, session and browser context.
describe
  .skipIf(SKIP !== null)
  .concurrent('Connect UI, hostile and clumsy use (Chromium, real server)', () => {
    const e2e = useE2E();

    async function openForm(endUserId: string, sessionBody?: Record<string, unknown>): Promise<OpenedPage> {
      const { t } = e2e.env;
      let link: string;
      if (sessionBody) {
        const res = await t.api('/connect/sessions', { method: 'POST', json: sessionBody });
        expect(res.status).toBe(201);
        link = ((await res.json()) as { data: { connect_link: string } }).data.connect_link;
      } else {
        link = (await createSession(t, { id: endUserId })).connectLink;
      }
      const p = await openPage(e2e.browser);
      await p.page.goto(link);
      await waitForForm(p.page);
      return p;
    }

    it('a double click, a triple click and Enter while busy make one attempt and one connection', async ({
      expect,
    }) => {
      const { t } = e2e.env;
      const endUserId = 'hostile-multi-click';
      const p = await openForm(endUserId);
      const posts = recordAuthPosts(p.page);
      try {
        await fillForm(p.page, {
          clientId: t.sandbox.clientId,
          clientSecret: t.sandbox.clientSecret,
          domain: t.sandbox.endpoint,
        });
        // All in one task: nothing can answer in between, so only the UI's own state can stop the repeats.
        const state = await p.page.evaluate(() => {
          const button = document.getElementById('submit') as HTMLButtonElement;
          const form = document.getElementById('connect-form') as HTMLFormElement;
          button.click();
          button.click();
          button.click();
          form.requestSubmit();
          form.dispatchEvent(new Event('submit', { cancelable: true, bubbles: true }));
          const secret = document.getElementById('field-client_secret') as HTMLInputElement;
          return {
            disabled: button.disabled,
            busy: form.getAttribute('aria-busy'),
            readOnly: secret.readOnly,
            busyText: !(document.getElementById('busy') as HTMLElement).hidden,
          };
        });
        expect(state).toEqual({ disabled: true, busy: 'true', readOnly: true, busyText: true });
        await waitForSuccess(p.page);
        // Enter on the success screen does nothing more.
        await p.page.keyboard.press('Enter');
        expect(posts).toHaveLength(1);
        expect(p.errors).toEqual([]);
      } finally {
        await p.close();
      }
      expect(await connectionsOf(t, endUserId)).toHaveLength(1);
    });

    it('values pasted with spaces, tabs, newlines and zero-width characters connect', async ({ expect }) => {
      const { t } = e2e.env;
      const endUserId = 'hostile-paste-junk';
      const p = await openForm(endUserId);
      try {
        await fillForm(p.page, {
          clientId: `${ZW} ${t.sandbox.clientId}\t\n`,
          clientSecret: `\uFEFF${t.sandbox.clientSecret}${ZW}\r\n`,
          domain: `  ${t.sandbox.endpoint}${ZW}\n`,
          identity: `\t${t.sandbox.identity} `,
        });
        await p.page.locator('#submit').click();
        await waitForSuccess(p.page);
        expect(p.errors).toEqual([]);
      } finally {
        await p.close();
      }
      const stored = await connectionsOf(t, endUserId);
      expect(stored).toHaveLength(1);
      expect(await storedConnectionConfig(t, stored[0]!.connection_id)).toEqual({
        endpointURL: t.sandbox.base,
        identityURL: t.sandbox.base,
      });
    });

    it('javascript:, data: and mailto: addresses are refused in the form, never sent', async ({ expect }) => {
      const p = await openForm('hostile-schemes');
      const posts = recordAuthPosts(p.page);
      try {
        await fillForm(p.page, { clientId: 'id', clientSecret: 'secret' });
        for (const [domain, identity] of [
          ['javascript:alert(document.domain)', 'data:text/html,<script>alert(1)</script>'],
          ['data:text/html;base64,PHNjcmlwdD4=', 'javascript://example.com/%0aalert(1)'],
          ['mailto:ada@example.com', 'file:///etc/passwd'],
        ] as const) {
          await fillForm(p.page, { domain, identity });
          await p.page.locator('#field-identityURL').press('Enter');
          const summary = await waitForErrorSummary(p.page);
          expect(summary.title).toBe('Check the highlighted fields');
          expect(summary.text).toContain('Domain');
          expect(summary.text).toContain('Identity URL');
          expect(await p.page.getAttribute('#field-endpointURL', 'aria-invalid')).toBe('true');
          expect(await p.page.getAttribute('#field-identityURL', 'aria-invalid')).toBe('true');
          // Nothing was turned into a link or a frame.
          expect(await p.page.locator('a[href^="javascript:"], a[href^="data:"], iframe').count()).toBe(0);
        }
        expect(posts).toHaveLength(0);
        expect(p.errors).toEqual([]);
      } finally {
        await p.close();
      }
    });

    it('oversized values get a clear message, the form stays usable, the secret is not echoed', async ({
      expect,
    }) => {
      const { t } = e2e.env;
      const endUserId = 'hostile-oversized';
      const p = await openForm(endUserId);
      try {
        const longSecret = `S${'x'.repeat(5000)}`;
        await fillForm(p.page, {
          clientId: t.sandbox.clientId,
          clientSecret: longSecret,
          domain: t.sandbox.endpoint,
        });
        await p.page.locator('#submit').click();
        const summary = await waitForErrorSummary(p.page);
        expect(summary.text).not.toContain('xxxxxxxxxx');
        expect(summary.title).toBe('Some details are not right');
        expect(summary.text).toContain('The Client Secret is too long (more than 4000 characters).');
        expect(summary.text).toContain('What to do: Paste only the Client Secret');
        expect(await p.page.getAttribute('#field-client_secret', 'aria-invalid')).toBe('true');
        expect(await p.page.isDisabled('#submit')).toBe(false);

        const longDomain = `${'a'.repeat(3000)}.mktorest.com`;
        await fillForm(p.page, { clientSecret: t.sandbox.clientSecret, domain: longDomain });
        await p.page.locator('#submit').click();
        const summary2 = await waitForErrorSummary(p.page);
        expect(summary2.title).toBe('Some details are not right');
        expect(summary2.text).toContain('too long (more than 2048 characters)');
        expect(summary2.text).toContain('Go to Domain');
        expect(await p.page.getAttribute('#field-endpointURL', 'aria-invalid')).toBe('true');
        expect(summary2.text).not.toContain('aaaaaaaaaa');

        // Corrected: connects.
        await fillForm(p.page, { domain: t.sandbox.endpoint, identity: '' });
        await p.page.locator('#submit').click();
        await waitForSuccess(p.page);
        expect(await p.page.content()).not.toContain(t.sandbox.clientSecret);
        expect(p.errors).toEqual([]);
      } finally {
        await p.close();
      }
      expect(await connectionsOf(t, endUserId)).toHaveLength(1);
    });

    it('a wrong secret, then the right one: the error clears as the user types, the retry connects once', async ({
      expect,
    }) => {
      const { t } = e2e.env;
      const endUserId = 'hostile-retry';
      const p = await openForm(endUserId);
      const posts = recordAuthPosts(p.page);
      try {
        await fillForm(p.page, {
          clientId: t.sandbox.clientId,
          clientSecret: 'definitely-wrong',
          domain: t.sandbox.endpoint,
        });
        await p.page.locator('#submit').click();
        await waitForErrorSummary(p.page);
        expect(await p.page.getAttribute('#field-client_secret', 'aria-invalid')).toBe('true');
        // The wrong secret is not shown anywhere (not in the DOM, not in the URL).
        expect(await p.page.locator('main').innerText()).not.toContain('definitely-wrong');
        expect(p.page.url()).not.toContain('definitely-wrong');
        expect(posts[0]!.url()).not.toContain('definitely-wrong');

        await p.page.locator('#field-client_secret').fill(t.sandbox.clientSecret);
        expect(await p.page.getAttribute('#field-client_secret', 'aria-invalid')).toBeNull();
        await p.page.locator('#field-client_secret').press('Enter');
        await waitForSuccess(p.page);
        expect(posts).toHaveLength(2);
        expect(posts.some((r) => r.url().includes(t.sandbox.clientSecret))).toBe(false);
        expect(p.errors).toEqual([]);
      } finally {
        await p.close();
      }
      expect(await connectionsOf(t, endUserId)).toHaveLength(1);
    });

    it('the session deleted while the form is open: a clear session message, nothing stored, no stuck UI', async ({
      expect,
    }) => {
      const { t } = e2e.env;
      const endUserId = 'hostile-session-gone';
      const session = await createSession(t, { id: endUserId });
      const p = await openPage(e2e.browser);
      try {
        await p.page.goto(session.connectLink);
        await waitForForm(p.page);
        const del = await fetch(`${t.url}/connect/session`, {
          method: 'DELETE',
          headers: { authorization: `Bearer ${session.token}` },
        });
        expect(del.status).toBe(204);
        await fillForm(p.page, {
          clientId: t.sandbox.clientId,
          clientSecret: t.sandbox.clientSecret,
          domain: t.sandbox.endpoint,
        });
        await p.page.locator('#submit').click();
        await p.page.locator('#error-summary, #fatal-error').first().waitFor({ state: 'visible' });
        const text = await p.page.locator('main').innerText();
        expect(text).toMatch(/session/i);
        expect(text).not.toContain(t.sandbox.clientSecret);
        expect(await p.page.locator('[aria-busy="true"]').count()).toBe(0);
        expect(p.errors).toEqual([]);
      } finally {
        await p.close();
      }
      expect(await connectionsOf(t, endUserId)).toEqual([]);
    });

    it('a reconnect session updates the same connection (no second one)', async ({ expect }) => {
      const { t } = e2e.env;
      const endUserId = 'hostile-reconnect';
      const first = await openForm(endUserId);
      try {
        await fillForm(first.page, {
          clientId: t.sandbox.clientId,
          clientSecret: t.sandbox.clientSecret,
          domain: t.sandbox.endpoint,
        });
        await first.page.locator('#submit').click();
        await waitForSuccess(first.page);
      } finally {
        await first.close();
      }
      const [conn] = await connectionsOf(t, endUserId);
      const res = await t.api('/connect/sessions/reconnect', {
        method: 'POST',
        json: { connection_id: conn!.connection_id, integration_id: 'marketo' },
      });
      expect(res.status).toBe(201);
      const { connect_link } = ((await res.json()) as { data: { connect_link: string } }).data;
      const p = await openPage(e2e.browser);
      try {
        await p.page.goto(connect_link);
        await p.page.locator('h1', { hasText: 'Marketo' }).waitFor();
        await fillForm(p.page, {
          clientId: ` ${t.sandbox.clientId} `,
          clientSecret: t.sandbox.clientSecret,
          domain: `${t.sandbox.endpoint}/`,
        });
        await p.page.locator('#submit').click();
        await waitForSuccess(p.page);
        expect(p.errors).toEqual([]);
      } finally {
        await p.close();
      }
      const after = await connectionsOf(t, endUserId);
      expect(after.map((c) => c.connection_id)).toEqual([conn!.connection_id]);
    });

    it('Back is disabled while a connect runs: no crash when the outcome arrives, the form shows it', async ({
      expect,
    }) => {
      const { t } = e2e.env;
      // A second integration so the UI has a list (and a Back button).
      const key = `marketo-eu-${Date.now().toString(36)}`;
      const created = await t.api('/integrations', {
        method: 'POST',
        json: { provider: 'marketo', unique_key: key, display_name: 'Marketo EU' },
      });
      expect(created.status).toBe(200);
      const session = await t.api('/connect/sessions', {
        method: 'POST',
        json: { end_user: { id: 'hostile-back-busy' }, allowed_integrations: ['marketo', key] },
      });
      const link = ((await session.json()) as { data: { connect_link: string } }).data.connect_link;
      const p = await openPage(e2e.browser);
      try {
        // The auth request is held in the browser until released: the attempt is in flight for as long
        // as the test needs, without timing.
        let release!: () => void;
        const held = new Promise<void>((resolve) => (release = resolve));
        await p.page.route('**/oauth2/auth/**', async (route) => {
          await held;
          await route.continue();
        });
        await p.page.goto(link);
        await p.page.locator('button.integration', { hasText: 'Marketo EU' }).click();
        await p.page.locator('#submit').waitFor();
        await fillForm(p.page, {
          clientId: t.sandbox.clientId,
          clientSecret: 'wrong-secret',
          domain: t.sandbox.endpoint,
        });
        await p.page.locator('#submit').click();
        await p.page.locator('#busy').waitFor({ state: 'visible' });
        const back = p.page.locator('#nav-start button');
        expect(await back.isDisabled()).toBe(true);
        // A click anyway (as a script or assistive tech could) must not leave the form.
        await back.evaluate((b) => (b as HTMLButtonElement).click());
        release();
        const summary = await waitForErrorSummary(p.page);
        expect(summary.title).toBe('Step 1 of 2 failed: getting an access token');
        expect(await back.isDisabled()).toBe(false);
        expect(p.errors).toEqual([]);
        // Back works again once the attempt is over.
        await back.click();
        await p.page.locator('button.integration', { hasText: 'Marketo EU' }).waitFor();
      } finally {
        await p.close();
      }
    });

    it('keyboard only: every field labelled, the error summary takes the focus and is announced', async ({
      expect,
    }) => {
      const p = await openForm('hostile-a11y');
      try {
        const unlabelled = await p.page.evaluate(() =>
          Array.from(document.querySelectorAll('input, button'))
            .filter((el) => {
              const e = el as HTMLInputElement;
              const byFor = e.id && document.querySelector(`label[for="${CSS.escape(e.id)}"]`);
              const name = e.getAttribute('aria-label') || (e.textContent ?? '').trim();
              return !byFor && !name;
            })
            .map((el) => el.outerHTML),
        );
        expect(unlabelled).toEqual([]);
        await p.page.locator('#field-client_id').focus();
        await p.page.keyboard.press('Enter');
        await waitForErrorSummary(p.page);
        expect(await focused(p.page)).toBe('error-summary');
        await expect
          .poll(() => p.page.locator('#status').textContent())
          .toContain('Check the highlighted fields');
        expect(p.errors).toEqual([]);
      } finally {
        await p.close();
      }
    });
    it('addresses of other hosts are refused by name and never fetched (Domain, Identity URL, userinfo trick)', async ({
      expect,
    }) => {
      const { t } = e2e.env;
      // A loopback server that is NOT allowlisted: any request reaching it is a server-side request forgery.
      const hits: string[] = [];
      const trap: Server = createServer((req, res) => {
        hits.push(`${req.method} ${req.url}`);
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"access_token":"x","expires_in":3600}');
      });
      await new Promise<void>((resolve) => trap.listen(0, '127.0.0.1', resolve));
      const trapBase = `http://127.0.0.1:${(trap.address() as AddressInfo).port}/123-ABC-456`;
      const endUserId = 'hostile-other-host';
      const p = await openForm(endUserId);
      try {
        await fillForm(p.page, { clientId: t.sandbox.clientId, clientSecret: t.sandbox.clientSecret });
        for (const [domain, identity, field] of [
          [t.sandbox.endpoint, `${trapBase}/identity/oauth/token`, 'identityURL'],
          [`${trapBase}/rest`, '', 'endpointURL'],
          ['http://169.254.169.254/latest/meta-data', '', 'endpointURL'],
        ] as const) {
          await fillForm(p.page, { domain, identity });
          await p.page.locator('#submit').click();
          const summary = await waitForErrorSummary(p.page);
          expect(summary.title, domain).toBe('Some details are not right');
          expect(await p.page.getAttribute(`#field-${field}`, 'aria-invalid'), domain).toBe('true');
          expect(summary.text).not.toContain(t.sandbox.clientSecret);
        }
        // user:password@host is refused before anything is sent.
        const sandboxHost = new URL(t.sandbox.endpoint).host;
        await fillForm(p.page, { domain: `http://${sandboxHost}@127.0.0.1:1/`, identity: '' });
        await p.page.locator('#submit').click();
        const summary = await waitForErrorSummary(p.page);
        expect(summary.title).toBe('Check the highlighted fields');
        expect(p.errors).toEqual([]);
      } finally {
        await p.close();
        await new Promise<void>((resolve) => trap.close(() => resolve()));
      }
      expect(hits).toEqual([]);
      expect(await connectionsOf(t, endUserId)).toEqual([]);
    });

    it('Domain and Identity URL pasted the wrong way round (token URL as Domain, REST URL as Identity) connect', async ({
      expect,
    }) => {
      const { t } = e2e.env;
      const endUserId = 'hostile-swapped';
      const p = await openForm(endUserId);
      try {
        await fillForm(p.page, {
          clientId: t.sandbox.clientId,
          clientSecret: t.sandbox.clientSecret,
          domain: `${t.sandbox.base}/identity/oauth/token?grant_type=client_credentials`,
          identity: `${t.sandbox.base}/rest/v1/`,
        });
        await p.page.locator('#submit').click();
        await waitForSuccess(p.page);
        expect(p.errors).toEqual([]);
      } finally {
        await p.close();
      }
      const [stored] = await connectionsOf(t, endUserId);
      expect(await storedConnectionConfig(t, stored!.connection_id)).toEqual({
        endpointURL: t.sandbox.base,
        identityURL: t.sandbox.base,
      });
    });

    it('opened as a popup: connects, sends nothing to the opener, Finish closes the popup', async ({
      expect,
    }) => {
      const { t } = e2e.env;
      const endUserId = 'hostile-popup';
      const session = await createSession(t, { id: endUserId });
      const host = await startStaticServer(
        new Map([
          [
            '/',
            [
              'text/html; charset=utf-8',
              `<!doctype html><html><body><button id="open">Connect</button><script>
window.__messages = [];
window.addEventListener('message', (e) => window.__messages.push(e.data));
document.getElementById('open').addEventListener('click', () => window.open(${JSON.stringify(session.connectLink)}, 'connect', 'width=480,height=720'));
</script></body></html>`,
            ],
          ],
        ]),
      );
      const p = await openPage(e2e.browser);
      try {
        await p.page.goto(host.url);
        const [popup] = await Promise.all([p.page.waitForEvent('popup'), p.page.locator('#open').click()]);
        const popupErrors: string[] = [];
        popup.on('pageerror', (e) => popupErrors.push(String(e)));
        await waitForForm(popup);
        await fillForm(popup, {
          clientId: t.sandbox.clientId,
          clientSecret: t.sandbox.clientSecret,
          domain: t.sandbox.endpoint,
        });
        await popup.locator('#submit').click();
        await waitForSuccess(popup);
        // Not embedded: no close button in the top bar.
        expect(await popup.locator('#nav-end button').count()).toBe(0);
        // The click closes the page it is in: Playwright may then report the page closed before it
        // finished the click's own bookkeeping. That is the outcome under test (the close event below),
        // so only an error while the popup is still open fails the test.
        await Promise.all([
          popup.waitForEvent('close'),
          popup
            .locator('#finish')
            .click()
            .catch((err: unknown) => {
              if (!popup.isClosed()) throw err;
            }),
        ]);
        expect(
          await p.page.evaluate(() => (window as unknown as { __messages: unknown[] }).__messages),
        ).toEqual([]);
        expect(popupErrors).toEqual([]);
      } finally {
        await p.close();
        await host.close();
      }
      expect(await connectionsOf(t, endUserId)).toHaveLength(1);
    });
  });
