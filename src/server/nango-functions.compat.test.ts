import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Nango } from '@nangohq/node';
import { startTestTether, type TestTether } from './testing.ts';
import { MARKETO_SYNCS } from '../marketo/models/index.ts';
import { MARKETO_ACTIONS } from '../marketo/actions/index.ts';

/**
 * `@nangohq/node` 0.71's functions and templates calls, and `createQuickstartIntegration`, through the SDK
 * itself (its paths, query keys and bodies) against a real Tether and the Marketo sandbox.
 */

interface HttpError {
  response?: { status: number; data: { error?: { code?: string; message?: string } } };
}

async function failure(
  p: Promise<unknown>,
): Promise<{ status: number | undefined; code: string | undefined; message: string | undefined }> {
  try {
    await p;
  } catch (err) {
    const e = err as HttpError;
    return {
      status: e.response?.status,
      code: e.response?.data.error?.code,
      message: e.response?.data.error?.message,
    };
  }
  throw new Error('expected the call to fail');
}

const ALL_NAMES = [...MARKETO_SYNCS, ...MARKETO_ACTIONS].map((d) => d.name).sort();

describe('@nangohq/node 0.71 functions API against Tether', () => {
  let t: TestTether;
  let nango: Nango;

  beforeAll(async () => {
    t = await startTestTether();
    nango = new Nango({ host: t.url, secretKey: t.secretKey });
  });
  afterAll(() => t.close());

  it('listFunctions: every built-in function, then filters and pages', async () => {
    const first = await nango.listFunctions({ uniqueKey: 'marketo' });
    expect(first.pagination).toEqual({ total: ALL_NAMES.length, page: 0, limit: 20 });
    expect(first.data.map((f) => f.name)).toEqual(ALL_NAMES.slice(0, 20));
    const all = await nango.listFunctions({ uniqueKey: 'marketo' }, { limit: 100 });
    expect(all.pagination).toEqual({ total: ALL_NAMES.length, page: 0, limit: 100 });
    expect(all.data.map((f) => f.name)).toEqual(ALL_NAMES);
    for (const f of all.data) expect(f).toMatchObject({ enabled: true, source: 'catalog' });

    const syncs = await nango.listFunctions({ uniqueKey: 'marketo' }, { type: 'sync' });
    expect(syncs.data.map((f) => f.name)).toEqual(MARKETO_SYNCS.map((d) => d.name).sort());
    expect(syncs.data.every((f) => f.type === 'sync')).toBe(true);

    const leads = await nango.listFunctions({ uniqueKey: 'marketo' }, { type: 'action', search: 'Leads' });
    expect(leads.data.map((f) => f.name)).toContain('upsert-leads');
    expect(leads.data.every((f) => f.type === 'action')).toBe(true);

    const page = await nango.listFunctions({ uniqueKey: 'marketo' }, { page: 1, limit: 4 });
    expect(page.data.map((f) => f.name)).toEqual(ALL_NAMES.slice(4, 8));
    expect(page.pagination).toEqual({ total: ALL_NAMES.length, page: 1, limit: 4 });

    expect(await failure(nango.listFunctions({ uniqueKey: 'marketo' }, { limit: 500 }))).toMatchObject({
      status: 400,
      code: 'invalid_query_params',
    });
    expect(await failure(nango.listFunctions({ uniqueKey: 'nope' }))).toMatchObject({
      status: 404,
      code: 'not_found',
    });
  });

  it('getFunction: a sync and an action, with and without type', async () => {
    const sync = await nango.getFunction({ uniqueKey: 'marketo', name: 'leads' });
    expect(sync.data).toMatchObject({ name: 'leads', type: 'sync', auto_start: true, returns: ['Lead'] });
    const action = await nango.getFunction({ uniqueKey: 'marketo', name: 'add-to-list' }, { type: 'action' });
    expect(action.data).toMatchObject({ name: 'add-to-list', type: 'action' });
    expect(action.data.type === 'action' && action.data.json_schema).toBeTruthy();
    expect(await failure(nango.getFunction({ uniqueKey: 'marketo', name: 'nope' }))).toMatchObject({
      status: 404,
      code: 'not_found',
    });
  });

  it('getFunctionCode: 404 saying where the built-in source lives', async () => {
    const res = await failure(
      nango.getFunctionCode({ uniqueKey: 'marketo', name: 'leads' }, { type: 'sync' }),
    );
    expect(res).toMatchObject({ status: 404, code: 'not_found' });
    expect(res.message).toContain('src/marketo/models/leads.ts');
  });

  it('deleteFunction: refused for a built-in function', async () => {
    const res = await failure(
      nango.deleteFunction({ uniqueKey: 'marketo', name: 'leads' }, { type: 'sync' }),
    );
    expect(res).toMatchObject({ status: 400, code: 'function_managed_by_deploy' });
    expect(res.message).toContain('POST /sync/pause');
    expect(
      await failure(nango.deleteFunction({ uniqueKey: 'marketo', name: 'nope' }, { type: 'action' })),
    ).toMatchObject({ status: 404, code: 'not_found' });
  });

  it('getProviderTemplates: the provider functions', async () => {
    const res = await nango.getProviderTemplates({ provider: 'marketo' });
    expect(res.data.map((f) => f.name)).toEqual(ALL_NAMES);
    expect(await failure(nango.getProviderTemplates({ provider: 'nope' }))).toMatchObject({
      status: 404,
      code: 'not_found',
    });
  });

  it('createQuickstartIntegration, then listIntegrations and listFunctions see it', async () => {
    const res = await nango.createQuickstartIntegration({
      provider: 'marketo',
      unique_key: 'marketo-quickstart',
      display_name: 'Marketo (quickstart)',
    });
    expect(res.data).toMatchObject({
      unique_key: 'marketo-quickstart',
      provider: 'marketo',
      display_name: 'Marketo (quickstart)',
      forward_webhooks: true,
    });
    const { configs } = await nango.listIntegrations();
    expect(configs.map((c) => c.unique_key).sort()).toEqual(['marketo', 'marketo-quickstart']);
    const fns = await nango.listFunctions({ uniqueKey: 'marketo-quickstart' }, { limit: 1 });
    expect(fns.data[0]).toMatchObject({ name: ALL_NAMES[0], last_deployed: res.data.created_at });

    expect(
      await failure(
        nango.createQuickstartIntegration({ provider: 'marketo', unique_key: 'marketo-quickstart' }),
      ),
    ).toMatchObject({ status: 400, code: 'invalid_body' });
  });
});
