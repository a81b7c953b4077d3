import { describe, expect, it } from 'vitest';
import { DEFAULT_ROUTE, formatRoute, parseRoute, sectionOf, type Route } from './routes.ts';

describe('dashboard routes', () => {
  it('reads each screen from the hash', () => {
    expect(parseRoute('')).toEqual(DEFAULT_ROUTE);
    expect(parseRoute('#/')).toEqual(DEFAULT_ROUTE);
    expect(parseRoute('#/integrations')).toEqual({ name: 'integrations' });
    expect(parseRoute('#/connect-link')).toEqual({ name: 'connect-link' });
    expect(parseRoute('#/connections?search=abc&page=2')).toEqual({
      name: 'connections',
      search: 'abc',
      page: 2,
    });
    expect(parseRoute('#/connections/marketo/c-1')).toEqual({
      name: 'connection',
      integration: 'marketo',
      connectionId: 'c-1',
    });
    expect(parseRoute('#/connections/marketo/c-1/runs/42')).toEqual({
      name: 'run',
      integration: 'marketo',
      connectionId: 'c-1',
      runId: '42',
    });
  });

  it('round-trips ids with reserved characters', () => {
    const routes: Route[] = [
      { name: 'connection', integration: 'my key', connectionId: 'a/b?c#d%e&f' },
      { name: 'run', integration: 'mkto', connectionId: 'ü ñ', runId: '7' },
      { name: 'connections', search: 'a&b=c', page: 3 },
      { name: 'connections', search: '', page: 0 },
      { name: 'integrations' },
      { name: 'connect-link' },
    ];
    for (const r of routes) expect(parseRoute(formatRoute(r))).toEqual(r);
    expect(formatRoute({ name: 'connections', search: '', page: 0 })).toBe('#/connections');
  });

  it('answers not-found for anything else, never throws', () => {
    for (const hash of [
      '#/nope',
      '#/connections/x',
      '#/connections/a/b/runs/0',
      '#/connections/a/b/runs/x',
      '#/connections/%E0%A4%A/b',
      '#/integrations/extra',
    ]) {
      expect(parseRoute(hash).name, hash).toBe('not-found');
    }
    expect(parseRoute('#/connections?page=-1')).toEqual({ name: 'connections', search: '', page: 0 });
    expect(parseRoute('#/connections?page=1.5')).toEqual({ name: 'connections', search: '', page: 0 });
  });

  it('maps routes to their navigation entry', () => {
    expect(sectionOf({ name: 'run', integration: 'a', connectionId: 'b', runId: '1' })).toBe('connections');
    expect(sectionOf({ name: 'integrations' })).toBe('integrations');
    expect(sectionOf({ name: 'not-found', hash: 'x' })).toBeNull();
  });
});
