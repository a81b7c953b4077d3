/**
 * LeadField: the lead schema (standard and custom fields) from describe2 + describe (spec §5.1).
 * Record id = the field's REST name. Full: every run lists the schema and completes a sweep, so a field
 * that disappears from the API (hidden, or removed from the API user's view) is marked deleted.
 */
import { call, newSweepId, type Envelope, type MarketoItem } from './api.ts';
import { MarketoSyncError, type SyncModelDef, type SyncRecord } from './types.ts';

export interface LeadFieldRecord extends SyncRecord {
  /** REST name, e.g. `email`, `myCustomField__c`. */
  id: string;
  name: string;
  displayName: string | null;
  dataType: string | null;
  length: number | null;
  /** describe2 `updateable` (else the inverse of describe's `rest.readOnly`). */
  updateable: boolean | null;
  crmManaged: boolean | null;
  /** Usable alone as a `filterType` for Get Leads by Filter Type (describe2 `searchableFields`). */
  searchable: boolean;
  /** Marketo's numeric field id (describe), when known. */
  marketoId: number | null;
  /** SOAP API name (describe), null when the field is not on the SOAP API. */
  soapName: string | null;
}

function str(v: unknown): string | null {
  return typeof v === 'string' ? v : null;
}
function num(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}
function bool(v: unknown): boolean | null {
  return typeof v === 'boolean' ? v : null;
}

/** Merge describe2 (`result[0].fields`, authoritative) and describe (`result[]` with rest/soap names). */
export function mergeLeadFields(describe2: Envelope | null, describe: Envelope | null): LeadFieldRecord[] {
  const out = new Map<string, LeadFieldRecord>();
  const d2 = describe2?.result[0];
  const searchable = new Set<string>();
  if (d2 && Array.isArray(d2.searchableFields)) {
    for (const key of d2.searchableFields) {
      if (Array.isArray(key) && key.length === 1 && typeof key[0] === 'string') searchable.add(key[0]);
    }
  }
  const d2Fields = d2 && Array.isArray(d2.fields) ? (d2.fields as unknown[]) : [];
  for (const f of d2Fields) {
    if (typeof f !== 'object' || f === null) continue;
    const item = f as MarketoItem;
    const name = str(item.name);
    if (!name) continue;
    out.set(name, {
      id: name,
      name,
      displayName: str(item.displayName),
      dataType: str(item.dataType),
      length: num(item.length),
      updateable: bool(item.updateable),
      crmManaged: bool(item.crmManaged),
      searchable: searchable.has(name),
      marketoId: null,
      soapName: null,
    });
  }
  for (const item of describe?.result ?? []) {
    const rest = item.rest as { name?: unknown; readOnly?: unknown } | undefined;
    const name = str(rest?.name);
    // Fields without a REST name exist only on SOAP: not ours.
    if (!name) continue;
    const soap = item.soap as { name?: unknown } | undefined;
    const known = out.get(name);
    if (known) {
      known.marketoId = num(item.id);
      known.soapName = str(soap?.name);
      known.length ??= num(item.length);
      continue;
    }
    const readOnly = bool(rest?.readOnly);
    out.set(name, {
      id: name,
      name,
      displayName: str(item.displayName),
      dataType: str(item.dataType),
      length: num(item.length),
      updateable: readOnly === null ? null : !readOnly,
      crmManaged: null,
      searchable: searchable.has(name),
      marketoId: num(item.id),
      soapName: str(soap?.name),
    });
  }
  return [...out.values()];
}

export const leadFieldsSync: SyncModelDef = {
  name: 'lead-fields',
  models: ['LeadField'],
  mode: 'full',
  defaultFrequencySeconds: 86_400,
  description: 'The lead schema (standard and custom fields) from describe2 and describe.',
  async run(io) {
    const describe2 = await call(io, '/rest/v1/leads/describe2.json');
    // describe is "superseded" in the spec: use it for ids and SOAP names while it answers.
    let describe: Envelope | null = null;
    try {
      describe = await call(io, '/rest/v1/leads/describe.json');
    } catch (err) {
      if (!(err instanceof MarketoSyncError) || err.kind !== 'fail') throw err;
      io.log('describe.json failed; using describe2 only', { code: err.code });
    }
    const records = mergeLeadFields(describe2, describe);
    if (records.length === 0) {
      // An empty schema is never real (id and email always exist): refuse to delete everything.
      throw new MarketoSyncError(
        'empty_schema',
        'describe returned no fields',
        '/rest/v1/leads/describe2.json',
      );
    }
    const now = io.now();
    await io.save({
      upserts: { LeadField: records },
      checkpoint: { lastSweepAt: now.toISOString() },
      sweep: { id: newSweepId('lead-fields', now), models: ['LeadField'], complete: true },
    });
  },
};
