/**
 * WAL checkpoints of an SQLite database file on a thread of their own.
 *
 * Why: a checkpoint copies the write-ahead log into the database file and syncs both. Run by SQLite's
 * automatic checkpoint, it happens inside the COMMIT of whichever write crossed the threshold, on the main
 * thread: during a bulk sync that was a 0.5–0.7 s stall of the event loop every 256 MiB of log (proxied
 * calls and API reads waiting behind it), and ~7 µs per lead of the main thread's time in bench:sync.
 * Here a worker thread with its own connection runs PASSIVE checkpoints (they never block the writer or
 * readers) as the log grows, so that when the main connection's automatic checkpoint comes due, nearly
 * every frame is already copied and synced: it only copies the tail and lets the next write start the log
 * over. The automatic checkpoint stays the backstop (and the only checkpointer when this thread cannot
 * start). Durability is unchanged: the same checkpoints with the same syncs, run elsewhere.
 *
 * The thread starts lazily, the first time the log passes `startBytes`: an idle Tether, or a test's
 * database, never pays for it.
 *
 * It runs at the lowest scheduling priority (nice 19, Linux): copying the log is never urgent (the log
 * only has to be copied before it reaches SQLite's automatic checkpoint), while the threads it would
 * take a core from are: the main thread answering requests and saving a sync's pages, the CSV worker
 * feeding it. At the default priority it preempted them; niced it runs in the moments they wait. In
 * bench:sync (1M leads, 2 cores) that measured +2.4 to +6.4% records/s, three pairs of runs. A machine
 * that never has a spare moment falls back on the automatic checkpoint, as without this thread.
 *
 * After each PASSIVE checkpoint the thread also syncs the database file (fdatasync). SQLite syncs it only
 * when a checkpoint reaches the end of the log, and under steady writes that is the main connection's
 * automatic checkpoint at 256 MiB: its sync then flushed up to 256 MiB of pages the thread had copied,
 * inside a COMMIT on the main thread (stalls of 100–190 ms: `GET /health` p99 140–170 ms during
 * bench:sync). Synced as they are copied, on this thread, that last sync is a few MiB (p99 32–40 ms, and
 * no fewer records/s). Only extra syncs: durability as before.
 */
import { statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

export interface BackgroundCheckpoints {
  /** Stops the thread (after the checkpoint in progress) and closes its connection. Safe to call twice. */
  stop(): Promise<void>;
  /**
   * Checkpoints finished by the thread so far, the last error it met, and the thread's id and nice
   * value once it lowered its priority (Linux only; tests, diagnostics).
   */
  readonly stats: {
    checkpoints: number;
    /** Syncs of the database file after a PASSIVE checkpoint. */
    syncs: number;
    lastError: string | undefined;
    started: boolean;
    thread: { tid: number; nice: number } | undefined;
  };
}

export interface BackgroundCheckpointOptions {
  /** How often the log file is looked at (ms). */
  pollMs?: number;
  /** Log size from which the thread is started and a checkpoint is asked for when the log changed. */
  startBytes?: number;
  /** How long the log must stay unchanged before the thread empties its file (ms). */
  quietMs?: number;
  /** The thread's nice value (0 to 19; default 19, the lowest priority). */
  nice?: number;
}

const DEFAULT_POLL_MS = 100;
const DEFAULT_START_BYTES = 16 * 1024 * 1024;
const DEFAULT_QUIET_MS = 1_000;
const DEFAULT_NICE = 19;
/** How long `stop` waits for a checkpoint in progress before terminating the thread. */
const STOP_GRACE_MS = 5_000;

/*
 * The thread's code: plain CommonJS evaluated in the worker, so that it runs the same from the TypeScript
 * sources (tests) and from the bundle. better-sqlite3 is loaded from the path the main thread resolved.
 * The thread drives itself on its own timer: a main thread busy for seconds in a chain of synchronous
 * writes (microtasks only, no timers) still gets its log checkpointed. Every `pollMs` it looks at the
 * log file: grown since the last look and at least `startBytes`: a PASSIVE checkpoint; unchanged for
 * `quietMs`: a PASSIVE then a TRUNCATE checkpoint, once, which empties the file. It tells the main thread what it did.
 */
const WORKER_CODE = `
const { parentPort, workerData } = require('node:worker_threads');
const { closeSync, fdatasyncSync, openSync, statSync } = require('node:fs');
const { file, pollMs, startBytes, quietMs, nice } = workerData;
const text = (err) => String(err && err.message ? err.message : err);
// Linux: /proc/thread-self names this thread, and setpriority on a thread id changes that thread only.
// Elsewhere (no /proc) the thread keeps the process's priority. Raising the value needs no privilege.
if (nice > 0) {
  try {
    const os = require('node:os');
    const tid = Number(require('node:fs').readlinkSync('/proc/thread-self').split('/').pop());
    os.setPriority(tid, nice);
    parentPort.postMessage({ ok: true, thread: { tid, nice: os.getPriority(tid) } });
  } catch {
    // no /proc/thread-self: not Linux
  }
}
let db;
try {
  const Database = require(workerData.module);
  db = new Database(file, { fileMustExist: true });
  db.pragma('busy_timeout = 0');
} catch (err) {
  parentPort.postMessage({ ok: false, fatal: true, error: text(err) });
  parentPort.close();
}
let lastMtime = -1;
let seenMtime = -1;
let changedAt = Date.now();
let truncated = false;
/** A descriptor of the database file, for its syncs (any descriptor of a file syncs all of it). */
let dbFd;
function checkpoint(mode) {
  try {
    db.pragma('wal_checkpoint(' + mode + ')');
    let synced = false;
    if (mode === 'PASSIVE') {
      dbFd ??= openSync(file, 'r');
      fdatasyncSync(dbFd);
      synced = true;
    }
    parentPort.postMessage({ ok: true, mode, synced });
  } catch (err) {
    parentPort.postMessage({ ok: false, error: text(err) });
  }
}
function tick() {
  let st;
  try {
    st = statSync(file + '-wal');
  } catch {
    return;
  }
  const now = Date.now();
  if (st.mtimeMs !== seenMtime) {
    seenMtime = st.mtimeMs;
    changedAt = now;
    truncated = false;
  }
  if (st.size >= startBytes && st.mtimeMs !== lastMtime) {
    lastMtime = st.mtimeMs;
    checkpoint('PASSIVE');
  } else if (!truncated && st.size > 0 && now - changedAt >= quietMs) {
    truncated = true;
    // TRUNCATE holds the write lock while it copies: a PASSIVE first copies (and syncs) what is left
    // without it, so writers wait only for the file to be emptied.
    checkpoint('PASSIVE');
    checkpoint('TRUNCATE');
  }
}
if (db !== undefined) {
  const timer = setInterval(tick, pollMs);
  parentPort.on('message', (msg) => {
    if (msg !== 'stop') return;
    clearInterval(timer);
    db.close();
    if (dbFd !== undefined) closeSync(dbFd);
    parentPort.close();
  });
  tick();
}
`;

interface WorkerAnswer {
  ok: boolean;
  /** The thread could not open the database and has ended. */
  fatal?: boolean;
  /** The thread lowered its priority: its id and nice value. */
  thread?: { tid: number; nice: number };
  /** The checkpoint was followed by a sync of the database file. */
  synced?: boolean;
  error?: string;
}

/** Starts watching `file`'s log (`<file>-wal`). The main connection must already be in WAL mode. */
export function startBackgroundCheckpoints(
  file: string,
  options: BackgroundCheckpointOptions = {},
): BackgroundCheckpoints {
  const pollMs = options.pollMs ?? DEFAULT_POLL_MS;
  const startBytes = options.startBytes ?? DEFAULT_START_BYTES;
  const quietMs = options.quietMs ?? DEFAULT_QUIET_MS;
  const nice = options.nice ?? DEFAULT_NICE;
  const stats: BackgroundCheckpoints['stats'] = {
    checkpoints: 0,
    syncs: 0,
    lastError: undefined,
    started: false,
    thread: undefined,
  };
  let worker: Worker | undefined;

  const spawn = (): void => {
    stats.started = true;
    try {
      const module = createRequire(import.meta.url).resolve('better-sqlite3');
      const w = new Worker(WORKER_CODE, {
        eval: true,
        workerData: { module, file, pollMs, startBytes, quietMs, nice },
      });
      w.unref();
      // The thread gone (could not load better-sqlite3 or open the file, or crashed): SQLite's automatic
      // checkpoint carries on alone.
      const fail = (error: string): void => {
        stats.lastError = error;
        if (worker === w) worker = undefined;
      };
      w.on('message', (msg: WorkerAnswer) => {
        if (msg.fatal === true) fail(msg.error ?? 'checkpointer thread ended');
        else if (msg.thread !== undefined) stats.thread = msg.thread;
        else if (msg.ok) {
          stats.checkpoints++;
          if (msg.synced === true) stats.syncs++;
        } else stats.lastError = msg.error;
      });
      w.on('error', (err: unknown) => fail(err instanceof Error && err.message ? err.message : String(err)));
      worker = w;
    } catch (err) {
      stats.lastError = err instanceof Error ? err.message : String(err);
    }
  };

  // Until the log first reaches startBytes, the main thread looks (the thread costs memory; most
  // databases never need it); from then on the thread looks by itself.
  const watch = setInterval(() => {
    let size: number;
    try {
      size = statSync(`${file}-wal`).size;
    } catch {
      return; // no log yet (or the database is gone)
    }
    if (size < startBytes) return;
    clearInterval(watch);
    spawn();
  }, pollMs);
  watch.unref();

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      clearInterval(watch);
      const w = worker;
      worker = undefined;
      if (w === undefined) return;
      const exited = new Promise<void>((resolve) => w.once('exit', () => resolve()));
      // The thread and the timer keep the process alive while the caller waits for them: unref'd, a
      // process with nothing else to do ended in the middle of closing its database (a checkpoint in
      // progress answers `stop` only once done; bench:records exited with code 13 there).
      w.ref();
      w.postMessage('stop');
      let timer: NodeJS.Timeout | undefined;
      const grace = new Promise<'late'>((resolve) => {
        timer = setTimeout(() => resolve('late'), STOP_GRACE_MS);
      });
      const late = (await Promise.race([exited, grace])) === 'late';
      clearTimeout(timer);
      if (late) await w.terminate();
    })());

  return { stop, stats };
}
