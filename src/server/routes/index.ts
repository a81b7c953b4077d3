import type { RouteDef } from '../router.ts';
import { getHealth } from './health/getHealth.ts';
import { postSessions } from './connect/postSessions.ts';
import { postSessionsReconnect } from './connect/postSessionsReconnect.ts';
import { getSession } from './connect/getSession.ts';
import { deleteSession } from './connect/deleteSession.ts';
import { postTelemetry } from './connect/postTelemetry.ts';
import { postOauth2Auth } from './oauth2/auth/postProviderConfigKey.ts';
import { getProviders } from './providers/getProviders.ts';
import { getProvider } from './providers/getProvider.ts';
import { getIntegrations } from './integrations/getIntegrations.ts';

/** Every public route, one file each, paths mirroring URLs. */
export const routes: RouteDef[] = [
  getHealth,
  postSessions,
  postSessionsReconnect,
  getSession,
  deleteSession,
  postTelemetry,
  postOauth2Auth,
  getProviders,
  getProvider,
  getIntegrations,
];
