import { randomBytes, randomUUID } from 'node:crypto';
import { InstanceClock } from './clock.ts';
import { defaultLimits, defaultSettings, type Limits, type Settings } from './config.ts';
import { CallLimiter } from './limits.ts';
import { Counters } from './counters.ts';
import { Faults } from './faults.ts';
import { ALL_PERMISSIONS, type Permission } from './route.ts';
import { LeadDatabase } from '../leads/database.ts';
import { ActivityLog } from '../activities/log.ts';
import { StaticLists } from '../lists/lists.ts';
import { AssetCatalog } from '../assets/catalog.ts';
import { BulkExports } from '../bulk/exports.ts';
import { CustomObjectStore } from '../customobjects/store.ts';

export interface Role {
  name: string;
  permissions: Set<Permission>;
}

/** An API-only user; its role decides what its services' tokens may do. */
export interface ApiUser {
  email: string;
  role: string;
}

/** A LaunchPoint custom service: the Client ID / Client Secret pair end users paste into Tether. */
export interface Service {
  name: string;
  clientId: string;
  clientSecret: string;
  user: string;
  /** Revoked services answer identity like an unknown client id. */
  revoked: boolean;
}

interface TokenState {
  token: string;
  clientId: string;
  expiresAt: number;
  /** Marketo answers 602 once for an expired token, 601 afterwards. */
  expiryReported: boolean;
}

/** The standard roles every instance starts with, named as an admin would name them. */
export const STANDARD_ROLES: Record<string, Permission[]> = {
  'API Full Access': [...ALL_PERMISSIONS],
  'Read-Only Lead': ['readOnlyLead'],
  'Read-Write Lead': ['readWriteLead'],
  'Read-Only Assets': ['readOnlyAssets'],
  'Read-Write Assets': ['readWriteAssets'],
  'Read-Only Lead and Activity': ['readOnlyLead', 'readOnlyActivity'],
  'Read-Only Custom Object': ['readOnlyCustomObject'],
  'Read-Write Custom Object': ['readWriteCustomObject'],
  'No Access': [],
};

/** Generated leads are created over the two years before `asOf` unless a seed says otherwise. */
export const DEFAULT_SPAN_DAYS = 730;

export interface SeedOptions {
  /** Number of leads to generate (procedurally: memory does not grow with it). */
  leads: number;
  /** PRNG seed; the same seed and count give the same data. */
  seed: number;
  /** Instant the generated history ends at (epoch ms; default: the instance clock now). */
  asOf?: number;
  /** Average activities per lead in the generated history (default 3). */
  activitiesPerLead?: number;
  /** Days over which the generated leads were created, ending at `asOf` (default 730, at least 90: the activity history). */
  spanDays?: number;
}

export class Instance {
  readonly clock = new InstanceClock();
  readonly limits: Limits;
  readonly settings: Settings;
  readonly limiter: CallLimiter;
  readonly counters = new Counters();
  readonly faults = new Faults();
  readonly roles = new Map<string, Role>();
  readonly users = new Map<string, ApiUser>();
  readonly services = new Map<string, Service>();
  private readonly tokens = new Map<string, TokenState>();
  private readonly tokenByClient = new Map<string, TokenState>();
  /** The service created with the instance (what `--json` prints). */
  readonly defaultService: Service;

  readonly leads: LeadDatabase;
  readonly activities: ActivityLog;
  readonly lists: StaticLists;
  readonly assets: AssetCatalog;
  readonly bulk: BulkExports;
  readonly customObjects: CustomObjectStore;

  constructor(
    readonly munchkinId: string,
    opts: { limits?: Limits; settings?: Partial<Settings>; seed?: SeedOptions } = {},
  ) {
    this.limits = opts.limits ?? defaultLimits();
    this.settings = { ...defaultSettings(), ...opts.settings };
    this.limiter = new CallLimiter(this.limits, this.clock.now());
    for (const [name, perms] of Object.entries(STANDARD_ROLES)) this.addRole(name, perms);
    this.addUser('api@sandbox.tether.dev', 'API Full Access');
    this.defaultService = this.addService('Tether', 'api@sandbox.tether.dev');
    this.activities = new ActivityLog(this);
    this.leads = new LeadDatabase(this);
    this.lists = new StaticLists(this);
    this.assets = new AssetCatalog(this);
    this.bulk = new BulkExports(this);
    this.customObjects = new CustomObjectStore(this);
    this.seed(opts.seed ?? { leads: 1000, seed: 1 });
  }

  /** Replace the instance's data with a generated data set. */
  seed(opts: SeedOptions): void {
    const full: Required<SeedOptions> = {
      leads: opts.leads,
      seed: opts.seed,
      asOf: opts.asOf ?? this.clock.now(),
      activitiesPerLead: opts.activitiesPerLead ?? 3,
      spanDays: opts.spanDays ?? DEFAULT_SPAN_DAYS,
    };
    this.leads.seed(full);
    this.assets.seed(full);
    this.activities.seed(full);
    this.lists.seed(full);
    // After the leads: custom object records hang off the generated leads.
    this.customObjects.seed(full);
    this.bulk.reset();
  }

  addRole(name: string, permissions: Iterable<Permission>): Role {
    const role = { name, permissions: new Set(permissions) };
    this.roles.set(name, role);
    return role;
  }

  addUser(email: string, role: string): ApiUser {
    if (!this.roles.has(role)) throw new Error(`unknown role '${role}'`);
    const user = { email, role };
    this.users.set(email, user);
    return user;
  }

  addService(name: string, userEmail: string, creds?: { clientId?: string; clientSecret?: string }): Service {
    if (!this.users.has(userEmail)) throw new Error(`unknown user '${userEmail}'`);
    const service: Service = {
      name,
      clientId: creds?.clientId ?? randomUUID(),
      clientSecret: creds?.clientSecret ?? randomBytes(24).toString('base64url'),
      user: userEmail,
      revoked: false,
    };
    this.services.set(service.clientId, service);
    return service;
  }

  permissionsOf(user: ApiUser): Set<Permission> {
    return this.roles.get(user.role)?.permissions ?? new Set();
  }

  /**
   * Identity: the cached token with its remaining lifetime, or a new one once the old expired.
   * Throws `'unknown_client'` / `'bad_secret'` for the 401 answers.
   */
  issueToken(clientId: string, clientSecret: string): { token: string; expiresIn: number; scope: string } {
    const service = this.services.get(clientId);
    if (!service || service.revoked) throw new IdentityError('unknown_client');
    if (service.clientSecret !== clientSecret) throw new IdentityError('bad_secret');
    const now = this.clock.now();
    let state = this.tokenByClient.get(clientId);
    if (!state || state.expiresAt <= now) {
      state = {
        token: `${randomUUID()}:sb`,
        clientId,
        expiresAt: now + this.settings.tokenTtlSeconds * 1000,
        expiryReported: false,
      };
      this.tokens.set(state.token, state);
      this.tokenByClient.set(clientId, state);
      this.counters.tokensIssued++;
    }
    return {
      token: state.token,
      expiresIn: Math.max(0, Math.floor((state.expiresAt - now) / 1000)),
      scope: service.user,
    };
  }

  /** Check a bearer token: the owning service, or the 601/602 code to answer. */
  checkToken(token: string): Service | '601' | '602' {
    const state = this.tokens.get(token);
    if (!state) return '601';
    if (state.expiresAt <= this.clock.now()) {
      if (state.expiryReported) return '601';
      state.expiryReported = true;
      return '602';
    }
    const service = this.services.get(state.clientId);
    if (!service || service.revoked) return '601';
    return service;
  }

  /** Expire tokens now (all, or one client's): the next use answers 602. */
  expireTokens(clientId?: string): number {
    let n = 0;
    const now = this.clock.now();
    for (const state of this.tokens.values()) {
      if (clientId !== undefined && state.clientId !== clientId) continue;
      if (state.expiresAt > now) {
        state.expiresAt = now;
        n++;
      }
    }
    return n;
  }

  /** Forget tokens (all, or one client's): the next use answers 601. */
  revokeTokens(clientId?: string): number {
    let n = 0;
    for (const [key, state] of this.tokens) {
      if (clientId !== undefined && state.clientId !== clientId) continue;
      this.tokens.delete(key);
      if (this.tokenByClient.get(state.clientId) === state) this.tokenByClient.delete(state.clientId);
      n++;
    }
    return n;
  }

  /** Public view for the control API (secrets included: the control API is the admin's). */
  describe(): Record<string, unknown> {
    return {
      munchkinId: this.munchkinId,
      limits: this.limits,
      settings: this.settings,
      clockOffsetMs: this.clock.offset,
      now: new Date(this.clock.now()).toISOString(),
      quotaResetAt: new Date(this.limiter.quotaResetAt(this.clock.now())).toISOString(),
      roles: [...this.roles.values()].map((r) => ({ name: r.name, permissions: [...r.permissions] })),
      users: [...this.users.values()],
      services: [...this.services.values()],
      leads: this.leads.count(),
    };
  }
}

export class IdentityError extends Error {
  constructor(readonly kind: 'unknown_client' | 'bad_secret') {
    super(kind);
  }
}
