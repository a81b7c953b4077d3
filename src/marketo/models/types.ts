/**
 * The sync contract (src/providers/sync-contract.ts) as Marketo's models use it, and Marketo's error of a
 * failed call.
 */
import { ProviderResponseError } from '../../providers/sync-contract.ts';
import type { EnvelopeClass } from '../envelope.ts';

export * from '../../providers/sync-contract.ts';

/**
 * A Marketo call that did not succeed (`success:false`, or not an envelope). `code` is Marketo's code as
 * a string ('1003', '606'…), or 'invalid_envelope' (see `classifyEnvelope` in ../envelope.ts). The engine
 * decides what to do (retry, pause, fail).
 */
export class MarketoSyncError extends ProviderResponseError {
  override readonly name = 'MarketoSyncError';
  constructor(
    code: string,
    /** Marketo's own message (the error's `message` adds the code and the path). */
    detail: string,
    /** The path of the failed call. */
    path: string,
    /** What {@link classifyEnvelope} makes of the code: refresh_token, back_off, quota_spent or fail. */
    kind: Exclude<EnvelopeClass['kind'], 'ok'> = 'fail',
  ) {
    super(code, detail, path, kind, `Marketo ${code}: ${detail} (${path.split('?')[0]})`);
  }
}
