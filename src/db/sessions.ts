/**
 * Connect sessions repository. A session is created by the customer's backend (`POST /connect/sessions`)
 * and authenticates the Connect UI for 30 minutes. The token is returned once and stored only as a keyed
 * hash (vault.hash), so a database copy does not reveal usable tokens.
 */
import { randomBytes } from 'node:crypto';
import { nowOf, toJson, fromJson, type DbContext } from './context.ts';
import { toIso, type ConnectSessionRow } from './schema.ts';

export const CONNECT_SESSION_TOKEN_PREFIX = 'nango_connect_session_';
/** Nango: 30 minutes. */
export const CONNECT_SESSION_TTL_MS = 30 * 60 * 1000;
const TOKEN_FORMAT = /^nango_connect_session_[0-9a-f]{64}$/;

export interface SessionEndUser {
  id: string;
  email?: string;
  display_name?: string;
  tags?: Record<string, string>;
}

export interface SessionOrganization {
  id: string;
  display_name?: string;
}

export interface IntegrationConfigDefaults {
  user_scopes?: string;
  authorization_params?: Record<string, string>;
  connection_config?: Record<string, unknown>;
}

export interface ConnectSession {
  id: number;
  environmentId: number;
  endUser: SessionEndUser | null;
  organization: SessionOrganization | null;
  allowedIntegrations: string[] | null;
  integrationsConfigDefaults: Record<string, IntegrationConfigDefaults> | null;
  tags: Record<string, string> | null;
  /** Reconnect sessions: the connection to overwrite and its integration. */
  connectionId: string | null;
  integrationKey: string | null;
  webhookUrlOverride: string | null;
  overrides: Record<string, { docs_connect?: string }> | null;
  expiresAt: string;
  createdAt: string;
}

export interface NewConnectSession {
  environmentId: number;
  endUser?: SessionEndUser | null;
  organization?: SessionOrganization | null;
  allowedIntegrations?: string[] | null;
  integrationsConfigDefaults?: Record<string, IntegrationConfigDefaults> | null;
  tags?: Record<string, string> | null;
  connectionId?: string | null;
  integrationKey?: string | null;
  webhookUrlOverride?: string | null;
  overrides?: Record<string, { docs_connect?: string }> | null;
  /** Default CONNECT_SESSION_TTL_MS. */
  ttlMs?: number;
}

/** `nango_connect_session_` + 64 hex characters (32 random bytes), as Nango. */
export function generateConnectSessionToken(): string {
  return CONNECT_SESSION_TOKEN_PREFIX + randomBytes(32).toString('hex');
}

/** True if `token` has the connect session token format (checked before any lookup). */
export function isConnectSessionTokenFormat(token: string): boolean {
  return TOKEN_FORMAT.test(token);
}

function toSession(row: ConnectSessionRow): ConnectSession {
  return {
    id: row.id,
    environmentId: row.environment_id,
    endUser: fromJson(row.end_user),
    organization: fromJson(row.organization),
    allowedIntegrations: fromJson(row.allowed_integrations),
    integrationsConfigDefaults: fromJson(row.integrations_config_defaults),
    tags: fromJson(row.tags),
    connectionId: row.connection_id,
    integrationKey: row.integration_key,
    webhookUrlOverride: row.webhook_url_override,
    overrides: fromJson(row.overrides),
    expiresAt: row.expires_at,
    createdAt: row.created_at,
  };
}

const jsonOrNull = (v: unknown): string | null => (v === undefined || v === null ? null : toJson(v));

/** Creates a session; the returned `token` is the only copy of the token. */
export async function createConnectSession(
  ctx: DbContext,
  input: NewConnectSession,
): Promise<{ token: string; session: ConnectSession }> {
  const token = generateConnectSessionToken();
  const now = nowOf(ctx);
  const row = await ctx.db
    .insertInto('connect_sessions')
    .values({
      environment_id: input.environmentId,
      token_hash: ctx.vault.hash(token),
      end_user: jsonOrNull(input.endUser),
      organization: jsonOrNull(input.organization),
      allowed_integrations: jsonOrNull(input.allowedIntegrations),
      integrations_config_defaults: jsonOrNull(input.integrationsConfigDefaults),
      tags: jsonOrNull(input.tags),
      connection_id: input.connectionId ?? null,
      integration_key: input.integrationKey ?? null,
      webhook_url_override: input.webhookUrlOverride ?? null,
      overrides: jsonOrNull(input.overrides),
      expires_at: toIso(new Date(now.getTime() + (input.ttlMs ?? CONNECT_SESSION_TTL_MS))),
      created_at: toIso(now),
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  return { token, session: toSession(row) };
}

/** The session for `token`, or undefined if the token is malformed, unknown or expired. */
export async function getConnectSessionByToken(
  ctx: DbContext,
  token: string,
): Promise<ConnectSession | undefined> {
  if (!isConnectSessionTokenFormat(token)) return undefined;
  const row = await ctx.db
    .selectFrom('connect_sessions')
    .selectAll()
    .where('token_hash', '=', ctx.vault.hash(token))
    .where('expires_at', '>', toIso(nowOf(ctx)))
    .executeTakeFirst();
  return row ? toSession(row) : undefined;
}

export async function deleteConnectSession(ctx: DbContext, id: number): Promise<boolean> {
  const r = await ctx.db.deleteFrom('connect_sessions').where('id', '=', id).executeTakeFirst();
  return Number(r.numDeletedRows) > 0;
}

/** Removes expired sessions; returns how many. For a periodic cleanup. */
export async function deleteExpiredConnectSessions(ctx: DbContext): Promise<number> {
  const r = await ctx.db
    .deleteFrom('connect_sessions')
    .where('expires_at', '<=', toIso(nowOf(ctx)))
    .executeTakeFirst();
  return Number(r.numDeletedRows);
}
