import { MarketoError } from '../core/envelope.ts';
import type { Instance } from '../core/instance.ts';
import { T } from '../activities/types.ts';
import { parseSyncRequest, syncLeads, type SyncResult } from './sync.ts';

/**
 * Push Lead (`POST /rest/v1/leads/push.json`, spec 5.3): Sync Leads' createOrUpdate by `lookupField`
 * (default email), on behalf of a program (`programName`, required and existing), with a "Push Lead to
 * Marketo" activity on every lead pushed (its `source` and `reason` as attributes).
 */
export function pushLeads(inst: Instance, body: unknown, user: string): SyncResult[] {
  const fields = typeof body === 'object' && body !== null && !Array.isArray(body) ? body : {};
  const { programName, source, reason, action } = fields as Record<string, unknown>;
  if (programName === undefined || programName === null || programName === '')
    throw new MarketoError('1002', "Missing value for the required parameter 'programName'");
  if (typeof programName !== 'string') throw new MarketoError('1003', "Invalid value for 'programName'");
  for (const [name, value] of [
    ['source', source],
    ['reason', reason],
  ] as const)
    if (value !== undefined && typeof value !== 'string')
      throw new MarketoError('1003', `Invalid value for '${name}'`);
  // Push always creates or updates: another action is a mistake, not a different mode.
  if (action !== undefined && action !== 'createOrUpdate')
    throw new MarketoError('1003', `Invalid action '${String(action)}'`);
  const program = inst.assets.programByName(programName);
  if (!program) throw new MarketoError('1013', `Program '${programName}' not found`);
  const req = parseSyncRequest({ ...(fields as object), action: 'createOrUpdate' }, inst.leads);
  const results = syncLeads(inst.leads, req, { apiMethodName: 'pushLead', user });
  const now = inst.clock.now();
  for (const r of results) {
    if (r.status === 'skipped') continue;
    inst.activities.record({
      leadId: r.id,
      activityTypeId: T.PUSH_LEAD_TO_MARKETO,
      activityDate: now,
      primaryAttributeValueId: program.id,
      primaryAttributeValue: program.name,
      attributes: [
        { name: 'Source', value: typeof source === 'string' ? source : 'Web service API' },
        { name: 'Reason', value: typeof reason === 'string' ? reason : null },
      ],
    });
  }
  return results;
}
