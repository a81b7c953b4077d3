/**
 * How the dashboard writes times, durations and numbers. Pure and locale-independent (UTC, `1,234`), so
 * that what operators read matches the API's timestamps and the tests are stable.
 */

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

/** Parse an ISO timestamp (`Z` or `+00:00`); null when absent or invalid. */
export function parseTime(iso: string | null | undefined): Date | null {
  if (typeof iso !== 'string' || iso === '') return null;
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? null : d;
}

/** `2025-01-02 03:04:05 UTC`, or `—` when there is no (valid) time. */
export function formatDateTime(iso: string | null | undefined): string {
  const d = parseTime(iso);
  if (!d) return '—';
  return (
    `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ` +
    `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} UTC`
  );
}

/** `in 5 min`, `3 h ago`, `just now`: how far `iso` is from `now`. Empty when there is no time. */
export function formatRelative(iso: string | null | undefined, now: Date): string {
  const d = parseTime(iso);
  if (!d) return '';
  const diff = d.getTime() - now.getTime();
  const abs = Math.abs(diff);
  if (abs < 5_000) return 'just now';
  let text: string;
  if (abs < 60_000) text = `${Math.round(abs / 1000)} s`;
  else if (abs < 3_600_000) text = `${Math.round(abs / 60_000)} min`;
  else if (abs < 86_400_000) text = `${Math.round(abs / 3_600_000)} h`;
  else text = `${Math.round(abs / 86_400_000)} d`;
  return diff > 0 ? `in ${text}` : `${text} ago`;
}

/** Both forms: `2025-01-02 03:04:05 UTC (3 min ago)`. */
export function formatWhen(iso: string | null | undefined, now: Date): string {
  const abs = formatDateTime(iso);
  const rel = formatRelative(iso, now);
  return rel === '' ? abs : `${abs} (${rel})`;
}

/** `850 ms`, `1.2 s`, `2 min 5 s`, `1 h 3 min`. */
export function formatDuration(ms: number | null | undefined): string {
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;
  const s = Math.round(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

/** The time between two timestamps, or `—` while the second is missing. */
export function formatSpan(from: string | null | undefined, to: string | null | undefined): string {
  const a = parseTime(from);
  const b = parseTime(to);
  return a && b ? formatDuration(b.getTime() - a.getTime()) : '—';
}

/** `1,234,567`; `—` for a missing number. */
export function formatCount(n: number | null | undefined): string {
  if (typeof n !== 'number' || !Number.isFinite(n)) return '—';
  const sign = n < 0 ? '-' : '';
  const [int, frac] = Math.abs(n).toString().split('.');
  const grouped = int!.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return sign + grouped + (frac ? `.${frac}` : '');
}

/** A short one-line JSON of log data; empty for nothing. Long values are cut with `…`. */
export function formatData(data: unknown, max = 300): string {
  if (data === undefined || data === null) return '';
  if (typeof data === 'object' && Object.keys(data as object).length === 0) return '';
  let text: string;
  try {
    text = typeof data === 'string' ? data : JSON.stringify(data);
  } catch {
    text = String(data);
  }
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** `1000+` once a capped count reached its cap. */
export function formatCapped(n: number, cap: number): string {
  return n > cap ? `${formatCount(cap)}+` : formatCount(n);
}
