import { describe, expect, it } from 'vitest';
import { buildConnectUiAssets } from './assets.ts';

describe('buildConnectUiAssets', () => {
  it('bundles the page, the script and the styles into a map', async () => {
    const assets = await buildConnectUiAssets();
    expect([...assets.keys()].sort()).toEqual(['/', '/app.js', '/index.html', '/styles.css']);
    expect(assets.get('/')!.type).toBe('text/html; charset=utf-8');
    expect(assets.get('/app.js')!.type).toBe('text/javascript; charset=utf-8');
    expect(assets.get('/styles.css')!.type).toBe('text/css; charset=utf-8');

    const html = String(assets.get('/')!.body);
    // Relative URLs: the page works wherever `/connect/` is mounted.
    expect(html).toContain('<script type="module" src="app.js"></script>');
    expect(html).toContain('href="styles.css"');
    expect(html).toContain('name="referrer" content="no-referrer"');
    expect(html).not.toMatch(/<script>|style="/); // nothing inline: a strict CSP can apply

    const js = String(assets.get('/app.js')!.body);
    expect(js.length).toBeGreaterThan(1000);
    expect(js).not.toMatch(/\bimport\s*[{"']|\brequire\(|process\.env/);
    // The form is driven by provider data: no Marketo field names in the code.
    expect(js).not.toMatch(/endpointURL|identityURL/);

    const css = String(assets.get('/styles.css')!.body);
    expect(css).toContain('prefers-color-scheme');
  });
});
