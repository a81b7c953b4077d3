import type { CallOutcome, TrafficOptions } from '../engine/traffic.ts';
import { marketoCallOutcome, marketoOkWithoutParse, marketoTrafficOptions } from '../marketo/limits.ts';
import { instanceRoot } from '../marketo/urls.ts';

/**
 * How traffic to a provider is governed: its limits (as data for the engine's traffic controller),
 * how to read a response (ok / rate limited / transient / quota spent / auth / fail), and which
 * instance a connection's calls count against. The proxy asks this; it knows no provider.
 */
export interface TrafficProfile {
  options(): Omit<TrafficOptions, 'now' | 'observer' | 'random'>;
  outcome(res: { status: number; body?: unknown }, now: number): CallOutcome;
  /**
   * Optional shortcut: true when a complete JSON answer with this status and these bytes reads as `ok`
   * whatever it holds, so the proxy need not parse it. Must never answer true for a body `outcome`
   * would read otherwise.
   */
  okWithoutParse?(status: number, body: Buffer): boolean;
  /** All connections to one instance share its limits. */
  instanceKey(connectionConfig: Record<string, string>): string;
  /**
   * The provider's smallest URI limit: a GET at or under it is always sent as is. Above it, `uriLimit`
   * (when given) says the limit of that URL and whether the provider takes `POST ?_method=GET` with the
   * query as a form body; without `uriLimit`, every longer GET goes that way.
   */
  maxUriBytes?: number;
  uriLimit?(url: string): { maxBytes: number; methodOverride: boolean };
  /**
   * The instance a raw API URL belongs to, for calls made before a connection exists (the connect
   * test); undefined for calls the provider does not count (identity).
   */
  instanceKeyOfUrl?(url: string): string | undefined;
}

export const TRAFFIC_PROFILES: Readonly<Record<string, TrafficProfile>> = {
  marketo: {
    options: marketoTrafficOptions,
    outcome: (res, now) => marketoCallOutcome(res, now),
    okWithoutParse: marketoOkWithoutParse,
    instanceKey: (config) => instanceRoot({ endpointURL: config.endpointURL ?? '' }).toLowerCase(),
    maxUriBytes: 8 * 1024,
    // Spec §4: the asset API dropped `_method` in Sep 2020 and raised its URI limit to 65 KiB; the lead
    // database and bulk keep 8 KB with `_method=GET`.
    uriLimit: (url) =>
      url.includes('/rest/asset/')
        ? { maxBytes: 65 * 1024, methodOverride: false }
        : { maxBytes: 8 * 1024, methodOverride: true },
    instanceKeyOfUrl: (url) => {
      const m = /^(.*?)\/(rest|bulk)\//.exec(url);
      if (!m) return undefined;
      try {
        return instanceRoot({ endpointURL: m[1]! }).toLowerCase();
      } catch {
        return undefined;
      }
    },
  },
};

/**
 * Whether a GET longer than the provider's smallest URI limit goes as `POST ?_method=GET`: yes above that
 * URL's own limit when the provider takes the override there (Marketo's asset API does not: it takes
 * 65 KiB GETs as they are).
 */
export function mayOverrideGet(profile: TrafficProfile, url: string): boolean {
  const limit = profile.uriLimit?.(url);
  return limit === undefined || (limit.methodOverride && Buffer.byteLength(url) > limit.maxBytes);
}
