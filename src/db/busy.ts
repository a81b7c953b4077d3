/**
 * Whether a database error means "busy, try again shortly" rather than a fault: SQLite's lock could not be
 * had within `busy_timeout` (another process on the same file, or a checkpoint holding writers out), or
 * PostgreSQL gave up on a lock or a serialization conflict. The HTTP layer answers those 503 with
 * `Retry-After`, never a 500.
 */
const SQLITE_BUSY = /^SQLITE_(BUSY|LOCKED)(_|$)/;
/** lock_not_available, serialization_failure, deadlock_detected. */
const POSTGRES_RETRY = new Set(['55P03', '40001', '40P01']);

export function isDatabaseBusy(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code !== 'string') return false;
  return SQLITE_BUSY.test(code) || POSTGRES_RETRY.has(code);
}
