import { describe, expect, it } from 'vitest';
import {
  formatCapped,
  formatCount,
  formatData,
  formatDateTime,
  formatDuration,
  formatRelative,
  formatSpan,
  formatWhen,
} from './format.ts';

describe('dashboard formatting', () => {
  const now = new Date('2025-03-04T10:00:00.000Z');

  it('writes times in UTC, with either offset form the API uses', () => {
    expect(formatDateTime('2025-03-04T09:08:07.123Z')).toBe('2025-03-04 09:08:07 UTC');
    expect(formatDateTime('2025-03-04T09:08:07.123+00:00')).toBe('2025-03-04 09:08:07 UTC');
    expect(formatDateTime(null)).toBe('—');
    expect(formatDateTime('garbage')).toBe('—');
  });

  it('says how far a time is from now', () => {
    expect(formatRelative('2025-03-04T10:00:02Z', now)).toBe('just now');
    expect(formatRelative('2025-03-04T09:59:30Z', now)).toBe('30 s ago');
    expect(formatRelative('2025-03-04T10:05:00Z', now)).toBe('in 5 min');
    expect(formatRelative('2025-03-04T07:00:00Z', now)).toBe('3 h ago');
    expect(formatRelative('2025-03-06T10:00:00Z', now)).toBe('in 2 d');
    expect(formatRelative(undefined, now)).toBe('');
    expect(formatWhen('2025-03-04T10:30:00Z', now)).toBe('2025-03-04 10:30:00 UTC (in 30 min)');
    expect(formatWhen(null, now)).toBe('—');
  });

  it('writes durations and spans', () => {
    expect(formatDuration(850)).toBe('850 ms');
    expect(formatDuration(1234)).toBe('1.2 s');
    expect(formatDuration(42_000)).toBe('42 s');
    expect(formatDuration(125_000)).toBe('2 min 5 s');
    expect(formatDuration(3_780_000)).toBe('1 h 3 min');
    expect(formatDuration(-1)).toBe('—');
    expect(formatSpan('2025-03-04T10:00:00Z', '2025-03-04T10:00:01.500Z')).toBe('1.5 s');
    expect(formatSpan('2025-03-04T10:00:00Z', null)).toBe('—');
  });

  it('groups counts and caps them', () => {
    expect(formatCount(0)).toBe('0');
    expect(formatCount(1234567)).toBe('1,234,567');
    expect(formatCount(-1234.5)).toBe('-1,234.5');
    expect(formatCount(null)).toBe('—');
    expect(formatCapped(1001, 1000)).toBe('1,000+');
    expect(formatCapped(999, 1000)).toBe('999');
  });

  it('writes log data on one line, cut when long', () => {
    expect(formatData(null)).toBe('');
    expect(formatData({})).toBe('');
    expect(formatData({ code: '1035', n: 2 })).toBe('{"code":"1035","n":2}');
    const long = formatData({ s: 'x'.repeat(500) }, 50);
    expect(long).toHaveLength(50);
    expect(long.endsWith('…')).toBe(true);
  });
});
