import { z } from 'zod';
import type { RouteDef } from '../../router.ts';
import { ApiError } from '../../errors.ts';
import { parseWith } from '../../validate.ts';
import { nowOf } from '../../../db/context.ts';
import { countRecords } from '../../../db/records.ts';
import { getRunsByIds, type ModelCounts, type SyncRun, type SyncWithConnection } from '../../../db/syncs.ts';
import { formatFrequency } from '../../../engine/sync/frequency.ts';
import { storedModelName, type SyncModelDef } from '../../../engine/sync/registry.ts';
import type { DbContext } from '../../../db/context.ts';
import { connectionIdSchema, providerConfigKeySchema } from '../connections/schemas.ts';
import { defOf, normalizeSelectors, resolveTargets } from './shared.ts';

const querySchema = z
  .object({
    syncs: z.string().min(1).max(100_000),
    provider_config_key: providerConfigKeySchema,
    connection_id: connectionIdSchema.optional(),
  })
  .strict();

type ApiStatus = 'RUNNING' | 'SUCCESS' | 'ERROR' | 'PAUSED' | 'STOPPED';

function runStatus(run: SyncRun): ApiStatus {
  return run.status === 'CANCELLED' ? 'STOPPED' : run.status;
}

/** One entry of `syncs` in Nango's shape (plus `pausedUntil` and `lastError`, Tether's). */
export async function syncStatusEntry(
  store: DbContext,
  s: SyncWithConnection,
  def: SyncModelDef | undefined,
  runs: Map<number, SyncRun>,
  now: Date,
  /** Its integration disabled it: STOPPED, nothing scheduled. */
  disabled = false,
): Promise<Record<string, unknown>> {
  const current = s.currentRunId !== null ? runs.get(s.currentRunId) : undefined;
  const last = s.lastRunId !== null ? runs.get(s.lastRunId) : undefined;
  const models = def?.models ?? [];
  const quotaPaused = s.pausedUntil !== null && s.pausedUntil > now.toISOString();
  let status: ApiStatus;
  if (current) status = 'RUNNING';
  else if (disabled) status = 'STOPPED';
  else if (s.scheduleStatus === 'PAUSED' || quotaPaused) status = 'PAUSED';
  else if (last?.status === 'ERROR') status = 'ERROR';
  else status = 'SUCCESS';
  let next: string | null;
  if (current || disabled) next = null;
  else if (s.pendingMode !== null) next = now.toISOString();
  else if (s.scheduleStatus === 'PAUSED') next = null;
  else next = s.nextRunAt;
  const latestResult: Record<string, ModelCounts> = {};
  if (last) {
    for (const m of new Set([...models, ...Object.keys(last.results)])) {
      const r = last.results[m] ?? { added: 0, updated: 0, deleted: 0 };
      latestResult[m] = { added: r.added, updated: r.updated, deleted: r.deleted };
    }
  }
  const recordCount: Record<string, number> = {};
  // Keyed by the plain model name, counted where the variant stores it (`Model::variant`), as Nango.
  for (const m of models) {
    recordCount[m] = await countRecords(store, {
      connectionPk: s.connectionPk,
      model: storedModelName(m, s.variant),
    });
  }
  return {
    id: String(s.id),
    connection_id: s.connectionId,
    type: (current ?? last)?.type ?? 'INITIAL',
    finishedAt: last?.endedAt ?? null,
    nextScheduledSyncAt: next,
    name: s.name,
    variant: s.variant,
    status,
    frequency: s.frequency ?? (def ? formatFrequency(def.defaultFrequencySeconds) : null),
    latestResult,
    latestExecutionStatus: current ? 'RUNNING' : last ? runStatus(last) : null,
    recordCount,
    checkpoint: s.checkpoint,
    pausedUntil: quotaPaused ? s.pausedUntil : null,
    lastError: last?.status === 'ERROR' || last?.status === 'PAUSED' ? last.error : null,
  };
}

/**
 * `GET /sync/status?syncs=*|a,b,name::variant&provider_config_key=…&connection_id=…` → `{syncs: [...]}`:
 * per connection and sync (and variant: `*` lists every variant, `name::variant` selects one): `id, connection_id, type, finishedAt, nextScheduledSyncAt, name, variant,
 * status (RUNNING|SUCCESS|ERROR|PAUSED|STOPPED), frequency, latestResult {model: {added, updated, deleted}},
 * latestExecutionStatus, recordCount {model: n}, checkpoint`, plus Tether's `pausedUntil` (a spent quota or
 * budget: the run resumes then) and `lastError`. `finishedAt` / `latestExecutionStatus` are null before the
 * first run. A sync its integration disabled is STOPPED (no next run; its records stay readable). Unknown connection: 400 `invalid_body` "Connection not found" (as Nango); unknown sync: 400
 * `unknown_sync`.
 */
export const getSyncStatus: RouteDef = {
  method: 'GET',
  path: '/sync/status',
  auth: 'secret',
  handler: async (ctx) => {
    const q = parseWith(querySchema, ctx.query, 'invalid_query_params');
    const names = q.syncs.trim() === '*' ? [] : q.syncs.split(',').map((s) => s.trim());
    if (names.some((n) => n === '')) {
      throw new ApiError(400, 'invalid_query_params', 'syncs must be "*" or a comma list of sync names');
    }
    const targets = await resolveTargets(ctx, {
      providerConfigKey: q.provider_config_key,
      connectionId: q.connection_id,
      selectors: normalizeSelectors(names),
      connectionError: () => new ApiError(400, 'invalid_body', 'Connection not found'),
    });
    const store = ctx.deps.store.ctx;
    const runs = await getRunsByIds(
      store,
      targets.syncs.flatMap((s) => [s.currentRunId, s.lastRunId]).filter((id): id is number => id !== null),
    );
    const now = nowOf(store);
    const syncs = [];
    for (const s of targets.syncs) {
      syncs.push(
        await syncStatusEntry(store, s, defOf(targets.defs, s.name), runs, now, targets.disabled.has(s.name)),
      );
    }
    return { body: { syncs } };
  },
};
