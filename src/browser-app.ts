/**
 * A browser app of Tether (the Connect UI, the dashboard) as an in-memory map of static assets, bundled
 * with esbuild at start from its folder: `main.ts` (bundled), `styles.css` (minified), `index.html`.
 * The server mounts the map under the app's path: `/` is the page, it loads `app.js` and `styles.css`
 * by relative URL, so the page must be served with the trailing slash.
 */
import { readFile } from 'node:fs/promises';
import { build, transform } from 'esbuild';

export interface BrowserAsset {
  body: string | Buffer;
  /** Content-Type header value. */
  type: string;
}

const HTML = 'text/html; charset=utf-8';
const JS = 'text/javascript; charset=utf-8';
const CSS = 'text/css; charset=utf-8';

/** Bundles the app in `appDir` (ends with `/`): `'/' | '/index.html' | '/app.js' | '/styles.css'` → asset. */
export async function bundleBrowserApp(appDir: string, label: string): Promise<Map<string, BrowserAsset>> {
  const [bundle, cssSource, html] = await Promise.all([
    build({
      entryPoints: [`${appDir}main.ts`],
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
    readFile(`${appDir}styles.css`, 'utf8'),
    readFile(`${appDir}index.html`, 'utf8'),
  ]);
  const js = bundle.outputFiles[0];
  if (!js) throw new Error(`${label}: esbuild produced no output`);
  const css = await transform(cssSource, {
    loader: 'css',
    minify: true,
    target: 'chrome100',
    logLevel: 'silent',
  });
  const page: BrowserAsset = { body: html, type: HTML };
  return new Map<string, BrowserAsset>([
    ['/', page],
    ['/index.html', page],
    ['/app.js', { body: js.text, type: JS }],
    ['/styles.css', { body: css.code, type: CSS }],
  ]);
}
