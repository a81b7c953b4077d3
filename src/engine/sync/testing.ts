/**
 * Scheduler timings for tests: a tick every 25 ms and a 100 ms heartbeat so runs start and end within
 * a test's patience, a lease stale after 2 s so a taken-over run does not wait a minute. Spread into the
 * scheduler's options (`{ ...QUICK_SCHEDULER, registry, onRunEnd }`).
 */
export const QUICK_SCHEDULER = {
  enabled: true,
  tickMs: 25,
  heartbeatMs: 100,
  staleAfterMs: 2_000,
} as const;
