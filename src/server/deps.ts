import type { Environment } from '../db/environments.ts';
import type { ConnectSession } from '../db/sessions.ts';
import type { ConnectUiAsset } from '../connect-ui/assets.ts';
import type { DashboardAsset } from '../dashboard/assets.ts';
import type { EngineDeps } from '../engine/deps.ts';

/** Everything a route may use: the engine's dependencies, the Connect UI's and the dashboard's assets. */
export interface ServerDeps extends EngineDeps {
  connectUi: Map<string, ConnectUiAsset>;
  dashboard: Map<string, DashboardAsset>;
}

/** What the auth step found: the environment, and the connect session for session routes. */
export interface AuthInfo {
  environment: Environment;
  session?: ConnectSession;
}
