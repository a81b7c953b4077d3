import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import type { Sandbox } from '../core/server.ts';
import type { Instance } from '../core/instance.ts';
import { readBody, sendJson } from '../core/http.ts';
import { applyLimitsPatch, defaultLimits, limitsPatchSchema, settingsSchema } from '../core/config.ts';
import { faultSchema } from '../core/faults.ts';
import { ALL_PERMISSIONS, type Permission } from '../core/route.ts';
import { nextChicagoMidnight } from '../core/clock.ts';

/**
 * The sandbox's control API (`/_sandbox/...`), kept apart from the Marketo surface: what an admin
 * does in Marketo's UI (users, roles, LaunchPoint services, limits) plus what only a test needs
 * (seeding, faults, clock, counters). JSON in and out; errors as `{error:{code,message}}`.
 */

class ControlError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const seedSchema = z
  .object({
    leads: z.number().int().min(0).max(50_000_000),
    seed: z.number().int(),
    asOf: z.string().datetime().optional(),
    activitiesPerLead: z.number().min(0).max(100).optional(),
    spanDays: z.number().int().min(90).max(7300).optional(),
  })
  .strict();

const createSchema = z
  .object({
    munchkinId: z
      .string()
      .regex(/^\d{3}-[a-zA-Z]{3}-\d{3}$/)
      .optional(),
    seed: seedSchema.optional(),
    limits: limitsPatchSchema.optional(),
    settings: settingsSchema.partial().strict().optional(),
    /** Fix the default service's credentials (handy for a stable `npm start`). */
    clientId: z.string().min(1).max(200).optional(),
    clientSecret: z.string().min(1).max(200).optional(),
  })
  .strict();

const patchSchema = z
  .object({ limits: limitsPatchSchema.optional(), settings: settingsSchema.partial().strict().optional() })
  .strict();

const roleSchema = z
  .object({
    name: z.string().min(1).max(100),
    permissions: z.array(z.enum(ALL_PERMISSIONS as [Permission, ...Permission[]])),
  })
  .strict();
const userSchema = z.object({ email: z.string().min(3).max(200), role: z.string().min(1) }).strict();
const serviceSchema = z
  .object({
    name: z.string().min(1).max(100),
    user: z.string().min(1),
    clientId: z.string().min(1).max(200).optional(),
    clientSecret: z.string().min(1).max(200).optional(),
  })
  .strict();
const tokensSchema = z.object({ clientId: z.string().optional() }).strict();
/** One clock move at most ten years: enough for any test, small enough to keep dates valid. */
const MAX_CLOCK_STEP_MS = 10 * 366 * 86_400_000;
const clockSchema = z
  .object({
    advanceMs: z.number().int().min(0).max(MAX_CLOCK_STEP_MS).optional(),
    advanceSeconds: z
      .number()
      .min(0)
      .max(MAX_CLOCK_STEP_MS / 1000)
      .optional(),
    /** Jump to just past the next midnight America/Chicago (the quota reset). */
    toNextMidnight: z.boolean().optional(),
  })
  .strict();

export function seedFrom(body: z.infer<typeof seedSchema>) {
  return {
    leads: body.leads,
    seed: body.seed,
    asOf: body.asOf ? Date.parse(body.asOf) : undefined,
    activitiesPerLead: body.activitiesPerLead,
    spanDays: body.spanDays,
  };
}

export function describeInstance(sandbox: Sandbox, inst: Instance): Record<string, unknown> {
  const { endpoint, identity } = sandbox.urls(inst);
  return {
    ...inst.describe(),
    endpoint,
    identity,
    clientId: inst.defaultService.clientId,
    clientSecret: inst.defaultService.clientSecret,
  };
}

function countersOf(inst: Instance): Record<string, unknown> {
  const c = inst.counters;
  const now = inst.clock.now();
  return {
    apiCalls: c.apiCalls,
    identityCalls: c.identityCalls,
    tokensIssued: c.tokensIssued,
    byEndpoint: Object.fromEntries(c.byEndpoint),
    errorsByCode: Object.fromEntries(c.errorsByCode),
    peakConcurrency: inst.limiter.peakInFlight,
    inFlight: inst.limiter.inFlight,
    callsToday: inst.limiter.callsToday,
    callsInWindow: inst.limiter.callsInWindow(now),
    bytesExported: c.bytesExported,
    droppedConnections: c.droppedConnections,
    bulk: inst.bulk.stats(),
  };
}

function parse<T>(schema: z.ZodType<T>, value: unknown): T {
  const r = schema.safeParse(value ?? {});
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new ControlError(400, 'invalid_body', `${issue.path.join('.') || 'body'}: ${issue.message}`);
  }
  return r.data;
}

export async function handleControl(
  sandbox: Sandbox,
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
  _search: string,
): Promise<void> {
  const send = (status: number, body: unknown) => sendJson(req, res, status, body);
  try {
    let body: unknown;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      const raw = await readBody(req, 1024 * 1024);
      if (raw === null)
        throw new ControlError(413, 'body_too_large', 'control API bodies are limited to 1 MiB');
      if (raw.length > 0) {
        try {
          body = JSON.parse(raw.toString('utf8'));
        } catch {
          throw new ControlError(400, 'invalid_json', 'the body is not valid JSON');
        }
      }
    } else {
      req.resume();
    }
    const seg = path
      .split('/')
      .filter(Boolean)
      .map((part) => {
        try {
          return decodeURIComponent(part);
        } catch {
          throw new ControlError(400, 'bad_path', `malformed percent-encoding in '${part}'`);
        }
      });
    const m = req.method;

    if (seg.length === 0 && m === 'GET') {
      return send(200, {
        instances: [...sandbox.instances.values()].map((i) => describeInstance(sandbox, i)),
      });
    }
    if (seg[0] !== 'instances') throw new ControlError(404, 'not_found', `no control route ${m} ${path}`);
    if (seg.length === 1) {
      if (m === 'GET')
        return send(200, {
          instances: [...sandbox.instances.values()].map((i) => describeInstance(sandbox, i)),
        });
      if (m === 'POST') {
        const b = parse(createSchema, body);
        if (b.munchkinId && sandbox.instances.has(b.munchkinId.toUpperCase())) {
          throw new ControlError(409, 'instance_exists', `instance ${b.munchkinId} already exists`);
        }
        const limits = defaultLimits();
        if (b.limits) applyLimitsPatch(limits, b.limits);
        const inst = sandbox.createInstance({
          munchkinId: b.munchkinId,
          limits,
          settings: b.settings,
          seed: b.seed ? seedFrom(b.seed) : undefined,
        });
        if (b.clientId || b.clientSecret) {
          const svc = inst.defaultService;
          sandbox.instances.get(inst.munchkinId)!.services.delete(svc.clientId);
          if (b.clientId) svc.clientId = b.clientId;
          if (b.clientSecret) svc.clientSecret = b.clientSecret;
          inst.services.set(svc.clientId, svc);
        }
        return send(201, describeInstance(sandbox, inst));
      }
      throw new ControlError(405, 'method_not_allowed', `${m} not allowed on /instances`);
    }

    const inst = sandbox.instances.get(seg[1]!.toUpperCase());
    if (!inst) throw new ControlError(404, 'unknown_instance', `no instance ${seg[1]}`);
    const rest = seg.slice(2).join('/');
    const route = `${m} ${rest}`;

    switch (route) {
      case 'GET ':
        return send(200, describeInstance(sandbox, inst));
      case 'DELETE ':
        sandbox.deleteInstance(inst.munchkinId);
        return send(200, { deleted: inst.munchkinId });
      case 'PATCH ': {
        const b = parse(patchSchema, body);
        if (b.limits) applyLimitsPatch(inst.limits, b.limits);
        if (b.settings) Object.assign(inst.settings, b.settings);
        inst.limiter.reconfigure();
        // A shorter processing time or more processing slots apply at once.
        inst.bulk.tick();
        return send(200, describeInstance(sandbox, inst));
      }
      case 'POST seed': {
        const b = parse(seedSchema, body);
        inst.seed(seedFrom(b));
        return send(200, { leads: inst.leads.count() });
      }
      case 'POST roles': {
        const b = parse(roleSchema, body);
        inst.addRole(b.name, b.permissions);
        return send(201, { name: b.name, permissions: b.permissions });
      }
      case 'POST users': {
        const b = parse(userSchema, body);
        if (!inst.roles.has(b.role)) throw new ControlError(400, 'unknown_role', `no role '${b.role}'`);
        return send(201, inst.addUser(b.email, b.role));
      }
      case 'POST services': {
        const b = parse(serviceSchema, body);
        if (!inst.users.has(b.user)) throw new ControlError(400, 'unknown_user', `no API user '${b.user}'`);
        if (b.clientId && inst.services.has(b.clientId)) {
          throw new ControlError(409, 'service_exists', `client id ${b.clientId} is taken`);
        }
        return send(201, inst.addService(b.name, b.user, b));
      }
      case 'POST tokens/expire':
        return send(200, { expired: inst.expireTokens(parse(tokensSchema, body).clientId) });
      case 'POST tokens/revoke':
        return send(200, { revoked: inst.revokeTokens(parse(tokensSchema, body).clientId) });
      case 'GET faults':
        return send(200, { faults: inst.faults.describe() });
      case 'POST faults': {
        const b = parse(faultSchema, body);
        return send(201, { id: inst.faults.add(b) });
      }
      case 'DELETE faults':
        inst.faults.clear();
        return send(200, { cleared: true });
      case 'POST clock': {
        const b = parse(clockSchema, body);
        let delta = (b.advanceMs ?? 0) + Math.round((b.advanceSeconds ?? 0) * 1000);
        if (b.toNextMidnight) delta += nextChicagoMidnight(inst.clock.now()) - inst.clock.now() + 1000;
        inst.clock.advance(delta);
        inst.bulk.tick();
        return send(200, { now: new Date(inst.clock.now()).toISOString(), offsetMs: inst.clock.offset });
      }
      case 'GET counters':
        return send(200, countersOf(inst));
      case 'DELETE counters':
        inst.counters.reset();
        return send(200, { reset: true });
    }
    const svc = /^services\/([^/]+)\/(revoke|restore|rotate-secret)$/.exec(rest);
    if (svc && m === 'POST') {
      const service = inst.services.get(svc[1]!);
      if (!service) throw new ControlError(404, 'unknown_service', `no service with client id ${svc[1]}`);
      if (svc[2] === 'revoke') {
        service.revoked = true;
        inst.revokeTokens(service.clientId);
      } else if (svc[2] === 'restore') {
        service.revoked = false;
      } else {
        service.clientSecret =
          parse(z.object({ clientSecret: z.string().min(1).max(200).optional() }).strict(), body)
            .clientSecret ?? Buffer.from(crypto.getRandomValues(new Uint8Array(24))).toString('base64url');
      }
      return send(200, service);
    }
    throw new ControlError(404, 'not_found', `no control route ${m} ${path}`);
  } catch (err) {
    if (err instanceof ControlError)
      return send(err.status, { error: { code: err.code, message: err.message } });
    // Keep the control API's error shape for anything unexpected, too.
    console.error('sandbox: control API error', err);
    return send(500, { error: { code: 'internal_error', message: String(err) } });
  }
}
