/**
 * Pure output formatting of the command line: aligned tables, key/value listings, error lines. Secrets
 * never reach it: `connections show` reads the overview route, which has no credentials.
 */

export type Cell = string | number | boolean | null | undefined;

/** One line, no control characters: a value from the API must not break the table or the terminal. */
export function cellText(v: Cell): string {
  if (v === null || v === undefined || v === '') return '-';
  // eslint-disable-next-line no-control-regex
  return String(v).replace(/[\u0000-\u001f\u007f]+/g, ' ');
}

/** Columns padded to their widest cell, two spaces apart; the last column is not padded. */
export function table(headers: string[], rows: Cell[][]): string {
  const text = rows.map((r) => headers.map((_, i) => cellText(r[i])));
  const widths = headers.map((h, i) => Math.max(h.length, ...text.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(headers), ...text.map(line)].map((l) => `${l}\n`).join('');
}

/** `key  value` lines, keys aligned. */
export function keyValues(pairs: [string, Cell][]): string {
  const width = Math.max(0, ...pairs.map(([k]) => k.length));
  return pairs.map(([k, v]) => `${k.padEnd(width)}  ${cellText(v)}\n`).join('');
}

/** The error line every failure prints to stderr. */
export function errorLine(code: string, message: string): string {
  return `error ${code}: ${cellText(message)}\n`;
}

/** Replaces every occurrence of `secret` (when set) so that it cannot reach the terminal or a log. */
export function redact(text: string, secret: string | undefined): string {
  return secret ? text.split(secret).join('[secret key]') : text;
}

/** JSON of an API value on one line, for a table cell or key/value line. */
export function compactJson(v: unknown): string {
  if (v === null || v === undefined) return '-';
  if (typeof v === 'object' && Object.keys(v).length === 0) return '-';
  return JSON.stringify(v);
}
