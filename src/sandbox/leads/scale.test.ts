import { describe, expect, it } from 'vitest';
import { startTestSandbox, type MarketoBody } from '../testing.ts';
import { unlimited } from '../index.ts';

type Lead = Record<string, unknown> & { id: number };
interface Body extends MarketoBody {
  result?: Lead[];
}

describe('a million generated leads', () => {
  it('seeds instantly, reads any lead, and stays small in memory', async () => {
    const heapBefore = process.memoryUsage().heapUsed;
    const started = performance.now();
    const sb = await startTestSandbox({ seed: { leads: 1_000_000, seed: 99 }, limits: unlimited() });
    try {
      const seeded = performance.now() - started;
      const inst = sb.sandbox.instances.get(sb.munchkinId)!;
      const t0 = performance.now();
      inst.leads.seed({
        leads: 1_000_000,
        seed: 99,
        asOf: inst.leads.seedInfo.asOf,
        activitiesPerLead: 3,
        spanDays: 730,
      });
      // The lead database itself does no per-lead work when seeding.
      expect(performance.now() - t0).toBeLessThan(50);
      // Whole sandbox start (server, instance, every module's seed): well under a second.
      expect(seeded).toBeLessThan(1000);

      const body = await sb.apiJson<Body>(
        '/rest/v1/lead/999999.json?fields=email,company,createdAt,updatedAt',
      );
      expect(body.success).toBe(true);
      const lead = body.result![0]!;
      expect(lead.id).toBe(999_999);
      expect(lead.email).toMatch(/\.999999@/);
      const last = (await sb.apiJson<Body>('/rest/v1/lead/1000000.json')).result!;
      expect(last).toHaveLength(1);
      expect((await sb.apiJson<Body>('/rest/v1/lead/1000001.json')).result).toEqual([]);

      // O(1) email lookup on the generated data, and a custom-field scan over the whole range.
      const byEmail = await sb.apiJson<Body>(
        `/rest/v1/leads.json?filterType=email&filterValues=${encodeURIComponent(lead.email as string)}`,
      );
      expect(byEmail.result!.map((l) => l.id)).toEqual([999_999]);
      const none = await sb.apiJson<Body>(
        '/rest/v1/leads.json?filterType=productInterest&filterValues=Nothing',
      );
      expect(none).toMatchObject({ success: true, result: [] });

      // A change and a created lead land in the overlay; reads after them still work.
      const res = await sb.apiJson<Body>('/rest/v1/leads.json', {
        method: 'POST',
        json: {
          input: [{ email: lead.email, company: 'Overlay Inc.' }, { email: 'million.plus.one@example.com' }],
        },
      });
      expect(res.result).toEqual([
        { id: 999_999, status: 'updated' },
        { id: 1_000_001, status: 'created' },
      ]);
      expect((await sb.apiJson<Body>('/rest/v1/lead/999999.json?fields=company')).result![0]!.company).toBe(
        'Overlay Inc.',
      );

      expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(50 * 1024 * 1024);
    } finally {
      await sb.close();
    }
  });
});
