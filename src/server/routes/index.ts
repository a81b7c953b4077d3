import type { RouteDef } from '../router.ts';
import { allProxy } from './proxy/allProxy.ts';
import { putSyncOptions } from './sync/putOptions.ts';
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
import { getIntegration } from './integrations/getIntegration.ts';
import { postIntegration } from './integrations/postIntegration.ts';
import { patchIntegration } from './integrations/patchIntegration.ts';
import { deleteIntegration } from './integrations/deleteIntegration.ts';
import { postQuickstart } from './integrations/postQuickstart.ts';
import { getFunctions } from './integrations/functions/getFunctions.ts';
import { getFunction } from './integrations/functions/getFunction.ts';
import { getFunctionCode } from './integrations/functions/getFunctionCode.ts';
import { deleteFunction } from './integrations/functions/deleteFunction.ts';
import { patchFunction } from './integrations/functions/patchFunction.ts';
import { getProviderTemplates } from './providers/getProviderTemplates.ts';
import { getConnections, getConnectionsLegacy } from './connections/getConnections.ts';
import { getConnection, getConnectionLegacy } from './connections/getConnection.ts';
import { getConnectionOverview } from './connections/overview.ts';
import { patchConnection } from './connections/patchConnection.ts';
import { deleteConnection, deleteConnectionLegacy } from './connections/deleteConnection.ts';
import {
  patchMetadata,
  patchMetadataLegacy,
  postMetadata,
  postMetadataLegacy,
} from './connections/metadata.ts';
import { getTemplateLogo } from './images/getTemplateLogo.ts';
import { getRecords } from './records/getRecords.ts';
import { patchPruneRecords } from './records/patchPruneRecords.ts';
import { getLimits, patchLimits } from './connections/limits.ts';
import { getUsage } from './connections/usage.ts';
import { getRequests } from './connections/requests.ts';
import { postTrigger } from './sync/postTrigger.ts';
import { postStart } from './sync/postStart.ts';
import { postPause } from './sync/postPause.ts';
import { getSyncStatus } from './sync/getStatus.ts';
import { putUpdateConnectionFrequency } from './sync/putUpdateConnectionFrequency.ts';
import { getSyncRuns } from './sync/getRuns.ts';
import { getSyncRunLogs } from './sync/getRunLogs.ts';
import { postSyncVariant } from './sync/postVariant.ts';
import { deleteSyncVariantRoute } from './sync/deleteVariant.ts';
import { postRotateWebhookSigningKey } from './environment/postRotateWebhookSigningKey.ts';
import { getEnvironmentVariables } from './environment/getEnvironmentVariables.ts';
import { getScriptsConfig } from './scripts/getScriptsConfig.ts';
import { postActionTrigger } from './action/postTrigger.ts';
import { getAction } from './action/getAction.ts';

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
  getProviderTemplates,
  getIntegrations,
  // `/integrations/quickstart` before `/integrations/:uniqueKey`.
  postQuickstart,
  getIntegration,
  postIntegration,
  patchIntegration,
  deleteIntegration,
  getFunctions,
  getFunction,
  getFunctionCode,
  deleteFunction,
  patchFunction,
  // `/connections/metadata` before `/connections/:connectionId` (PATCH exists on both).
  postMetadata,
  patchMetadata,
  postMetadataLegacy,
  patchMetadataLegacy,
  getConnections,
  getConnectionsLegacy,
  getConnection,
  getConnectionLegacy,
  getConnectionOverview,
  patchConnection,
  deleteConnection,
  deleteConnectionLegacy,
  getLimits,
  patchLimits,
  getUsage,
  getRequests,
  getTemplateLogo,
  getRecords,
  patchPruneRecords,
  postTrigger,
  postStart,
  postPause,
  getSyncStatus,
  putUpdateConnectionFrequency,
  getSyncRuns,
  getSyncRunLogs,
  postSyncVariant,
  deleteSyncVariantRoute,
  allProxy,
  putSyncOptions,
  postRotateWebhookSigningKey,
  getEnvironmentVariables,
  getScriptsConfig,
  // `/action/trigger` (POST) before `/action/:id` (GET): different methods, listed in reading order.
  postActionTrigger,
  getAction,
];
