import { MarketoError } from '../core/envelope.ts';
import type { Instance } from '../core/instance.ts';
import { T } from '../activities/types.ts';
import { addCookie, isMunchkinCookie } from './merge.ts';
import { parseSyncRequest, syncLeads, type SyncResult } from './sync.ts';

/**
 * Submit Form (`POST /rest/v1/leads/submitForm.json`, spec 5.3), as a visitor filling out form `formId`
 * on a page: the lead of `input[0].leadFormFields` is created or updated by email (Sync Leads' rules
 * and skip reasons), a Fill Out Form activity records the form, the page (`visitorData`) and the fields,
 * and a Munchkin `cookie`, when given, is associated with the lead. One input per call; `programId`, when
 * given, must be a program. The sandbox has no form catalog: any positive `formId` is a form.
 */
export function submitForm(inst: Instance, body: unknown, user: string): SyncResult[] {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw new MarketoError('701', 'input cannot be blank');
  const { formId, programId, input } = body as Record<string, unknown>;
  if (formId === undefined || formId === null)
    throw new MarketoError('1002', "Missing value for the required parameter 'formId'");
  if (!Number.isSafeInteger(formId) || (formId as number) < 1)
    throw new MarketoError('1003', `Invalid value '${String(formId)}' for 'formId'`);
  if (programId !== undefined) {
    if (!Number.isSafeInteger(programId)) throw new MarketoError('1003', "Invalid value for 'programId'");
    if (!inst.assets.program(programId as number))
      throw new MarketoError('1013', `Program '${String(programId)}' not found`);
  }
  if (!Array.isArray(input) || input.length === 0) throw new MarketoError('701', 'input cannot be blank');
  if (input.length > 1) throw new MarketoError('1003', 'Only one input is allowed');
  const item = input[0] as Record<string, unknown> | null;
  if (typeof item !== 'object' || item === null || Array.isArray(item))
    throw new MarketoError('1003', "Invalid value for 'input'");
  const { leadFormFields, visitorData, cookie } = item;
  if (typeof leadFormFields !== 'object' || leadFormFields === null || Array.isArray(leadFormFields))
    throw new MarketoError('1003', "Invalid value for 'leadFormFields'");
  const visitor =
    visitorData === undefined
      ? {}
      : typeof visitorData === 'object' && visitorData !== null && !Array.isArray(visitorData)
        ? (visitorData as Record<string, unknown>)
        : undefined;
  if (visitor === undefined) throw new MarketoError('1003', "Invalid value for 'visitorData'");
  if (cookie !== undefined && (typeof cookie !== 'string' || !isMunchkinCookie(cookie)))
    throw new MarketoError('1012', `Invalid cookie value '${String(cookie)}'`);

  const req = parseSyncRequest(
    { input: [leadFormFields], action: 'createOrUpdate', lookupField: 'email' },
    inst.leads,
  );
  const results = syncLeads(inst.leads, req, { apiMethodName: 'submitForm', user });
  const r = results[0]!;
  if (r.status === 'skipped') return results;
  const text = (v: unknown) => (typeof v === 'string' ? v : null);
  inst.activities.record({
    leadId: r.id,
    activityTypeId: T.FILL_OUT_FORM,
    activityDate: inst.clock.now(),
    primaryAttributeValueId: formId as number,
    primaryAttributeValue: `Form ${String(formId)}`,
    attributes: [
      { name: 'Client IP Address', value: text(visitor.leadClientIpAddress) },
      { name: 'Query Parameters', value: text(visitor.queryString) },
      { name: 'Referrer URL', value: text(visitor.pageURL) },
      { name: 'User Agent', value: text(visitor.userAgentString) },
      { name: 'Form Fields', value: JSON.stringify(leadFormFields) },
    ],
  });
  if (typeof cookie === 'string') addCookie(inst, r.id, cookie, user);
  return results;
}
