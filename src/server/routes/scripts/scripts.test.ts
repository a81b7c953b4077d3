/**
 * `GET /scripts/config` (Nango's `getScriptsConfig`): the syncs each integration's connections get, in
 * Nango's `StandardNangoConfig` shape and in its OpenAI function format. A real Tether, @nangohq/node.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Nango } from '@nangohq/node';
import { MARKETO_SYNCS } from '../../../marketo/models/index.ts';
import { MARKETO_ACTIONS } from '../../../marketo/actions/index.ts';
import { actionInputJsonSchema } from '../../../engine/actions/registry.ts';
import { startTestTether, type TestTether } from '../../testing.ts';

type Json = Record<string, unknown>;

describe('GET /scripts/config', () => {
  let t: TestTether;
  beforeAll(async () => {
    t = await startTestTether();
  });
  afterAll(async () => {
    await t?.close();
  });

  it('lists the syncs of each integration as Nango describes deployed scripts', async () => {
    const res = await t.api('/scripts/config');
    expect(res.status).toBe(200);
    const configs = (await res.json()) as Json[];
    expect(configs).toHaveLength(1);
    const [marketo] = configs;
    expect(marketo).toMatchObject({ providerConfigKey: 'marketo', provider: 'marketo' });
    const syncs = marketo!.syncs as Json[];
    expect(syncs.map((s) => s.name)).toEqual(MARKETO_SYNCS.map((d) => d.name));
    for (const def of MARKETO_SYNCS) {
      const s = syncs.find((x) => x.name === def.name)!;
      expect(s).toMatchObject({
        type: 'sync',
        auto_start: true,
        description: def.description,
        returns: def.models,
        sync_type: def.mode,
        track_deletes: def.mode === 'full',
        pre_built: true,
      });
      expect(s.runs).toMatch(/^every \d+[smhd]$/);
      expect((s.models as Json[]).map((m) => m.name)).toEqual(def.models);
    }
    const actions = marketo!.actions as Json[];
    expect(actions.map((a) => a.name)).toEqual(MARKETO_ACTIONS.map((d) => d.name));
    for (const def of MARKETO_ACTIONS) {
      const a = actions.find((x) => x.name === def.name)!;
      expect(a).toMatchObject({
        type: 'action',
        description: def.description,
        endpoints: [{ method: 'POST', path: '/action/trigger', group: def.name }],
        pre_built: true,
        json_schema: { input: actionInputJsonSchema(def) },
      });
    }
    // The same through the SDK.
    const nango = new Nango({ secretKey: t.tether.secretKey, host: t.url });
    expect(await nango.getScriptsConfig()).toEqual(configs);
  });

  it('format=openai: one function per sync, without parameters, then one per action with its input schema', async () => {
    const res = await t.api('/scripts/config?format=openai');
    expect(res.status).toBe(200);
    const body = (await res.json()) as { data: Json[] };
    expect(body.data.map((f) => f.name)).toEqual([
      ...MARKETO_SYNCS.map((d) => d.name),
      ...MARKETO_ACTIONS.map((d) => d.name),
    ]);
    for (const def of MARKETO_ACTIONS) {
      const fn = body.data.find((f) => f.name === def.name)!;
      expect(fn).toEqual({
        name: def.name,
        description: def.description,
        parameters: actionInputJsonSchema(def),
      });
      expect((fn.parameters as Json).type).toBe('object');
    }
    expect(body.data[0]).toEqual({
      name: MARKETO_SYNCS[0]!.name,
      description: MARKETO_SYNCS[0]!.description,
      parameters: { type: 'object', properties: {}, required: [] },
    });
  });

  it("says each function's settings: a disabled action, a sync not auto-started", async () => {
    const patch = (name: string, body: Json) =>
      t.api(`/integrations/marketo/functions/${name}`, { method: 'PATCH', json: body });
    const [sync, other] = MARKETO_SYNCS;
    const [action] = MARKETO_ACTIONS;
    try {
      expect((await patch(sync!.name, { auto_start: false })).status).toBe(200);
      expect((await patch(action!.name, { enabled: false })).status).toBe(200);
      const [marketo] = (await (await t.api('/scripts/config')).json()) as Json[];
      const syncs = marketo!.syncs as Json[];
      const actions = marketo!.actions as Json[];
      expect(syncs.find((s) => s.name === sync!.name)).toMatchObject({ auto_start: false, enabled: true });
      expect(syncs.find((s) => s.name === other!.name)).toMatchObject({ auto_start: true, enabled: true });
      expect(actions.find((a) => a.name === action!.name)).toMatchObject({ enabled: false });
    } finally {
      await patch(sync!.name, { auto_start: true });
      await patch(action!.name, { enabled: true });
    }
  });

  it('refuses a bad format or an unknown parameter, and needs the secret key', async () => {
    for (const q of ['?format=xml', '?other=1']) {
      const res = await t.api(`/scripts/config${q}`);
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('invalid_query_params');
    }
    expect((await fetch(`${t.url}/scripts/config`)).status).toBe(401);
  });
});
