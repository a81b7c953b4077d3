import { describe, expect, it } from 'vitest';
import { MARKETO_SYNCS, marketoSync } from './index.ts';

describe('the Marketo sync catalogue', () => {
  it('names syncs and models once each, with sensible frequencies', () => {
    const names = MARKETO_SYNCS.map((s) => s.name);
    expect(new Set(names).size).toBe(names.length);
    const models = MARKETO_SYNCS.flatMap((s) => s.models);
    expect(models).toEqual([
      'LeadField',
      'ActivityType',
      'Lead',
      'Activity',
      'DeletedLead',
      'StaticList',
      'StaticListMembership',
      'Program',
      'ProgramMember',
      'SmartCampaign',
      'CustomObject',
    ]);
    for (const s of MARKETO_SYNCS) {
      expect(s.defaultFrequencySeconds).toBeGreaterThanOrEqual(300);
      expect(s.description.length).toBeGreaterThan(10);
    }
    expect(marketoSync('activities')?.mode).toBe('incremental');
    expect(marketoSync('leads')).toMatchObject({ mode: 'incremental', models: ['Lead'] });
    expect(marketoSync('static-list-memberships')?.mode).toBe('full');
    expect(marketoSync('program-members')).toMatchObject({ mode: 'full', models: ['ProgramMember'] });
    expect(marketoSync('nope')).toBeUndefined();
  });
});
