import type { Logger } from 'pino';
import type { TetherConfig } from '../config.ts';
import type { Store } from '../db/store.ts';
import type { OutboundClient } from './outbound.ts';
import type { WebhookSender } from './webhooks.ts';
import type { ProviderRegistry } from '../providers/registry.ts';
import type { TrafficController } from './traffic.ts';
import type { UsageRecorder } from './usage.ts';
import type { RequestLog } from './request-log.ts';
import type { SyncScheduler } from './sync/scheduler.ts';
import type { ActionQueue } from './actions/queue.ts';
import type { SharedSlots } from './shared-slots.ts';

/** What the engine works with; built once at startup (src/server/start.ts). */
export interface EngineDeps {
  config: TetherConfig;
  store: Store;
  outbound: OutboundClient;
  webhooks: WebhookSender;
  providers: ProviderRegistry;
  log: Logger;
  /** Traffic control per provider (each shared by every connection to every instance of it). */
  traffic: Map<string, TrafficController>;
  usage: UsageRecorder;
  /** Redacted log of proxied calls (`record()` after each call), with retention. */
  requestLog: RequestLog;
  /** The sync scheduler (set once the server started; absent in bare test deps). */
  syncs?: SyncScheduler;
  /** The async action runner and the action registry (set once the server started; absent in bare test deps). */
  actions?: ActionQueue;
  /** Slots shared by the Tether processes on this database (absent in bare test deps: this process alone). */
  slots?: SharedSlots;
}
