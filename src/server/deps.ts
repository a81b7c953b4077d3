import type { Logger } from 'pino';
import type { TetherConfig } from '../config.ts';
import type { Store } from '../db/store.ts';
import type { Environment } from '../db/environments.ts';
import type { OutboundClient } from '../engine/outbound.ts';
import type { WebhookSender } from '../engine/webhooks.ts';
import type { ProviderRegistry } from '../providers/registry.ts';
import type { ConnectUiAsset } from '../connect-ui/assets.ts';
import type { ConnectSession } from '../db/sessions.ts';
import type { TrafficController } from '../engine/traffic.ts';
import type { UsageRecorder } from '../engine/usage.ts';
import type { RequestLog } from '../engine/request-log.ts';
import type { SyncScheduler } from '../engine/sync/scheduler.ts';

/** Everything a route may use; built once at startup (src/server/app.ts). */
export interface ServerDeps {
  config: TetherConfig;
  store: Store;
  outbound: OutboundClient;
  webhooks: WebhookSender;
  providers: ProviderRegistry;
  connectUi: Map<string, ConnectUiAsset>;
  log: Logger;
  /** Traffic control per provider (each shared by every connection to every instance of it). */
  traffic: Map<string, TrafficController>;
  usage: UsageRecorder;
  /** Redacted log of proxied calls (`record()` after each call), with retention. */
  requestLog: RequestLog;
  /** The sync scheduler (set once the server started; absent in bare test deps). */
  syncs?: SyncScheduler;
}

/** What the auth step found: the environment, and the connect session for session routes. */
export interface AuthInfo {
  environment: Environment;
  session?: ConnectSession;
}
