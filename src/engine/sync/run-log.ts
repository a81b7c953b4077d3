/**
 * The log of one sync run: every line goes to Tether's log (pino, with the run's ids) and is kept with
 * the run in the database, readable through `GET /sync/runs/:runId/logs`. Users see there why a run did
 * what it did ("the subscription answers 1035: falling back to…", "export job failed: window split")
 * without access to the process logs.
 *
 * Lines are written in the background, a batch at a time (a run logs a handful of lines, but must never
 * wait on them or fail because of them); `flush()` waits for what was written so far (the runner calls it
 * before a run ends, so that a finished run's log is complete when its status is read). The model's lines
 * are capped per run (a model logging per page must not grow the database without bound); the runner's
 * own lines (paused, failed, succeeded) are always kept. Data is redacted like the process log.
 */
import type { Logger } from 'pino';
import type { DbContext } from '../../db/context.ts';
import { appendRunLog, type RunLogLevel, type RunLogLine } from '../../db/run-logs.ts';

/** Model lines kept per run (per process attempt of it); further ones go to the process log only. */
export const MAX_MODEL_LINES = 500;
const MAX_TEXT = 2_000;
const MAX_DEPTH = 4;
const SECRET_KEY = /secret|token|password|passwd|authorization|credential|api[-_]?key/i;
export const REDACTED = '[redacted]';

/** A JSON-safe, redacted copy of log data: secret-looking keys censored, long strings cut, depth bound. */
export function redactLogData(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return value.length > MAX_TEXT ? `${value.slice(0, MAX_TEXT)}…` : value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (typeof value === 'boolean' || value === null) return value;
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString();
  if (value instanceof Error) return { name: value.name, message: redactLogData(value.message, depth + 1) };
  if (typeof value !== 'object') return undefined;
  if (depth >= MAX_DEPTH) return '[…]';
  if (Array.isArray(value)) return value.slice(0, 50).map((v) => redactLogData(v, depth + 1) ?? null);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (SECRET_KEY.test(k)) out[k] = REDACTED;
    else {
      const r = redactLogData(v, depth + 1);
      if (r !== undefined) out[k] = r;
    }
  }
  return out;
}

export class RunLog {
  private pending: RunLogLine[] = [];
  private writing: Promise<void> = Promise.resolve();
  private modelLines = 0;
  private dropped = 0;
  private failed = false;

  constructor(
    private readonly ctx: DbContext,
    private readonly runId: number,
    private readonly log: Logger,
    private readonly now: () => Date,
    private readonly maxModelLines = MAX_MODEL_LINES,
  ) {}

  /** A line from the sync model (`io.log`): capped per run. */
  model(message: string, data?: Record<string, unknown>): void {
    this.log.info(data ?? {}, message);
    if (this.modelLines >= this.maxModelLines) {
      this.dropped++;
      return;
    }
    this.modelLines++;
    this.keep('info', message, data);
  }

  /** A line from the runner itself: always kept. */
  line(level: RunLogLevel, message: string, data?: Record<string, unknown>): void {
    if (level === 'info') this.log.info(data ?? {}, message);
    else if (level === 'warn') this.log.warn(data ?? {}, message);
    else this.log.error(data ?? {}, message);
    this.keep(level, message, data);
  }

  /** Waits until every line so far is stored (or failed to be: never throws). */
  async flush(): Promise<void> {
    if (this.dropped > 0) {
      const n = this.dropped;
      this.dropped = 0;
      this.keep(
        'warn',
        `${n} further line${n === 1 ? '' : 's'} of this run not kept here (see Tether's log)`,
      );
    }
    this.schedule();
    await this.writing;
  }

  private keep(level: RunLogLevel, message: string, data?: Record<string, unknown>): void {
    const text = message.length > MAX_TEXT ? `${message.slice(0, MAX_TEXT)}…` : message;
    const safe = data === undefined ? undefined : (redactLogData(data) as Record<string, unknown>);
    this.pending.push({ at: this.now(), level, message: text, data: safe });
    this.schedule();
  }

  /** One write at a time, each taking every line pending when it starts. */
  private schedule(): void {
    this.writing = this.writing.then(async () => {
      if (this.pending.length === 0) return;
      const batch = this.pending;
      this.pending = [];
      try {
        await appendRunLog(this.ctx, this.runId, batch);
      } catch (err) {
        // The run goes on: its lines are in the process log. Said once per run.
        if (!this.failed) this.log.warn({ err }, 'could not store the sync run log');
        this.failed = true;
      }
    });
  }
}
