/**
 * The dashboard as an in-memory map of static assets, bundled with esbuild at start (like the Connect
 * UI, src/connect-ui/assets.ts). The server mounts the map at `/dashboard/`: `/` is the page, it loads
 * `app.js` and `styles.css` by relative URL, so the page must be served with the trailing slash.
 */
import { fileURLToPath } from 'node:url';
import { bundleBrowserApp, type BrowserAsset } from '../browser-app.ts';

export type DashboardAsset = BrowserAsset;

/** Set by the server bundle's build (scripts/build.ts): where the app sources are from `dist/`. */
declare const __DASHBOARD_APP_DIR__: string | undefined;

const APP_DIR = fileURLToPath(
  new URL(typeof __DASHBOARD_APP_DIR__ === 'string' ? __DASHBOARD_APP_DIR__ : './app/', import.meta.url),
);

let built: Promise<Map<string, DashboardAsset>> | undefined;

/**
 * `'/' | '/index.html' | '/app.js' | '/styles.css'` → asset. Built once per process: the sources do not
 * change while it runs, and test files start many servers (a failed build is tried again next time).
 */
export function buildDashboardAssets(): Promise<Map<string, DashboardAsset>> {
  built ??= bundleBrowserApp(APP_DIR, 'dashboard').catch((err: unknown) => {
    built = undefined;
    throw err;
  });
  return built;
}
