/**
 * `npm run build`: Tether's server as one ES module, `dist/main.mjs` (dependencies stay in node_modules).
 *
 * Why: run through tsx, every process carries tsx's loader (a module-resolution worker thread and the
 * TypeScript it compiled at start), ~55 MB of RSS at rest before Tether does anything. The bundle starts
 * in a plain `node`, from one file, so `npm start` and the benchmarks measure Tether and not the loader.
 * esbuild takes well under a second; `npm start` builds first, so the bundle never lags the sources.
 * Tests and the dev tools keep running the TypeScript sources through tsx.
 */
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

/** The CSV worker thread's entry (src/marketo/bulk/csv-offload.ts starts it), next to the bundle. */
const CSV_WORKER = 'csv-worker';
/** The sandbox's file thread entry (src/sandbox/bulk/file-thread.ts starts it), next to the bundle. */
const SANDBOX_FILE_WORKER = 'sandbox-file-worker';

/**
 * Builds `dist/main.mjs` (and its source map) from `src/main.ts`, the CSV worker thread's entry
 * `dist/csv-worker.mjs` and the sandbox's file thread entry `dist/sandbox-file-worker.mjs`. Returns the
 * bundle's path.
 */
export async function buildTether(): Promise<string> {
  const outfile = `${root}dist/main.mjs`;
  await build({
    entryPoints: {
      main: `${root}src/main.ts`,
      [CSV_WORKER]: `${root}src/marketo/bulk/csv-worker.ts`,
      [SANDBOX_FILE_WORKER]: `${root}src/sandbox/bulk/file-worker.ts`,
    },
    outdir: `${root}dist`,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    sourcemap: 'linked',
    // The Connect UI's and the dashboard's browser sources are bundled at start (src/connect-ui/assets.ts,
    // src/dashboard/assets.ts): from the bundle in dist/, they are found under ../src/…/app/.
    // The worker threads' entries are loaded from their own files next to the bundle.
    define: {
      __CONNECT_UI_APP_DIR__: JSON.stringify('../src/connect-ui/app/'),
      __DASHBOARD_APP_DIR__: JSON.stringify('../src/dashboard/app/'),
      __CSV_WORKER_FILE__: JSON.stringify(`./${CSV_WORKER}.mjs`),
      __SANDBOX_FILE_WORKER__: JSON.stringify(`./${SANDBOX_FILE_WORKER}.mjs`),
    },
    logLevel: 'warning',
  });
  return outfile;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await buildTether();
