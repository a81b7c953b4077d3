import { MarketoError, reason, type Reason } from '../core/envelope.ts';
import { inputList, isPlainObject, requestInput } from '../core/input.ts';
import type { Instance } from '../core/instance.ts';
import type { FieldValue } from '../model.ts';
import type { CoRecord } from './generator.ts';
import { coField, ID_FIELD, LINK_FIELD, type CoType } from './types.ts';
import { coerce, Skip } from './values.ts';

/** Sync and delete custom objects: request checks (call-level errors), then one outcome per record. */

export const MAX_BATCH = 300;

type Action = 'createOrUpdate' | 'createOnly' | 'updateOnly';
type KeyKind = 'dedupeFields' | 'idField';
const ACTIONS: readonly string[] = ['createOrUpdate', 'createOnly', 'updateOnly'];
const KEY_KINDS: readonly string[] = ['dedupeFields', 'idField'];

export type WriteResult =
  | { seq: number; status: 'created' | 'updated' | 'deleted'; marketoGUID: string }
  | { seq: number; status: 'skipped'; reasons: Reason[] };

function option<T extends string>(
  body: Record<string, unknown>,
  name: string,
  allowed: readonly string[],
  dflt: T,
): T {
  const v = body[name] ?? dflt;
  if (typeof v !== 'string' || !allowed.includes(v))
    throw new MarketoError('1003', `Invalid value for '${name}'`);
  return v as T;
}

function outcome(seq: number, run: () => WriteResult): WriteResult {
  try {
    return run();
  } catch (err) {
    if (err instanceof Skip) return { seq, status: 'skipped', reasons: [err.reason] };
    throw err;
  }
}

/** The record a key finds: by marketoGUID, or by the (single) dedupe field's value. */
function locate(
  inst: Instance,
  type: CoType,
  by: KeyKind,
  item: Record<string, unknown>,
): CoRecord | undefined {
  const name = by === 'idField' ? ID_FIELD : type.dedupeFields[0]!;
  const raw = item[name];
  if (raw === undefined || raw === null || raw === '')
    throw new Skip(
      reason('1003', `Value for ${by === 'idField' ? 'idField' : 'dedupe field'} '${name}' not specified`),
    );
  if (typeof raw !== 'string' && typeof raw !== 'number')
    throw new Skip(reason('1003', `Invalid value for field '${name}'`));
  const store = inst.customObjects;
  return by === 'idField' ? store.byGuid(type, String(raw)) : store.byDedupe(type, String(raw));
}

function checkLead(inst: Instance, leadId: FieldValue): number {
  if (leadId === null) throw new Skip(reason('1003', `Value for link field '${LINK_FIELD}' not specified`));
  if (!inst.leads.exists(leadId as number))
    throw new Skip(
      reason('1003', `Invalid link: lead ${String(leadId)} not found for field '${LINK_FIELD}'`),
    );
  return leadId as number;
}

/** Sync Custom Objects (`POST /rest/v1/customobjects/{apiName}.json`). */
export function syncCustomObjects(inst: Instance, type: CoType, raw: unknown): WriteResult[] {
  const { body, input: given } = requestInput(raw);
  const input = inputList(given, MAX_BATCH);
  const action = option<Action>(body, 'action', ACTIONS, 'createOrUpdate');
  const dedupeBy = option<KeyKind>(body, 'dedupeBy', KEY_KINDS, 'dedupeFields');
  return input.map((item, seq) => outcome(seq, () => syncOne(inst, type, action, dedupeBy, item, seq)));
}

function syncOne(
  inst: Instance,
  type: CoType,
  action: Action,
  dedupeBy: KeyKind,
  item: unknown,
  seq: number,
): WriteResult {
  if (!isPlainObject(item)) throw new Skip(reason('1003', 'Invalid data'));
  const values: Record<string, FieldValue> = {};
  let leadId: FieldValue | undefined;
  for (const [name, v] of Object.entries(item)) {
    const f = coField(type, name);
    if (!f) throw new Skip(reason('1006', `Field '${name}' not found`));
    // System fields may be sent back as read; the key is looked at by locate().
    if (name === ID_FIELD || name === 'createdAt' || name === 'updatedAt') continue;
    const value = coerce(f, v);
    if (name === LINK_FIELD) leadId = value;
    else values[name] = value;
  }
  const current = locate(inst, type, dedupeBy, item);
  const store = inst.customObjects;
  if (!current) {
    // A GUID is Marketo's to assign: by idField a record can only be found.
    if (action === 'updateOnly' || dedupeBy === 'idField') throw new Skip(reason('1004', 'Record not found'));
    const lead = checkLead(inst, leadId ?? null);
    for (const d of type.dedupeFields) {
      if (values[d] === null || values[d] === undefined)
        throw new Skip(reason('1003', `Value for dedupe field '${d}' not specified`));
    }
    return { seq, status: 'created', marketoGUID: store.create(type, lead, values).marketoGUID };
  }
  if (action === 'createOnly') throw new Skip(reason('1005', 'Record already exists'));
  for (const d of type.dedupeFields) {
    if (!Object.hasOwn(values, d)) continue;
    const old = current.values[d];
    const same =
      typeof old === 'string' &&
      typeof values[d] === 'string' &&
      old.toLowerCase() === (values[d] as string).toLowerCase();
    if (!same) throw new Skip(reason('1003', `Field '${d}' is not updateable`));
    delete values[d];
  }
  const lead = leadId === undefined ? undefined : checkLead(inst, leadId);
  return { seq, status: 'updated', marketoGUID: store.update(type, current, values, lead).marketoGUID };
}

/** Delete Custom Objects (`POST /rest/v1/customobjects/{apiName}/delete.json`). */
export function deleteCustomObjects(inst: Instance, type: CoType, raw: unknown): WriteResult[] {
  const { body, input: given } = requestInput(raw);
  const input = inputList(given, MAX_BATCH);
  const deleteBy = option<KeyKind>(body, 'deleteBy', KEY_KINDS, 'dedupeFields');
  return input.map((item, seq) =>
    outcome(seq, () => {
      if (!isPlainObject(item)) throw new Skip(reason('1003', 'Invalid data'));
      const rec = locate(inst, type, deleteBy, item);
      if (!rec) throw new Skip(reason('1013', 'Record not found'));
      inst.customObjects.remove(type, rec);
      return { seq, status: 'deleted', marketoGUID: rec.marketoGUID };
    }),
  );
}
