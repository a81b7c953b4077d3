/**
 * ProgramMember: which lead is a member of which program, with its membership status (Marketo's program
 * membership: progression status, success, acquisition, engagement stream and cadence), from
 * `GET /rest/v1/leads/programs/{programId}.json?fields=email` with position tokens (spec §5.2). The
 * programs come from the asset API (`GET /rest/asset/v1/programs.json`, offset paging, §5.7). Record
 * id = `${programId}:${leadId}`.
 *
 * Full with deletion detection, like static-list-memberships: Marketo has no "members changed since"
 * read, and a lead deleted or removed from a program leaves no trace in the program's member list, so
 * every run lists the members of every program inside one sweep; memberships not seen are marked deleted
 * when the sweep completes. Cost: one call per 200 programs, then one per 300 members per program, hence
 * the daily default. The checkpoint (sweep id, the program ids taken at the start, the current program and
 * its token) is saved after every page; a failed run resumes there. A program deleted during the sweep
 * (1013 Object not found, or 702 No data found) is skipped: its memberships are not seen and get deleted.
 *
 * Options: `programIds` (only these programs; memberships of other programs are then deleted),
 * `programTypes` (only programs of these types, e.g. `["Event", "Email"]`: the program list carries the
 * type, so this costs nothing more), `batchSize` (1–300, default 300).
 */
import { intListOption, intOption, newSweepId, normalizeDate, withQuery, type MarketoItem } from './api.ts';
import { assetPages, positionPages, type AssetCursor } from './paging.ts';
import { MarketoSyncError, type SyncIO, type SyncModelDef, type SyncRecord } from './types.ts';

const NAME = 'program-members';
const MODELS = ['ProgramMember'];
/** Asset API page size (its maximum). */
const PROGRAMS_PER_CALL = 200;
/** Browses of the program list tried before giving up on a stable one (see {@link listPrograms}). */
const PROGRAM_LIST_ATTEMPTS = 3;
/** Codes of the members read meaning "this program is gone": it is skipped, its memberships deleted. */
const PROGRAM_GONE = new Set(['1013', '702']);
/** Membership keys that hold datetimes (rewritten as `YYYY-MM-DDTHH:MM:SSZ`). */
const DATE_KEYS = new Set(['membershipDate', 'updatedAt', 'reachedSuccessDate', 'createdAt']);

interface MemberSweep {
  sweepId: string;
  programIds: number[];
  /** Index in `programIds` of the program being read. */
  index: number;
  nextPageToken?: string;
  /**
   * The program list could not be read without items moving during the browse: a program may be
   * missing from `programIds`, so this sweep must not complete (it would delete that program's members).
   */
  partial?: boolean;
}

export function readSweep(cp: Record<string, unknown> | null): MemberSweep | undefined {
  if (!cp || typeof cp.sweepId !== 'string' || !Array.isArray(cp.programIds)) return undefined;
  const programIds = cp.programIds.filter((x): x is number => typeof x === 'number' && Number.isInteger(x));
  const index = typeof cp.index === 'number' && Number.isInteger(cp.index) && cp.index >= 0 ? cp.index : 0;
  // A sweep past its last program cannot go on (it would never complete): start a new one instead.
  if (programIds.length > 0 && index >= programIds.length) return undefined;
  const sweep: MemberSweep = { sweepId: cp.sweepId, programIds, index };
  if (typeof cp.nextPageToken === 'string' && cp.nextPageToken !== '') sweep.nextPageToken = cp.nextPageToken;
  if (cp.partial === true) sweep.partial = true;
  return sweep;
}

export function sweepCheckpoint(s: MemberSweep): Record<string, unknown> {
  const cp: Record<string, unknown> = { sweepId: s.sweepId, programIds: s.programIds, index: s.index };
  if (s.nextPageToken !== undefined) cp.nextPageToken = s.nextPageToken;
  if (s.partial) cp.partial = true;
  return cp;
}

/** Program types from `["Event", "Email"]` or `"Event,Email"`, compared case-insensitively. */
export function programTypesOption(options: Record<string, unknown>): Set<string> | undefined {
  const raw = options.programTypes;
  const items = Array.isArray(raw) ? raw : typeof raw === 'string' ? raw.split(',') : [];
  const out = new Set<string>();
  for (const item of items)
    if (typeof item === 'string' && item.trim() !== '') out.add(item.trim().toLowerCase());
  return out.size > 0 ? out : undefined;
}

/** The program ids to sweep, in browse order, from the program list and the options. */
export function selectPrograms(
  programs: readonly MarketoItem[],
  only: readonly number[] | undefined,
  types: ReadonlySet<string> | undefined,
): number[] {
  const wanted = only ? new Set(only) : undefined;
  const out: number[] = [];
  for (const p of programs) {
    const id = typeof p.id === 'number' ? p.id : typeof p.id === 'string' ? Number(p.id) : NaN;
    if (!Number.isInteger(id) || id <= 0 || out.includes(id)) continue;
    if (wanted && !wanted.has(id)) continue;
    if (types && !(typeof p.type === 'string' && types.has(p.type.toLowerCase()))) continue;
    out.push(id);
  }
  return out;
}

/**
 * Every program (programs.json, 200 per call). Offset paging can skip a program when another one is
 * deleted during the browse; the browse notices (see `assetStep`) and is tried again, and after
 * {@link PROGRAM_LIST_ATTEMPTS} unstable browses the list is used but flagged `broken`.
 */
async function listPrograms(io: SyncIO): Promise<{ programs: MarketoItem[]; broken: boolean }> {
  let programs: MarketoItem[] = [];
  let broken = false;
  for (let attempt = 1; attempt <= PROGRAM_LIST_ATTEMPTS; attempt++) {
    programs = [];
    let cursor: AssetCursor = { offset: 0 };
    for await (const step of assetPages(io, '/rest/asset/v1/programs.json', cursor, PROGRAMS_PER_CALL)) {
      programs.push(...step.fresh);
      cursor = step.cursor;
    }
    broken = cursor.broken === true;
    if (!broken) break;
    io.log('the program list moved while it was read; reading it again', { attempt });
  }
  return { programs, broken };
}

/**
 * One member of Get Leads by Program as a record: the lead's id and email, and the `membership` object's
 * fields as Marketo gives them (its `id`, the program id, is `programId`), datetimes normalized.
 * Undefined when the item has no lead id.
 */
export function programMemberRecord(programId: number, lead: MarketoItem): SyncRecord | undefined {
  const raw = lead.id;
  const leadId =
    typeof raw === 'number' ? raw : typeof raw === 'string' && /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isInteger(leadId)) return undefined;
  const record: SyncRecord = {
    id: `${programId}:${leadId}`,
    programId,
    leadId,
    email: typeof lead.email === 'string' && lead.email !== '' ? lead.email : null,
  };
  const m = lead.membership;
  if (typeof m === 'object' && m !== null && !Array.isArray(m)) {
    for (const [k, v] of Object.entries(m as Record<string, unknown>)) {
      if (k === 'id' || k === 'programId' || k === 'leadId' || v === undefined) continue;
      record[k] = DATE_KEYS.has(k) ? normalizeDate(v) : v;
    }
  }
  return record;
}

async function startSweep(io: SyncIO): Promise<MemberSweep> {
  const only = intListOption(io.options, 'programIds');
  const types = programTypesOption(io.options);
  const sweepId = newSweepId(NAME, io.now());
  // Named programs without a type filter need no program list: a missing one answers 1013 later.
  if (only && !types) return { sweepId, programIds: only, index: 0 };
  const { programs, broken } = await listPrograms(io);
  const programIds = selectPrograms(programs, only, types);
  io.log('programs to read', { programs: programIds.length, listed: programs.length });
  const sweep: MemberSweep = { sweepId, programIds, index: 0 };
  if (broken) {
    io.log('the program list kept moving: this sweep will delete nothing', { listed: programs.length });
    sweep.partial = true;
  }
  return sweep;
}

export const programMembersSync: SyncModelDef = {
  name: NAME,
  models: MODELS,
  mode: 'full',
  defaultFrequencySeconds: 86_400,
  description:
    'Members of each program with their status (progression status, success, acquired by, dates, stream); removals detected by a full listing.',
  async run(io) {
    const batchSize = intOption(io.options, 'batchSize', 300, { min: 1, max: 300 });
    const s = readSweep(io.checkpoint) ?? (await startSweep(io));
    const total = s.programIds.length;
    let members = 0;
    let skipped = 0;
    const marker = (complete: boolean) => ({ id: s.sweepId, models: MODELS, complete });
    /** After the last program: the sweep completes, unless the program list was unstable. */
    const finished = () => s.index >= total;
    const checkpointNow = (): Record<string, unknown> =>
      !finished()
        ? sweepCheckpoint(s)
        : s.partial
          ? { lastRunAt: io.now().toISOString(), incompleteSweep: true }
          : { lastSweepAt: io.now().toISOString() };
    const save = async (records: SyncRecord[] | undefined) => {
      const page = {
        checkpoint: checkpointNow(),
        sweep: marker(finished() && !s.partial),
        ...(records ? { upserts: { ProgramMember: records } } : {}),
      };
      await io.save(page);
    };

    while (s.index < total) {
      const programId = s.programIds[s.index]!;
      const resumed = s.nextPageToken !== undefined;
      io.log(`program ${s.index + 1} of ${total}`, { programId, ...(resumed ? { resumed: true } : {}) });
      const path = withQuery(`/rest/v1/leads/programs/${programId}.json`, { fields: 'email', batchSize });
      let count = 0;
      try {
        for await (const page of positionPages(io, path, s.nextPageToken)) {
          const records = page.items
            .map((lead) => programMemberRecord(programId, lead))
            .filter((r): r is SyncRecord => r !== undefined);
          count += records.length;
          if (page.nextPageToken !== undefined) s.nextPageToken = page.nextPageToken;
          else {
            delete s.nextPageToken;
            s.index++;
          }
          await save(records);
        }
        members += count;
        io.log(`program ${s.index} of ${total}: ${count} members`, { programId, members: count });
      } catch (err) {
        if (!(err instanceof MarketoSyncError) || !PROGRAM_GONE.has(err.code)) throw err;
        // Deleted since the sweep started (or never existed): nothing of it is seen, so its members go.
        io.log('program not found; skipping it', { programId, code: err.code });
        members += count;
        skipped++;
        delete s.nextPageToken;
        s.index++;
        await save(undefined);
      }
    }
    // No programs at all: complete an empty sweep so stale memberships go.
    if (total === 0) await save(undefined);
    io.log('program members read', { programs: total, members, skipped });
  },
};
