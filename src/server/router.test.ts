import { describe, expect, it } from 'vitest';
import { ApiError } from './errors.ts';
import { Router, type RouteDef } from './router.ts';

const route = (method: string, path: string): RouteDef => ({
  method,
  path,
  auth: 'none',
  handler: () => ({ body: `${method} ${path}` }),
});

describe('Router', () => {
  const router = new Router()
    .add(route('GET', '/connections/metadata'))
    .add(route('GET', '/connections/:connectionId'))
    .add(route('*', '/proxy/*'))
    .add(route('GET', '/:any/special'));

  const matched = (method: string, path: string) => {
    const { route: r, params } = router.match(method, path);
    return { path: r.path, params };
  };

  it('tries only the routes that can match the first segment, in the order added', () => {
    expect(matched('GET', '/connections/metadata').path).toBe('/connections/metadata');
    expect(matched('GET', '/connections/abc')).toEqual({
      path: '/connections/:connectionId',
      params: { connectionId: 'abc' },
    });
    expect(matched('POST', '/proxy/rest/v1/leads.json')).toEqual({
      path: '/proxy/*',
      params: { rest: 'rest/v1/leads.json' },
    });
    // A route whose first segment is a parameter is a candidate for every path.
    expect(matched('GET', '/proxy/special').path).toBe('/proxy/*');
    expect(matched('GET', '/other/special')).toEqual({ path: '/:any/special', params: { any: 'other' } });
    expect(matched('GET', '/connections/special').path).toBe('/connections/:connectionId');
  });

  it('answers 405 for a known path with another method, 404 for an unknown path', () => {
    const status = (method: string, path: string) => {
      try {
        router.match(method, path);
        return 200;
      } catch (err) {
        return (err as ApiError).status;
      }
    };
    expect(status('DELETE', '/connections/metadata')).toBe(405);
    expect(status('GET', '/nothing')).toBe(404);
    expect(status('GET', '/proxy')).toBe(404);
    expect(status('GET', '/')).toBe(404);
    expect(status('GET', '/connections/metadata/')).toBe(200);
  });
});
