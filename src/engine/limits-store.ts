/**
 * Configurable limits, persisted: a connection's daily budget and its instance's limits (customers buy
 * larger quotas), set through `PATCH /connections/{id}/limits`, stored (src/db/limits.ts) and applied to
 * the provider's traffic controller, at once and again at every start ({@link applyStoredLimits}).
 *
 * Rules:
 *  - a connection's budget defaults to Tether's share of its instance's daily quota
 *    (`dailyQuota × quotaShare`, Marketo 80 %) and may not exceed it;
 *  - instance limits are shared by every connection to the instance (all environments): setting them
 *    through one connection sets them for all;
 *  - `null` restores a default.
 */
import type { EngineDeps } from './deps.ts';
import type { Connection } from '../db/connections.ts';
import { inTransaction } from '../db/context.ts';
import {
  getConnectionBudget,
  getInstanceLimits,
  listConnectionBudgets,
  listInstanceLimits,
  setConnectionBudget,
  setInstanceLimits,
  type StoredInstanceLimits,
} from '../db/limits.ts';
import { TRAFFIC_PROFILES, type TrafficProfile } from '../providers/traffic.ts';
import { ApiError } from '../api-error.ts';
import type { InstanceLimits, TrafficController } from './traffic.ts';

type Deps = Pick<EngineDeps, 'store' | 'traffic' | 'log'>;

/** The instance fields settable through the API, in the API's names. */
export interface InstancePatch {
  rate_max?: number | null | undefined;
  rate_window_ms?: number | null | undefined;
  max_in_flight?: number | null | undefined;
  daily_quota?: number | null | undefined;
}

export interface LimitsPatch {
  daily_budget?: number | null | undefined;
  /** `null` restores every instance default. */
  instance?: InstancePatch | null | undefined;
}

export interface BudgetView {
  /** Calls per quota day. */
  limit: number;
  used: number;
  /** What the connection may still call today: its own budget left, within the instance's. */
  left: number;
  /** The quota day (`YYYY-MM-DD`, Marketo: America/Chicago) and when it ends. */
  day: string;
  reset_at: string;
  /** True when no budget was set (the instance's share applies). */
  is_default: boolean;
}

export interface LimitsView {
  budget: BudgetView;
  instance: {
    key: string;
    limits: InstanceLimits;
    /** What was set through the API (the rest are the provider's defaults). */
    configured: InstancePatch;
    /** Tether's share of the instance's daily quota, all connections together. */
    budget: { limit: number; used: number; left: number; reset_at: string };
  };
}

/** Where a connection's calls are governed: its provider's controller and the instance it calls. */
export interface TrafficTarget {
  provider: string;
  profile: TrafficProfile;
  traffic: TrafficController;
  instanceKey: string;
}

export function trafficTarget(deps: Pick<EngineDeps, 'traffic'>, connection: Connection): TrafficTarget {
  const profile = TRAFFIC_PROFILES[connection.provider];
  const traffic = deps.traffic.get(connection.provider);
  if (!profile || !traffic) {
    throw new ApiError(
      400,
      'unsupported_provider',
      `Traffic limits are not supported for '${connection.provider}'.`,
    );
  }
  const config: Record<string, string> = {};
  for (const [k, v] of Object.entries(connection.connectionConfig)) if (typeof v === 'string') config[k] = v;
  let instanceKey: string;
  try {
    instanceKey = profile.instanceKey(config);
  } catch (err) {
    throw new ApiError(
      400,
      'invalid_connection_config',
      `The connection's instance cannot be determined: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
  return { provider: connection.provider, profile, traffic, instanceKey };
}

/** The overrides handed to `configure()`: stored limits, with the interactive reserve kept valid. */
export function instanceOverrides(
  profile: TrafficProfile,
  stored: StoredInstanceLimits,
): Partial<InstanceLimits> {
  const defaults = profile.options().defaults;
  const out: Partial<InstanceLimits> = { ...stored };
  const maxInFlight = stored.maxInFlight ?? defaults.maxInFlight;
  // Background work must keep one slot: with fewer slots than the default reserve, reserve fewer.
  if (defaults.reservedForInteractive >= maxInFlight) out.reservedForInteractive = maxInFlight - 1;
  return out;
}

const share = (l: Pick<InstanceLimits, 'dailyQuota' | 'quotaShare'>): number =>
  Math.floor(l.dailyQuota * l.quotaShare);

function toApiNames(stored: StoredInstanceLimits): InstancePatch {
  const out: InstancePatch = {};
  if (stored.rateMax !== undefined) out.rate_max = stored.rateMax;
  if (stored.rateWindowMs !== undefined) out.rate_window_ms = stored.rateWindowMs;
  if (stored.maxInFlight !== undefined) out.max_in_flight = stored.maxInFlight;
  if (stored.dailyQuota !== undefined) out.daily_quota = stored.dailyQuota;
  return out;
}

function merge(stored: StoredInstanceLimits, patch: InstancePatch | null): StoredInstanceLimits {
  if (patch === null) return {};
  const out: StoredInstanceLimits = { ...stored };
  const set = (key: keyof StoredInstanceLimits, v: number | null | undefined) => {
    if (v === undefined) return;
    if (v === null) delete out[key];
    else out[key] = v;
  };
  set('rateMax', patch.rate_max);
  set('rateWindowMs', patch.rate_window_ms);
  set('maxInFlight', patch.max_in_flight);
  set('dailyQuota', patch.daily_quota);
  return out;
}

/** The connection's budget and its instance's limits, as `GET /connections/{id}/limits` answers. */
export async function describeLimits(deps: Deps, connection: Connection): Promise<LimitsView> {
  const target = trafficTarget(deps, connection);
  const [budget, stored] = await Promise.all([
    getConnectionBudget(deps.store.ctx, connection.id),
    getInstanceLimits(deps.store.ctx, target.provider, target.instanceKey),
  ]);
  return view(target, connection.id, budget, stored);
}

/** Budget numbers from traffic control, with the limit the controller applies once the instance is known. */
export function budgetView(
  target: TrafficTarget,
  connectionPk: number,
  dailyBudget: number | null,
): BudgetView {
  const { traffic, instanceKey } = target;
  const limits = traffic.limitsOf(instanceKey);
  const own = traffic.budget(String(connectionPk));
  const inst = traffic.instanceBudget(instanceKey);
  const limit = dailyBudget ?? share(limits);
  return {
    limit,
    used: own.used,
    left: Math.max(0, Math.min(limit - own.used, inst.left)),
    day: own.day,
    reset_at: new Date(own.resetAt).toISOString(),
    is_default: dailyBudget === null,
  };
}

function view(
  target: TrafficTarget,
  connectionPk: number,
  dailyBudget: number | null,
  stored: StoredInstanceLimits,
): LimitsView {
  const inst = target.traffic.instanceBudget(target.instanceKey);
  return {
    budget: budgetView(target, connectionPk, dailyBudget),
    instance: {
      key: target.instanceKey,
      limits: { ...target.traffic.limitsOf(target.instanceKey) },
      configured: toApiNames(stored),
      budget: {
        limit: inst.limit,
        used: inst.used,
        left: inst.left,
        reset_at: new Date(inst.resetAt).toISOString(),
      },
    },
  };
}

function tooHigh(message: string, path: string[]): ApiError {
  return new ApiError(400, 'invalid_body', message, {
    errors: [{ code: 'too_big', message, path }],
  });
}

/**
 * Apply a `PATCH /connections/{id}/limits` body (already validated by shape): checks the budget against
 * the instance's share (with the new instance limits), stores both in one transaction, then applies them
 * to traffic control. Answers the new view.
 */
export async function updateLimits(
  deps: Deps,
  connection: Connection,
  patch: LimitsPatch,
): Promise<LimitsView> {
  const target = trafficTarget(deps, connection);
  const ctx = deps.store.ctx;
  const [storedBudget, storedInstance] = await Promise.all([
    getConnectionBudget(ctx, connection.id),
    getInstanceLimits(ctx, target.provider, target.instanceKey),
  ]);
  const nextInstance = patch.instance === undefined ? storedInstance : merge(storedInstance, patch.instance);
  const overrides = instanceOverrides(target.profile, nextInstance);
  const effective: InstanceLimits = { ...target.profile.options().defaults, ...overrides };
  const nextBudget = patch.daily_budget === undefined ? storedBudget : patch.daily_budget;
  const cap = share(effective);
  if (nextBudget !== null && nextBudget > cap) {
    const pct = Math.round(effective.quotaShare * 100);
    throw tooHigh(
      patch.daily_budget === undefined
        ? `The connection's daily budget (${nextBudget}) would be above Tether's share of the instance's daily quota ` +
            `(${cap} = ${pct}% of ${effective.dailyQuota}); lower daily_budget in the same request or set it to null.`
        : `daily_budget (${nextBudget}) is above Tether's share of the instance's daily quota ` +
            `(${cap} = ${pct}% of ${effective.dailyQuota}); raise instance.daily_quota if the customer bought more.`,
      patch.daily_budget === undefined ? ['instance', 'daily_quota'] : ['daily_budget'],
    );
  }
  await inTransaction(ctx, async (tx) => {
    if (patch.daily_budget !== undefined) await setConnectionBudget(tx, connection.id, patch.daily_budget);
    if (patch.instance !== undefined) {
      await setInstanceLimits(tx, target.provider, target.instanceKey, nextInstance);
    }
  });
  try {
    if (patch.instance !== undefined) target.traffic.configure(target.instanceKey, overrides);
    if (patch.daily_budget !== undefined) target.traffic.setBudget(String(connection.id), patch.daily_budget);
  } catch (err) {
    // Shape validation should make this unreachable; keep the operator informed if it is not.
    if (err instanceof RangeError) throw new ApiError(400, 'invalid_body', err.message);
    throw err;
  }
  return view(target, connection.id, nextBudget, nextInstance);
}

/**
 * Apply every stored setting to traffic control: instance limits first, then connection budgets. Call
 * once at startup, after the controllers exist and before the server accepts calls. Settings that no
 * longer validate (e.g. a provider default changed) are skipped with a warning.
 */
export async function applyStoredLimits(deps: Deps): Promise<{ instances: number; connections: number }> {
  const ctx = deps.store.ctx;
  let instances = 0;
  let connections = 0;
  for (const inst of await listInstanceLimits(ctx)) {
    const traffic = deps.traffic.get(inst.provider);
    const profile = TRAFFIC_PROFILES[inst.provider];
    if (!traffic || !profile) continue;
    try {
      traffic.configure(inst.instanceKey, instanceOverrides(profile, inst.limits));
      instances++;
    } catch (err) {
      deps.log.warn({ err, instanceKey: inst.instanceKey }, 'stored instance limits skipped');
    }
  }
  for (const b of await listConnectionBudgets(ctx)) {
    const traffic = deps.traffic.get(b.provider);
    if (!traffic) continue;
    try {
      traffic.setBudget(String(b.connectionPk), b.dailyBudget);
      connections++;
    } catch (err) {
      deps.log.warn({ err, connection: b.connectionPk }, 'stored connection budget skipped');
    }
  }
  return { instances, connections };
}
