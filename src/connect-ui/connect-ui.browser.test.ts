/**
 * Chromium smoke test of the static Connect UI: the built assets plus a tiny in-test API that answers
 * the Connect UI's calls in Nango's exact shapes (the real server is covered by the lead's e2e tests).
 * Screenshots go to test-artifacts/connect-ui/ (git-ignored).
 */
import { mkdirSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { marketoProvider } from '../providers/marketo.ts';
import { toNangoProvider } from '../providers/registry.ts';
import { buildConnectUiAssets, type ConnectUiAsset } from './assets.ts';
import { chromiumSkipReason, launchChromium } from './browser.ts';

const SKIP = chromiumSkipReason();
if (SKIP) console.warn(`[connect-ui browser test] ${SKIP}`);

const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/connect-ui/', import.meta.url));
const TOKEN = `nango_connect_session_${'a'.repeat(64)}`;
const MULTI = `nango_connect_session_${'b'.repeat(64)}`;
const PRESET = `nango_connect_session_${'c'.repeat(64)}`;
const CLIENT_ID = '3f2c9a1e-7b4d-4e8a-9c1f-2d5e6a7b8c9d';
const BAD_SECRET = 'wrongSecret1';
const GOOD_SECRET = 'S3cr3tValue';
const CONNECTION_ID = '5b1f0c3e-9a47-4f2e-8d61-0c2b7e9a4f13';

interface Recorded {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

interface AuthReply {
  status: number;
  body: unknown;
  delayMs?: number;
}

const ACME = {
  name: 'acme',
  display_name: 'Acme CRM',
  auth_mode: 'OAUTH2_CC',
  categories: ['crm'],
  docs: 'https://docs.acme.test/',
  docs_connect: 'https://docs.acme.test/connect',
  token_url: 'https://${connectionConfig.subdomain}.acme.test/oauth/token',
  token_params: { grant_type: 'client_credentials' },
  proxy: { base_url: 'https://${connectionConfig.subdomain}.acme.test' },
  connection_config: {
    region: { type: 'string', title: 'Region', description: 'eu or us.', order: 2, optional: true },
    subdomain: {
      type: 'string',
      title: 'Subdomain',
      description: 'The first part of your Acme address.',
      order: 1,
    },
    plan: { type: 'string', title: 'Plan', description: '', order: 3, hidden: true, default_value: 'pro' },
  },
  credentials: {
    client_id: { type: 'string', title: 'App key', description: 'Settings > Apps.', doc_section: '#keys' },
    client_secret: { type: 'string', title: 'App secret', description: 'Shown once.', secret: true },
  },
  logo_url: '',
};

class FakeApi {
  server!: Server;
  base = '';
  requests: Recorded[] = [];
  auth: AuthReply = { status: 500, body: { error: { code: 'unset' } } };

  constructor(private readonly assets: Map<string, ConnectUiAsset>) {}

  async start(): Promise<void> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.base = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  stop(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  authRequests(): Recorded[] {
    return this.requests.filter((r) => r.method === 'POST' && r.url.startsWith('/oauth2/auth/'));
  }

  private send(res: ServerResponse, status: number, body: unknown, type = 'application/json'): void {
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
    res.end(text);
  }

  private integration(key: string, provider: string, name: string) {
    return {
      unique_key: key,
      provider,
      display_name: name,
      logo: `${this.base}/images/template-logos/${provider}.svg`,
      forward_webhooks: true,
      created_at: '2026-01-01T00:00:00.000Z',
      updated_at: '2026-01-01T00:00:00.000Z',
    };
  }

  private session(token: string) {
    const data: Record<string, unknown> = {
      endUser: {
        id: 'user-1',
        display_name: 'Ada',
        email: 'ada@example.com',
        tags: {},
        organization: null,
      },
      connectUISettings: {
        theme: { light: { primary: '#2350b0' }, dark: { primary: '#8ab4ff' } },
        defaultTheme: 'system',
        showWatermark: true,
      },
    };
    if (token === TOKEN) data.allowed_integrations = ['marketo'];
    if (token === PRESET) {
      data.allowed_integrations = ['marketo'];
      data.integrations_config_defaults = {
        marketo: {
          connection_config: {
            endpointURL: '123-abc-456.mktorest.com',
            identityURL: '123-abc-456.mktorest.com',
          },
        },
      };
    }
    return { data };
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const url = req.url ?? '/';
    const path = url.split('?')[0]!;
    const method = req.method ?? 'GET';
    this.requests.push({ method, url, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });

    if (method === 'GET' && path === '/connect') {
      res.writeHead(301, { location: `/connect/${url.slice('/connect'.length)}` });
      res.end();
      return;
    }
    if (method === 'GET' && path.startsWith('/connect/') && path !== '/connect/session') {
      const asset = this.assets.get(path.slice('/connect'.length));
      if (asset) return this.send(res, 200, asset.body, asset.type);
      return this.send(res, 404, { error: { code: 'not_found' } });
    }
    if (method === 'GET' && path === '/parent.html') {
      const q = new URL(url, this.base).searchParams;
      const src = `/connect/?apiURL=${encodeURIComponent(this.base)}&lang=en`;
      const token = q.get('notoken') ? '' : TOKEN;
      return this.send(
        res,
        200,
        `<!doctype html><html><body style="margin:0"><iframe id="connect-ui" src="${src}" allow="clipboard-write"
 style="position:fixed;inset:0;width:100%;height:100%;border:0"></iframe><script>
window.__messages = [];
window.addEventListener('message', function (e) {
  if (e.origin !== location.origin) return;
  window.__messages.push(e.data);
  if (e.data && e.data.type === 'ready' && ${JSON.stringify(token)}) {
    document.getElementById('connect-ui').contentWindow.postMessage({ type: 'session_token', sessionToken: ${JSON.stringify(token)} }, '*');
  }
});
</script></body></html>`,
        'text/html; charset=utf-8',
      );
    }
    if (method === 'GET' && path.startsWith('/images/template-logos/')) {
      return this.send(
        res,
        200,
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><circle cx="16" cy="16" r="15" fill="#5c4c9f"/></svg>',
        'image/svg+xml',
      );
    }
    if (method === 'POST' && path === '/connect/telemetry') {
      res.writeHead(204);
      res.end();
      return;
    }

    const auth = req.headers.authorization ?? '';
    const token = auth.startsWith('Bearer ') ? auth.slice('Bearer '.length) : '';
    const known = [TOKEN, MULTI, PRESET].includes(token);
    if (method === 'GET' && ['/connect/session', '/integrations'].includes(path) && !known) {
      return this.send(res, 401, {
        error: { code: 'unknown_connect_session_token', message: 'Unknown connect session token' },
      });
    }
    if (method === 'GET' && path === '/connect/session') return this.send(res, 200, this.session(token));
    if (method === 'GET' && path === '/integrations') {
      const list = [this.integration('marketo', 'marketo', 'Marketo')];
      if (token === MULTI) list.push(this.integration('acme-crm', 'acme', 'Acme CRM'));
      return this.send(res, 200, { data: list });
    }
    if (method === 'GET' && path === '/providers/marketo' && known) {
      const data = toNangoProvider(marketoProvider, {
        languages: req.headers['accept-language'] ?? 'en',
        publicUrl: this.base,
      });
      return this.send(res, 200, { data });
    }
    if (method === 'GET' && path === '/providers/acme' && known) return this.send(res, 200, { data: ACME });
    if (method === 'POST' && path.startsWith('/oauth2/auth/')) {
      const reply = this.auth;
      if (reply.delayMs) await new Promise((r) => setTimeout(r, reply.delayMs));
      return this.send(res, reply.status, reply.body);
    }
    this.send(res, 404, { error: { code: 'not_found', message: `No route ${method} ${path}` } });
  }
}

describe.skipIf(SKIP !== null)('Connect UI in Chromium', () => {
  let browser: Browser;
  let api: FakeApi;
  let context: BrowserContext;
  let page: Page;
  let pageErrors: string[];

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    api = new FakeApi(await buildConnectUiAssets());
    await api.start();
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    await api?.stop();
  });

  beforeEach(async () => {
    api.requests = [];
    context = await browser.newContext({ viewport: { width: 360, height: 800 }, locale: 'en-US' });
    page = await context.newPage();
    pageErrors = [];
    page.on('pageerror', (e) => pageErrors.push(String(e)));
  });

  afterEach(async () => {
    await context?.close();
    expect(pageErrors).toEqual([]);
  });

  const shot = (name: string) => page.screenshot({ path: `${ARTIFACTS}${name}.png`, fullPage: true });
  const activeId = () => page.evaluate(() => document.activeElement?.id ?? '');
  const scrollWidth = () => page.evaluate(() => document.scrollingElement!.scrollWidth);

  /** Press Tab until the element with `id` has the focus; returns what was focused on the way. */
  async function tabTo(id: string, max = 25): Promise<string[]> {
    const seen: string[] = [];
    for (let i = 0; i < max; i++) {
      await page.keyboard.press('Tab');
      const desc = await page.evaluate(() => {
        const el = document.activeElement as HTMLElement | null;
        return el ? el.id || `${el.tagName.toLowerCase()}:${(el.textContent ?? '').trim().slice(0, 30)}` : '';
      });
      seen.push(desc);
      if (desc === id) return seen;
    }
    throw new Error(`could not reach #${id} with Tab; saw ${seen.join(', ')}`);
  }

  it('standalone, keyboard only: validation, busy state, server error, then success', async () => {
    await page.goto(`${api.base}/connect/?session_token=${TOKEN}`);
    await expect.poll(() => page.locator('h1').textContent()).toBe('Connect Marketo');

    // The three calls, with the session token (and the UI language for the provider).
    const gets = api.requests.filter((r) => r.method === 'GET' && !r.url.startsWith('/connect/?'));
    for (const path of ['/connect/session', '/integrations', '/providers/marketo']) {
      const r = gets.find((g) => g.url === path);
      expect(r, path).toBeDefined();
      expect(r!.headers.authorization).toBe(`Bearer ${TOKEN}`);
    }
    expect(gets.find((g) => g.url === '/providers/marketo')!.headers['accept-language']).toBe('en');

    // Labels, help, placeholders, adornments, doc links come from the provider data.
    expect(await page.locator('label[for="field-client_id"]').textContent()).toBe('Client ID');
    expect(await page.locator('label[for="field-identityURL"]').textContent()).toBe(
      'Identity URL (optional)',
    );
    expect(await page.getAttribute('#field-endpointURL', 'placeholder')).toBe('xxx.mktorest.com');
    expect(await page.locator('#field-client_id-help').textContent()).toContain(
      'LaunchPoint > your custom service > View Details',
    );
    expect(await page.locator('#field-endpointURL-help').textContent()).toContain(
      'Admin > Integration > Web Services',
    );
    expect(await page.getAttribute('#field-endpointURL-help a', 'href')).toBe(
      'https://nango.dev/docs/integrations/all/marketo/connect#step-3-find-your-domain-and-identity-url',
    );
    expect(await page.locator('#field-identityURL-suffix').textContent()).toBe('/identity/oauth/token');
    expect(await page.locator('legend').allTextContents()).toEqual(['API credentials', 'Account details']);
    expect(await page.getAttribute('#field-client_secret', 'type')).toBe('password');
    expect(await scrollWidth()).toBeLessThanOrEqual(360);
    await shot('01-form-en-360');

    // Logical tab order, keyboard only.
    const order = await tabTo('submit');
    const fieldsInOrder = order.filter((d) => d.startsWith('field-'));
    expect(fieldsInOrder).toEqual([
      'field-client_id',
      'field-client_secret',
      'field-client_secret-toggle',
      'field-endpointURL',
      'field-identityURL',
    ]);

    // Enter on the empty form: inline errors and a focused summary.
    await page.keyboard.press('Enter');
    await expect.poll(activeId).toBe('error-summary');
    expect(await page.locator('#error-summary h2').textContent()).toContain('Check the highlighted fields');
    expect(await page.locator('#error-summary li').allTextContents()).toEqual([
      'Enter the Client ID.',
      'Enter the Client Secret.',
      'Enter the Domain.',
    ]);
    expect(await page.getAttribute('#field-client_id', 'aria-invalid')).toBe('true');
    expect(await page.getAttribute('#field-client_id', 'aria-describedby')).toContain(
      'field-client_id-error',
    );
    expect(await page.getAttribute('#field-identityURL', 'aria-invalid')).toBeNull();
    expect(api.authRequests()).toHaveLength(0);
    await shot('02-validation-en');

    // The summary links lead to the fields.
    await page.keyboard.press('Tab');
    await page.keyboard.press('Enter');
    expect(await activeId()).toBe('field-client_id');
    await page.keyboard.type(CLIENT_ID);
    expect(await page.getAttribute('#field-client_id', 'aria-invalid')).toBeNull();
    // Next stop: the field's "Where to find it" link, then the next field.
    expect(await tabTo('field-client_secret')).toEqual([
      'a:Where to find it (opens in a n',
      'field-client_secret',
    ]);
    await page.keyboard.type(BAD_SECRET);
    await page.keyboard.press('Tab');
    expect(await activeId()).toBe('field-client_secret-toggle');
    expect(await page.getAttribute('#field-client_secret-toggle', 'aria-pressed')).toBe('false');
    expect(await page.getAttribute('#field-client_secret-toggle', 'aria-label')).toBe('Show Client Secret');
    await page.keyboard.press('Space');
    expect(await page.getAttribute('#field-client_secret-toggle', 'aria-pressed')).toBe('true');
    expect(await page.getAttribute('#field-client_secret', 'type')).toBe('text');
    await page.keyboard.press('Space');
    expect(await page.getAttribute('#field-client_secret', 'type')).toBe('password');

    // Domain as Marketo shows it; Identity URL fills itself (same host).
    await tabTo('field-endpointURL');
    await page.keyboard.type('https://123-ABC-456.mktorest.com/rest');
    expect(await page.inputValue('#field-identityURL')).toBe('123-abc-456.mktorest.com');
    expect(await page.locator('#field-endpointURL-preview').textContent()).toBe(
      'Address used: https://123-abc-456.mktorest.com/',
    );
    expect(await page.locator('#field-identityURL-note').textContent()).toContain('Filled in from Domain');
    expect(await page.isVisible('#field-endpointURL-prefix')).toBe(false);
    expect(await page.getAttribute('#field-endpointURL', 'aria-invalid')).toBeNull();
    expect(await scrollWidth()).toBeLessThanOrEqual(360);

    // Submit with Enter: busy state, then the server's error for step 1.
    api.auth = {
      status: 400,
      delayMs: 700,
      body: {
        error: {
          code: 'invalid_client_secret',
          message: 'Marketo refused the Client Secret for this Client ID.',
          step: 'identity',
          hint: 'Copy the Client Secret again from Admin > Integration > LaunchPoint, then View Details on your service.',
        },
      },
    };
    await page.keyboard.press('Enter');
    await page.waitForSelector('#submit[disabled]');
    expect(await page.getAttribute('#connect-form', 'aria-busy')).toBe('true');
    expect(await page.locator('#busy').textContent()).toBe(
      'Connecting… fetching a token, then testing access',
    );
    expect(await page.isVisible('#busy')).toBe(true);
    await shot('03-busy-en');

    await expect.poll(activeId, { timeout: 5000 }).toBe('error-summary');
    const summary = await page.locator('#error-summary').innerText();
    expect(summary).toContain('Step 1 of 2 failed: getting an access token');
    expect(summary).toContain('Marketo refused the Client Secret for this Client ID.');
    expect(summary).toContain('What to do: Copy the Client Secret again');
    expect(summary).toContain('Error code: invalid_client_secret');
    expect(await page.getAttribute('#field-client_secret', 'aria-invalid')).toBe('true');
    expect(await page.getAttribute('#field-client_secret', 'aria-describedby')).toContain(
      'field-client_secret-error',
    );
    expect(await page.locator('#field-client_secret-error').textContent()).toBe(
      'Marketo refused the Client Secret for this Client ID.',
    );
    expect(await page.isDisabled('#submit')).toBe(false);
    expect(await page.getAttribute('#connect-form', 'aria-busy')).toBe('false');
    await expect.poll(() => page.locator('#status').textContent()).toContain('Connection failed.');
    expect(await scrollWidth()).toBeLessThanOrEqual(360);
    await shot('04-error-invalid-secret-en');

    // Exactly what @nangohq/frontend sends.
    const [post] = api.authRequests();
    expect(post!.url).toBe(
      `/oauth2/auth/marketo?connect_session_token=${TOKEN}` +
        '&params[endpointURL]=https%3A%2F%2F123-ABC-456.mktorest.com%2Frest' +
        '&params[identityURL]=123-abc-456.mktorest.com',
    );
    expect(post!.headers['content-type']).toBe('application/json');
    expect(post!.body).toBe(JSON.stringify({ client_id: CLIENT_ID, client_secret: BAD_SECRET }));

    // Fix the secret from the summary link, keyboard only, and connect.
    await page.keyboard.press('Tab');
    const link = await page.evaluate(() => document.activeElement?.textContent);
    expect(link).toBe('Go to Client Secret');
    await page.keyboard.press('Enter');
    expect(await activeId()).toBe('field-client_secret');
    await page.keyboard.press('Control+A');
    await page.keyboard.type(GOOD_SECRET);
    expect(await page.getAttribute('#field-client_secret', 'aria-invalid')).toBeNull();
    api.auth = { status: 200, body: { providerConfigKey: 'marketo', connectionId: CONNECTION_ID } };
    await page.keyboard.press('Enter');
    await expect.poll(() => page.locator('h1').textContent()).toBe('Connected');
    expect(await activeId()).toBe('');
    expect(await page.evaluate(() => document.activeElement?.tagName)).toBe('H1');
    expect(await page.locator('main').innerText()).toContain('Your Marketo account is connected.');
    expect(await page.isVisible('#finish')).toBe(true);
    expect(api.authRequests()[1]!.body).toBe(
      JSON.stringify({ client_id: CLIENT_ID, client_secret: GOOD_SECRET }),
    );
    expect(await scrollWidth()).toBeLessThanOrEqual(360);
    await shot('05-success-en');

    // Best-effort telemetry (sendBeacon, Nango's body).
    const events = () =>
      api.requests
        .filter((r) => r.method === 'POST' && r.url === '/connect/telemetry')
        .map(
          (r) =>
            JSON.parse(r.body) as { token: string; event: string; dimensions?: { integration?: string } },
        );
    await expect.poll(() => events().map((e) => e.event)).toContain('view:success');
    expect(events().map((e) => e.event)).toEqual(
      expect.arrayContaining(['open', 'view:integration', 'click:connect']),
    );
    expect(events()[0]!.token).toBe(TOKEN);
    expect(events().find((e) => e.event === 'view:success')!.dimensions).toEqual({ integration: 'marketo' });
  });

  it('embedded: ready → session_token by postMessage, then connect, error and close events', async () => {
    await page.setViewportSize({ width: 800, height: 900 });
    await page.goto(`${api.base}/parent.html`);
    const frame = page.frameLocator('#connect-ui');
    await expect.poll(() => frame.locator('h1').textContent()).toBe('Connect Marketo');
    // The token came by postMessage: the iframe URL has none.
    const frameUrl = api.requests.find((r) => r.url.startsWith('/connect/?'))!.url;
    expect(frameUrl).not.toContain('session_token');
    expect(api.requests.find((r) => r.url === '/connect/session')!.headers.authorization).toBe(
      `Bearer ${TOKEN}`,
    );
    expect(await frame.locator('button[aria-label="Close"]').count()).toBe(1);

    await frame.locator('#field-client_id').fill(CLIENT_ID);
    await frame.locator('#field-client_secret').fill(BAD_SECRET);
    await frame.locator('#field-endpointURL').fill('123-ABC-456.mktorest.com');
    api.auth = {
      status: 400,
      body: {
        error: {
          code: 'marketo_permission_missing',
          message: 'The API user of this LaunchPoint service lacks the "Read-Only Lead" permission.',
          step: 'api',
          hint: 'In Marketo, open Admin > Users & Roles > Roles, give the API role the "Read-Only Lead" permission.',
        },
      },
    };
    await frame.locator('#field-endpointURL').press('Enter');
    await expect
      .poll(() => frame.locator('#error-summary h2').textContent())
      .toContain('Step 2 of 2 failed: testing access to the Marketo API');
    await shot('06-embedded-error-step2');

    api.auth = { status: 200, body: { providerConfigKey: 'marketo', connectionId: CONNECTION_ID } };
    await frame.locator('#submit').click();
    await expect.poll(() => frame.locator('h1').textContent()).toBe('Connected');
    await frame.locator('#finish').click();
    await frame.locator('h1').press('Escape');
    // postMessage is asynchronous: wait for the second close before reading the log.
    await expect
      .poll(() => page.evaluate(() => (window as unknown as { __messages: unknown[] }).__messages.length))
      .toBe(5);
    const messages = await page.evaluate(() => (window as unknown as { __messages: unknown[] }).__messages);
    expect(messages).toEqual([
      { type: 'ready' },
      {
        type: 'error',
        payload: {
          errorType: 'marketo_permission_missing',
          errorMessage: 'The API user of this LaunchPoint service lacks the "Read-Only Lead" permission.',
        },
      },
      { type: 'connect', payload: { providerConfigKey: 'marketo', connectionId: CONNECTION_ID } },
      { type: 'close' },
      { type: 'close' },
    ]);
    expect(api.authRequests()[0]!.url).toBe(
      `/oauth2/auth/marketo?connect_session_token=${TOKEN}` +
        '&params[endpointURL]=123-ABC-456.mktorest.com&params[identityURL]=123-abc-456.mktorest.com',
    );
  });

  it('embedded without a token: error screen after 10 s', async () => {
    await page.goto(`${api.base}/parent.html?notoken=1`);
    const frame = page.frameLocator('#connect-ui');
    await expect
      .poll(() => frame.locator('h1').textContent(), { timeout: 15_000 })
      .toBe('Connection link incomplete');
    const messages = await page.evaluate(() => (window as unknown as { __messages: unknown[] }).__messages);
    expect(messages).toContainEqual({
      type: 'error',
      payload: {
        errorType: 'missing_connect_session_token',
        errorMessage: 'No connect session token was received.',
      },
    });
    expect(api.requests.some((r) => r.url === '/connect/session')).toBe(false);
  }, 25_000);

  it('in French (lang=fr): UI texts, provider texts, errors; user-edited Identity URL is kept', async () => {
    await page.goto(`${api.base}/connect/?session_token=${TOKEN}&lang=fr`);
    await expect.poll(() => page.locator('h1').textContent()).toBe('Connecter Marketo');
    expect(await page.evaluate(() => document.documentElement.lang)).toBe('fr');
    expect(api.requests.find((r) => r.url === '/providers/marketo')!.headers['accept-language']).toBe('fr');
    expect(await page.locator('label').allTextContents()).toEqual([
      'ID client',
      'Secret client',
      'Domaine',
      "URL d'identité (facultatif)",
    ]);
    expect(await page.locator('#field-client_id-help').textContent()).toContain('Afficher les détails');
    expect(await page.locator('#submit').textContent()).toBe('Connecter');
    expect(await page.getAttribute('#field-client_secret-toggle', 'aria-label')).toBe(
      'Afficher le champ Secret client',
    );

    await tabTo('field-client_id');
    await page.keyboard.type(CLIENT_ID);
    await tabTo('field-client_secret');
    await page.keyboard.type(BAD_SECRET);
    await tabTo('field-identityURL');
    await page.keyboard.type('https://123-ABC-456.mktorest.com/identity');
    await page.keyboard.press('Shift+Tab');
    await page.keyboard.press('Shift+Tab');
    expect(await activeId()).toBe('field-endpointURL');
    await page.keyboard.type('123-ABC-456.mktorest.com');
    expect(await page.inputValue('#field-identityURL')).toBe('https://123-ABC-456.mktorest.com/identity');
    expect(await page.locator('#field-identityURL-preview').textContent()).toBe(
      'Adresse utilisée : https://123-abc-456.mktorest.com/identity/oauth/token',
    );

    api.auth = {
      status: 400,
      body: {
        error: {
          code: 'invalid_client_secret',
          message: 'Marketo refused the Client Secret for this Client ID.',
          step: 'identity',
          hint: 'Copy the Client Secret again.',
        },
      },
    };
    await page.keyboard.press('Enter');
    await expect.poll(activeId).toBe('error-summary');
    const summary = await page.locator('#error-summary').innerText();
    expect(summary).toContain('Étape 1 sur 2 en échec : obtention d’un jeton d’accès');
    expect(summary).toContain('Le secret client a été refusé pour cet ID client.');
    expect(summary).toContain('Que faire :');
    expect(summary).toContain('Détails : Marketo refused the Client Secret');
    expect(await scrollWidth()).toBeLessThanOrEqual(360);
    await shot('07-error-fr');
    expect(api.authRequests()[0]!.url).toBe(
      `/oauth2/auth/marketo?connect_session_token=${TOKEN}` +
        '&params[endpointURL]=123-ABC-456.mktorest.com' +
        '&params[identityURL]=https%3A%2F%2F123-ABC-456.mktorest.com%2Fidentity',
    );
  });

  it('lists several integrations and renders a second provider from its data alone', async () => {
    await page.goto(`${api.base}/connect/?session_token=${MULTI}&theme=dark`);
    await expect.poll(() => page.locator('h1').textContent()).toBe('Choose an integration');
    expect(await page.evaluate(() => document.documentElement.dataset.theme)).toBe('dark');
    expect(await page.locator('.integration').allTextContents()).toEqual(['Marketo', 'Acme CRM']);
    expect(await scrollWidth()).toBeLessThanOrEqual(360);
    await shot('08-list-dark');

    const buttons = await tabTo('button:Acme CRM');
    expect(buttons).toContain('button:Marketo');
    await page.keyboard.press('Enter');
    await expect.poll(() => page.locator('h1').textContent()).toBe('Connect Acme CRM');
    expect(await page.locator('label').allTextContents()).toEqual([
      'App key',
      'App secret',
      'Subdomain',
      'Region (optional)',
    ]);
    expect(await page.getAttribute('#field-client_id-help a', 'href')).toBe(
      'https://docs.acme.test/connect#keys',
    );
    expect(await page.locator('.nav-button').textContent()).toBe('Back');
    await shot('09-second-provider-dark');

    await page.fill('#field-client_id', 'key');
    await page.fill('#field-client_secret', 'secret');
    await page.fill('#field-subdomain', 'acme');
    api.auth = { status: 200, body: { providerConfigKey: 'acme-crm', connectionId: CONNECTION_ID } };
    await page.press('#field-subdomain', 'Enter');
    await expect.poll(() => page.locator('h1').textContent()).toBe('Connected');
    expect(api.authRequests()[0]!.url).toBe(
      `/oauth2/auth/acme-crm?connect_session_token=${MULTI}&params[subdomain]=acme&params[plan]=pro`,
    );
    expect(api.authRequests()[0]!.body).toBe('{"client_id":"key","client_secret":"secret"}');
  });

  it('hides preconfigured fields and still sends them', async () => {
    await page.goto(`${api.base}/connect/?session_token=${PRESET}`);
    await expect.poll(() => page.locator('h1').textContent()).toBe('Connect Marketo');
    expect(await page.locator('label').allTextContents()).toEqual(['Client ID', 'Client Secret']);
    expect(await page.locator('legend').allTextContents()).toEqual(['API credentials']);
    await page.fill('#field-client_id', CLIENT_ID);
    await page.fill('#field-client_secret', GOOD_SECRET);
    api.auth = { status: 200, body: { providerConfigKey: 'marketo', connectionId: CONNECTION_ID } };
    await page.press('#field-client_secret', 'Enter');
    await expect.poll(() => page.locator('h1').textContent()).toBe('Connected');
    expect(api.authRequests()[0]!.url).toBe(
      `/oauth2/auth/marketo?connect_session_token=${PRESET}` +
        '&params[endpointURL]=123-abc-456.mktorest.com&params[identityURL]=123-abc-456.mktorest.com',
    );
  });

  it('explains a missing or unknown token', async () => {
    await page.goto(`${api.base}/connect/`);
    await expect.poll(() => page.locator('h1').textContent()).toBe('Connection link incomplete');
    expect(await page.locator('main').innerText()).toContain('No connect session token was received.');

    await page.goto(`${api.base}/connect/?session_token=nango_connect_session_unknown`);
    await expect.poll(() => page.locator('h1').textContent()).toBe('Cannot open the connection form');
    const text = await page.locator('main').innerText();
    expect(text).toContain('Unknown connect session token');
    expect(text).toContain('Go back to the app that sent you here');
    expect(await scrollWidth()).toBeLessThanOrEqual(360);
    await shot('10-session-error-en');
  });
});
