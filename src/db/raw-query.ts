/**
 * Raw SQL written once with `?` placeholders, run on either database: PostgreSQL gets them numbered
 * (`$1, $2…`). Used by the repositories whose hot statements are hand-written (records.ts,
 * record-shapes.ts).
 */
import { CompiledQuery } from 'kysely';
import { isPostgres, type DbContext } from './context.ts';
import { preparePg } from './pg-prepared.ts';

export async function run<R = Record<string, unknown>>(
  ctx: DbContext,
  text: string,
  params: unknown[],
  prepare = false,
): Promise<{ rows: R[]; changes: number }> {
  // PostgreSQL compiles `$1` placeholders; the texts here are written with `?`.
  let q = text;
  if (isPostgres(ctx)) {
    q = dollarText(text);
    // A sync's hot statements run as named prepared statements (see pg-prepared.ts).
    if (prepare) preparePg(q);
  }
  const r = await ctx.db.executeQuery<R>(CompiledQuery.raw(q, params));
  return { rows: r.rows, changes: Number(r.numAffectedRows ?? 0n) };
}

/** `?` → `$1, $2…`, remembered for the write statements (same text, same prepared statement). */
const dollarTexts = new Map<string, string>();

function dollarText(text: string): string {
  let q = dollarTexts.get(text);
  if (q === undefined) {
    let n = 0;
    q = text.replace(/\?/g, () => `$${++n}`);
    if (dollarTexts.size >= 64) dollarTexts.clear();
    dollarTexts.set(text, q);
  }
  return q;
}
