import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  programMemberRecord,
  programMembersSync,
  programTypesOption,
  readSweep,
  selectPrograms,
  sweepCheckpoint,
} from './program-members.ts';
import { CrashError } from './testing.ts';
import {
  ok,
  readAllAssets,
  readAllByToken,
  sorted,
  startHarness,
  type Harness,
  type Row,
} from './test-helpers.ts';

describe('program-members: pure parts', () => {
  it('a member becomes a record: lead id and email, membership fields as given, dates normalized', () => {
    const lead = {
      id: 42,
      email: 'a@example.com',
      membership: {
        id: 1001,
        progressionStatus: 'Attended',
        progressionStatusType: 'Attended',
        isExhausted: false,
        acquiredBy: true,
        reachedSuccess: true,
        reachedSuccessDate: '2024-02-01T10:00:00Z+0000',
        membershipDate: '2024-01-31T10:00:00Z',
        updatedAt: '2024-02-01 10:00:00',
        stream: 'Stream 2',
        nurtureCadence: 'paused',
      },
    };
    expect(programMemberRecord(1001, lead)).toEqual({
      id: '1001:42',
      programId: 1001,
      leadId: 42,
      email: 'a@example.com',
      progressionStatus: 'Attended',
      progressionStatusType: 'Attended',
      isExhausted: false,
      acquiredBy: true,
      reachedSuccess: true,
      reachedSuccessDate: '2024-02-01T10:00:00Z',
      membershipDate: '2024-01-31T10:00:00Z',
      updatedAt: '2024-02-01T10:00:00Z',
      stream: 'Stream 2',
      nurtureCadence: 'paused',
    });
    expect(programMemberRecord(7, { id: '5', email: null })).toEqual({
      id: '7:5',
      programId: 7,
      leadId: 5,
      email: null,
    });
    expect(programMemberRecord(7, { email: 'x@y.z' })).toBeUndefined();
    expect(programMemberRecord(7, { id: 'abc' })).toBeUndefined();
  });

  it('options: program types and the programs selected from the list', () => {
    expect(programTypesOption({ programTypes: ['Event', ' email '] })).toEqual(new Set(['event', 'email']));
    expect(programTypesOption({ programTypes: 'Event,Engagement' })).toEqual(
      new Set(['event', 'engagement']),
    );
    expect(programTypesOption({ programTypes: [] })).toBeUndefined();
    expect(programTypesOption({ programTypes: 3 })).toBeUndefined();
    const list = [
      { id: 1, type: 'Event' },
      { id: 2, type: 'Email' },
      { id: 3, type: 'Engagement' },
      { id: 2, type: 'Email' },
      { id: 'x', type: 'Event' },
    ];
    expect(selectPrograms(list, undefined, undefined)).toEqual([1, 2, 3]);
    expect(selectPrograms(list, [3, 2, 99], undefined)).toEqual([2, 3]);
    expect(selectPrograms(list, undefined, new Set(['event', 'engagement']))).toEqual([1, 3]);
    expect(selectPrograms(list, [1, 2], new Set(['email']))).toEqual([2]);
  });

  it('checkpoints round-trip; unreadable or finished ones start a new sweep', () => {
    const s = { sweepId: 'x', programIds: [1, 2], index: 1, nextPageToken: 'T', partial: true };
    expect(readSweep(sweepCheckpoint(s))).toEqual(s);
    expect(readSweep({ sweepId: 'x', programIds: [1], index: 0 })).toEqual({
      sweepId: 'x',
      programIds: [1],
      index: 0,
    });
    expect(readSweep(null)).toBeUndefined();
    expect(readSweep({ lastSweepAt: '2024-01-01T00:00:00Z' })).toBeUndefined();
    expect(readSweep({ sweepId: 'x', programIds: [1, 2], index: 2 })).toBeUndefined();
  });
});

describe('program-members against the sandbox', () => {
  let h: Harness;
  let programs: Row[];
  const membersOf = (programId: number) =>
    readAllByToken(h, `/rest/v1/leads/programs/${programId}.json?fields=email`);
  /** The records the sandbox's own reads imply, built field by field from its answers. */
  const direct = async (ids: readonly number[]) => {
    const out = new Map<string, Record<string, unknown>>();
    for (const programId of ids) {
      for (const lead of await membersOf(programId)) {
        const { id: membershipProgramId, ...membership } = lead.membership as Record<string, unknown>;
        expect(membershipProgramId).toBe(programId);
        const id = `${programId}:${lead.id}`;
        out.set(id, { id, programId, leadId: lead.id, email: lead.email ?? null, ...membership });
      }
    }
    return out;
  };
  const allIds = () => programs.map((p) => p.id as number);

  beforeAll(async () => {
    h = await startHarness(400, 41);
    programs = await readAllAssets(h, '/rest/asset/v1/programs.json');
    expect(programs.length).toBeGreaterThanOrEqual(10);
  });
  afterAll(async () => h.close());

  it('first run: exactly the members of every program, field by field, over several pages in one sweep', async () => {
    const r = await h.engine.run(programMembersSync, { options: { batchSize: 50 } });
    expect(r.error).toBeUndefined();
    const want = await direct(allIds());
    expect(want.size).toBeGreaterThan(200);
    const live = h.engine.live('ProgramMember');
    expect(sorted(live.keys())).toEqual(sorted(want.keys()));
    for (const [id, rec] of want) expect(live.get(id)).toEqual(rec);
    // Dates as every other record has them; engagement members carry their stream and cadence.
    const sample = [...live.values()];
    expect(sample.every((m) => /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/.test(String(m.membershipDate)))).toBe(
      true,
    );
    const engagement = new Set(programs.filter((p) => p.type === 'Engagement').map((p) => p.id));
    if (engagement.size > 0)
      expect(sample.some((m) => engagement.has(m.programId) && typeof m.stream === 'string')).toBe(true);

    expect(r.added.ProgramMember).toHaveLength(want.size);
    const memberCalls = r.calls.filter((c) => c.startsWith('/rest/v1/leads/programs/'));
    expect(memberCalls.every((c) => c.includes('fields=email') && c.includes('batchSize=50'))).toBe(true);
    expect(r.calls.filter((c) => c.startsWith('/rest/asset/v1/programs.json'))).toHaveLength(
      Math.floor(programs.length / 200) + 1,
    );
    expect(r.pages.length).toBeGreaterThanOrEqual(programs.length);
    expect(new Set(r.pages.map((p) => p.sweep!.id)).size).toBe(1);
    expect(r.pages.map((p) => p.sweep!.complete)).toEqual([...Array(r.pages.length - 1).fill(false), true]);
    expect(r.checkpoints).toHaveLength(r.pages.length);
    expect(r.checkpoints.at(-1)).toEqual({ lastSweepAt: expect.any(String) });
    expect(r.logs.some((l) => l.message === `program 1 of ${programs.length}`)).toBe(true);
    expect(r.logs.at(-1)).toEqual({
      message: 'program members read',
      data: { programs: programs.length, members: want.size, skipped: 0 },
    });
    expect(r.deleted).toEqual({});
  });

  it('programTypes: only programs of those types', async () => {
    const type = programs[0]!.type as string;
    const ids = programs.filter((p) => p.type === type).map((p) => p.id as number);
    const engine = h.newEngine();
    const r = await engine.run(programMembersSync, { options: { programTypes: [type.toUpperCase()] } });
    expect(r.error).toBeUndefined();
    const memberCalls = r.calls.filter((c) => c.startsWith('/rest/v1/leads/programs/'));
    expect(new Set(memberCalls.map((c) => Number(/programs\/(\d+)/.exec(c)![1])))).toEqual(new Set(ids));
    expect(sorted(engine.live('ProgramMember').keys())).toEqual(sorted((await direct(ids)).keys()));
  });

  it('programIds: only those programs (no program list read); a missing program (1013) is skipped', async () => {
    const [a, b] = allIds();
    const engine = h.newEngine();
    const first = await engine.run(programMembersSync, { options: { programIds: [a, b] } });
    expect(first.error).toBeUndefined();
    expect(sorted(engine.live('ProgramMember').keys())).toEqual(sorted((await direct([a!, b!])).keys()));

    const r = await engine.run(programMembersSync, { options: { programIds: `${a},987654` } });
    expect(r.error).toBeUndefined();
    expect(r.calls.some((c) => c.startsWith('/rest/asset/v1/programs.json'))).toBe(false);
    expect(r.logs.some((l) => l.message.includes('not found') && l.data?.code === '1013')).toBe(true);
    expect(r.pages.at(-1)!.sweep!.complete).toBe(true);
    // Memberships of the program no longer selected are deleted by the completed sweep.
    const bKeys = [...(await direct([b!])).keys()];
    expect(sorted(r.deleted.ProgramMember ?? [])).toEqual(sorted(bKeys));
    expect(sorted(engine.live('ProgramMember').keys())).toEqual(sorted((await direct([a!])).keys()));
  });

  it('a sweep resumed after a failure: same sweep, no new program list, nothing deleted by mistake', async () => {
    const engine = h.newEngine();
    const first = await engine.run(programMembersSync, { options: { batchSize: 40 } });
    expect(first.error).toBeUndefined();
    const crashed = await engine.run(programMembersSync, { options: { batchSize: 40 }, crashAtSave: 4 });
    expect(crashed.error).toBeInstanceOf(CrashError);
    const mid = engine.checkpoints.get('program-members')!;
    expect(mid).toMatchObject({
      sweepId: expect.any(String),
      programIds: allIds(),
      index: expect.any(Number),
    });
    const resumed = await engine.run(programMembersSync, { options: { batchSize: 40 } });
    expect(resumed.error).toBeUndefined();
    expect(resumed.pages.every((p) => p.sweep!.id === mid.sweepId)).toBe(true);
    expect(resumed.calls.some((c) => c.startsWith('/rest/asset/v1/programs.json'))).toBe(false);
    // It starts at the program (and page) the checkpoint names, not at the first program.
    expect(resumed.logs[0]!.message).toBe(`program ${(mid.index as number) + 1} of ${programs.length}`);
    expect(resumed.deleted).toEqual({});
    expect(resumed.added).toEqual({});
    expect(sorted(engine.live('ProgramMember').keys())).toEqual(sorted((await direct(allIds())).keys()));
  });

  it('a deleted lead: its memberships are deleted after the next run', async () => {
    const before = new Map(h.engine.live('ProgramMember'));
    const counts = new Map<number, number>();
    for (const m of before.values())
      counts.set(m.leadId as number, (counts.get(m.leadId as number) ?? 0) + 1);
    const [leadId] = [...counts.entries()].sort((x, y) => y[1] - x[1])[0]!;
    const gone = [...before.keys()].filter((k) => k.endsWith(`:${leadId}`));
    expect(gone.length).toBeGreaterThan(0);
    await ok(h, '/rest/v1/leads/delete.json', { method: 'POST', json: { input: [{ id: leadId }] } });

    const r = await h.engine.run(programMembersSync);
    expect(r.error).toBeUndefined();
    expect(sorted(r.deleted.ProgramMember!)).toEqual(sorted(gone));
    expect(r.added).toEqual({});
    expect(r.updated).toEqual({});
    const want = await direct(allIds());
    expect(sorted(h.engine.live('ProgramMember').keys())).toEqual(sorted(want.keys()));
  });
});
