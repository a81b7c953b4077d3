import type { OutboundRequestOptions, OutboundResponse } from '../engine/outbound.ts';
import { testMarketoConnection, type ConnectionTestResult } from '../marketo/connection-test.ts';

/**
 * Connection testers by provider name: how to prove that credentials work before a connection is
 * stored. The engine calls `testConnection(provider, …)` and never knows which provider it is.
 */
export interface ConnectionTestInput {
  clientId: string;
  clientSecret: string;
  /** The connection_config fields as submitted (`params[...]`). */
  params: Record<string, string>;
}

export interface ConnectionTesterDeps {
  request: (opts: OutboundRequestOptions) => Promise<OutboundResponse>;
  isAllowedHost: (hostPort: string) => boolean;
  timeoutMs?: number;
}

export type ConnectionTester = (
  input: ConnectionTestInput,
  deps: ConnectionTesterDeps,
) => Promise<ConnectionTestResult>;

export const CONNECTION_TESTERS: Readonly<Record<string, ConnectionTester>> = {
  marketo: (input, deps) =>
    testMarketoConnection(
      {
        clientId: input.clientId,
        clientSecret: input.clientSecret,
        endpointURL: input.params.endpointURL ?? '',
        identityURL: input.params.identityURL ?? null,
      },
      deps,
    ),
};

export type { ConnectionTestResult };
