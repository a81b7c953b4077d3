/// <reference lib="dom" />
/**
 * End to end, in Chromium: the standalone connect link of a real Tether server, connecting a real Marketo
 * sandbox. Nothing is faked: the Connect UI is the one the server serves, its calls reach the server, and
 * the server's connection test reaches the sandbox over loopback. Screenshots: test-artifacts/e2e/.
 */
import { describe, expect, it, type ExpectStatic } from 'vitest';
import {
  OUTCOME_TIMEOUT_MS,
  MISSING_HOST,
  SKIP,
  connectionsOf,
  createInstance,
  createSession,
  fillForm,
  focused,
  horizontalOverflow,
  openPage,
  resolverSaysNotFound,
  serviceWithRole,
  storedConnectionConfig,
  tabTo,
  waitForErrorSummary,
  waitForForm,
  waitForSuccess,
  type FormValues,
  useE2E,
} from './helpers.ts';

if (SKIP) console.warn(`[e2e connect link] ${SKIP}`);

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** The server's connection test gives up on a silent host after 15 s (not configurable per request). */
const SERVER_TIMEOUT_MS = 15_000;

describe.skipIf(SKIP !== null)('connect link → real Tether server → Marketo sandbox (Chromium)', () => {
  const e2e = useE2E();

  /** The sandbox's own values, as its admin page would show them. */
  const sandboxValues = (): Required<FormValues> => ({
    clientId: e2e.env.t.sandbox.clientId,
    clientSecret: e2e.env.t.sandbox.clientSecret,
    domain: e2e.env.t.sandbox.endpoint,
    identity: e2e.env.t.sandbox.identity,
  });

  it('connects with the values from the admin pages; the connection is stored for the session end user', async () => {
    const { t } = e2e.env;
    const endUser = { id: 'e2e-standalone', email: 'ada@example.com', display_name: 'Ada Lovelace' };
    const session = await createSession(t, endUser);
    expect(session.connectLink).toBe(`${t.url}/connect/?session_token=${session.token}`);
    expect(await connectionsOf(t, endUser.id)).toEqual([]);

    const p = await openPage(e2e.browser);
    try {
      await p.page.goto(session.connectLink);
      await waitForForm(p.page);
      expect(await p.page.locator('label').allTextContents()).toEqual([
        'Client ID',
        'Client Secret',
        'Domain',
        'Identity URL (optional)',
      ]);
      await fillForm(p.page, sandboxValues());
      await p.shot('01-standalone-filled');
      await p.page.locator('#submit').click();
      await waitForSuccess(p.page);
      expect(await p.page.locator('main').innerText()).toContain('Your Marketo account is connected.');
      await p.shot('02-standalone-success');

      // Finish in a tab the page did not open: window.close() is refused, so it says what to do.
      await p.page.locator('#finish').click();
      await expect.poll(() => p.page.locator('main').innerText()).toContain('You can now close this window.');
      expect(p.errors).toEqual([]);
    } finally {
      await p.close();
    }

    const stored = await connectionsOf(t, endUser.id);
    expect(stored).toHaveLength(1);
    expect(stored[0]).toMatchObject({
      provider_config_key: 'marketo',
      provider: 'marketo',
      end_user: { id: endUser.id, email: endUser.email, display_name: endUser.display_name },
    });
    expect(stored[0]!.connection_id).toMatch(UUID_RE);
    const config = await storedConnectionConfig(t, stored[0]!.connection_id);
    expect(config).toEqual({ endpointURL: t.sandbox.base, identityURL: t.sandbox.base });
  });

  interface FailureCase {
    /** Screenshot and end-user id suffix. */
    name: string;
    values: () => Promise<FormValues> | FormValues;
    title: string;
    message: string | RegExp;
    hint: string;
    code: string;
    /** Field marked invalid (and linked from the summary). */
    field?: string;
    timeout?: number;
  }

  /** `expect` of the (concurrent) test: assertions must be attributed to the right test. */
  async function expectFailure(expect: ExpectStatic, c: FailureCase): Promise<void> {
    const { t } = e2e.env;
    const started = Date.now();
    const endUserId = `e2e-fail-${c.name}`;
    const session = await createSession(t, { id: endUserId });
    const p = await openPage(e2e.browser);
    try {
      await p.page.goto(session.connectLink);
      await waitForForm(p.page);
      await fillForm(p.page, await c.values());
      await p.page.locator('#submit').click();
      const submitted = Date.now();
      const summary = await waitForErrorSummary(p.page, c.timeout ?? OUTCOME_TIMEOUT_MS);
      if (process.env.E2E_DEBUG)
        console.log(c.name, 'form', submitted - started, 'outcome', Date.now() - submitted);
      await p.shot(`03-error-${c.name}`);
      expect(summary.title, 'which step failed').toBe(c.title);
      if (typeof c.message === 'string') expect(summary.text).toContain(c.message);
      else expect(summary.text).toMatch(c.message);
      expect(summary.text, 'what to do').toContain(`What to do: ${c.hint}`);
      expect(summary.text).toContain(`Error code: ${c.code}`);
      // The focus moves to the summary, the form stays usable.
      expect(await focused(p.page)).toBe('error-summary');
      expect(await p.page.isDisabled('#submit')).toBe(false);
      if (c.field) {
        expect(await p.page.getAttribute(`#field-${c.field}`, 'aria-invalid')).toBe('true');
        expect(await p.page.locator('#error-summary .error-field a').getAttribute('href')).toBe(
          `#field-${c.field}`,
        );
      }
      expect(p.errors).toEqual([]);
    } finally {
      await p.close();
    }
    expect(await connectionsOf(t, endUserId), 'no connection stored').toEqual([]);
  }

  const STEP1 = 'Step 1 of 2 failed: getting an access token';
  const STEP2 = 'Step 2 of 2 failed: testing access to the Marketo API';

  // Concurrent: the timeout case waits for the server's 15 s timeout while the others run.
  describe.concurrent('each failure names the step, says what to do, and stores nothing', () => {
    it(
      'timeout: an allowlisted host that never answers',
      async ({ expect }) => {
        const host = `127.0.0.1:${e2e.env.silent.port}`;
        await expectFailure(expect, {
          name: 'timeout',
          values: () => ({ ...sandboxValues(), domain: `http://${host}/rest`, identity: undefined }),
          title: STEP1,
          message: `${host} did not answer in time (while getting an access token from the Identity URL).`,
          hint: 'Marketo may be slow or unavailable right now. Try again in a few minutes.',
          code: 'timeout',
          timeout: SERVER_TIMEOUT_MS + 10_000,
        });
      },
      SERVER_TIMEOUT_MS + 20_000,
    );

    it('wrong Client Secret', async ({ expect }) => {
      await expectFailure(expect, {
        name: 'wrong-secret',
        values: () => ({ ...sandboxValues(), clientSecret: 'not-the-secret' }),
        title: STEP1,
        message: 'Marketo refused the Client Secret for this Client ID.',
        hint: 'Copy the Client Secret again from Admin > Integration > LaunchPoint, then View Details on your service.',
        code: 'invalid_client_secret',
        field: 'client_secret',
      });
    });

    it('unknown Client ID', async ({ expect }) => {
      await expectFailure(expect, {
        name: 'unknown-client-id',
        values: () => ({ ...sandboxValues(), clientId: '00000000-0000-4000-8000-000000000000' }),
        title: STEP1,
        message: 'Marketo does not know this Client ID.',
        hint: 'Copy the Client ID again from Admin > Integration > LaunchPoint, then View Details on your service',
        code: 'unknown_client_id',
        field: 'client_id',
      });
    });

    it('host unreachable: an allowlisted loopback port nothing listens on', async ({ expect }) => {
      const host = `127.0.0.1:${e2e.env.closedPort}`;
      await expectFailure(expect, {
        name: 'host-unreachable',
        values: () => ({
          ...sandboxValues(),
          domain: `http://${host}/rest`,
          identity: `http://${host}/identity`,
        }),
        title: STEP1,
        message: `Could not reach ${host} (while getting an access token from the Identity URL).`,
        hint: 'Check the Identity URL (Admin > Integration > Web Services) and try again in a few minutes.',
        code: 'host_unreachable',
      });
    });

    it('host not found: an allowlisted name that does not resolve', async ({ expect, skip }) => {
      // Offline resolvers may answer "try again" (EAI_AGAIN) instead of "no such host".
      if (!(await resolverSaysNotFound()))
        skip(`the system resolver does not answer ENOTFOUND for ${MISSING_HOST}`);
      await expectFailure(expect, {
        name: 'host-not-found',
        values: () => ({ ...sandboxValues(), domain: `http://${MISSING_HOST}/rest`, identity: undefined }),
        title: STEP1,
        message: `The host ${MISSING_HOST} does not exist (while getting an access token from the Identity URL).`,
        hint: 'Check the Identity URL: copy it from Admin > Integration > Web Services. It looks like 123-ABC-456.mktorest.com.',
        code: 'host_not_found',
      });
    });

    it('host not allowed: https://example.com', async ({ expect }) => {
      await expectFailure(expect, {
        name: 'host-not-allowed',
        values: () => ({ ...sandboxValues(), domain: 'https://example.com', identity: undefined }),
        title: 'Some details are not right',
        message: /Tether only connects to Marketo hosts \(\*\.mktorest\.com\); example\.com is not one/,
        hint: 'Copy the Endpoint and Identity URLs from Admin > Integration > Web Services.',
        code: 'host_not_allowed',
        field: 'endpointURL',
      });
    });

    it('the API role lacks Read-Only Lead (603 on the test read)', async ({ expect }) => {
      await expectFailure(expect, {
        name: 'permission-missing',
        values: async () => ({
          ...sandboxValues(),
          ...(await serviceWithRole(
            e2e.env.t,
            e2e.env.t.sandbox.munchkinId,
            'No Access',
            'noaccess@e2e.test',
          )),
        }),
        title: STEP2,
        message: 'The API user of this LaunchPoint service lacks the "Read-Only Lead" permission.',
        hint: 'In Marketo, open Admin > Users & Roles > Roles, give the API role of this service\'s API-only user the "Read-Only Lead" permission',
        code: 'marketo_permission_missing',
      });
    });

    it('IP restriction (603 on every read)', async ({ expect }) => {
      // Its own instance, so that the other cases running meanwhile are not restricted.
      const inst = await createInstance(e2e.env.t, { settings: { ipAllowlist: ['10.9.9.9'] } });
      await expectFailure(expect, {
        name: 'ip-restricted',
        values: () => ({
          clientId: inst.clientId,
          clientSecret: inst.clientSecret,
          domain: inst.endpoint,
          identity: inst.identity,
        }),
        title: STEP2,
        message:
          "This Marketo instance only accepts API calls from listed IP addresses, and Tether's address is not listed.",
        hint: 'In Marketo, open Admin > Integration > Web Services > IP Restrictions',
        code: 'marketo_ip_restricted',
      });
    });
  });

  it('pasted admin-page URLs connect; the Identity URL fills itself from the Domain', async () => {
    const { t } = e2e.env;
    const base = t.sandbox.base; // http://127.0.0.1:PORT/<munchkin>
    const baseShown = base.replace(/^(https?:\/\/[^/]+)/, (m) => m.toLowerCase());
    const cases: { name: string; domain: string; identity?: string }[] = [
      // Domain exactly as Web Services shows it, Identity URL left alone.
      { name: 'rest-only', domain: `${base}/rest` },
      { name: 'rest-slash-token', domain: `${base}/rest/`, identity: `${base}/identity/oauth/token` },
      { name: 'root-identity-slash', domain: `${base}/`, identity: `${base}/identity/` },
      { name: 'rest-identity', domain: `${base}/rest`, identity: `${base}/identity` },
    ];
    const p = await openPage(e2e.browser);
    try {
      for (const c of cases) {
        const endUserId = `e2e-paste-${c.name}`;
        const session = await createSession(t, { id: endUserId });
        await p.page.goto(session.connectLink);
        await waitForForm(p.page);
        await fillForm(p.page, {
          clientId: t.sandbox.clientId,
          clientSecret: t.sandbox.clientSecret,
          domain: c.domain,
          ...(c.identity !== undefined ? { identity: c.identity } : {}),
        });
        if (c.identity === undefined) {
          expect(await p.page.inputValue('#field-identityURL'), c.name).toBe(baseShown);
          expect(await p.page.locator('#field-identityURL-note').textContent()).toContain(
            'Filled in from Domain',
          );
          await p.shot('04-paste-autofilled');
        }
        await p.page.locator('#field-endpointURL').press('Enter');
        await waitForSuccess(p.page);
        const stored = await connectionsOf(t, endUserId);
        expect(stored, c.name).toHaveLength(1);
        expect(await storedConnectionConfig(t, stored[0]!.connection_id), c.name).toEqual({
          endpointURL: base,
          identityURL: base,
        });
      }

      // A real Marketo host pasted without scheme (not connectable here: the form only).
      const session = await createSession(t, { id: 'e2e-paste-form-only' });
      await p.page.goto(session.connectLink);
      await waitForForm(p.page);
      for (const [domain, shown] of [
        ['123-ABC-456.mktorest.com/rest', '123-abc-456.mktorest.com'],
        ['https://123-abc-456.mktorest.com/rest/', '123-abc-456.mktorest.com'],
        ['123-abc-456.mktorest.com', '123-abc-456.mktorest.com'],
      ] as const) {
        await p.page.locator('#field-endpointURL').fill(domain);
        expect(await p.page.inputValue('#field-identityURL'), domain).toBe(shown);
      }
      // Once the user types in the Identity URL it is theirs.
      await p.page.locator('#field-identityURL').fill('https://123-abc-456.mktorest.com/identity/');
      await p.page.locator('#field-endpointURL').fill('999-zzz-999.mktorest.com');
      expect(await p.page.inputValue('#field-identityURL')).toBe(
        'https://123-abc-456.mktorest.com/identity/',
      );
      expect(p.errors).toEqual([]);
    } finally {
      await p.close();
    }
  });

  it('keyboard only on a 360 px screen: Tab, type, Enter; focus lands on errors and on success', async () => {
    const { t } = e2e.env;
    const endUserId = 'e2e-keyboard';
    const session = await createSession(t, { id: endUserId });
    const p = await openPage(e2e.browser, { width: 360, height: 780 });
    const { page } = p;
    try {
      await page.goto(session.connectLink);
      await waitForForm(page);
      // The heading has the focus first; nothing overflows sideways.
      expect(await focused(page)).toBe('h1:Connect Marketo');
      expect(await horizontalOverflow(page)).toBe(0);
      await p.shot('05-keyboard-form-360');

      // Enter on the empty form: the summary takes the focus.
      await tabTo(page, 'field-client_id');
      await page.keyboard.press('Enter');
      await expect.poll(() => focused(page)).toBe('error-summary');
      expect(await page.locator('#error-summary li').allTextContents()).toEqual([
        'Enter the Client ID.',
        'Enter the Client Secret.',
        'Enter the Domain.',
      ]);

      // From the summary to the field, then type everything, Tab between fields (Identity URL untouched).
      await page.keyboard.press('Tab');
      expect(await focused(page)).toBe('a:Enter the Client ID.');
      await page.keyboard.press('Enter');
      expect(await focused(page)).toBe('field-client_id');
      await page.keyboard.type(t.sandbox.clientId);
      await tabTo(page, 'field-client_secret');
      await page.keyboard.type('wrong-secret');
      await tabTo(page, 'field-endpointURL');
      await page.keyboard.type(t.sandbox.endpoint);
      const stops = await tabTo(page, 'submit');
      expect(stops).toContain('field-identityURL');
      await page.keyboard.press('Enter');

      // The server's error for step 1: focus on the summary, then to the field at fault.
      const summary = await waitForErrorSummary(page);
      expect(summary.title).toBe('Step 1 of 2 failed: getting an access token');
      await expect.poll(() => focused(page)).toBe('error-summary');
      expect(await horizontalOverflow(page)).toBe(0);
      await p.shot('06-keyboard-error-360');
      await page.keyboard.press('Tab');
      expect(await focused(page)).toBe('a:Go to Client Secret');
      await page.keyboard.press('Enter');
      expect(await focused(page)).toBe('field-client_secret');
      await page.keyboard.press('ControlOrMeta+A');
      await page.keyboard.type(t.sandbox.clientSecret);
      await page.keyboard.press('Enter');

      // Success: the heading has the focus, Finish is the next stop.
      await waitForSuccess(page);
      await expect.poll(() => focused(page)).toBe('h1:Connected');
      expect(await horizontalOverflow(page)).toBe(0);
      await p.shot('07-keyboard-success-360');
      await page.keyboard.press('Tab');
      expect(await focused(page)).toBe('finish');
      expect(p.errors).toEqual([]);
    } finally {
      await p.close();
    }
    expect(await connectionsOf(t, endUserId)).toHaveLength(1);
  });

  it('in French (lang=fr), 360 px: texts, a step-1 error with the server words, then success', async () => {
    const { t } = e2e.env;
    const endUserId = 'e2e-french';
    const session = await createSession(t, { id: endUserId });
    const p = await openPage(e2e.browser, { width: 360, height: 780 });
    const { page } = p;
    try {
      await page.goto(`${session.connectLink}&lang=fr`);
      await waitForForm(page);
      expect(await page.locator('h1').textContent()).toBe('Connecter Marketo');
      expect(await page.evaluate(() => document.documentElement.lang)).toBe('fr');
      expect(await page.locator('label').allTextContents()).toEqual([
        'ID client',
        'Secret client',
        'Domaine',
        "URL d'identité (facultatif)",
      ]);
      expect(await page.locator('#submit').textContent()).toBe('Connecter');
      expect(await horizontalOverflow(page)).toBe(0);
      await p.shot('08-fr-form-360');

      await fillForm(page, { ...sandboxValues(), clientSecret: 'mauvais-secret', identity: undefined });
      await page.locator('#field-endpointURL').press('Enter');
      const summary = await waitForErrorSummary(page);
      expect(summary.title).toBe('Étape 1 sur 2 en échec : obtention d’un jeton d’accès');
      expect(summary.text).toContain('Le secret client a été refusé pour cet ID client.');
      expect(summary.text).toContain('Que faire :');
      expect(summary.text).toContain('Détails : Marketo refused the Client Secret for this Client ID.');
      expect(summary.text).toContain('Code d’erreur : invalid_client_secret');
      expect(await horizontalOverflow(page)).toBe(0);
      await p.shot('09-fr-error-360');

      await page.locator('#field-client_secret').fill(t.sandbox.clientSecret);
      await page.locator('#field-client_secret').press('Enter');
      await waitForSuccess(page);
      expect(await page.locator('main').innerText()).toContain('Votre compte Marketo est connecté.');
      expect(await page.locator('#finish').textContent()).toBe('Terminer');
      expect(await horizontalOverflow(page)).toBe(0);
      await p.shot('10-fr-success-360');
      expect(p.errors).toEqual([]);
    } finally {
      await p.close();
    }
    expect(await connectionsOf(t, endUserId)).toHaveLength(1);
  });
});
