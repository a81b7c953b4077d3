/// <reference lib="dom" />
/**
 * End to end, in Chromium: the dashboard a real Tether serves at /dashboard/, over a real Marketo sandbox.
 * Sign in (a wrong key first), find the connection made through the connect flow, open it, trigger its
 * `lead-fields` sync and watch the run finish, read the run's log, resume the schedule, create a Connect
 * link, reload, sign out. At every step neither the secret key, nor the Marketo client secret, nor the
 * access token is in the page's markup or URL, nor in any answer Tether sent the page (the connection is
 * read through its overview, never `GET /connections/{id}`). Screenshots: test-artifacts/e2e/dashboard-*.png.
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from '../connect-ui/browser.ts';
import { leadFieldsSync } from '../marketo/models/index.ts';
import { SyncScheduler } from '../engine/sync/scheduler.ts';
import { startTestTether, type TestTether } from '../server/testing.ts';
import { OUTCOME_TIMEOUT_MS, SKIP, openPage } from './helpers.ts';

if (SKIP) console.warn(`[e2e dashboard] ${SKIP}`);

describe.skipIf(SKIP !== null)('dashboard → real Tether server → Marketo sandbox (Chromium)', () => {
  let t: TestTether;
  let browser: Browser;
  let connectionId: string;

  beforeAll(async () => {
    [t, browser] = await Promise.all([startTestTether(), launchChromium()]);
    // The connection, made through the connect flow as an end user would.
    const res = await t.connect(
      await t.session({
        end_user: { id: 'dash-e2e', email: 'grace@example.com', display_name: 'Grace Hopper' },
        allowed_integrations: ['marketo'],
      }),
    );
    expect(res.status).toBe(200);
    connectionId = ((await res.json()) as { connectionId: string }).connectionId;
    // Its schedule paused before any run: the only run is the one the dashboard triggers.
    const paused = await t.api('/sync/pause', {
      method: 'POST',
      json: { syncs: ['lead-fields'], provider_config_key: 'marketo', connection_id: connectionId },
    });
    expect(paused.status).toBe(200);
    // A scheduler with one small sync (the lead schema: two calls), polling often.
    await t.tether.deps.syncs?.close();
    t.tether.deps.syncs = new SyncScheduler(t.tether.deps, {
      enabled: true,
      tickMs: 50,
      registry: { marketo: [leadFieldsSync] },
    }).start();
  });
  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  /** The access token Tether holds for the connection (read by the test through the API). */
  async function accessToken(): Promise<string> {
    const res = await t.api(`/connections/${connectionId}?provider_config_key=marketo`);
    const token = ((await res.json()) as { credentials: { token?: string } }).credentials.token;
    expect(typeof token).toBe('string');
    return token!;
  }

  /** What Tether sent the page: every answer's body (`bodies`) and every path it asked for. */
  interface Traffic {
    bodies: Promise<string>[];
    paths: string[];
  }

  function recordTraffic(page: Page): Traffic {
    const traffic: Traffic = { bodies: [], paths: [] };
    page.on('request', (r) => {
      if (r.url().startsWith(t.url)) traffic.paths.push(new URL(r.url()).pathname);
    });
    page.on('response', (r) => {
      // A redirect has no body to read.
      if (r.url().startsWith(t.url)) traffic.bodies.push(r.text().catch(() => ''));
    });
    return traffic;
  }

  /** No secret in the markup or the URL, nor (with `traffic`) in anything Tether answered the page. */
  async function expectNoSecrets(page: Page, traffic?: Traffic): Promise<void> {
    const secrets = [t.secretKey, t.sandbox.clientSecret, await accessToken()];
    const html = await page.content();
    const url = page.url();
    const answers = traffic ? await Promise.all(traffic.bodies) : [];
    for (const s of secrets) {
      expect(html).not.toContain(s);
      expect(url).not.toContain(s);
      expect(url).not.toContain(encodeURIComponent(s));
      for (const body of answers) expect(body).not.toContain(s);
    }
  }

  const main = (page: Page) => page.locator('main');

  it('refuses a wrong key with the API message', async () => {
    const p = await openPage(browser);
    try {
      await p.page.goto(`${t.url}/dashboard`);
      expect(new URL(p.page.url()).pathname).toBe('/dashboard/');
      await p.page.locator('#secret-key').fill(crypto.randomUUID());
      await p.page.locator('#sign-in').click();
      const error = p.page.locator('#sign-in-error .notice-error');
      await error.waitFor({ timeout: OUTCOME_TIMEOUT_MS });
      expect(await error.innerText()).toContain('No environment matches this secret key.');
      expect(await error.innerText()).toContain('unknown_account');
      await p.page.locator('#secret-key').fill('not-a-key');
      await p.page.locator('#sign-in').click();
      await expect.poll(() => error.innerText()).toContain('invalid_secret_key_format');
      await p.shot('dashboard-01-wrong-key');
      expect(await p.page.evaluate(() => sessionStorage.length)).toBe(0);
      expect(p.errors).toEqual([]);
    } finally {
      await p.close();
    }
  });

  it('signs in, shows the connection, runs its sync, shows the log, creates a Connect link, signs out', async () => {
    const p = await openPage(browser, { width: 1280 });
    const { page } = p;
    const traffic = recordTraffic(page);
    try {
      await page.goto(`${t.url}/dashboard/`);
      await page.locator('#secret-key').fill(t.secretKey);
      await page.locator('#sign-in').click();

      // The list, with the end user.
      const row = page.locator('tr', { has: page.locator('a.connection-link', { hasText: connectionId }) });
      await row.waitFor({ timeout: OUTCOME_TIMEOUT_MS });
      expect(await row.innerText()).toContain('dash-e2e');
      expect(await row.innerText()).toContain('grace@example.com');
      await p.shot('dashboard-02-connections');
      await expectNoSecrets(page);

      // Search (server side, by part of the connection id); the hash keeps it.
      await page.locator('#search').fill('no-such-connection');
      await page.locator('#search').press('Enter');
      await expect
        .poll(() => main(page).innerText())
        .toContain('No connection id contains “no-such-connection”.');
      expect(new URL(page.url()).hash).toBe('#/connections?search=no-such-connection');
      await page.locator('#search').fill(connectionId.slice(0, 8));
      await page.locator('#search').press('Enter');
      await row.waitFor({ timeout: OUTCOME_TIMEOUT_MS });

      // Integrations, with their connection count.
      await page.locator('nav a', { hasText: 'Integrations' }).click();
      const integration = page.locator('table[aria-label="Integrations"] tr', { hasText: 'marketo' });
      await expect.poll(() => integration.innerText()).toMatch(/Marketo\s+1$/);

      // The connection page.
      await page.goBack();
      await row.locator('a.connection-link').click();
      await expect
        .poll(() => decodeURIComponent(new URL(page.url()).hash))
        .toBe(`#/connections/marketo/${connectionId}`);
      await expect.poll(() => page.locator('#credential-health').innerText()).toContain('Healthy');
      // Read through the overview: the page never asks for the connection's credentials.
      expect(traffic.paths).toContain(`/connections/${connectionId}/overview`);
      expect(traffic.paths).not.toContain(`/connections/${connectionId}`);
      expect(await main(page).locator('section[aria-label="Credentials"]').innerText()).toContain(
        'OAUTH2_CC',
      );
      const config = await main(page).locator('section[aria-label="Connection"]').innerText();
      expect(config).toContain(`endpointURL\n${t.sandbox.base}`);
      const sync = page.locator('tr[data-sync="lead-fields"]');
      await expect.poll(() => sync.innerText()).toContain('PAUSED');
      expect(await sync.innerText()).toContain('never run');
      await expect
        .poll(() => main(page).locator('section[aria-label="API usage today"]').innerText())
        .toContain('This connection');
      await expect
        .poll(() => main(page).locator('section[aria-label="Limits"]').innerText())
        .toContain('Daily budget');

      // Trigger: the run appears and finishes with its counts (the status refreshes by itself).
      await sync.locator('button[data-action="trigger"]').click();
      await expect
        .poll(() => page.locator('#sync-feedback').innerText())
        .toContain('Run requested for lead-fields.');
      const run = page.locator('table[aria-label="Runs"] tr[data-status="SUCCESS"]');
      await run.first().waitFor({ timeout: 15_000 });
      const added = Number((await run.first().locator('td.added').innerText()).replace(/,/g, ''));
      expect(added).toBeGreaterThan(10);
      expect(await run.first().innerText()).toContain('trigger');
      // The sync row and the run list are read side by side: the row may show the run's end one refresh
      // (REFRESH_MS, 3 s) after the list does.
      const refreshed = { timeout: OUTCOME_TIMEOUT_MS };
      await expect.poll(() => sync.innerText(), refreshed).toMatch(new RegExp(`LeadField: \\+${added}`));
      await expect.poll(() => sync.innerText(), refreshed).toMatch(new RegExp(`LeadField: ${added}`));
      await p.shot('dashboard-03-connection');
      await expectNoSecrets(page, traffic);

      // The run's log.
      await run.first().locator('a.run-link').click();
      await expect.poll(() => new URL(page.url()).hash).toMatch(/\/runs\/\d+$/);
      const log = page.locator('table[aria-label="Run log"] tbody tr');
      await log.first().waitFor({ timeout: OUTCOME_TIMEOUT_MS });
      expect(await log.count()).toBeGreaterThan(0);
      expect(await main(page).locator('section[aria-label="Run"]').innerText()).toContain(`${added} added`);
      await p.shot('dashboard-04-run-log');

      // Back (history), then resume the schedule.
      await page.goBack();
      await sync.locator('button[data-action="start"]').click();
      await expect.poll(() => page.locator('#sync-feedback').innerText()).toContain('Resumed lead-fields.');
      await expect.poll(() => sync.innerText(), refreshed).not.toContain('PAUSED');

      // A Connect link.
      await page.locator('nav a', { hasText: 'Create Connect link' }).click();
      await page.locator('#cl-integration option[value="marketo"]').waitFor({ state: 'attached' });
      await page.locator('#cl-end-user-id').fill('link-user');
      await page.locator('#cl-email').fill('link@example.com');
      await page.locator('#cl-submit').click();
      await page.locator('#connect-link').waitFor({ timeout: OUTCOME_TIMEOUT_MS });
      const connectLink = await page.locator('#connect-link').inputValue();
      expect(connectLink).toMatch(new RegExp(`^${t.url}/connect/\\?session_token=nango_connect_session_`));
      expect(await page.locator('#cl-expires').innerText()).toMatch(
        /^Expires \d{4}-\d{2}-\d{2} .* \(in (29|30) min\)\.$/,
      );
      await p.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: t.url });
      await page.locator('#copy-link').click();
      await expect.poll(() => page.locator('#copy-status').innerText()).not.toBe('');
      await p.shot('dashboard-05-connect-link');
      await expectNoSecrets(page, traffic);

      // Reload: same screen, still signed in (the key stays in this tab's sessionStorage).
      await page.reload();
      await page.locator('h1', { hasText: 'Create a Connect link' }).waitFor();
      await expectNoSecrets(page);

      // Sign out.
      await page.locator('#sign-out').click();
      await page.locator('#secret-key').waitFor();
      expect(await page.evaluate(() => sessionStorage.length)).toBe(0);
      expect(p.errors).toEqual([]);
    } finally {
      await p.close();
    }
  });
});
