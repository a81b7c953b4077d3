/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * Tether's dashboard (browser entry point), served at `/dashboard/`. Vanilla DOM, text nodes only (no
 * innerHTML), no inline script or style: the page runs under a strict CSP. The environment's secret key
 * lives in sessionStorage only (gone with the tab), goes out as a Bearer header, and is never written into
 * the page or a URL. Screens follow the hash (routes.ts), so reload and back/forward work.
 */
import { ApiCallError, DashboardApi, COUNT_CAP, type ConnectionRef } from './api.ts';
import {
  formatCapped,
  formatCount,
  formatData,
  formatDateTime,
  formatDuration,
  formatSpan,
  formatWhen,
} from './format.ts';
import {
  credentialHealth,
  statusTone,
  syncLabel,
  type ApiFailure,
  type ConnectionDetail,
  type RunItem,
  type SyncItem,
  type UsageCounters,
} from './models.ts';
import { formatRoute, parseRoute, sectionOf, type Route } from './routes.ts';
import { announce, h, mainEl, type Attrs, type Child } from '../../browser-dom.ts';

const KEY_STORAGE = 'tether.dashboard.secretKey';
/** How often the sync table and the run list of a connection refresh while shown. */
const REFRESH_MS = 3_000;

// ---------------------------------------------------------------------------------------------------
// The key

function getKey(): string {
  try {
    return sessionStorage.getItem(KEY_STORAGE) ?? '';
  } catch {
    return '';
  }
}

function setKey(key: string): void {
  sessionStorage.setItem(KEY_STORAGE, key);
}

function clearKey(): void {
  try {
    sessionStorage.removeItem(KEY_STORAGE);
  } catch {
    // Storage disabled: nothing was kept.
  }
}

const api = new DashboardApi({ baseUrl: '', getKey });

// ---------------------------------------------------------------------------------------------------
// DOM helpers

function loading(text = 'Loading…'): HTMLElement {
  return h('p', { class: 'loading' }, h('span', { class: 'spinner', 'aria-hidden': 'true' }), text);
}

function badge(text: string, tone: string): HTMLElement {
  return h('span', { class: `badge ${tone}` }, text);
}

function table(
  headers: (string | [string, 'num'])[],
  rows: HTMLTableRowElement[],
  label: string,
): HTMLElement {
  const head = h(
    'tr',
    {},
    ...headers.map((c) =>
      typeof c === 'string' ? h('th', { scope: 'col' }, c) : h('th', { scope: 'col', class: 'num' }, c[0]),
    ),
  );
  return h(
    'div',
    { class: 'table-wrap' },
    h('table', { 'aria-label': label }, h('thead', {}, head), h('tbody', {}, ...rows)),
  );
}

function td(content: Child, cls?: string): HTMLTableCellElement {
  return h('td', cls ? { class: cls } : {}, content);
}

function props(entries: [string, Child][]): HTMLElement {
  const dl = h('dl', { class: 'props' });
  for (const [k, v] of entries) dl.append(h('dt', {}, k), h('dd', {}, v));
  return dl;
}

function link(route: Route, text: string, attrs: Attrs = {}): HTMLAnchorElement {
  return h('a', { href: formatRoute(route), ...attrs }, text);
}

function failureOf(err: unknown): ApiFailure {
  if (err instanceof ApiCallError) return err.failure;
  return { status: 0, code: 'client_error', message: err instanceof Error ? err.message : String(err) };
}

/** An API error as the user reads it: the message, then the code (and HTTP status). */
function errorNotice(err: unknown, title?: string): HTMLElement {
  const f = failureOf(err);
  if (f.status === 401 && getKey() !== '') keyRefused(f);
  return h(
    'div',
    { class: 'notice notice-error', role: 'alert' },
    title ? h('p', {}, h('strong', {}, title)) : null,
    h('p', { class: 'error-message' }, f.message),
    h('p', { class: 'error-code' }, `Code: ${f.code}${f.status > 0 ? ` (HTTP ${f.status})` : ''}`),
  );
}

// ---------------------------------------------------------------------------------------------------
// Screens: a generation counter so that late answers and timers of a screen left behind do nothing.

let generation = 0;
let timers: number[] = [];
/** Shown on the sign-in screen after a key was refused mid-session. */
let signInNotice: ApiFailure | null = null;

function leaveScreen(): number {
  generation++;
  for (const t of timers) window.clearInterval(t);
  timers = [];
  return generation;
}

const live = (gen: number) => gen === generation;

function setScreen(...content: Node[]): void {
  const main = mainEl();
  main.replaceChildren(...content);
  main.removeAttribute('aria-busy');
  main.querySelector<HTMLElement>('h1')?.focus();
  window.scrollTo(0, 0);
}

function heading(text: string): HTMLHeadingElement {
  return h('h1', { tabindex: '-1' }, text);
}

/** A card whose body is filled by `load` (its errors shown in place): one failing call blanks nothing. */
function card(title: string, gen: number, load: () => Promise<Node[]>, cls = 'card'): HTMLElement {
  const body = h('div', {}, loading());
  const el = h('section', { class: cls, 'aria-label': title }, h('h2', {}, title), body);
  load().then(
    (nodes) => {
      if (live(gen)) body.replaceChildren(...nodes);
    },
    (err: unknown) => {
      if (live(gen)) body.replaceChildren(errorNotice(err));
    },
  );
  return el;
}

function render(): void {
  const gen = leaveScreen();
  if (getKey() === '') {
    renderChrome(null);
    renderSignIn();
    return;
  }
  const route = parseRoute(window.location.hash);
  renderChrome(route);
  switch (route.name) {
    case 'integrations':
      return renderIntegrations(gen);
    case 'connections':
      return renderConnections(gen, route.search, route.page);
    case 'connection':
      return renderConnection(gen, route);
    case 'run':
      return renderRun(gen, route);
    case 'connect-link':
      return renderConnectLink(gen);
    case 'not-found':
      setScreen(
        heading('Page not found'),
        h(
          'p',
          {},
          'There is no such page. ',
          link({ name: 'connections', search: '', page: 0 }, 'See the connections.'),
        ),
      );
  }
}

function renderChrome(route: Route | null): void {
  const nav = document.getElementById('nav')!;
  const account = document.getElementById('account')!;
  if (!route) {
    nav.hidden = true;
    account.replaceChildren();
    return;
  }
  const current = sectionOf(route);
  const item = (section: 'integrations' | 'connections' | 'connect-link', target: Route, text: string) =>
    link(target, text, { 'aria-current': current === section ? 'page' : undefined });
  nav.replaceChildren(
    item('connections', { name: 'connections', search: '', page: 0 }, 'Connections'),
    item('integrations', { name: 'integrations' }, 'Integrations'),
    item('connect-link', { name: 'connect-link' }, 'Create Connect link'),
  );
  nav.hidden = false;
  const signOut = h(
    'button',
    { type: 'button', class: 'button secondary small', id: 'sign-out' },
    'Sign out',
  );
  signOut.addEventListener('click', () => {
    clearKey();
    signInNotice = null;
    render();
    announce('Signed out.');
  });
  account.replaceChildren(signOut);
}

/** The key stopped working (rotated, wrong environment): back to the sign-in screen, saying why. */
function keyRefused(f: ApiFailure): void {
  clearKey();
  signInNotice = f;
  // After the current call stack: the caller is still building the screen being left.
  window.setTimeout(render, 0);
}

// ---------------------------------------------------------------------------------------------------
// Sign in

function renderSignIn(): void {
  const input = h('input', {
    id: 'secret-key',
    type: 'password',
    autocomplete: 'off',
    spellcheck: 'false',
    required: true,
    'aria-describedby': 'secret-key-help',
  });
  const button = h('button', { type: 'submit', class: 'button primary', id: 'sign-in' }, 'Sign in');
  const errorBox = h('div', { id: 'sign-in-error' });
  if (signInNotice)
    errorBox.append(errorNotice(new ApiCallError(signInNotice), 'Signed out: the key was refused.'));
  // No `name` on the input and a POST form: even without JavaScript the key never lands in a URL.
  const form = h(
    'form',
    { method: 'post', novalidate: true },
    errorBox,
    h(
      'div',
      { class: 'field' },
      h('label', { for: 'secret-key' }, 'Secret key'),
      input,
      h(
        'p',
        { class: 'muted', id: 'secret-key-help' },
        'The environment’s secret key (printed when Tether starts). It is kept in this tab only.',
      ),
    ),
    button,
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const candidate = input.value.trim();
    if (candidate === '') {
      errorBox.replaceChildren(
        errorNotice(new ApiCallError({ status: 0, code: 'missing_key', message: 'Enter the secret key.' })),
      );
      input.focus();
      return;
    }
    button.disabled = true;
    errorBox.replaceChildren(loading('Checking the key…'));
    new DashboardApi({ baseUrl: '', getKey: () => candidate }).checkKey().then(
      () => {
        input.value = '';
        setKey(candidate);
        signInNotice = null;
        if (parseRoute(window.location.hash).name === 'not-found') window.location.hash = '#/connections';
        render();
        announce('Signed in.');
      },
      (err: unknown) => {
        button.disabled = false;
        errorBox.replaceChildren(errorNotice(err, 'Could not sign in.'));
        input.focus();
      },
    );
  });
  setScreen(
    h(
      'section',
      { class: 'card narrow' },
      heading('Sign in to the Tether dashboard'),
      h('p', { class: 'muted' }, 'See integrations, connections and syncs, and create Connect links.'),
      form,
    ),
  );
  input.focus();
}

// ---------------------------------------------------------------------------------------------------
// Integrations

function renderIntegrations(gen: number): void {
  setScreen(
    heading('Integrations'),
    card('Integrations', gen, async () => {
      const list = await api.integrations();
      if (list.length === 0) return [h('p', {}, 'No integrations yet.')];
      const rows = list.map((i) => {
        const count = td('…', 'num');
        api.connectionCount(i.uniqueKey).then(
          (n) => {
            if (live(gen)) count.textContent = formatCapped(n, COUNT_CAP);
          },
          (err: unknown) => {
            if (live(gen)) count.textContent = `error: ${failureOf(err).code}`;
          },
        );
        return h('tr', {}, td(h('code', {}, i.uniqueKey)), td(i.provider), td(i.displayName), count);
      });
      return [
        table(['Unique key', 'Provider', 'Display name', ['Connections', 'num']], rows, 'Integrations'),
      ];
    }),
  );
}

// ---------------------------------------------------------------------------------------------------
// Connections

function renderConnections(gen: number, search: string, page: number): void {
  const input = h('input', { id: 'search', type: 'search', value: search, autocomplete: 'off' });
  const form = h(
    'form',
    { class: 'inline-form', role: 'search' },
    h('div', { class: 'grow' }, h('label', { for: 'search' }, 'Search by connection id'), input),
    h('button', { type: 'submit', class: 'button secondary' }, 'Search'),
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    window.location.hash = formatRoute({ name: 'connections', search: input.value.trim(), page: 0 });
  });
  setScreen(
    heading('Connections'),
    card('Connection list', gen, async () => {
      const { items, more } = await api.connections(search, page);
      const nodes: Node[] = [];
      if (items.length === 0) {
        nodes.push(
          h(
            'p',
            {},
            search !== ''
              ? `No connection id contains “${search}”.`
              : page > 0
                ? 'No more connections.'
                : 'No connections yet. ',
            search === '' && page === 0 ? link({ name: 'connect-link' }, 'Create a Connect link.') : null,
          ),
        );
      } else {
        const rows = items.map((c) =>
          h(
            'tr',
            {},
            td(
              link(
                { name: 'connection', integration: c.integration, connectionId: c.connectionId },
                c.connectionId,
                { class: 'mono connection-link' },
              ),
            ),
            td(c.integration),
            td(
              c.endUserId
                ? h(
                    'span',
                    {},
                    c.endUserId,
                    c.endUserEmail || c.endUserName
                      ? h(
                          'span',
                          { class: 'muted' },
                          ` · ${[c.endUserName, c.endUserEmail].filter(Boolean).join(' · ')}`,
                        )
                      : null,
                  )
                : '—',
            ),
            td(formatDateTime(c.created)),
            td(c.errors.length > 0 ? badge(c.errors.join(', '), 'error') : badge('ok', 'ok')),
          ),
        );
        nodes.push(
          table(['Connection id', 'Integration', 'End user', 'Created', 'Errors'], rows, 'Connections'),
        );
      }
      const pager = h('div', { class: 'pager' });
      if (page > 0) pager.append(link({ name: 'connections', search, page: page - 1 }, 'Previous page'));
      if (page > 0 || more) pager.append(h('span', { class: 'muted' }, `Page ${page + 1}`));
      if (more) pager.append(link({ name: 'connections', search, page: page + 1 }, 'Next page'));
      nodes.push(pager);
      return nodes;
    }),
  );
  // The list heading keeps the focus; the search box is one Tab away.
  mainEl().insertBefore(form, mainEl().children[1] ?? null);
}

// ---------------------------------------------------------------------------------------------------
// One connection

function configCard(gen: number, ref: ConnectionRef, detail: Promise<ConnectionDetail>): HTMLElement {
  return card('Connection', gen, async () => {
    const d = await detail;
    const entries: [string, Child][] = [
      ['Integration', d.integration || ref.integration],
      ['Provider', d.provider || '—'],
      ...d.config.map(([k, v]): [string, Child] => [k, h('code', {}, v)]),
      ['Created', formatDateTime(d.createdAt)],
      ['Updated', formatDateTime(d.updatedAt)],
      ['Last read', formatDateTime(d.lastFetchedAt)],
    ];
    return [props(entries)];
  });
}

/** The credential status rows: type, expiry, last renewal, last failure (never a token or a secret). */
function credentialProps(d: ConnectionDetail | null): [string, Child][] {
  const c = d?.credentials;
  const now = new Date();
  const rows: [string, Child][] = [
    ['Type', c?.type ?? '—'],
    [
      'Token expires',
      c?.expired === true && c.expiresAt
        ? `${formatWhen(c.expiresAt, now)} (expired)`
        : formatWhen(c?.expiresAt, now),
    ],
    ['Last renewed', c?.lastRenewedAt ? formatWhen(c.lastRenewedAt, now) : 'not since connecting'],
  ];
  const e = c?.lastRefreshError;
  if (e) {
    rows.push([
      'Last renewal failure',
      h(
        'span',
        { id: 'refresh-failure' },
        `${formatWhen(e.at, now)}: ${e.code}${e.logId ? ` (log ${e.logId})` : ''}`,
      ),
    ]);
    rows.push(['Failed attempts', `${c.refreshAttempts}${c.refreshExhausted ? ' (no longer retried)' : ''}`]);
  }
  rows.push(['Errors', d && d.errors.length > 0 ? d.errors.join(', ') : 'none']);
  return rows;
}

function credentialsCard(gen: number, detail: Promise<ConnectionDetail>): HTMLElement {
  return card('Credentials', gen, async () => {
    let d: ConnectionDetail | null = null;
    let failure: ApiFailure | null = null;
    try {
      d = await detail;
    } catch (err) {
      failure = failureOf(err);
      if (failure.status === 401) throw err;
    }
    const health = credentialHealth(d, failure);
    const label = health.state === 'healthy' ? 'Healthy' : health.state === 'error' ? 'Failing' : 'Unknown';
    return [
      h(
        'p',
        { id: 'credential-health' },
        badge(label, health.state === 'healthy' ? 'ok' : health.state),
        ' ',
        health.text,
      ),
      props(credentialProps(d)),
      h('p', { class: 'muted' }, 'The client secret and tokens are never shown here.'),
    ];
  });
}

function counters(c: UsageCounters): [string, Child][] {
  return [
    ['Calls', formatCount(c.calls)],
    ['Identity calls', formatCount(c.identityCalls)],
    [
      'Errors',
      c.errorsByCode.length > 0
        ? `${formatCount(c.errors)} (${c.errorsByCode.map(([k, n]) => `${k}: ${formatCount(n)}`).join(', ')})`
        : formatCount(c.errors),
    ],
    ['Retries', formatCount(c.retries)],
    ['Refused by traffic control', formatCount(c.rejected)],
    ['Time queued', formatDuration(c.queuedMs)],
    [
      'Budget',
      c.budget
        ? `${formatCount(c.budget.used)} used of ${formatCount(c.budget.limit)} (${formatCount(c.budget.left)} left, resets ${formatDateTime(c.budget.resetAt)})`
        : '—',
    ],
  ];
}

function usageCard(gen: number, ref: ConnectionRef): HTMLElement {
  return card('API usage today', gen, async () => {
    const u = await api.usage(ref);
    return [
      h('p', { class: 'muted' }, `Quota day ${u.day}`),
      h('h3', {}, 'This connection'),
      props(counters(u.connection)),
      h('h3', {}, `Instance ${u.instanceKey} (all connections)`),
      props(counters(u.instance)),
    ];
  });
}

function limitsCard(gen: number, ref: ConnectionRef): HTMLElement {
  return card('Limits', gen, async () => {
    const l = await api.limits(ref);
    const entries: [string, Child][] = [];
    if (l.budget) {
      entries.push([
        'Daily budget',
        `${formatCount(l.budget.limit)} calls${l.budget.isDefault ? ' (default share)' : ' (set)'}; ${formatCount(l.budget.left)} left`,
      ]);
    }
    for (const [k, v] of l.limits) {
      entries.push([
        k,
        `${formatCount(v)}${l.configured.some((c) => c.replace(/_/g, '') === k.toLowerCase()) ? ' (set)' : ''}`,
      ]);
    }
    return [h('p', { class: 'muted' }, `Instance ${l.instanceKey}`), props(entries)];
  });
}

function requestsCard(gen: number, ref: ConnectionRef): HTMLElement {
  return card('Recent proxied requests', gen, async () => {
    const list = await api.requests(ref, 20);
    if (list.length === 0) return [h('p', {}, 'No proxied requests yet.')];
    const rows = list.map((r) =>
      h(
        'tr',
        {},
        td(formatDateTime(r.at)),
        td(r.method),
        td(h('code', {}, r.path)),
        td(badge(String(r.status), r.status >= 400 ? 'error' : 'ok')),
        td(r.codes.join(', ') || '—'),
        td(formatDuration(r.durationMs), 'num'),
        td(formatCount(r.attempts), 'num'),
      ),
    );
    return [
      table(
        ['At', 'Method', 'Path', 'Status', 'Marketo codes', ['Duration', 'num'], ['Attempts', 'num']],
        rows,
        'Requests',
      ),
    ];
  });
}

function resultText(s: SyncItem): string {
  if (s.latestResult.length === 0) return '—';
  return s.latestResult
    .map((m) => `${m.model}: +${formatCount(m.added)} ~${formatCount(m.updated)} −${formatCount(m.deleted)}`)
    .join('; ');
}

function syncRows(
  syncs: SyncItem[],
  act: (s: SyncItem, a: 'trigger' | 'pause' | 'start', b: HTMLButtonElement) => void,
): HTMLElement {
  const now = new Date();
  const rows = syncs.map((s) => {
    const label = syncLabel(s);
    const buttons = h('div', { class: 'actions' });
    // A paused schedule (PAUSED without a quota reset to wait for) offers Resume; any other, Pause.
    const schedulePaused = s.status === 'PAUSED' && s.pausedUntil === null;
    const actions: ['trigger' | 'pause' | 'start', string][] = [
      ['trigger', 'Trigger'],
      schedulePaused ? ['start', 'Resume'] : ['pause', 'Pause'],
    ];
    for (const [action, text] of actions) {
      const b = h(
        'button',
        {
          type: 'button',
          class: 'button secondary small',
          'data-action': action,
          'aria-label': `${text} ${label}`,
        },
        text,
      );
      b.addEventListener('click', () => act(s, action, b));
      buttons.append(b);
    }
    return h(
      'tr',
      { 'data-sync': label },
      td(
        h(
          'span',
          {},
          h('strong', {}, s.name),
          s.variant !== 'base' ? h('span', { class: 'muted' }, ` (variant ${s.variant})`) : null,
        ),
      ),
      td(
        h(
          'span',
          {},
          badge(s.status, statusTone(s.status)),
          s.pausedUntil ? h('span', { class: 'muted' }, ` until ${formatDateTime(s.pausedUntil)}`) : null,
          s.lastError ? h('span', { class: 'muted' }, ` ${s.lastError}`) : null,
        ),
      ),
      td(s.frequency ?? '—'),
      td(
        s.latestExecutionStatus
          ? h(
              'span',
              {},
              badge(s.latestExecutionStatus, statusTone(s.latestExecutionStatus)),
              ` ${formatWhen(s.finishedAt, now)}`,
            )
          : 'never run',
      ),
      td(resultText(s)),
      td(s.recordCount.map(([m, n]) => `${m}: ${formatCount(n)}`).join('; ') || '—'),
      td(
        s.status === 'RUNNING'
          ? 'running now'
          : s.nextScheduledSyncAt === null && s.status === 'PAUSED'
            ? 'paused'
            : formatWhen(s.nextScheduledSyncAt, now),
      ),
      td(buttons),
    );
  });
  return table(
    ['Sync', 'Status', 'Frequency', 'Last run', 'Last result', 'Records', 'Next run', 'Actions'],
    rows,
    'Syncs',
  );
}

function runRows(ref: ConnectionRef, runs: RunItem[]): HTMLElement {
  const rows = runs.map((r) =>
    h(
      'tr',
      { 'data-run': r.id, 'data-status': r.status },
      td(link({ ...ref, name: 'run', runId: r.id }, `#${r.id}`, { class: 'run-link' })),
      td(syncLabel({ name: r.sync, variant: r.variant })),
      td(`${r.type.toLowerCase()} · ${r.reason}`),
      td(
        h(
          'span',
          {},
          badge(r.status, statusTone(r.status)),
          r.error ? h('span', { class: 'muted' }, ` ${r.error}`) : null,
        ),
      ),
      td(formatDateTime(r.startedAt)),
      td(formatSpan(r.startedAt, r.endedAt), 'num'),
      td(formatCount(r.added), 'num added'),
      td(formatCount(r.updated), 'num updated'),
      td(formatCount(r.deleted), 'num deleted'),
      td(formatCount(r.unchanged), 'num'),
      td(formatCount(r.apiCalls), 'num'),
    ),
  );
  return table(
    [
      'Run',
      'Sync',
      'Kind',
      'Status',
      'Started',
      ['Duration', 'num'],
      ['Added', 'num'],
      ['Updated', 'num'],
      ['Deleted', 'num'],
      ['Unchanged', 'num'],
      ['API calls', 'num'],
    ],
    rows,
    'Runs',
  );
}

/** Syncs and their runs: refreshed every few seconds while the connection is shown. */
function syncsSection(gen: number, ref: ConnectionRef): HTMLElement[] {
  const syncBody = h('div', {}, loading());
  const runBody = h('div', {}, loading());
  const feedback = h('div', { id: 'sync-feedback' });
  let inFlight = false;
  // Replaced only when the data changed: a table rebuilt under the pointer would swallow clicks.
  let shownSyncs = '';
  let shownRuns = '';

  let again = false;

  const refresh = async (): Promise<void> => {
    if (inFlight) {
      // An action's refresh must not be lost behind the timer's.
      again = true;
      return;
    }
    inFlight = true;
    try {
      // Runs first, then the syncs: a run the list shows as ended is ended in the sync row too (a run's end
      // is written with its sync's), so the two tables never disagree for a refresh.
      const [runs] = await Promise.allSettled([api.runs(ref, 20)]);
      const [syncs] = await Promise.allSettled([api.syncs(ref)]);
      if (!live(gen)) return;
      if (syncs.status === 'fulfilled') {
        const sig = JSON.stringify(syncs.value);
        if (sig !== shownSyncs) {
          shownSyncs = sig;
          syncBody.replaceChildren(
            syncs.value.length === 0
              ? h('p', {}, 'This integration has no syncs.')
              : syncRows(syncs.value, act),
          );
        }
      } else {
        shownSyncs = '';
        syncBody.replaceChildren(errorNotice(syncs.reason));
      }
      if (runs.status === 'fulfilled') {
        const sig = JSON.stringify(runs.value);
        if (sig !== shownRuns) {
          shownRuns = sig;
          runBody.replaceChildren(
            runs.value.length === 0 ? h('p', {}, 'No runs yet.') : runRows(ref, runs.value),
          );
        }
      } else {
        shownRuns = '';
        runBody.replaceChildren(errorNotice(runs.reason));
      }
    } finally {
      inFlight = false;
      if (again && live(gen)) {
        again = false;
        void refresh();
      }
    }
  };

  const act = (s: SyncItem, action: 'trigger' | 'pause' | 'start', button: HTMLButtonElement) => {
    button.disabled = true;
    const label = syncLabel(s);
    api.syncAction(ref, s, action).then(
      () => {
        if (!live(gen)) return;
        button.disabled = false;
        const done = action === 'trigger' ? 'Run requested for' : action === 'pause' ? 'Paused' : 'Resumed';
        feedback.replaceChildren(
          h('div', { class: 'notice notice-success', role: 'status' }, `${done} ${label}.`),
        );
        announce(`${done} ${label}.`);
        void refresh();
      },
      (err: unknown) => {
        if (!live(gen)) return;
        button.disabled = false;
        feedback.replaceChildren(
          errorNotice(err, `Could not ${action === 'start' ? 'resume' : action} ${label}.`),
        );
      },
    );
  };

  void refresh();
  timers.push(window.setInterval(() => void refresh(), REFRESH_MS));
  return [
    h('section', { class: 'card', 'aria-label': 'Syncs' }, h('h2', {}, 'Syncs'), feedback, syncBody),
    h('section', { class: 'card', 'aria-label': 'Runs' }, h('h2', {}, 'Recent runs'), runBody),
  ];
}

function renderConnection(gen: number, route: ConnectionRef): void {
  // Only the two ids: the route object also carries its `name`, which links built from `ref` set.
  const ref: ConnectionRef = { integration: route.integration, connectionId: route.connectionId };
  const detail = api.connection(ref);
  // Both cards read it; an unhandled copy must not surface as a page error.
  detail.catch(() => undefined);
  setScreen(
    h(
      'p',
      { class: 'crumbs' },
      link({ name: 'connections', search: '', page: 0 }, 'Connections'),
      ` › ${ref.integration}`,
    ),
    heading(ref.connectionId),
    h('div', { class: 'grid-2' }, configCard(gen, ref, detail), credentialsCard(gen, detail)),
    ...syncsSection(gen, ref),
    h('div', { class: 'grid-2' }, usageCard(gen, ref), limitsCard(gen, ref)),
    requestsCard(gen, ref),
  );
}

// ---------------------------------------------------------------------------------------------------
// A run's log

function renderRun(gen: number, route: ConnectionRef & { runId: string }): void {
  const ref: ConnectionRef = { integration: route.integration, connectionId: route.connectionId };
  setScreen(
    h(
      'p',
      { class: 'crumbs' },
      link({ name: 'connections', search: '', page: 0 }, 'Connections'),
      ' › ',
      link({ ...ref, name: 'connection' }, ref.connectionId),
    ),
    heading(`Run #${route.runId}`),
    card('Run', gen, async () => {
      const runs = await api.runs(ref, 100);
      const r = runs.find((x) => x.id === route.runId);
      if (!r) return [h('p', {}, 'This run is not among the connection’s last 100 runs.')];
      return [
        props([
          ['Sync', syncLabel({ name: r.sync, variant: r.variant })],
          ['Status', badge(r.status, statusTone(r.status))],
          ['Kind', `${r.type.toLowerCase()} · ${r.reason}`],
          ['Started', formatDateTime(r.startedAt)],
          ['Ended', formatDateTime(r.endedAt)],
          ['Duration', formatSpan(r.startedAt, r.endedAt)],
          [
            'Records',
            `${formatCount(r.added)} added, ${formatCount(r.updated)} updated, ${formatCount(r.deleted)} deleted, ${formatCount(r.unchanged)} unchanged`,
          ],
          ['API calls', formatCount(r.apiCalls)],
          ['Error', r.error ?? 'none'],
        ]),
      ];
    }),
    card('Log', gen, async () => {
      const lines = await api.runLogs(ref, route.runId);
      if (lines.length === 0) return [h('p', {}, 'This run wrote no log lines.')];
      const rows = lines.map((l) =>
        h(
          'tr',
          { class: `level-${l.level}` },
          td(formatDateTime(l.at)),
          td(badge(l.level, l.level === 'error' ? 'error' : l.level === 'warn' ? 'warn' : 'neutral')),
          td(l.message),
          td(h('code', {}, formatData(l.data))),
        ),
      );
      return [table(['At', 'Level', 'Message', 'Data'], rows, 'Run log')];
    }),
  );
}

// ---------------------------------------------------------------------------------------------------
// Connect link

function renderConnectLink(gen: number): void {
  const select = h(
    'select',
    { id: 'cl-integration', required: true },
    h('option', { value: '' }, 'Loading…'),
  );
  const endUserId = h('input', { id: 'cl-end-user-id', type: 'text', required: true, autocomplete: 'off' });
  const email = h('input', { id: 'cl-email', type: 'email', autocomplete: 'off' });
  const displayName = h('input', { id: 'cl-display-name', type: 'text', autocomplete: 'off' });
  const submit = h('button', { type: 'submit', class: 'button primary', id: 'cl-submit' }, 'Create link');
  const result = h('div', { id: 'cl-result', 'aria-live': 'polite' });
  const field = (id: string, label: string, control: HTMLElement, optional = false) =>
    h(
      'div',
      { class: 'field' },
      h('label', { for: id }, label, optional ? h('span', { class: 'optional' }, ' (optional)') : null),
      control,
    );
  const form = h(
    'form',
    { novalidate: true },
    field('cl-integration', 'Integration', select),
    field('cl-end-user-id', 'End user id', endUserId),
    field('cl-email', 'End user email', email, true),
    field('cl-display-name', 'End user display name', displayName, true),
    submit,
  );
  api.integrations().then(
    (list) => {
      if (!live(gen)) return;
      select.replaceChildren(
        ...list.map((i) => h('option', { value: i.uniqueKey }, `${i.displayName} (${i.uniqueKey})`)),
      );
      if (list.length === 0) select.replaceChildren(h('option', { value: '' }, 'No integrations'));
    },
    (err: unknown) => {
      if (live(gen)) result.replaceChildren(errorNotice(err, 'Could not load the integrations.'));
    },
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const id = endUserId.value.trim();
    if (select.value === '' || id === '') {
      result.replaceChildren(
        errorNotice(
          new ApiCallError({
            status: 0,
            code: 'missing_field',
            message: select.value === '' ? 'Choose an integration.' : 'Enter the end user id.',
          }),
        ),
      );
      return;
    }
    submit.disabled = true;
    result.replaceChildren(loading('Creating the link…'));
    api
      .createConnectLink(select.value, {
        id,
        email: email.value.trim(),
        displayName: displayName.value.trim(),
      })
      .then(
        (link) => {
          if (!live(gen)) return;
          const output = h('input', {
            id: 'connect-link',
            type: 'text',
            readonly: true,
            value: link.connectLink,
          });
          const copy = h('button', { type: 'button', class: 'button secondary', id: 'copy-link' }, 'Copy');
          const copied = h('p', { class: 'muted', id: 'copy-status', role: 'status' });
          copy.addEventListener('click', () => {
            navigator.clipboard.writeText(link.connectLink).then(
              () => {
                copied.textContent = 'Copied to the clipboard.';
              },
              () => {
                output.select();
                copied.textContent = 'Could not copy: the link is selected, copy it with Ctrl+C / ⌘C.';
              },
            );
          });
          result.replaceChildren(
            h(
              'div',
              { class: 'notice notice-success' },
              h('p', {}, h('strong', {}, 'Connect link created.'), ' Send it to the end user.'),
              h('label', { for: 'connect-link' }, 'Connect link'),
              h('div', { class: 'copy-row' }, output, copy),
              copied,
              h('p', { id: 'cl-expires' }, `Expires ${formatWhen(link.expiresAt, new Date())}.`),
            ),
          );
          submit.disabled = false;
          announce('Connect link created.');
        },
        (err: unknown) => {
          if (!live(gen)) return;
          submit.disabled = false;
          result.replaceChildren(errorNotice(err, 'Could not create the link.'));
        },
      );
  });
  setScreen(
    h(
      'section',
      { class: 'card narrow' },
      heading('Create a Connect link'),
      h(
        'p',
        { class: 'muted' },
        'The end user opens the link to connect their account; it expires after 30 minutes.',
      ),
      form,
      result,
    ),
  );
}

// ---------------------------------------------------------------------------------------------------

window.addEventListener('hashchange', render);
render();
