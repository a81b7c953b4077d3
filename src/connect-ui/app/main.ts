/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/// <reference lib="dom.asynciterable" />
/**
 * Tether's Connect UI (browser entry point). Served at `<publicUrl>/connect/`, opened standalone
 * (`?session_token=…`) or in the iframe of @nangohq/frontend's `openConnectUI` (token by postMessage).
 * The form is built from the provider data (`GET /providers/{provider}`); see form-model.ts.
 */
import { ApiClient, ApiRequestError, type AuthSuccess } from './api.ts';
import { describeError, type ApiError, type DisplayError } from './errors.ts';
import {
  autofillPairs,
  buildFields,
  collectAuthRequest,
  deriveHost,
  hasPath,
  hasScheme,
  isHostField,
  isSupportedAuthMode,
  previewUrl,
  safeHttpUrl,
  type FieldModel,
} from './form-model.ts';
import { pickLanguage, translator, type MessageKey } from './i18n.ts';
import {
  isEmbedded,
  parseStartup,
  readSessionTokenMessage,
  readableTextOn,
  safeColor,
  telemetryBody,
  type OutgoingMessage,
  type ThemeParam,
} from './protocol.ts';
import type { ConnectSession, Integration, Provider } from './types.ts';
import { issueMessage, validateValue } from './validation.ts';
import { announce, h, mainEl } from '../../browser-dom.ts';

// ---------------------------------------------------------------------------------------------------
// Startup state

const startup = parseStartup(window.location.href);
const lang = pickLanguage(
  startup.lang,
  navigator.languages && navigator.languages.length > 0 ? navigator.languages : [navigator.language],
);
const t = translator(lang);
const framed = window.parent !== window;
const embedded = isEmbedded(startup.embedded, framed);
const TOKEN_WAIT_MS = 10_000;

let sessionToken: string | null = startup.sessionToken;
/** Origin of the parent page, learnt from its `session_token` message (else `*`, like Nango). */
let parentOrigin: string | null = null;
let api: ApiClient | null = null;
let session: ConnectSession | null = null;
let integrations: Integration[] = [];
let busy = false;

// ---------------------------------------------------------------------------------------------------
// DOM helpers

const ICONS = {
  close: 'M6 6l12 12M18 6L6 18',
  back: 'M15 18l-6-6 6-6',
  eye: 'M2 12s3.5-7 10-7 10 7 10 7-3.5 7-10 7S2 12 2 12zm10 3a3 3 0 100-6 3 3 0 000 6z',
  eyeOff:
    'M3 3l18 18M10.6 6.1A10.9 10.9 0 0112 6c6.5 0 10 6 10 6a17.6 17.6 0 01-3.2 3.9M6.6 6.6C3.8 8.4 2 12 2 12s3.5 7 10 7a10 10 0 005.4-1.6M9.9 9.9a3 3 0 004.2 4.2',
  check: 'M20 6L9 17l-5-5',
  alert: 'M12 8v5m0 3.5v.5M10.3 3.9L2.4 18a2 2 0 001.7 3h15.8a2 2 0 001.7-3L13.7 3.9a2 2 0 00-3.4 0z',
  external: 'M14 4h6v6m0-6L10 14M18 14v5a1 1 0 01-1 1H5a1 1 0 01-1-1V7a1 1 0 011-1h5',
} as const;

function icon(name: keyof typeof ICONS, cls = 'icon'): SVGSVGElement {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('class', cls);
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('focusable', 'false');
  const path = document.createElementNS(ns, 'path');
  path.setAttribute('d', ICONS[name]);
  svg.append(path);
  return svg;
}

function externalLink(href: string, text: string, cls?: string): HTMLAnchorElement {
  const a = h(
    'a',
    { href, target: '_blank', rel: 'noopener noreferrer', class: cls },
    text,
    icon('external', 'icon icon-inline'),
    h('span', { class: 'sr-only' }, ` ${t('link.newTab')}`),
  );
  a.addEventListener('click', () => track(cls === 'guide-link' ? 'click:doc' : 'click:doc_section'));
  return a;
}

interface Nav {
  back?: () => void;
}

/** Replace the screen; the heading (h1) takes the focus so screen readers start there. */
function setScreen(content: Node[], nav: Nav = {}, focusHeading = true): void {
  const main = mainEl();
  main.replaceChildren(...content);
  main.removeAttribute('aria-busy');
  const start = document.getElementById('nav-start')!;
  const end = document.getElementById('nav-end')!;
  start.replaceChildren();
  end.replaceChildren();
  if (nav.back) {
    const back = h('button', { type: 'button', class: 'nav-button' }, icon('back'), t('back'));
    back.addEventListener('click', nav.back);
    start.append(back);
  }
  if (embedded) {
    const close = h(
      'button',
      { type: 'button', class: 'nav-button icon-only', 'aria-label': t('close') },
      icon('close'),
    );
    close.addEventListener('click', () => {
      track('click:close');
      post({ type: 'close' });
    });
    end.append(close);
  }
  if (focusHeading) main.querySelector<HTMLElement>('h1')?.focus({ preventScroll: false });
  window.scrollTo(0, 0);
}

function heading(text: string, iconName?: keyof typeof ICONS, logo?: string): HTMLHeadingElement {
  const h1 = h('h1', { tabindex: '-1' });
  const logoUrl = safeHttpUrl(logo, window.location.href);
  if (logoUrl) {
    const img = h('img', { src: logoUrl, alt: '', class: 'logo', width: '40', height: '40' });
    img.addEventListener('error', () => img.remove());
    h1.append(img);
  } else if (iconName) {
    h1.append(icon(iconName, `icon icon-title icon-${iconName}`));
  }
  h1.append(h('span', {}, text));
  return h1;
}

// ---------------------------------------------------------------------------------------------------
// Host page, telemetry, theme

function post(message: OutgoingMessage): void {
  if (!framed) return;
  try {
    window.parent.postMessage(message, parentOrigin ?? '*');
  } catch {
    // The parent went away or its origin changed: nothing to tell.
  }
}

function track(event: string, integration?: string): void {
  if (!sessionToken || !startup.apiURL || typeof navigator.sendBeacon !== 'function') return;
  try {
    const body = new Blob([telemetryBody(sessionToken, event, integration)], { type: 'application/json' });
    navigator.sendBeacon(`${startup.apiURL}/connect/telemetry`, body);
  } catch {
    // Best effort only.
  }
}

function applyTheme(param: ThemeParam | null, settings?: ConnectSession['connectUISettings']): void {
  const root = document.documentElement;
  const theme = param ?? settings?.defaultTheme ?? 'system';
  if (theme === 'light' || theme === 'dark') root.setAttribute('data-theme', theme);
  else root.removeAttribute('data-theme');
  for (const mode of ['light', 'dark'] as const) {
    const color = safeColor(settings?.theme?.[mode]?.primary);
    if (color) {
      root.style.setProperty(`--primary-${mode}`, color);
      root.style.setProperty(`--on-primary-${mode}`, readableTextOn(color));
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// Screens

function renderLoading(key: MessageKey = 'loading'): void {
  const main = mainEl();
  main.setAttribute('aria-busy', 'true');
  main.replaceChildren(
    h('p', { class: 'loading' }, h('span', { class: 'spinner', 'aria-hidden': 'true' }), t(key)),
  );
  announce(t(key));
}

function errorBlock(d: DisplayError): Node[] {
  const nodes: Node[] = [h('p', { class: 'error-message' }, d.message)];
  if (d.hint) nodes.push(h('p', { class: 'error-hint' }, h('strong', {}, t('error.whatToDo')), ' ', d.hint));
  if (d.details) nodes.push(h('p', { class: 'error-details' }, t('error.details', { details: d.details })));
  if (d.code !== 'unknown_error')
    nodes.push(h('p', { class: 'error-code' }, t('error.code', { code: d.code })));
  return nodes;
}

interface FatalOptions {
  title: string;
  error: ApiError;
  retry?: () => void;
  back?: () => void;
  providerName?: string;
  notify?: boolean;
}

function renderFatal(o: FatalOptions): void {
  const d = describeError(o.error, { lang, providerName: o.providerName ?? '' });
  const actions = h('div', { class: 'actions' });
  if (o.retry) {
    const retry = h('button', { type: 'button', class: 'button primary' }, t('retry'));
    retry.addEventListener('click', o.retry);
    actions.append(retry);
  }
  if (embedded) {
    const close = h('button', { type: 'button', class: 'button secondary' }, t('close'));
    close.addEventListener('click', () => {
      track('click:close');
      post({ type: 'close' });
    });
    actions.append(close);
  }
  const content: Node[] = [
    heading(o.title, 'alert'),
    h('div', { class: 'notice notice-error', id: 'fatal-error' }, ...errorBlock(d)),
  ];
  if (actions.childElementCount > 0) content.push(actions);
  setScreen(content, o.back ? { back: o.back } : {});
  announce(`${o.title}. ${d.message}`);
  track('view:unknown_error');
  if (o.notify !== false) post({ type: 'error', payload: { errorType: d.code, errorMessage: d.message } });
}

function apiErrorOf(err: unknown): ApiError {
  if (err instanceof ApiRequestError) return err.apiError;
  return { status: 0, code: 'unknown_error', message: err instanceof Error ? err.message : String(err) };
}

function displayName(i: Integration, p?: Provider): string {
  return i.display_name || p?.display_name || i.provider;
}

function renderList(): void {
  const list = h('ul', { class: 'integrations', role: 'list' });
  for (const i of integrations) {
    const button = h('button', { type: 'button', class: 'integration' });
    const logo = safeHttpUrl(i.logo, window.location.href);
    if (logo) {
      const img = h('img', { src: logo, alt: '', width: '32', height: '32', class: 'logo-small' });
      img.addEventListener('error', () => img.replaceWith(initials(displayName(i))));
      button.append(img);
    } else {
      button.append(initials(displayName(i)));
    }
    button.append(h('span', { class: 'integration-name' }, displayName(i)));
    button.addEventListener('click', () => {
      track('click:integration', i.unique_key);
      void openIntegration(i);
    });
    list.append(h('li', {}, button));
  }
  setScreen([heading(t('choose.title')), h('p', { class: 'lead' }, t('choose.intro')), list]);
  track('view:list');
}

function initials(name: string): HTMLElement {
  return h(
    'span',
    { class: 'logo-small initials', 'aria-hidden': 'true' },
    (name.trim()[0] ?? '?').toUpperCase(),
  );
}

// ---------------------------------------------------------------------------------------------------
// The form

interface FormState {
  integration: Integration;
  provider: Provider;
  name: string;
  fields: FieldModel[];
  visible: FieldModel[];
  values: Map<string, string>;
  /** Fields the user has typed in (validated on blur from then on). */
  dirty: Set<string>;
  /** Autofill targets the user took over. */
  takenOver: Set<string>;
  pairs: Map<string, string>;
  errors: Map<string, string>;
  back?: () => void;
}

function fieldId(name: string): string {
  return `field-${name.replace(/[^A-Za-z0-9_-]/g, '_')}`;
}

function input(name: string): HTMLInputElement | null {
  return document.getElementById(fieldId(name)) as HTMLInputElement | null;
}

function setDescribedBy(f: FieldModel): void {
  const el = input(f.name);
  if (!el) return;
  const id = fieldId(f.name);
  const ids = [`${id}-error`, `${id}-preview`, `${id}-note`, `${id}-help`].filter((x) => {
    const node = document.getElementById(x);
    return node !== null && !node.hidden;
  });
  if (ids.length > 0) el.setAttribute('aria-describedby', ids.join(' '));
  else el.removeAttribute('aria-describedby');
}

function showFieldError(state: FormState, f: FieldModel, message: string | null): void {
  const id = fieldId(f.name);
  const el = input(f.name);
  const err = document.getElementById(`${id}-error`);
  if (!el || !err) return;
  if (message) {
    state.errors.set(f.name, message);
    el.setAttribute('aria-invalid', 'true');
    err.replaceChildren(icon('alert', 'icon icon-inline'), h('span', {}, message));
    err.hidden = false;
  } else {
    state.errors.delete(f.name);
    el.removeAttribute('aria-invalid');
    err.replaceChildren();
    err.hidden = true;
  }
  el.closest('.field')?.classList.toggle('has-error', Boolean(message));
  setDescribedBy(f);
}

function validateField(state: FormState, f: FieldModel): string | null {
  const issue = validateValue(f, state.values.get(f.name) ?? '');
  const message = issue ? issueMessage(issue, f, t) : null;
  showFieldError(state, f, message);
  return message;
}

/** Adornments, preview and autofill note follow the value. */
function refreshField(state: FormState, f: FieldModel): void {
  const id = fieldId(f.name);
  const value = state.values.get(f.name) ?? '';
  const prefix = document.getElementById(`${id}-prefix`);
  if (prefix) prefix.hidden = hasScheme(value);
  const suffix = document.getElementById(`${id}-suffix`);
  if (suffix) suffix.hidden = isHostField(f) && hasPath(value);
  const preview = document.getElementById(`${id}-preview`);
  if (preview) {
    const url = previewUrl(f, value);
    const typed = `${f.prefix ?? ''}${value.trim()}${f.suffix ?? ''}`;
    const show = url !== null && value.trim() !== '' && url.toLowerCase() !== typed.toLowerCase();
    preview.hidden = !show;
    preview.textContent = show ? t('field.preview', { url }) : '';
  }
  const note = document.getElementById(`${id}-note`);
  if (note) {
    const source = state.pairs.get(f.name);
    const sourceField = state.fields.find((x) => x.name === source);
    note.hidden = !(sourceField && !state.takenOver.has(f.name) && value !== '');
    note.textContent = note.hidden ? '' : t('field.autofilled', { source: sourceField!.title });
  }
  setDescribedBy(f);
}

function renderField(state: FormState, f: FieldModel): HTMLElement {
  const id = fieldId(f.name);
  const label = h(
    'label',
    { for: id },
    f.title,
    f.required ? null : h('span', { class: 'optional' }, ` ${t('field.optional')}`),
  );
  const el = h('input', {
    id,
    name: f.name,
    type: f.secret ? 'password' : 'text',
    autocomplete: 'off',
    autocapitalize: 'off',
    autocorrect: 'off',
    spellcheck: 'false',
    inputmode: isHostField(f) ? 'url' : undefined,
    placeholder: f.example,
    'aria-required': f.required ? 'true' : undefined,
    'data-lpignore': 'true',
  });
  el.value = state.values.get(f.name) ?? '';
  const control = h('div', { class: 'control' });
  if (f.prefix)
    control.append(h('span', { class: 'adorn prefix', id: `${id}-prefix`, 'aria-hidden': 'true' }, f.prefix));
  control.append(el);
  if (f.suffix) {
    control.append(
      h(
        'span',
        {
          class: `adorn suffix${f.suffix.length > 8 ? ' long' : ''}`,
          id: `${id}-suffix`,
          'aria-hidden': 'true',
        },
        f.suffix,
      ),
    );
  }
  if (f.secret) {
    const toggle = h(
      'button',
      {
        type: 'button',
        class: 'toggle',
        'aria-pressed': 'false',
        'aria-label': t('field.show', { field: f.title }),
        'aria-controls': id,
        id: `${id}-toggle`,
      },
      icon('eye'),
    );
    toggle.addEventListener('click', () => {
      const show = el.type === 'password';
      el.type = show ? 'text' : 'password';
      toggle.setAttribute('aria-pressed', String(show));
      toggle.replaceChildren(icon(show ? 'eyeOff' : 'eye'));
    });
    control.append(toggle);
  }
  const help = h('p', { class: 'help', id: `${id}-help` });
  if (f.description) help.append(f.description, ' ');
  if (f.docUrl) help.append(externalLink(f.docUrl, t('field.where')));
  const wrapper = h(
    'div',
    { class: 'field' },
    label,
    h('p', { class: 'field-error', id: `${id}-error`, hidden: true }),
    control,
    h('p', { class: 'preview', id: `${id}-preview`, hidden: true }),
    h('p', { class: 'note', id: `${id}-note`, hidden: true }),
    f.description || f.docUrl ? help : null,
  );

  el.addEventListener('input', () => {
    state.values.set(f.name, el.value);
    state.dirty.add(f.name);
    if (state.pairs.has(f.name)) {
      if (el.value === '') state.takenOver.delete(f.name);
      else state.takenOver.add(f.name);
    }
    for (const [target, source] of state.pairs) {
      if (source !== f.name || state.takenOver.has(target)) continue;
      const value = deriveHost(el.value);
      state.values.set(target, value);
      const targetInput = input(target);
      if (targetInput) targetInput.value = value;
      const tf = state.fields.find((x) => x.name === target);
      if (tf) {
        refreshField(state, tf);
        if (state.errors.has(target)) validateField(state, tf);
      }
    }
    refreshField(state, f);
    if (state.errors.has(f.name)) validateField(state, f);
  });
  el.addEventListener('blur', () => {
    if (state.dirty.has(f.name)) validateField(state, f);
  });
  return wrapper;
}

function summaryEl(): HTMLElement {
  return document.getElementById('error-summary')!;
}

function fieldLink(f: FieldModel, text: string): HTMLAnchorElement {
  const a = h('a', { href: `#${fieldId(f.name)}` }, text);
  a.addEventListener('click', (e) => {
    e.preventDefault();
    input(f.name)?.focus();
  });
  return a;
}

function showSummary(title: string, body: Node[]): void {
  const s = summaryEl();
  s.replaceChildren(
    h('h2', { id: 'error-summary-title' }, icon('alert', 'icon icon-inline'), title),
    ...body,
  );
  s.hidden = false;
  s.focus();
}

function hideSummary(): void {
  const s = summaryEl();
  s.hidden = true;
  s.replaceChildren();
}

function setBusy(state: FormState, on: boolean): void {
  busy = on;
  const form = document.getElementById('connect-form');
  const button = document.getElementById('submit') as HTMLButtonElement | null;
  const status = document.getElementById('busy');
  form?.setAttribute('aria-busy', String(on));
  if (button) {
    button.disabled = on;
    button.classList.toggle('is-busy', on);
  }
  if (status) status.hidden = !on;
  // Back would replace the form while the attempt runs: its outcome would then have no form to land
  // in (the error summary is gone) and the user could start a second attempt elsewhere.
  for (const back of document.querySelectorAll<HTMLButtonElement>('#nav-start button')) back.disabled = on;
  for (const f of state.visible) {
    const el = input(f.name);
    if (el) el.readOnly = on;
  }
  if (on) announce(t('form.busy'));
}

async function submit(state: FormState): Promise<void> {
  if (busy || !api) return;
  hideSummary();
  const problems: { f: FieldModel; message: string }[] = [];
  for (const f of state.visible) {
    state.dirty.add(f.name);
    const message = validateField(state, f);
    if (message) problems.push({ f, message });
  }
  if (problems.length > 0) {
    showSummary(t('validation.title'), [
      h('ul', { class: 'summary-list' }, ...problems.map((p) => h('li', {}, fieldLink(p.f, p.message)))),
    ]);
    announce(t('validation.title'));
    return;
  }
  const { credentials, params } = collectAuthRequest(state.fields, state.values);
  setBusy(state, true);
  track('click:connect', state.integration.unique_key);
  let result: AuthSuccess;
  try {
    result = await api.auth(state.integration.unique_key, params, credentials);
  } catch (err) {
    setBusy(state, false);
    showSubmitError(state, apiErrorOf(err));
    return;
  }
  setBusy(state, false);
  post({ type: 'connect', payload: result });
  renderSuccess(state);
}

function showSubmitError(state: FormState, error: ApiError): void {
  const d = describeError(error, {
    lang,
    providerName: state.name,
    fieldNames: state.visible.map((f) => f.name),
  });
  const body = errorBlock(d);
  const f = d.field ? state.visible.find((x) => x.name === d.field) : undefined;
  if (f) {
    showFieldError(state, f, d.message);
    body.push(h('p', { class: 'error-field' }, fieldLink(f, t('error.goToField', { field: f.title }))));
  }
  showSummary(d.title, body);
  announce(`${t('error.announce')} ${d.title}.`);
  track('view:credentials_error', state.integration.unique_key);
  post({ type: 'error', payload: { errorType: d.code, errorMessage: d.message } });
}

function renderForm(state: FormState): void {
  const title = session?.isReconnecting
    ? t('form.titleReconnect', { provider: state.name })
    : t('form.title', { provider: state.name });
  const docsConnect =
    session?.overrides?.[state.integration.unique_key]?.docs_connect ?? state.provider.docs_connect;
  const guide = safeHttpUrl(docsConnect);
  const intro = h('p', { class: 'lead' }, t('form.intro', { provider: state.name }));
  if (guide) intro.append(' ', externalLink(guide, t('form.guide'), 'guide-link'));

  const credentials = state.visible.filter((f) => f.group === 'credentials');
  const params = state.visible.filter((f) => f.group === 'params');
  const form = h('form', { id: 'connect-form', novalidate: true, 'aria-busy': 'false' });
  form.append(h('p', { class: 'required-note' }, t('form.required')));
  if (credentials.length > 0) {
    form.append(
      h(
        'fieldset',
        {},
        h('legend', {}, t('form.credentials')),
        ...credentials.map((f) => renderField(state, f)),
      ),
    );
  }
  if (params.length > 0) {
    form.append(
      h('fieldset', {}, h('legend', {}, t('form.connection')), ...params.map((f) => renderField(state, f))),
    );
  }
  form.append(
    h(
      'div',
      { class: 'actions' },
      h(
        'button',
        { type: 'submit', id: 'submit', class: 'button primary' },
        h('span', { class: 'spinner', 'aria-hidden': 'true' }),
        t('form.submit'),
      ),
    ),
    h('p', { id: 'busy', class: 'busy', hidden: true }, t('form.busy')),
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    void submit(state);
  });

  setScreen(
    [
      heading(title, undefined, state.integration.logo ?? state.provider.logo_url),
      intro,
      h('div', {
        id: 'error-summary',
        class: 'notice notice-error summary',
        tabindex: '-1',
        role: 'group',
        'aria-labelledby': 'error-summary-title',
        hidden: true,
      }),
      form,
    ],
    state.back ? { back: state.back } : {},
  );
  for (const f of state.visible) refreshField(state, f);
  track('view:integration', state.integration.unique_key);
}

function renderSuccess(state: FormState): void {
  const finish = h('button', { type: 'button', class: 'button primary', id: 'finish' }, t('success.finish'));
  const after = h('p', { class: 'muted', hidden: true }, t('success.closeTab'));
  finish.addEventListener('click', () => {
    track('click:finish', state.integration.unique_key);
    post({ type: 'close' });
    if (!embedded) {
      window.close();
      after.hidden = false;
      announce(t('success.closeTab'));
    }
  });
  setScreen([
    heading(t('success.title'), 'check'),
    h('p', { class: 'lead' }, t('success.body', { provider: state.name })),
    h('div', { class: 'actions' }, finish),
    after,
  ]);
  announce(`${t('success.title')}. ${t('success.body', { provider: state.name })}`);
  track('view:success', state.integration.unique_key);
}

async function openIntegration(integration: Integration): Promise<void> {
  if (!api) return;
  const back = integrations.length > 1 ? () => renderList() : undefined;
  renderLoading('loading.provider');
  let provider: Provider;
  try {
    provider = await api.getProvider(integration.provider);
  } catch (err) {
    renderFatal({
      title: t('session.errorTitle'),
      error: apiErrorOf(err),
      retry: () => void openIntegration(integration),
      ...(back ? { back } : {}),
    });
    return;
  }
  const name = displayName(integration, provider);
  if (!isSupportedAuthMode(provider.auth_mode)) {
    renderFatal({
      title: t('session.unsupportedTitle'),
      error: { status: 0, code: 'unsupported_auth_mode', detail: provider.auth_mode ?? '?' },
      providerName: name,
      ...(back ? { back } : {}),
    });
    return;
  }
  const defaults = session?.integrations_config_defaults?.[integration.unique_key];
  const docsConnect = session?.overrides?.[integration.unique_key]?.docs_connect;
  const fields = buildFields(provider, {
    t,
    ...(defaults?.connection_config ? { presets: defaults.connection_config } : {}),
    ...(docsConnect ? { docsConnect } : {}),
  });
  const state: FormState = {
    integration,
    provider,
    name,
    fields,
    visible: fields.filter((f) => !f.hidden),
    values: new Map(fields.map((f) => [f.name, f.preset ?? f.initial])),
    dirty: new Set(),
    takenOver: new Set(),
    pairs: autofillPairs(fields),
    errors: new Map(),
    ...(back ? { back } : {}),
  };
  renderForm(state);
}

// ---------------------------------------------------------------------------------------------------
// Startup

/** Resolved when the parent hands over a session token. */
const tokenWaiters: ((token: string) => void)[] = [];

function waitForToken(): Promise<string | null> {
  if (sessionToken) return Promise.resolve(sessionToken);
  if (!framed) return Promise.resolve(null);
  return new Promise((resolve) => {
    const timer = window.setTimeout(() => resolve(sessionToken), TOKEN_WAIT_MS);
    tokenWaiters.push((token) => {
      window.clearTimeout(timer);
      resolve(token);
    });
  });
}

function listenToParent(): void {
  if (!framed) return;
  window.addEventListener('message', (event: MessageEvent) => {
    // Only the page that framed us may hand over (or later replace) the session token.
    if (event.source !== window.parent) return;
    const token = readSessionTokenMessage(event.data);
    if (!token) return;
    sessionToken = token;
    if (event.origin && event.origin !== 'null') parentOrigin = event.origin;
    for (const waiter of tokenWaiters.splice(0)) waiter(token);
  });
  post({ type: 'ready' });
}

async function start(): Promise<void> {
  renderLoading();
  const apiURL = startup.apiURL;
  if (!apiURL) {
    renderFatal({ title: t('session.errorTitle'), error: { status: 0, code: 'invalid_api_url' } });
    return;
  }
  const token = await waitForToken();
  if (!token) {
    renderFatal({
      title: t('session.missingTitle'),
      error: { status: 0, code: 'missing_connect_session_token' },
    });
    return;
  }
  api = new ApiClient({ apiURL, lang, getToken: () => sessionToken ?? token });
  try {
    [session, integrations] = await Promise.all([api.getSession(), api.getIntegrations()]);
  } catch (err) {
    const error = apiErrorOf(err);
    // Retrying helps after a network or server failure, not with a refused token.
    const transient = error.status === 0 || error.status >= 500 || error.status === 429;
    renderFatal({
      title: t('session.errorTitle'),
      error,
      ...(transient ? { retry: () => void start() } : {}),
    });
    return;
  }
  applyTheme(startup.theme, session.connectUISettings);
  renderFooter(session.connectUISettings?.showWatermark !== false);
  track('open');
  const allowed = session.allowed_integrations;
  if (Array.isArray(allowed)) integrations = integrations.filter((i) => allowed.includes(i.unique_key));
  if (integrations.length === 0) {
    renderFatal({ title: t('session.noIntegrationTitle'), error: { status: 0, code: 'no_integration' } });
    return;
  }
  if (integrations.length === 1) {
    await openIntegration(integrations[0]!);
    return;
  }
  renderList();
}

function renderFooter(watermark: boolean): void {
  const footer = document.getElementById('footer');
  if (!footer) return;
  footer.replaceChildren(watermark ? h('p', { class: 'watermark' }, t('watermark')) : '');
}

function boot(): void {
  document.documentElement.lang = lang;
  document.title = t('app.title');
  applyTheme(startup.theme);
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && embedded && !e.defaultPrevented) {
      track('click:close');
      post({ type: 'close' });
    }
  });
  listenToParent();
  void start();
}

boot();
