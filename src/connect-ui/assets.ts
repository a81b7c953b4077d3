/**
 * The Connect UI as an in-memory map of static assets, bundled on demand with esbuild. The server mounts
 * the map at `/connect/` (keys are paths below the mount): `/` is the page, it loads `app.js` and
 * `styles.css` by relative URL, so the page must be served at `/connect/` (with the trailing slash).
 */
import { fileURLToPath } from 'node:url';
import { bundleBrowserApp, type BrowserAsset } from '../browser-app.ts';

export type ConnectUiAsset = BrowserAsset;

/** Set by the server bundle's build (scripts/build.ts): where the app sources are from `dist/`. */
declare const __CONNECT_UI_APP_DIR__: string | undefined;

const APP_DIR = fileURLToPath(
  new URL(typeof __CONNECT_UI_APP_DIR__ === 'string' ? __CONNECT_UI_APP_DIR__ : './app/', import.meta.url),
);

/** Bundle the browser code and return `'/' | '/index.html' | '/app.js' | '/styles.css'` → asset. */
export function buildConnectUiAssets(): Promise<Map<string, ConnectUiAsset>> {
  return bundleBrowserApp(APP_DIR, 'connect-ui');
}
