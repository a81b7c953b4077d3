import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { randomBytes, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import pino, { type Logger } from 'pino';
import type { TetherConfig } from '../config.ts';
import { openStore, type Store } from '../db/store.ts';
import { nowOf } from '../db/context.ts';
import { createIntegration, getIntegration } from '../db/integrations.ts';
import { OutboundClient } from '../engine/outbound.ts';
import { WebhookSender, type WebhookOutboxOptions } from '../engine/webhooks.ts';
import { providers as defaultProviders, type ProviderRegistry } from '../providers/registry.ts';
import { buildConnectUiAssets } from '../connect-ui/assets.ts';
import { buildDashboardAssets } from '../dashboard/assets.ts';
import { startSandbox, type RunningSandbox } from '../sandbox/index.ts';
import { listen } from './app.ts';
import { TrafficController } from '../engine/traffic.ts';
import { UsageRecorder } from '../engine/usage.ts';
import { UsagePersistence } from '../engine/usage-persistence.ts';
import { ProcessPresence, type PresenceOptions } from '../engine/presence.ts';
import { SharedSlots } from '../engine/shared-slots.ts';
import { RequestLog, requestLogDaysFromEnv } from '../engine/request-log.ts';
import { applyStoredLimits } from '../engine/limits-store.ts';
import { TRAFFIC_PROFILES } from '../providers/traffic.ts';
import { startSyncScheduler } from '../engine/sync/scheduler.ts';
import { startRecordsPurge } from '../engine/records-purge.ts';
import { startActionQueue, type ActionQueueOptions } from '../engine/actions/queue.ts';
import type { ServerDeps } from './deps.ts';

/**
 * Assemble and start Tether: keys and database, outbound client (with the sandbox allowlisted when
 * it runs beside us), webhook sender, Connect UI and dashboard assets, the ready `marketo` integration,
 * the HTTP server. Used by `npm start` and by integration tests (port 0, temp data dir).
 */
export interface RunningTether {
  url: string;
  secretKey: string;
  deps: ServerDeps;
  sandbox: RunningSandbox | undefined;
  close(): Promise<void>;
}

/** Secrets never reach the logs, whatever a caller puts in a log object. */
const REDACT = [
  'secretKey',
  'secret_key',
  'client_secret',
  'clientSecret',
  'token',
  'access_token',
  'credentials',
  'authorization',
  'req.headers.authorization',
  '*.client_secret',
  '*.clientSecret',
  '*.token',
  '*.access_token',
  '*.credentials',
];

/**
 * The embedded sandbox keeps its LaunchPoint credentials in the data dir, so a connection made
 * yesterday still works after a restart.
 */
function sandboxCredentials(dataDir: string): { clientId: string; clientSecret: string } {
  const file = join(dataDir, 'sandbox-credentials.json');
  if (existsSync(file)) {
    const saved = JSON.parse(readFileSync(file, 'utf8')) as { clientId?: unknown; clientSecret?: unknown };
    if (typeof saved.clientId === 'string' && typeof saved.clientSecret === 'string') {
      return { clientId: saved.clientId, clientSecret: saved.clientSecret };
    }
  }
  const creds = { clientId: randomUUID(), clientSecret: randomBytes(24).toString('base64url') };
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  writeFileSync(file, JSON.stringify(creds), { mode: 0o600 });
  return creds;
}

export function createLogger(level: TetherConfig['logLevel']): Logger {
  return pino({ level, redact: { paths: REDACT, censor: '[redacted]' } });
}

export async function startTether(
  config: TetherConfig,
  opts: {
    logger?: Logger;
    providers?: ProviderRegistry;
    webhookBackoffMs?: (n: number) => number;
    /** Timings of the webhook outbox (tests). */
    webhookOutbox?: Omit<WebhookOutboxOptions, 'ctx' | 'onError'>;
    /** The async action runner's options (tests: their own action registry, short timings). */
    actions?: ActionQueueOptions;
    /** Heartbeat timings of the process presence (tests). */
    presence?: Pick<PresenceOptions, 'heartbeatMs' | 'staleMs'>;
  } = {},
): Promise<RunningTether> {
  const log = opts.logger ?? createLogger(config.logLevel);
  let sandbox: RunningSandbox | undefined;
  const allowedHosts = [...config.allowedHosts];
  if (config.sandbox) {
    sandbox = await startSandbox({
      port: config.sandboxPort,
      host: '127.0.0.1',
      munchkinId: '123-ABC-456',
      seed: { leads: 10_000, seed: 1 },
      ...sandboxCredentials(config.dataDir),
    });
    allowedHosts.push(new URL(sandbox.endpoint).host);
  }
  let store: Store | undefined;
  let requestLog: RequestLog | undefined;
  let usagePersistence: UsagePersistence | undefined;
  let presence: ProcessPresence | undefined;
  try {
    store = await openStore(config);
    const outbound = new OutboundClient({ allowedHosts });
    // Webhook receivers may be anywhere (any host suffix); its keep-alive sockets close with Tether.
    const webhookClient = new OutboundClient({ allowedHosts, allowedSuffixes: [''] });
    const webhooks = new WebhookSender({
      client: webhookClient,
      ...(opts.webhookBackoffMs ? { backoffMs: opts.webhookBackoffMs } : {}),
      // Deliveries are kept in the database until made (retried later, and after a restart).
      outbox: {
        ...opts.webhookOutbox,
        ctx: store.ctx,
        onError: (err, what) => log.warn({ err }, `webhook outbox ${what} failed`),
      },
      onResult: (r) =>
        r.ok
          ? log.info({ url: r.url, attempts: r.attempts }, 'webhook delivered')
          : log.warn(
              { url: r.url, attempts: r.attempts, status: r.status, error: r.error },
              'webhook failed',
            ),
    });
    const registry = opts.providers ?? defaultProviders;
    if (!(await getIntegration(store.ctx, store.environment.id, 'marketo'))) {
      await createIntegration(store.ctx, {
        environmentId: store.environment.id,
        uniqueKey: 'marketo',
        provider: 'marketo',
        displayName: 'Marketo',
      });
    }
    // Usage days follow Marketo's quota day (midnight America/Chicago), the first provider's.
    const marketoDay = TRAFFIC_PROFILES.marketo?.options().day;
    const usage = new UsageRecorder(marketoDay ? { day: marketoDay } : {});
    // One id per process start, for its heartbeat and its usage rows: a process writes only its own rows.
    const processId = randomUUID();
    // Every process's stored usage (the previous run's included) is known before any call: a restart
    // does not give a spent budget back, and the processes on one database share the daily budgets.
    usagePersistence = await UsagePersistence.start(store.ctx, usage, {
      log,
      now: () => nowOf(store!.ctx),
      processId,
    });
    const traffic = new Map<string, TrafficController>();
    for (const [name, profile] of Object.entries(TRAFFIC_PROFILES)) {
      // One clock for Tether: the store's (tests move it), so quota days and token expiry agree.
      const clock = store.ctx;
      const controller = new TrafficController({
        ...profile.options(),
        observer: usage,
        // This process's own calls: the others' (and earlier runs') come through setUsedElsewhere.
        usedBefore: (scope, key, day) => usage.ownCallsOn(scope, key, day),
        now: () => nowOf(clock).getTime(),
      });
      usage.onElsewhere((scope, key, day, calls) => controller.setUsedElsewhere(scope, key, day, calls));
      traffic.set(name, controller);
      if (name === 'marketo') usage.useBudgets(controller);
    }
    // Several processes on one database split each instance's rate and in-flight limits.
    presence = await ProcessPresence.start(store.ctx, {
      log,
      ...opts.presence,
      id: processId,
      onCount: (n) => {
        for (const t of traffic.values()) t.setProcesses(n);
      },
    });
    // Slots shared by the processes on this database (Marketo's export queue): a process's slots count
    // while presence counts it.
    const slots = new SharedSlots(store.ctx, { processId, staleMs: presence.staleMs, log });
    requestLog = new RequestLog(store.ctx, {
      retentionDays: requestLogDaysFromEnv(),
      onError: (err, what) => log.warn({ err }, `request log ${what} failed`),
    });
    // The two browser apps bundle side by side.
    const [connectUi, dashboard] = await Promise.all([buildConnectUiAssets(), buildDashboardAssets()]);
    const deps: ServerDeps = {
      traffic,
      usage,
      requestLog,
      config,
      store,
      outbound,
      webhooks,
      providers: registry,
      connectUi,
      dashboard,
      log,
      slots,
    };
    await applyStoredLimits(deps);
    const server = await listen(deps, config.port, config.host);
    deps.syncs = startSyncScheduler(deps, { enabled: config.syncs });
    // Async action runs (stored ones left by an earlier process included).
    deps.actions = startActionQueue(deps, opts.actions);
    // Records of deleted connections go in the background, a bounded amount at a time.
    const purge = startRecordsPurge(store.ctx, { log });
    const openedStore = store;
    const openedLog = requestLog;
    const openedUsage = usagePersistence;
    const openedPresence = presence;
    return {
      url: server.url,
      secretKey: store.keys.secretKey,
      deps,
      sandbox,
      close: async () => {
        await server.close();
        await deps.syncs?.close();
        await deps.actions?.close();
        await purge.close();
        for (const t of traffic.values()) t.close();
        await slots.close();
        await openedPresence.close();
        await openedUsage.close();
        await openedLog.close();
        await webhooks.close();
        webhookClient.close();
        outbound.close();
        await openedStore.close();
        await sandbox?.close();
      },
    };
  } catch (err) {
    await presence?.close();
    await usagePersistence?.close();
    await requestLog?.close();
    await store?.close();
    await sandbox?.close();
    throw err;
  }
}
