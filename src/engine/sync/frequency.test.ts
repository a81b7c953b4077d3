import { describe, expect, it } from 'vitest';
import { FrequencyError, formatFrequency, parseFrequency } from './frequency.ts';

describe('sync frequencies', () => {
  it('reads Nango-style intervals', () => {
    expect(parseFrequency('every 30m')).toEqual({ text: 'every 30m', seconds: 1800 });
    expect(parseFrequency('every 2 hours')).toEqual({ text: 'every 2 hours', seconds: 7200 });
    expect(parseFrequency('Every  Day')).toEqual({ text: 'every day', seconds: 86_400 });
    expect(parseFrequency('every half hour').seconds).toBe(1800);
    expect(parseFrequency('every quarter hour').seconds).toBe(900);
    expect(parseFrequency('every half day').seconds).toBe(43_200);
    expect(parseFrequency('1h')).toEqual({ text: 'every 1h', seconds: 3600 });
    expect(parseFrequency('every 1.5h').seconds).toBe(5400);
    expect(parseFrequency('every 30s').seconds).toBe(30);
    expect(parseFrequency('every 1w').seconds).toBe(604_800);
  });

  it('refuses what is not an interval, too short or too long', () => {
    for (const bad of [
      '',
      'every',
      'sometimes',
      'every 5s',
      'every -1h',
      'every 1 fortnight',
      'every 2y',
      'every h',
    ]) {
      expect(() => parseFrequency(bad), bad).toThrow(FrequencyError);
    }
  });

  it('formats default frequencies', () => {
    expect(formatFrequency(900)).toBe('every 15m');
    expect(formatFrequency(3600)).toBe('every 1h');
    expect(formatFrequency(86_400)).toBe('every 1d');
    expect(formatFrequency(90)).toBe('every 90s');
    expect(formatFrequency(5400)).toBe('every 90m');
  });
});
