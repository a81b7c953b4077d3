import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestTether, type TestTether } from '../../testing.ts';

describe('GET /images/template-logos/{name}.svg', () => {
  let t: TestTether;
  beforeAll(async () => {
    t = await startTestTether();
  });
  afterAll(() => t.close());

  it('serves the Marketo logo as SVG, without auth, at the URL integrations and providers link to', async () => {
    const integration = (await (await t.api('/integrations/marketo')).json()) as { data: { logo: string } };
    const provider = (await (await t.api('/providers/marketo')).json()) as { data: { logo_url: string } };
    expect(provider.data.logo_url).toBe(integration.data.logo);
    const res = await fetch(integration.data.logo);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('image/svg+xml; charset=utf-8');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    const svg = await res.text();
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg).toContain('#5c4c9f');
    expect(svg).not.toMatch(/<script|href=/i);
  });

  it.each(['salesforce.svg', 'marketo.png', 'marketo', '..%2Fsecret.svg', 'constructor.svg'])(
    '%s → 404',
    async (name) => {
      const res = await fetch(`${t.url}/images/template-logos/${name}`);
      expect(res.status).toBe(404);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('not_found');
    },
  );

  it('only GET', async () => {
    const res = await fetch(`${t.url}/images/template-logos/marketo.svg`, { method: 'POST' });
    expect(res.status).toBe(405);
  });
});
