/**
 * Test fixture of export-queue-processes.test.ts, run as its own OS process (`node --import tsx`): a
 * Tether configured from the environment (TETHER_DATA_DIR, TETHER_DATABASE_URL… as `npm start`), whose
 * scheduler runs the leads sync alone, one run at a time. It writes JSON lines to stdout: `{"url"}` once
 * listening, `{"ended"}` after each run; SIGTERM stops it cleanly (its shared slots and heartbeat row go).
 */
import pino from 'pino';
import { loadConfig } from '../../config.ts';
import { leadsSync } from '../../marketo/models/leads.ts';
import { startTether } from '../../server/start.ts';
import { SyncScheduler } from './scheduler.ts';
import { QUICK_SCHEDULER } from './testing.ts';

const say = (line: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(line)}\n`);

const tether = await startTether(loadConfig(process.env), { logger: pino({ level: 'silent' }) });
await tether.deps.syncs?.close();
const scheduler = new SyncScheduler(tether.deps, {
  ...QUICK_SCHEDULER,
  maxConcurrentRuns: 1,
  registry: { marketo: [leadsSync] },
  onRunEnd: (o) => say({ ended: o }),
});
tether.deps.syncs = scheduler;
scheduler.start();
say({ url: tether.url });

process.once('SIGTERM', () => {
  void (async () => {
    await scheduler.close();
    await tether.close();
    process.exit(0);
  })();
});
