import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDashboardAssets } from './assets.ts';
import { startTestTether, type TestTether } from '../server/testing.ts';

describe('buildDashboardAssets', () => {
  it('bundles the page, the script and the styles into a map', async () => {
    const assets = await buildDashboardAssets();
    expect([...assets.keys()].sort()).toEqual(['/', '/app.js', '/index.html', '/styles.css']);
    expect(assets.get('/')!.type).toBe('text/html; charset=utf-8');
    expect(assets.get('/app.js')!.type).toBe('text/javascript; charset=utf-8');
    expect(assets.get('/styles.css')!.type).toBe('text/css; charset=utf-8');

    const html = String(assets.get('/')!.body);
    // Relative URLs: the page works wherever `/dashboard/` is mounted.
    expect(html).toContain('<script type="module" src="app.js"></script>');
    expect(html).toContain('href="styles.css"');
    expect(html).toContain('name="referrer" content="no-referrer"');
    expect(html).not.toMatch(/<script>|style="/); // nothing inline: the strict CSP applies

    const js = String(assets.get('/app.js')!.body);
    expect(js.length).toBeGreaterThan(1000);
    expect(js).not.toMatch(/\bimport\s*[{"']|\brequire\(|process\.env|innerHTML|localStorage/);
    expect(js).toContain('sessionStorage');

    expect(String(assets.get('/styles.css')!.body)).toContain('prefers-color-scheme');
    // Built once per process.
    expect(await buildDashboardAssets()).toBe(assets);
  });
});

describe('GET /dashboard/ (served by Tether)', () => {
  let t: TestTether;
  beforeAll(async () => {
    t = await startTestTether();
  });
  afterAll(async () => {
    await t.close();
  });

  it('serves the page, script and styles with their types and a strict CSP, without auth', async () => {
    for (const [path, type] of [
      ['/dashboard/', 'text/html; charset=utf-8'],
      ['/dashboard/index.html', 'text/html; charset=utf-8'],
      ['/dashboard/app.js', 'text/javascript; charset=utf-8'],
      ['/dashboard/styles.css', 'text/css; charset=utf-8'],
    ] as const) {
      const res = await fetch(t.url + path);
      expect(res.status, path).toBe(200);
      expect(res.headers.get('content-type'), path).toBe(type);
      const csp = res.headers.get('content-security-policy') ?? '';
      expect(csp).toContain("default-src 'self'");
      expect(csp).toContain("script-src 'self'");
      expect(csp).toContain("connect-src 'self'");
      expect(csp).toContain("frame-ancestors 'none'");
      expect(csp).not.toContain('unsafe-inline');
      expect(res.headers.get('x-frame-options')).toBe('DENY');
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('referrer-policy')).toBe('no-referrer');
      expect(res.headers.get('cache-control')).toBe('no-cache');
      const body = await res.text();
      expect(body.length).toBeGreaterThan(100);
      expect(body).not.toContain(t.secretKey);
    }
  });

  it('redirects /dashboard to /dashboard/', async () => {
    const res = await fetch(`${t.url}/dashboard`, { redirect: 'manual' });
    expect(res.status).toBe(301);
    expect(res.headers.get('location')).toBe('/dashboard/');
  });

  it('answers an unknown asset with the JSON 404 of the API', async () => {
    const res = await fetch(`${t.url}/dashboard/nope.js`);
    expect(res.status).toBe(404);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(typeof body.error.code).toBe('string');
    expect(body.error.message).not.toBe('');
  });

  it('leaves the Connect UI as it was', async () => {
    const res = await fetch(`${t.url}/connect/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-security-policy')).toContain('frame-ancestors *');
  });
});
