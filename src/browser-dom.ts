/**
 * The small DOM builder of Tether's browser apps (the Connect UI, the dashboard; bundled into each by
 * esbuild): elements from a tag, attributes and children, text always as text nodes (never HTML, so no
 * value from the API can inject markup).
 */

export type Child = Node | string | null | undefined | false;
export type Attrs = Record<string, string | boolean | undefined | null>;

/** `<tag attrs…>children…</tag>`: `false`/`null`/`undefined` attributes and children are left out. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    el.append(typeof c === 'string' ? document.createTextNode(c) : c);
  }
  return el;
}

/** The page's `<main id="main">`, where each app renders its current view. */
export function mainEl(): HTMLElement {
  return document.getElementById('main')!;
}

/** Says `text` through the page's live region (`#status`), for screen readers. */
export function announce(text: string): void {
  const status = document.getElementById('status');
  if (!status) return;
  // Cleared first so that the same text said twice is announced again.
  status.textContent = '';
  window.setTimeout(() => {
    status.textContent = text;
  }, 50);
}
