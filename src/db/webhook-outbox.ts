/**
 * Webhook outbox repository: deliveries waiting for (another) attempt, so that none is lost to a
 * receiver that is down, a restart or a crash (engine/webhooks.ts decides when to attempt and what an
 * answer means). DDL: migrations/008_webhook_outbox.ts. Times are ISO strings (schema.ts), compared as text.
 */
import type { Generated, Kysely, Selectable } from 'kysely';
import type { DbContext } from './context.ts';
import type { Database } from './schema.ts';

export interface WebhookOutboxTable {
  id: Generated<number>;
  environment_id: number | null;
  url: string;
  body: string;
  headers: string;
  status: 'pending' | 'failed';
  attempts: number;
  next_attempt_at: string;
  claimed_until: string | null;
  last_status: number | null;
  last_error: string | null;
  created_at: string;
  updated_at: string;
}

export type WebhookOutboxTables = { webhook_outbox: WebhookOutboxTable };

function outboxDb(ctx: DbContext): Kysely<Database & WebhookOutboxTables> {
  return ctx.db.withTables<WebhookOutboxTables>();
}

/** A delivery as stored: what to send again, exactly. */
export interface OutboxDelivery {
  id: number;
  url: string;
  body: string;
  headers: Record<string, string>;
  attempts: number;
}

/** Queues a delivery, claimed by the caller until `claimedUntil` (it attempts it at once). */
export async function enqueueWebhook(
  ctx: DbContext,
  d: {
    environmentId?: number;
    url: string;
    body: string;
    headers: Record<string, string>;
    now: Date;
    claimedUntil: Date;
  },
): Promise<number> {
  const now = d.now.toISOString();
  const row = await outboxDb(ctx)
    .insertInto('webhook_outbox')
    .values({
      environment_id: d.environmentId ?? null,
      url: d.url,
      body: d.body,
      headers: JSON.stringify(d.headers),
      status: 'pending',
      attempts: 0,
      next_attempt_at: now,
      claimed_until: d.claimedUntil.toISOString(),
      created_at: now,
      updated_at: now,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return Number(row.id);
}

/**
 * Claims up to `limit` pending deliveries due at `now` and not held by another process, until
 * `claimedUntil`; returns those this call got (a row another process claimed in between is skipped).
 */
export async function claimDueWebhooks(
  ctx: DbContext,
  now: Date,
  claimedUntil: Date,
  limit: number,
): Promise<OutboxDelivery[]> {
  const at = now.toISOString();
  const due = await outboxDb(ctx)
    .selectFrom('webhook_outbox')
    .select(['id', 'url', 'body', 'headers', 'attempts'])
    .where('status', '=', 'pending')
    .where('next_attempt_at', '<=', at)
    .where((eb) => eb.or([eb('claimed_until', 'is', null), eb('claimed_until', '<', at)]))
    .orderBy('next_attempt_at')
    .orderBy('id')
    .limit(limit)
    .execute();
  const claimed: OutboxDelivery[] = [];
  for (const row of due) {
    // Conditional on the row still being free: of two processes, one gets it.
    const r = await outboxDb(ctx)
      .updateTable('webhook_outbox')
      .set({ claimed_until: claimedUntil.toISOString() })
      .where('id', '=', row.id)
      .where('status', '=', 'pending')
      .where((eb) => eb.or([eb('claimed_until', 'is', null), eb('claimed_until', '<', at)]))
      .executeTakeFirst();
    if (Number(r.numUpdatedRows) !== 1) continue;
    claimed.push({
      id: Number(row.id),
      url: row.url,
      body: row.body,
      headers: JSON.parse(row.headers) as Record<string, string>,
      attempts: row.attempts,
    });
  }
  return claimed;
}

/** The receiver took it: nothing left to do. */
export async function removeWebhook(ctx: DbContext, id: number): Promise<void> {
  await outboxDb(ctx).deleteFrom('webhook_outbox').where('id', '=', id).execute();
}

/**
 * After attempts that did not deliver: `next` = when to try again (released to any process then), or
 * null = given up (`failed`).
 */
export async function rescheduleWebhook(
  ctx: DbContext,
  id: number,
  r: { attempts: number; lastStatus?: number; lastError?: string; next: Date | null; now: Date },
): Promise<void> {
  await outboxDb(ctx)
    .updateTable('webhook_outbox')
    .set({
      attempts: r.attempts,
      status: r.next === null ? 'failed' : 'pending',
      next_attempt_at: (r.next ?? r.now).toISOString(),
      claimed_until: null,
      last_status: r.lastStatus ?? null,
      last_error: r.lastError ?? null,
      updated_at: r.now.toISOString(),
    })
    .where('id', '=', id)
    .execute();
}

/** Puts a claimed delivery back, due at `next`, its attempts untouched (its receiver is failing). */
export async function deferWebhook(ctx: DbContext, id: number, next: Date, now: Date): Promise<void> {
  await outboxDb(ctx)
    .updateTable('webhook_outbox')
    .set({ next_attempt_at: next.toISOString(), claimed_until: null, updated_at: now.toISOString() })
    .where('id', '=', id)
    .where('status', '=', 'pending')
    .execute();
}

/** The signature headers a delivery holds now (a key rotation may have replaced them). */
export async function webhookHeaders(
  ctx: DbContext,
  id: number,
): Promise<Record<string, string> | undefined> {
  const row = await outboxDb(ctx)
    .selectFrom('webhook_outbox')
    .select('headers')
    .where('id', '=', id)
    .executeTakeFirst();
  return row ? (JSON.parse(row.headers) as Record<string, string>) : undefined;
}

/** Deliveries still to make or given up, for tests and operators. */
export async function listWebhookOutbox(ctx: DbContext): Promise<Selectable<WebhookOutboxTable>[]> {
  return outboxDb(ctx).selectFrom('webhook_outbox').selectAll().orderBy('id').execute();
}

/** Drops deliveries given up before `before` (kept a while for inspection). */
export async function pruneFailedWebhooks(ctx: DbContext, before: Date): Promise<number> {
  const r = await outboxDb(ctx)
    .deleteFrom('webhook_outbox')
    .where('status', '=', 'failed')
    .where('updated_at', '<', before.toISOString())
    .executeTakeFirst();
  return Number(r.numDeletedRows);
}

/**
 * Signs the pending deliveries of an environment again (its signing key was rotated: receivers now
 * verify with the new key). Returns how many were re-signed.
 */
export async function resignPendingWebhooks(
  ctx: DbContext,
  environmentId: number,
  sign: (body: string) => Record<string, string>,
): Promise<number> {
  const rows = await outboxDb(ctx)
    .selectFrom('webhook_outbox')
    .select(['id', 'body'])
    .where('environment_id', '=', environmentId)
    .where('status', '=', 'pending')
    .execute();
  for (const row of rows) {
    await outboxDb(ctx)
      .updateTable('webhook_outbox')
      .set({ headers: JSON.stringify(sign(row.body)) })
      .where('id', '=', row.id)
      .execute();
  }
  return rows.length;
}
