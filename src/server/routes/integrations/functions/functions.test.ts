/**
 * The functions routes (`/integrations/{key}/functions[/{name}[/code]]`), `GET /providers/{p}/templates`
 * and `POST /integrations/quickstart` over real HTTP against a real Tether and the sandbox.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestTether, type TestTether } from '../../../testing.ts';
import { AUTH_CODES, authFailures } from '../../connections/test-helpers.ts';
import { MARKETO_SYNCS } from '../../../../marketo/models/index.ts';
import { MARKETO_ACTIONS } from '../../../../marketo/actions/index.ts';
import { actionInputJsonSchema } from '../../../../engine/actions/registry.ts';
import { formatFrequency } from '../../../../engine/sync/frequency.ts';

type Json = Record<string, unknown>;
interface ErrorBody {
  error: { code: string; message: string; payload?: unknown };
}
interface ListBody {
  data: Json[];
  pagination: { total: number; page: number; limit: number };
}

async function json<T = Json>(res: Response): Promise<T> {
  return (await res.json()) as T;
}

const ALL_NAMES = [...MARKETO_SYNCS, ...MARKETO_ACTIONS].map((d) => d.name).sort();
const TOTAL = ALL_NAMES.length;

describe('functions API', () => {
  let t: TestTether;
  let createdAt: string;
  beforeAll(async () => {
    t = await startTestTether();
    createdAt = (await json<{ data: { created_at: string } }>(await t.api('/integrations/marketo'))).data
      .created_at;
  });
  afterAll(() => t.close());

  it.each([
    ['GET', '/integrations/marketo/functions'],
    ['GET', '/integrations/marketo/functions/leads'],
    ['GET', '/integrations/marketo/functions/leads/code'],
    ['DELETE', '/integrations/marketo/functions/leads?type=sync'],
    ['GET', '/providers/marketo/templates'],
    ['POST', '/integrations/quickstart'],
  ])('%s %s answers the 401 codes of auth.ts', async (method, path) => {
    const results = await authFailures(t, method, path);
    expect(results.map((r) => r.status)).toEqual([401, 401, 401, 401]);
    expect(results.map((r) => r.code)).toEqual(AUTH_CODES);
  });

  describe('GET /integrations/{key}/functions', () => {
    it('lists every built-in sync and action, sorted by name, ids in that order', async () => {
      // The default page: Nango's 20 first.
      const first = await t.api('/integrations/marketo/functions');
      expect(first.status).toBe(200);
      const page = await json<ListBody>(first);
      expect(page.pagination).toEqual({ total: TOTAL, page: 0, limit: 20 });
      expect(page.data.map((f) => f.name)).toEqual(ALL_NAMES.slice(0, 20));
      const res = await t.api('/integrations/marketo/functions?limit=100');
      expect(res.status).toBe(200);
      const body = await json<ListBody>(res);
      expect(body.pagination).toEqual({ total: TOTAL, page: 0, limit: 100 });
      expect(body.data.map((f) => f.name)).toEqual(ALL_NAMES);
      expect(body.data.map((f) => f.id)).toEqual(ALL_NAMES.map((_n, i) => i + 1));
      for (const def of MARKETO_SYNCS) {
        const f = body.data.find((x) => x.name === def.name)!;
        expect(f).toEqual({
          id: f.id,
          type: 'sync',
          name: def.name,
          description: def.description,
          scopes: [],
          returns: def.models,
          json_schema: null,
          runs: formatFrequency(def.defaultFrequencySeconds),
          auto_start: true,
          track_deletes: def.mode === 'full',
          enabled: true,
          last_deployed: createdAt,
          source: 'catalog',
        });
      }
      for (const def of MARKETO_ACTIONS) {
        const f = body.data.find((x) => x.name === def.name)!;
        expect(f).toEqual({
          id: f.id,
          type: 'action',
          name: def.name,
          description: def.description,
          scopes: [],
          returns: [],
          json_schema: { input: actionInputJsonSchema(def) },
          enabled: true,
          last_deployed: createdAt,
          source: 'catalog',
        });
      }
    });

    it('filters by type and by a case-insensitive search of name or description', async () => {
      const actions = await json<ListBody>(await t.api('/integrations/marketo/functions?type=action'));
      expect(actions.data.map((f) => f.name)).toEqual(MARKETO_ACTIONS.map((d) => d.name).sort());
      expect(actions.pagination.total).toBe(MARKETO_ACTIONS.length);

      const onEvent = await json<ListBody>(await t.api('/integrations/marketo/functions?type=on-event'));
      expect(onEvent).toEqual({ data: [], pagination: { total: 0, page: 0, limit: 20 } });

      const byName = await json<ListBody>(
        await t.api('/integrations/marketo/functions?type=sync&search=%20LEADS%20'),
      );
      expect(byName.data.map((f) => f.name)).toEqual(
        MARKETO_SYNCS.filter((d) => d.name.includes('leads') || d.description.toLowerCase().includes('leads'))
          .map((d) => d.name)
          .sort(),
      );
      expect(byName.data.map((f) => f.name)).toContain('deleted-leads');

      // A word only a description holds (upsert-leads': "not with createDuplicate").
      const byDescription = await json<ListBody>(
        await t.api('/integrations/marketo/functions?search=CREATEDUPLICATE'),
      );
      expect(byDescription.data.map((f) => f.name)).toEqual(['upsert-leads']);

      const none = await json<ListBody>(await t.api('/integrations/marketo/functions?search=zzz-nothing'));
      expect(none).toEqual({ data: [], pagination: { total: 0, page: 0, limit: 20 } });
    });

    it('pages from 0 with limit (total counts every match)', async () => {
      const p0 = await json<ListBody>(await t.api('/integrations/marketo/functions?limit=5'));
      const p1 = await json<ListBody>(await t.api('/integrations/marketo/functions?page=1&limit=5'));
      expect(p0.data.map((f) => f.name)).toEqual(ALL_NAMES.slice(0, 5));
      expect(p1.data.map((f) => f.name)).toEqual(ALL_NAMES.slice(5, 10));
      expect(p1.pagination).toEqual({ total: TOTAL, page: 1, limit: 5 });
      const past = await json<ListBody>(await t.api('/integrations/marketo/functions?page=9&limit=100'));
      expect(past).toEqual({ data: [], pagination: { total: TOTAL, page: 9, limit: 100 } });
    });

    it.each([
      'page=-1',
      'page=abc',
      'page=',
      'page=1.5',
      'limit=0',
      'limit=101',
      'limit=1e1',
      'type=webhook',
      'type=sync&type=action',
      'search=',
      'search=%20',
      `search=${'x'.repeat(256)}`,
      'extra=1',
    ])('refuses ?%s with 400 invalid_query_params', async (q) => {
      const res = await t.api(`/integrations/marketo/functions?${q}`);
      expect(res.status).toBe(400);
      expect((await json<ErrorBody>(res)).error.code).toBe('invalid_query_params');
    });

    it('404 not_found for an unknown integration; 400 for a bad key', async () => {
      const res = await t.api('/integrations/nope/functions');
      expect(res.status).toBe(404);
      expect((await json<ErrorBody>(res)).error).toEqual({
        code: 'not_found',
        message: 'Integration "nope" does not exist',
      });
      const bad = await t.api(`/integrations/${'k'.repeat(300)}/functions`);
      expect(bad.status).toBe(400);
      expect((await json<ErrorBody>(bad)).error.code).toBe('invalid_uri_params');
    });
  });

  describe('GET /integrations/{key}/functions/{name}', () => {
    it('answers the function as listed', async () => {
      const list = await json<ListBody>(await t.api('/integrations/marketo/functions?limit=100'));
      for (const name of ['leads', 'upsert-leads']) {
        const res = await t.api(`/integrations/marketo/functions/${name}`);
        expect(res.status).toBe(200);
        expect(await json(res)).toEqual({ data: list.data.find((f) => f.name === name) });
      }
      const typed = await t.api('/integrations/marketo/functions/leads?type=sync');
      expect(((await json<{ data: Json }>(typed)).data as Json).type).toBe('sync');
    });

    it('404 for an unknown name or the wrong type; 400 for a bad name or type', async () => {
      for (const path of ['functions/nope', 'functions/leads?type=action', 'functions/leads?type=on-event']) {
        const res = await t.api(`/integrations/marketo/${path}`);
        expect(res.status).toBe(404);
        expect((await json<ErrorBody>(res)).error.code).toBe('not_found');
      }
      const badName = await t.api('/integrations/marketo/functions/a.b');
      expect(badName.status).toBe(400);
      expect((await json<ErrorBody>(badName)).error.code).toBe('invalid_uri_params');
      const badType = await t.api('/integrations/marketo/functions/leads?type=x');
      expect(badType.status).toBe(400);
      expect((await json<ErrorBody>(badType)).error.code).toBe('invalid_query_params');
      const unknownIntegration = await t.api('/integrations/nope/functions/leads');
      expect(unknownIntegration.status).toBe(404);
    });
  });

  describe('GET /integrations/{key}/functions/{name}/code', () => {
    it('404 not_found naming where the built-in source lives', async () => {
      const sync = await t.api('/integrations/marketo/functions/leads/code');
      expect(sync.status).toBe(404);
      const syncError = (await json<ErrorBody>(sync)).error;
      expect(syncError.code).toBe('not_found');
      expect(syncError.message).toContain('built into Tether');
      expect(syncError.message).toContain('src/marketo/models/leads.ts');

      const action = await t.api('/integrations/marketo/functions/upsert-leads/code?type=action');
      expect(action.status).toBe(404);
      expect((await json<ErrorBody>(action)).error.message).toContain('src/marketo/actions/upsert-leads.ts');
    });

    it('404 for an unknown function, 400 for on-event or another key', async () => {
      const unknown = await t.api('/integrations/marketo/functions/nope/code');
      expect(unknown.status).toBe(404);
      expect((await json<ErrorBody>(unknown)).error.message).not.toContain('src/');
      for (const q of ['type=on-event', 'format=ts']) {
        const res = await t.api(`/integrations/marketo/functions/leads/code?${q}`);
        expect(res.status).toBe(400);
        expect((await json<ErrorBody>(res)).error.code).toBe('invalid_query_params');
      }
    });
  });

  describe('DELETE /integrations/{key}/functions/{name}', () => {
    it('refuses to delete a built-in function (400 function_managed_by_deploy); it stays listed', async () => {
      const res = await t.api('/integrations/marketo/functions/leads?type=sync', { method: 'DELETE' });
      expect(res.status).toBe(400);
      const error = (await json<ErrorBody>(res)).error;
      expect(error.code).toBe('function_managed_by_deploy');
      expect(error.message).toContain('built into Tether');
      expect(error.message).toContain('POST /sync/pause');

      const action = await t.api('/integrations/marketo/functions/merge-leads?type=action', {
        method: 'DELETE',
      });
      expect(action.status).toBe(400);
      expect((await json<ErrorBody>(action)).error.code).toBe('function_managed_by_deploy');

      expect((await t.api('/integrations/marketo/functions/leads')).status).toBe(200);
    });

    it('400 without a sync|action type, 404 for an unknown name', async () => {
      for (const q of ['', '?type=on-event', '?type=']) {
        const res = await t.api(`/integrations/marketo/functions/leads${q}`, { method: 'DELETE' });
        expect(res.status).toBe(400);
        expect((await json<ErrorBody>(res)).error.code).toBe('invalid_query_params');
      }
      const unknown = await t.api('/integrations/marketo/functions/nope?type=sync', { method: 'DELETE' });
      expect(unknown.status).toBe(404);
      const wrongType = await t.api('/integrations/marketo/functions/leads?type=action', {
        method: 'DELETE',
      });
      expect(wrongType.status).toBe(404);
    });
  });

  describe('GET /providers/{provider}/templates', () => {
    it('lists the provider functions as templates (no availability), in id order', async () => {
      const res = await t.api('/providers/marketo/templates');
      expect(res.status).toBe(200);
      const templates = (await json<{ data: Json[] }>(res)).data;
      const listed = (await json<ListBody>(await t.api('/integrations/marketo/functions?limit=100'))).data;
      expect(templates).toEqual(
        listed.map(({ id: _id, enabled: _e, last_deployed: _l, source: _s, ...f }) => f),
      );
    });

    it('404 not_found for an unknown provider, 400 for a query', async () => {
      const res = await t.api('/providers/salesforce/templates');
      expect(res.status).toBe(404);
      expect((await json<ErrorBody>(res)).error.code).toBe('not_found');
      const q = await t.api('/providers/marketo/templates?x=1');
      expect(q.status).toBe(400);
    });
  });

  describe('POST /integrations/quickstart', () => {
    it('creates an integration without credentials, whose functions are then listed', async () => {
      const res = await t.api('/integrations/quickstart', {
        method: 'POST',
        json: {
          provider: 'marketo',
          unique_key: 'mkto-quick',
          display_name: 'Quick',
          forward_webhooks: false,
        },
      });
      expect(res.status).toBe(200);
      const { data } = await json<{ data: Json }>(res);
      expect(data).toMatchObject({
        unique_key: 'mkto-quick',
        provider: 'marketo',
        display_name: 'Quick',
        forward_webhooks: false,
        logo: `${t.url}/images/template-logos/marketo.svg`,
      });
      const got = await json<{ data: Json }>(await t.api('/integrations/mkto-quick'));
      expect(got.data).toEqual(data);
      const fns = await json<ListBody>(await t.api('/integrations/mkto-quick/functions?limit=1'));
      expect(fns.pagination.total).toBe(TOTAL);
      expect(fns.data[0]!.last_deployed).toBe(data.created_at);
    });

    it.each([
      [{ provider: 'marketo', unique_key: 'marketo' }, 'Unique key already exists'],
      [{ provider: 'nope', unique_key: 'qs-x' }, 'Invalid provider'],
      [
        {
          provider: 'marketo',
          unique_key: 'qs-y',
          credentials: { type: 'OAUTH2', client_id: 'a', client_secret: 'b' },
        },
        undefined,
      ],
      [{ unique_key: 'qs-z' }, undefined],
      [{ provider: 'marketo', unique_key: 'bad key!' }, undefined],
    ])('400 invalid_body for %j', async (body, message) => {
      const res = await t.api('/integrations/quickstart', { method: 'POST', json: body });
      expect(res.status).toBe(400);
      const error = (await json<ErrorBody>(res)).error;
      expect(error.code).toBe('invalid_body');
      if (message) expect(error.message).toBe(message);
    });
  });
});
