import type { EngineDeps } from './deps.ts';
import type { Environment } from '../db/environments.ts';
import type { Connection } from '../db/connections.ts';

/**
 * Auth webhooks (Nango spec 2.6): after a creation, an override (reconnect) and a refresh failure.
 * Creation needs `onAuthCreation`, refresh errors `onAuthRefreshError`; a session's URL override
 * replaces the primary URL and drops the secondary.
 */
export function authWebhook(
  deps: Pick<EngineDeps, 'webhooks'>,
  environment: Environment,
  connection: Connection,
  event: {
    operation: 'creation' | 'override' | 'refresh';
    success: boolean;
    error?: { type: string; description: string };
    urlOverride?: string | null;
  },
): void {
  if (event.operation === 'creation' && !environment.onAuthCreation) return;
  if (event.operation === 'refresh' && !environment.onAuthRefreshError) return;
  const override = event.urlOverride ?? connection.webhookUrlOverride;
  const urls = override ? [override] : [environment.webhookUrl, environment.webhookUrlSecondary];
  const endUser = connection.endUser
    ? {
        endUserId: connection.endUser.id,
        ...(connection.endUser.email ? { endUserEmail: connection.endUser.email } : {}),
        ...(connection.endUser.organization ? { organizationId: connection.endUser.organization.id } : {}),
        tags: connection.endUser.tags ?? {},
      }
    : undefined;
  const payload: Record<string, unknown> = {
    from: 'nango',
    type: 'auth',
    connectionId: connection.connectionId,
    providerConfigKey: connection.providerConfigKey,
    provider: connection.provider,
    authMode: 'OAUTH2_CC',
    environment: environment.name,
    operation: event.operation,
    success: event.success,
    ...(endUser ? { endUser } : {}),
    ...(Object.keys(connection.tags).length > 0 ? { tags: connection.tags } : {}),
    ...(event.error ? { error: event.error } : {}),
  };
  for (const url of urls) {
    if (url)
      deps.webhooks.send({
        url,
        signingKey: environment.webhookSigningKey,
        payload,
        environmentId: environment.id,
      });
  }
}
