import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assetRecord } from './assets.ts';
import { smartCampaignsSync } from './smart-campaigns.ts';
import { ok, readAllAssets, sorted, startHarness, type Harness } from './test-helpers.ts';

describe('smart-campaigns sync against the sandbox', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness(50, 61);
  });
  afterAll(async () => h.close());

  it('first run: exactly smartCampaigns.json; next run: exactly the activated campaign', async () => {
    const first = await h.engine.run(smartCampaignsSync, { options: { maxReturn: 20 } });
    expect(first.error).toBeUndefined();
    const direct = await readAllAssets(h, '/rest/asset/v1/smartCampaigns.json');
    const live = h.engine.live('SmartCampaign');
    expect(sorted(live.keys())).toEqual(sorted(direct.map((c) => String(c.id))));
    for (const c of direct) expect(live.get(String(c.id))).toEqual(assetRecord(c));
    expect(first.pages.length).toBeGreaterThan(2);
    expect(first.pages.at(-1)!.sweep!.complete).toBe(true);

    await h.advance(3600);
    const target = direct.find((c) => c.type === 'trigger' && c.isActive === false);
    expect(target).toBeDefined();
    await ok(h, `/rest/asset/v1/smartCampaign/${target!.id}/activate.json`, { method: 'POST' });

    const next = await h.engine.run(smartCampaignsSync, { options: { maxReturn: 20 } });
    expect(next.error).toBeUndefined();
    expect(next.calls.every((c) => c.includes('earliestUpdatedAt='))).toBe(true);
    expect(next.added).toEqual({});
    expect(next.updated).toEqual({ SmartCampaign: [String(target!.id)] });
    expect(h.engine.live('SmartCampaign').get(String(target!.id))).toMatchObject({
      isActive: true,
      status: 'Active',
    });
  });
});
