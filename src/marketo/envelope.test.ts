import { describe, expect, it } from 'vitest';
import { classifyEnvelope, MARKETO_CODES } from './envelope.ts';

const err = (code: string | number, message?: string) => ({
  requestId: 'e42b#14272d07d78',
  success: false,
  errors: [{ code, message: message ?? MARKETO_CODES[String(code)]?.message ?? 'x' }],
});

describe('classifyEnvelope', () => {
  it('ok on success:true, even with skipped records or no result', () => {
    expect(classifyEnvelope({ requestId: 'a#b', success: true, result: [] })).toEqual({ kind: 'ok' });
    expect(classifyEnvelope({ requestId: 'a#b', success: true })).toEqual({ kind: 'ok' });
    expect(
      classifyEnvelope({
        requestId: 'a#b',
        success: true,
        result: [{ status: 'skipped', reasons: [{ code: '1004', message: 'Lead not found' }] }],
      }),
    ).toEqual({ kind: 'ok' });
  });

  it.each(['600', '601', '602'])('%s → refresh_token', (code) => {
    expect(classifyEnvelope(err(code))).toMatchObject({ kind: 'refresh_token', code });
  });

  it.each(['502', '604', '606', '608', '611', '615', '713', '500', '614', '719'])('%s → back_off', (code) => {
    const c = classifyEnvelope(err(code));
    expect(c).toMatchObject({ kind: 'back_off', code });
    if (c.kind === 'back_off') expect(c.waitMs).toBeGreaterThan(0);
  });

  it('606 waits out the 20-second window', () => {
    expect(classifyEnvelope(err('606'))).toMatchObject({ kind: 'back_off', waitMs: 20_000 });
  });

  it('607 → quota_spent until midnight Central', () => {
    expect(classifyEnvelope(err('607'))).toEqual({
      kind: 'quota_spent',
      code: '607',
      message: 'Daily quota reached',
      resetsAt: 'midnight_america_chicago',
    });
  });

  it('1029: export quota is spent, a full queue backs off, a queued job fails', () => {
    expect(classifyEnvelope(err('1029', 'Export daily quota 500MB exceeded.'))).toMatchObject({
      kind: 'quota_spent',
      code: '1029',
    });
    expect(classifyEnvelope(err('1029', 'Too many jobs in queue'))).toMatchObject({
      kind: 'back_off',
      code: '1029',
    });
    expect(classifyEnvelope(err('1029', 'Job already queued'))).toMatchObject({ kind: 'fail', code: '1029' });
  });

  it.each(['603', '605', '609', '610', '612', '701', '702', '1003', '1006', '1035'])('%s → fail', (code) => {
    expect(classifyEnvelope(err(code))).toMatchObject({ kind: 'fail', code });
  });

  it('accepts numeric codes and keeps the message', () => {
    expect(classifyEnvelope(err(603, 'Access denied'))).toEqual({
      kind: 'fail',
      code: '603',
      message: 'Access denied',
    });
  });

  it('fills a missing message from the code table', () => {
    expect(classifyEnvelope({ success: false, errors: [{ code: '607' }] })).toMatchObject({
      message: 'Daily quota reached',
    });
  });

  it('not an envelope → fail(invalid_envelope)', () => {
    for (const body of [null, undefined, 'text', 42, [], {}, { access_token: 'x' }, { success: 'false' }]) {
      expect(classifyEnvelope(body)).toMatchObject({ kind: 'fail', code: 'invalid_envelope' });
    }
  });

  it('success:false without errors → fail(unknown)', () => {
    expect(classifyEnvelope({ success: false })).toMatchObject({ kind: 'fail', code: 'unknown' });
    expect(classifyEnvelope({ success: false, errors: [] })).toMatchObject({ kind: 'fail', code: 'unknown' });
  });
});
