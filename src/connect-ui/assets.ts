/**
 * The Connect UI as an in-memory map of static assets, bundled on demand with esbuild. The server mounts
 * the map at `/connect/` (keys are paths below the mount): `/` is the page, it loads `app.js` and
 * `styles.css` by relative URL, so the page must be served at `/connect/` (with the trailing slash).
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { build, transform } from 'esbuild';

export interface ConnectUiAsset {
  body: string | Buffer;
  /** Content-Type header value. */
  type: string;
}

/** Set by the server bundle's build (scripts/build.ts): where the app sources are from `dist/`. */
declare const __CONNECT_UI_APP_DIR__: string | undefined;

const APP_DIR = fileURLToPath(
  new URL(typeof __CONNECT_UI_APP_DIR__ === 'string' ? __CONNECT_UI_APP_DIR__ : './app/', import.meta.url),
);

const HTML = 'text/html; charset=utf-8';
const JS = 'text/javascript; charset=utf-8';
const CSS = 'text/css; charset=utf-8';

/** Bundle the browser code and return `'/' | '/index.html' | '/app.js' | '/styles.css'` → asset. */
export async function buildConnectUiAssets(): Promise<Map<string, ConnectUiAsset>> {
  const [bundle, cssSource, html] = await Promise.all([
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
  const js = bundle.outputFiles[0];
  if (!js) throw new Error('connect-ui: esbuild produced no output');
  const css = await transform(cssSource, {
    loader: 'css',
    minify: true,
    target: 'chrome100',
    logLevel: 'silent',
  });
  const page: ConnectUiAsset = { body: html, type: HTML };
  return new Map<string, ConnectUiAsset>([
    ['/', page],
    ['/index.html', page],
    ['/app.js', { body: js.text, type: JS }],
    ['/styles.css', { body: css.code, type: CSS }],
  ]);
}
