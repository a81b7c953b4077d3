/**
 * Named prepared statements for PostgreSQL's hot statements (the records writes of a sync: records.ts).
 *
 * Kysely sends every query unnamed: PostgreSQL parses, analyses and plans its text at each execution. A
 * 500-row INSERT … VALUES with a thousand parameters costs ~8 µs of server CPU per row that way, about a
 * quarter of the insert (measured). A text registered here runs as a named prepared statement instead:
 * parsed once per pooled connection, then only bound and executed (and its text no longer sent).
 *
 * Only a few fixed texts are registered (at most MAX_NAMED): a prepared statement lives on the server for
 * as long as its connection, so naming every distinct query text would grow without bound.
 */
import type { PostgresPool, PostgresPoolClient } from 'kysely';
import type pg from 'pg';

const MAX_NAMED = 32;

/** Statement text → its name (the same on every connection). */
const names = new Map<string, string>();

/** Marks `text` (as sent, with `$n` placeholders) to be run as a named prepared statement. */
export function preparePg(text: string): void {
  if (names.has(text) || names.size >= MAX_NAMED) return;
  names.set(text, `tether_${names.size + 1}`);
}

/** `pool` for Kysely's PostgresDialect, running registered texts as named prepared statements. */
export function preparingPool(pool: pg.Pool): PostgresPool {
  // One wrapper per pooled client: Kysely keeps its connection objects by client.
  const wrappers = new WeakMap<pg.PoolClient, PostgresPoolClient>();
  return {
    async connect() {
      const client = await pool.connect();
      let wrapper = wrappers.get(client);
      if (wrapper === undefined) {
        wrapper = wrap(client);
        wrappers.set(client, wrapper);
      }
      return wrapper;
    },
    end: () => pool.end(),
  };
}

function wrap(client: pg.PoolClient): PostgresPoolClient {
  // Kysely calls query(text, parameters), or query(cursor) when streaming.
  const query = (textOrCursor: unknown, parameters?: ReadonlyArray<unknown>): unknown => {
    if (typeof textOrCursor !== 'string') return client.query(textOrCursor as pg.Submittable);
    const name = names.get(textOrCursor);
    const values = parameters as unknown[] | undefined;
    return name === undefined
      ? client.query(textOrCursor, values)
      : client.query({ name, text: textOrCursor, values });
  };
  return {
    query: query as unknown as PostgresPoolClient['query'],
    release: (destroy) => client.release(destroy),
  };
}
