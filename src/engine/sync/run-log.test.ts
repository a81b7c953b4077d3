import pino from 'pino';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createConnection } from '../../db/connections.ts';
import { nowOf } from '../../db/context.ts';
import { listRunLog } from '../../db/run-logs.ts';
import { claimSync, ensureSyncs, finishRun, listSyncs } from '../../db/syncs.ts';
import { openTestDb, type TestDb } from '../../db/testing.ts';
import { redactLogData, RunLog, REDACTED } from './run-log.ts';

/** A run log against a real (migrated) SQLite database, with Tether's log captured. */
describe('RunLog', () => {
  let t: TestDb;
  let runId: number;
  let syncId: number;
  let lines: string[];
  let logger: pino.Logger;

  beforeEach(async () => {
    t = await openTestDb();
    const c = await createConnection(t.ctx, {
      environmentId: t.environmentId,
      connectionId: 'c1',
      providerConfigKey: 'marketo',
      provider: 'marketo',
    });
    await ensureSyncs(t.ctx, c.id, ['leads'], nowOf(t.ctx));
    const [sync] = await listSyncs(t.ctx, { environmentId: t.environmentId, providerConfigKey: 'marketo' });
    syncId = sync!.id;
    const claim = await claimSync(t.ctx, {
      syncId,
      owner: 'o1',
      now: nowOf(t.ctx),
      staleBefore: new Date(0),
      models: ['Lead'],
    });
    runId = claim!.run.id;
    lines = [];
    logger = pino(
      { level: 'info' },
      new Writable({
        write(chunk: Buffer, _enc, done) {
          lines.push(chunk.toString());
          done();
        },
      }),
    );
  });
  afterEach(async () => {
    await t.cleanup();
  });

  it('keeps model and runner lines in order, redacted, and also writes them to the process log', async () => {
    const log = new RunLog(t.ctx, runId, logger, () => nowOf(t.ctx));
    log.model('falling back to createdAt windows', { code: '1035', access_token: 'tok-123456' });
    log.model('nested', { detail: { clientSecret: 's3cr3t-value', n: 2, when: new Date(0) } });
    log.line('error', 'run failed: boom', { error: { type: 'x', message: 'boom' } });
    await log.flush();
    const stored = await listRunLog(t.ctx, { runId, limit: 10 });
    expect(stored.map((l) => [l.level, l.message])).toEqual([
      ['info', 'falling back to createdAt windows'],
      ['info', 'nested'],
      ['error', 'run failed: boom'],
    ]);
    expect(stored[0]!.data).toEqual({ code: '1035', access_token: REDACTED });
    expect(stored[1]!.data).toEqual({
      detail: { clientSecret: REDACTED, n: 2, when: '1970-01-01T00:00:00.000Z' },
    });
    expect(JSON.stringify(stored)).not.toContain('tok-123456');
    expect(JSON.stringify(stored)).not.toContain('s3cr3t-value');
    expect(lines.some((l) => l.includes('falling back to createdAt windows'))).toBe(true);
    // Paging on by id.
    const rest = await listRunLog(t.ctx, { runId, limit: 10, afterId: stored[0]!.id });
    expect(rest.map((l) => l.message)).toEqual(['nested', 'run failed: boom']);
  });

  it('caps the model lines of a run and says how many were left out; runner lines are always kept', async () => {
    const log = new RunLog(t.ctx, runId, logger, () => nowOf(t.ctx), 3);
    for (let i = 0; i < 10; i++) log.model(`page ${i}`);
    log.line('info', 'run succeeded');
    await log.flush();
    const stored = await listRunLog(t.ctx, { runId, limit: 100 });
    expect(stored.map((l) => l.message)).toEqual([
      'page 0',
      'page 1',
      'page 2',
      'run succeeded',
      "7 further lines of this run not kept here (see Tether's log)",
    ]);
    // Every line still reached the process log.
    expect(lines.filter((l) => l.includes('"msg":"page ')).length).toBe(10);
  });

  it('never throws when the run is gone (pruned or its connection deleted), and logs go with their run', async () => {
    const log = new RunLog(t.ctx, runId, logger, () => nowOf(t.ctx));
    log.model('before');
    await log.flush();
    expect(await listRunLog(t.ctx, { runId, limit: 10 })).toHaveLength(1);
    await finishRun(t.ctx, {
      syncId,
      runId,
      owner: 'o1',
      status: 'SUCCESS',
      apiCalls: 0,
      defaultIntervalSeconds: 60,
      now: nowOf(t.ctx),
    });
    await t.ctx.db.deleteFrom('connections').execute();
    expect(await listRunLog(t.ctx, { runId, limit: 10 })).toEqual([]);
    log.model('after the run is gone');
    await expect(log.flush()).resolves.toBeUndefined();
    expect(await listRunLog(t.ctx, { runId, limit: 10 })).toEqual([]);
  });

  it('redactLogData: secret-looking keys censored, long strings cut, depth and arrays bounded', () => {
    expect(redactLogData({ password: 'x', apiKey: 'y', Authorization: 'z', ok: 1 })).toEqual({
      password: REDACTED,
      apiKey: REDACTED,
      Authorization: REDACTED,
      ok: 1,
    });
    expect((redactLogData('a'.repeat(3000)) as string).length).toBe(2001);
    expect(redactLogData({ a: { b: { c: { d: { e: 1 } } } } })).toEqual({ a: { b: { c: { d: '[…]' } } } });
    expect((redactLogData(Array.from({ length: 80 }, (_, i) => i)) as unknown[]).length).toBe(50);
    expect(redactLogData({ f: () => 1, n: Number.NaN, u: undefined })).toEqual({ n: null });
  });
});
