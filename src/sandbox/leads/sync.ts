import { isoSeconds, MarketoError, reason, type Reason } from '../core/envelope.ts';
import { booleanInput, inputList, isPlainObject, numberInput, requestInput } from '../core/input.ts';
import type { FieldDef, FieldValue, LeadRecord } from '../model.ts';
import type { LeadDatabase, WriteSource } from './database.ts';
import type { FieldLookup } from './fields.ts';

/** Sync Leads (`POST /rest/v1/leads.json`, spec 5.3): validation, lookup and per-record outcome. */

export const MAX_BATCH = 300;

type Action = 'createOrUpdate' | 'createOnly' | 'updateOnly' | 'createDuplicate';
const ACTIONS = new Set<string>(['createOrUpdate', 'createOnly', 'updateOnly', 'createDuplicate']);

export type SyncResult =
  { id: number; status: 'created' | 'updated' } | { status: 'skipped'; reasons: Reason[] };

class Skip {
  constructor(readonly reason: Reason) {}
}

function show(v: unknown): string {
  return typeof v === 'string' ? v : JSON.stringify(v);
}

const INTEGER_RE = /^[-+]?\d+$/;
const EMAIL_RE = /^[\x21-\x3f\x41-\x7e]+@[\x21-\x3f\x41-\x7e]+\.[\x21-\x3f\x41-\x7e]+$/;
const DATE_RE = /^(\d{4})-(\d{2})-(\d{2})/;

/**
 * A request value converted to the field's type, as the database stores it; `null` or `''`
 * clears the field. A value of the wrong type is skipped with 1001, Marketo's type error.
 */
export function coerce(f: FieldDef, v: unknown): FieldValue {
  if (v === null || v === '') return null;
  const bad = () => new Skip(reason('1001', `Invalid value '${show(v)}'. Required of type '${f.dataType}'`));
  switch (f.dataType) {
    case 'integer':
    case 'score':
      if (typeof v === 'number' && Number.isSafeInteger(v)) return v;
      if (typeof v === 'string' && INTEGER_RE.test(v.trim()) && Number.isSafeInteger(Number(v)))
        return Number(v);
      throw bad();
    case 'float':
    case 'currency':
    case 'percent': {
      const n = numberInput(v);
      if (n === undefined) throw bad();
      return n;
    }
    case 'boolean': {
      const b = booleanInput(v);
      if (b === undefined) throw bad();
      return b;
    }
    case 'date': {
      const m = typeof v === 'string' ? DATE_RE.exec(v.trim()) : null;
      if (!m || Number.isNaN(Date.parse(v as string))) throw bad();
      return `${m[1]}-${m[2]}-${m[3]}`;
    }
    case 'datetime': {
      if (typeof v !== 'string' || !DATE_RE.test(v.trim())) throw bad();
      const ms = Date.parse(v.trim());
      if (Number.isNaN(ms)) throw bad();
      return isoSeconds(ms);
    }
    case 'email':
      if (typeof v === 'string' && EMAIL_RE.test(v.trim())) return v.trim();
      throw bad();
    default:
      if (typeof v === 'string') return v;
      if (typeof v === 'number' || typeof v === 'boolean') return String(v);
      throw bad();
  }
}

interface SyncRequest {
  input: unknown[];
  action: Action;
  lookupField: FieldDef;
  partitionName?: string;
}

/**
 * Check the request as a whole against the instance's schema; problems here fail the call
 * (response-level errors).
 */
export function parseSyncRequest(raw: unknown, schema: FieldLookup): SyncRequest {
  const { body, input: given } = requestInput(raw);
  const input = inputList(given, MAX_BATCH);

  const action = body.action ?? 'createOrUpdate';
  if (typeof action !== 'string' || !ACTIONS.has(action))
    throw new MarketoError('1003', `Invalid action '${show(action)}'`);

  const lookupName = body.lookupField ?? 'email';
  if (typeof lookupName !== 'string') throw new MarketoError('1003', "Invalid value for 'lookupField'");
  const lookupField = schema.field(lookupName);
  if (!lookupField) throw new MarketoError('1006', `Lookup field '${lookupName}' not found`);
  if (!lookupField.searchable) throw new MarketoError('1011', `Lookup field '${lookupName}' not supported`);
  // Ids are Marketo's to assign: `id` can only find an existing lead.
  if (lookupName === 'id' && action !== 'updateOnly')
    throw new MarketoError('1003', `Lookup field 'id' is only allowed with action 'updateOnly'`);

  const partitionName = body.partitionName;
  if (partitionName !== undefined && typeof partitionName !== 'string')
    throw new MarketoError('1003', "Invalid value for 'partitionName'");
  return { input, action: action as Action, lookupField, partitionName };
}

/** Process each record in input order; every record gets a result. */
export function syncLeads(db: LeadDatabase, req: SyncRequest, source: WriteSource): SyncResult[] {
  return req.input.map((record) => {
    try {
      return syncOne(db, req, record, source);
    } catch (err) {
      if (err instanceof Skip) return { status: 'skipped', reasons: [err.reason] };
      throw err;
    }
  });
}

function syncOne(db: LeadDatabase, req: SyncRequest, record: unknown, source: WriteSource): SyncResult {
  if (!isPlainObject(record)) throw new Skip(reason('1003', 'Invalid data'));
  if (req.partitionName !== undefined && req.partitionName !== 'Default')
    throw new Skip(reason('1008', `Access denied to partition '${req.partitionName}'`));
  const { action, lookupField } = req;

  const values: LeadRecord = {};
  let key: FieldValue = null;
  for (const [name, raw] of Object.entries(record)) {
    const f = db.field(name);
    if (!f) throw new Skip(reason('1006', `Field '${name}' not found`));
    if (name === 'id' && (action === 'createOnly' || action === 'createDuplicate'))
      throw new Skip(reason('1003', 'Invalid data'));
    if (f === lookupField) key = coerce(f, raw);
    // Read-only fields (id, createdAt, updatedAt, CRM ids…) may be sent back as read; never stored.
    if (!f.readOnly) values[name] = coerce(f, raw);
  }

  if (action === 'createDuplicate') return { id: db.create(values, source), status: 'created' };

  if (key === null) {
    if (action === 'createOnly') return { id: db.create(values, source), status: 'created' };
    throw new Skip(reason('1003', `Value for lookup field '${lookupField.name}' not specified`));
  }
  const matches = db.find(lookupField.name, [String(key)], 1);
  if (matches.length === 0) {
    if (action === 'updateOnly') throw new Skip(reason('1004', 'Lead not found'));
    return { id: db.create(values, source), status: 'created' };
  }
  if (action === 'createOnly') throw new Skip(reason('1005', 'Lead already exists'));
  if (matches.length > 1) throw new Skip(reason('1007', 'Multiple leads match the lookup criteria'));
  const id = matches[0]!;
  // The key found the lead; a different spelling of it (case) is not a change of the field.
  delete values[lookupField.name];
  db.update(id, values, source);
  return { id, status: 'updated' };
}
