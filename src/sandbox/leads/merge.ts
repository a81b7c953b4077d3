import { MarketoError, reason, type EnvelopeBody, type Reason } from '../core/envelope.ts';
import type { Instance } from '../core/instance.ts';
import type { Params } from '../core/route.ts';
import { T } from '../activities/types.ts';

/**
 * Merge Leads and Associate Web Activity (spec 5.3, 3.2), on the lead database.
 *
 * Merge: `POST /rest/v1/leads/{id}/merge.json?leadId=|leadIds=&mergeInCRM=`. The lead of the path wins
 * and keeps its values; a field it has empty takes the first losing lead's value that is set. The losing
 * leads are deleted (each a Delete Lead activity, so the deleted-leads feed reports them) and the winner
 * gets a Merge Leads activity naming them. More than 25 losing leads: skipped with 1080 (Marketo from
 * 2026-03-31). Unknown winner or loser: 1004; the winner among the losers: 1003.
 */

const MAX_MERGE_IDS = 25;
const INTEGER_RE = /^\d+$/;

export type MergeOutcome = { result?: { id: number; status: 'skipped'; reasons: Reason[] }[] };

function leadId(raw: string, what: string): number {
  if (!INTEGER_RE.test(raw) || !Number.isSafeInteger(Number(raw)))
    throw new MarketoError('1003', `Invalid value '${raw}' for '${what}'`);
  return Number(raw);
}

export function mergeLeads(inst: Instance, rawWinner: string, query: Params, user: string): MergeOutcome {
  const winner = leadId(rawWinner, 'id');
  const raw = query.list('leadIds') ?? query.list('leadId');
  if (!raw || raw.length === 0)
    throw new MarketoError('1002', "Missing value for the required parameter 'leadId'");
  const losers = [...new Set(raw.map((r) => leadId(r, 'leadIds')))];
  if (losers.length > MAX_MERGE_IDS)
    return {
      result: [
        {
          id: winner,
          status: 'skipped',
          reasons: [reason('1080', `Too many leads to merge: ${losers.length}, maximum is ${MAX_MERGE_IDS}`)],
        },
      ],
    };
  const crm = query.get('mergeInCRM');
  if (crm !== undefined && crm !== 'true' && crm !== 'false')
    throw new MarketoError('1003', `Invalid value '${crm}' for 'mergeInCRM'`);
  const db = inst.leads;
  if (!db.exists(winner)) throw new MarketoError('1004', `Lead '${winner}' not found`);
  if (losers.includes(winner)) throw new MarketoError('1003', 'A lead cannot be merged into itself');
  for (const id of losers) if (!db.exists(id)) throw new MarketoError('1004', `Lead '${id}' not found`);

  const source = { apiMethodName: 'mergeLeads', user };
  // Empty fields of the winner take the first loser's value that is set (Change Data Value each).
  const fill: Record<string, NonNullable<ReturnType<typeof db.valueOf>>> = {};
  for (const f of db.fields) {
    if (f.readOnly || db.valueOf(winner, f.name) !== null) continue;
    for (const id of losers) {
      const v = db.valueOf(id, f.name);
      if (v !== null && v !== '') {
        fill[f.name] = v;
        break;
      }
    }
  }
  // Unique keys (email…) move: a loser deleted first frees them for the winner's lookups.
  for (const id of losers) db.remove(id, source);
  db.update(winner, fill, source);
  inst.activities.record({
    leadId: winner,
    activityTypeId: T.MERGE_LEADS,
    activityDate: inst.clock.now(),
    primaryAttributeValueId: winner,
    primaryAttributeValue: String(winner),
    attributes: [
      { name: 'Merge IDs', value: losers.join(',') },
      { name: 'Merged in Sales', value: crm === 'true' },
      { name: 'Merge Source', value: 'Web service API' },
      { name: 'Master Updated', value: Object.keys(fill).length > 0 },
    ],
  });
  return {};
}

/** A Munchkin cookie as the tracking script sets it: `id:<munchkin id>&token:_mch-<domain>-<time>-<n>`. */
const COOKIE_RE = /^id:\d{3}-[A-Z]{3}-\d{3}&token:_mch-[^&\s]+-\d+-\d+$/;

/**
 * Associate Web Activity: `POST /rest/v1/leads/{id}/associate.json?cookie=` links a Munchkin cookie (and
 * so its anonymous web activity) to the lead: the cookie joins the lead's `cookies`. Unknown lead: 1004;
 * a value that is not a Munchkin cookie: 1012.
 */
export function associateCookie(inst: Instance, rawId: string, query: Params, user: string): EnvelopeBody {
  const id = leadId(rawId, 'id');
  const cookie = query.get('cookie');
  if (cookie === undefined || cookie === '')
    throw new MarketoError('1002', "Missing value for the required parameter 'cookie'");
  if (!COOKIE_RE.test(cookie)) throw new MarketoError('1012', `Invalid cookie value '${cookie}'`);
  if (!inst.leads.exists(id)) throw new MarketoError('1004', `Lead '${id}' not found`);
  addCookie(inst, id, cookie, user);
  return {};
}

/** Whether `value` is a Munchkin cookie (Associate Web Activity and Submit Form take one). */
export function isMunchkinCookie(value: string): boolean {
  return COOKIE_RE.test(value);
}

/** Adds `cookie` to the `cookies` of live lead `id` (once). */
export function addCookie(inst: Instance, id: number, cookie: string, user: string): void {
  const db = inst.leads;
  const current = db.valueOf(id, 'cookies');
  const list = typeof current === 'string' && current !== '' ? current.split(',') : [];
  if (!list.includes(cookie)) {
    list.push(cookie);
    // `cookies` is read-only to Sync Leads: only this call sets it.
    db.update(id, { cookies: list.join(',') }, { apiMethodName: 'associateLead', user }, true);
  }
}
