import { Sandbox, type InstanceOptions } from './core/server.ts';
import { unlimited, defaultLimits } from './core/config.ts';

export { Sandbox, unlimited, defaultLimits };
export type { InstanceOptions };

/** What `npm run sandbox -- --json` prints: the default instance, ready to paste into a client. */
export interface SandboxInfo {
  munchkinId: string;
  endpoint: string;
  identity: string;
  clientId: string;
  clientSecret: string;
  admin: string;
}

export interface StartOptions extends InstanceOptions {
  port?: number;
  host?: string;
  clientId?: string;
  clientSecret?: string;
}

export interface RunningSandbox extends SandboxInfo {
  sandbox: Sandbox;
  close(): Promise<void>;
}

/** Start a sandbox with one ready instance; `port: 0` (the default here) picks a free port. */
export async function startSandbox(opts: StartOptions = {}): Promise<RunningSandbox> {
  const sandbox = new Sandbox();
  await sandbox.listen(opts.port ?? 0, opts.host ?? '127.0.0.1');
  const inst = sandbox.createInstance(opts);
  const svc = inst.defaultService;
  if (opts.clientId || opts.clientSecret) {
    inst.services.delete(svc.clientId);
    if (opts.clientId) svc.clientId = opts.clientId;
    if (opts.clientSecret) svc.clientSecret = opts.clientSecret;
    inst.services.set(svc.clientId, svc);
  }
  const { endpoint, identity } = sandbox.urls(inst);
  return {
    munchkinId: inst.munchkinId,
    endpoint,
    identity,
    clientId: svc.clientId,
    clientSecret: svc.clientSecret,
    admin: sandbox.adminUrl,
    sandbox,
    close: () => sandbox.close(),
  };
}
