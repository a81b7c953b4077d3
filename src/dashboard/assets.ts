/**
 * The dashboard as an in-memory map of static assets, bundled with esbuild at start (like the Connect
 * UI, src/connect-ui/assets.ts). The server mounts the map at `/dashboard/`: `/` is the page, it loads
 * `app.js` and `styles.css` by relative URL, so the page must be served with the trailing slash.
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { build, transform } from 'esbuild';
import type { ConnectUiAsset } from '../connect-ui/assets.ts';

export type DashboardAsset = ConnectUiAsset;

/** Set by the server bundle's build (scripts/build.ts): where the app sources are from `dist/`. */
declare const __DASHBOARD_APP_DIR__: string | undefined;

const APP_DIR = fileURLToPath(
  new URL(typeof __DASHBOARD_APP_DIR__ === 'string' ? __DASHBOARD_APP_DIR__ : './app/', import.meta.url),
);

const HTML = 'text/html; charset=utf-8';
const JS = 'text/javascript; charset=utf-8';
const CSS = 'text/css; charset=utf-8';

async function bundle(): Promise<Map<string, DashboardAsset>> {
  const [js, cssSource, html] = await Promise.all([
    build({
      entryPoints: [`${APP_DIR}main.ts`],
      bundle: true,
      write: false,
      format: 'esm',
      target: 'es2020',
      platform: 'browser',
      minify: true,
      legalComments: 'none',
      charset: 'utf8',
      logLevel: 'silent',
    }),
    readFile(`${APP_DIR}styles.css`, 'utf8'),
    readFile(`${APP_DIR}index.html`, 'utf8'),
  ]);
  const out = js.outputFiles[0];
  if (!out) throw new Error('dashboard: esbuild produced no output');
  const css = await transform(cssSource, {
    loader: 'css',
    minify: true,
    target: 'chrome100',
    logLevel: 'silent',
  });
  const page: DashboardAsset = { body: html, type: HTML };
  return new Map<string, DashboardAsset>([
    ['/', page],
    ['/index.html', page],
    ['/app.js', { body: out.text, type: JS }],
    ['/styles.css', { body: css.code, type: CSS }],
  ]);
}

let built: Promise<Map<string, DashboardAsset>> | undefined;

/**
 * `'/' | '/index.html' | '/app.js' | '/styles.css'` → asset. Built once per process: the sources do not
 * change while it runs, and test files start many servers (a failed build is tried again next time).
 */
export function buildDashboardAssets(): Promise<Map<string, DashboardAsset>> {
  built ??= bundle().catch((err: unknown) => {
    built = undefined;
    throw err;
  });
  return built;
}
