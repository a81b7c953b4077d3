import type { RouteDef } from '../../router.ts';

/** `POST /connect/telemetry`: the Connect UI's beacons. Accepted and dropped (no analytics here). */
export const postTelemetry: RouteDef = {
  method: 'POST',
  path: '/connect/telemetry',
  auth: 'none',
  handler: async (ctx) => {
    // Drain the body so the connection can be reused; its content is not kept.
    for await (const _chunk of ctx.req) void _chunk;
    return { status: 204 };
  },
};
