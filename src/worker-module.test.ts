import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { startReadyWorker } from './worker-module.ts';

const evalWorker = (code: string) => () =>
  new Worker(`const { parentPort } = require('node:worker_threads');\n${code}`, { eval: true });

describe('startReadyWorker', () => {
  it('gives the worker once it says ready, its later messages to the caller', async () => {
    const worker = await startReadyWorker(
      evalWorker(
        `parentPort.postMessage({ t: 'ready' }); parentPort.on('message', (m) => parentPort.postMessage(m * 2));`,
      ),
      5_000,
    );
    expect(worker).toBeDefined();
    const answer = new Promise((resolve) => worker!.once('message', resolve));
    worker!.postMessage(21);
    expect(await answer).toBe(42);
    await worker!.terminate();
  });

  it('gives undefined for a worker that stops, fails or stays silent first, and ends the silent one', async () => {
    expect(await startReadyWorker(evalWorker('process.exit(3);'), 5_000)).toBeUndefined();
    expect(await startReadyWorker(evalWorker(`throw new Error('boom');`), 5_000)).toBeUndefined();
    expect(
      await startReadyWorker(() => {
        throw new Error('cannot spawn');
      }, 5_000),
    ).toBeUndefined();
    let silent: Worker | undefined;
    const started = startReadyWorker(() => {
      silent = evalWorker(`parentPort.postMessage({ t: 'hello' }); setInterval(() => {}, 1000);`)();
      return silent;
    }, 200);
    // The worker was spawned synchronously: its end can be awaited.
    const exited = new Promise<number>((resolve) => silent!.once('exit', resolve));
    expect(await started).toBeUndefined();
    expect(await exited).toBe(1);
  });
});
