/**
 * Starts a worker thread on one of Tether's modules, from the server bundle or from the TypeScript
 * sources: the CSV worker (marketo/bulk/csv-offload.ts) and the sandbox's file thread
 * (sandbox/bulk/file-thread.ts) start theirs this way.
 *
 * In the bundle (scripts/build.ts) every entry is a file of its own next to `dist/main.mjs`, which is this
 * module's URL there too. From the sources (tests, tsx), the thread loads them through tsx as well.
 */
import { Worker } from 'node:worker_threads';

export function startModuleWorker(
  /** The entry's file name next to the bundle (a build-time constant), undefined from the sources. */
  bundledFile: string | undefined,
  /** The entry's TypeScript source (a `file:` URL), used from the sources. */
  sourceUrl: URL,
  workerData: unknown,
): Worker {
  if (bundledFile !== undefined) return new Worker(new URL(bundledFile, import.meta.url), { workerData });
  const code = `import('tsx/esm/api').then(({ register }) => { register(); return import(${JSON.stringify(sourceUrl.href)}); })`;
  return new Worker(code, { eval: true, workerData });
}

/**
 * Starts a worker (`spawn`) and waits for its first `{ t: 'ready' }` message: the worker, `unref()`ed,
 * or undefined when it could not be started, stopped first or did not answer within `timeoutMs` (it is
 * then terminated). The caller attaches its own handlers once it has it (no event comes in between).
 */
export function startReadyWorker(spawn: () => Worker, timeoutMs: number): Promise<Worker | undefined> {
  return new Promise((resolve) => {
    let worker: Worker;
    try {
      worker = spawn();
    } catch {
      resolve(undefined);
      return;
    }
    worker.unref();
    const settle = (ready: boolean) => {
      clearTimeout(timer);
      worker.off('message', onMessage);
      worker.off('error', onFailure);
      worker.off('exit', onFailure);
      if (!ready) void worker.terminate().catch(() => undefined);
      resolve(ready ? worker : undefined);
    };
    const onMessage = (msg: unknown) => {
      if (typeof msg === 'object' && msg !== null && (msg as { t?: unknown }).t === 'ready') settle(true);
    };
    const onFailure = () => settle(false);
    const timer = setTimeout(onFailure, timeoutMs);
    timer.unref();
    worker.on('message', onMessage);
    worker.on('error', onFailure);
    worker.on('exit', onFailure);
  });
}
