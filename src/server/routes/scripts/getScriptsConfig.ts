import { z } from 'zod';
import { listIntegrations } from '../../../db/integrations.ts';
import { syncDefsOf, type SyncModelDef } from '../../../engine/sync/registry.ts';
import { actionDefsOf, type AnyActionDef } from '../../../engine/actions/registry.ts';
import type { RouteDef } from '../../router.ts';
import { parseWith } from '../../validate.ts';
import { actionFunction, registriesOf, syncFunction } from '../../functions-view.ts';
import { listFunctionSettings, settingsOf, type SettingsMap } from '../../../db/integration-functions.ts';

const querySchema = z.object({ format: z.enum(['nango', 'openai']).default('nango') }).strict();

/**
 * A sync as Nango's `NangoSyncConfig` describes a deployed script (`@nangohq/types`). Tether's syncs are
 * built in: no version, no deployment date, `pre_built`. Their models' fields come from each Marketo
 * instance's describe at run time, so no field list or JSON schema is given; records are read through
 * `GET /records?model=…` (the endpoint each model lists). `enabled` and `auto_start` are the integration's
 * settings (`PATCH /integrations/{key}/functions/{name}`).
 */
function syncConfig(def: SyncModelDef, settings: SettingsMap) {
  const s = settingsOf(settings, 'sync', def.name);
  return {
    ...syncFunction(def),
    auto_start: s.autoStart,
    models: def.models.map((name) => ({ name, fields: [] })),
    endpoints: def.models.map((model) => ({ method: 'GET', path: '/records', group: model })),
    is_public: false,
    pre_built: true,
    version: null,
    last_deployed: null,
    sync_type: def.mode,
    webhookSubscriptions: [],
    enabled: s.enabled,
    sdk_version: null,
    features: [],
  };
}

/**
 * An action as Nango's `NangoSyncConfig` describes a deployed action script: built in (`pre_built`, no
 * version), triggered through `POST /action/trigger`; its input's JSON Schema (from the action's zod
 * schema) under `json_schema.input`. The output's shape is each action's own (documented in its description).
 */
function actionConfig(def: AnyActionDef, settings: SettingsMap) {
  return {
    ...actionFunction(def),
    runs: '',
    input: null,
    models: [],
    endpoints: [{ method: 'POST', path: '/action/trigger', group: def.name }],
    is_public: false,
    pre_built: true,
    version: null,
    last_deployed: null,
    webhookSubscriptions: [],
    enabled: settingsOf(settings, 'action', def.name).enabled,
    sdk_version: null,
    features: [],
  };
}

/**
 * `GET /scripts/config?format=nango|openai` (Nango's `getScriptsConfig`): per integration of the
 * environment, the syncs its connections get (`StandardNangoConfig[]`: `{providerConfigKey, provider,
 * syncs, actions, on-events}`); with `format=openai`, `{data: [{name, description, parameters}]}`, one
 * function per sync, without parameters (as Nango answers for syncs), then one per action with its input's
 * JSON Schema as `parameters`.
 */
export const getScriptsConfig: RouteDef = {
  method: 'GET',
  path: '/scripts/config',
  auth: 'secret',
  handler: async (ctx) => {
    const { format } = parseWith(querySchema, ctx.query, 'invalid_query_params');
    const registries = registriesOf(ctx);
    const store = ctx.deps.store.ctx;
    const integrations = await listIntegrations(store, ctx.auth.environment.id);
    const listed = integrations
      .map((i) => ({
        integration: i,
        defs: syncDefsOf(registries.syncs, i.provider),
        actions: actionDefsOf(registries.actions, i.provider),
      }))
      .filter(({ defs, actions }) => defs.length > 0 || actions.length > 0);
    const configs = [];
    for (const { integration, defs, actions } of listed) {
      const settings = await listFunctionSettings(store, integration.id);
      configs.push({
        providerConfigKey: integration.uniqueKey,
        provider: integration.provider,
        syncs: defs.map((d) => syncConfig(d, settings)),
        actions: actions.map((a) => actionConfig(a, settings)),
        'on-events': [],
      });
    }
    if (format === 'nango') return { body: configs };
    const functions = configs.flatMap((c) => [
      ...c.syncs.map((s) => ({
        name: s.name,
        description: s.description,
        parameters: { type: 'object', properties: {}, required: [] },
      })),
      ...c.actions.map((a) => ({
        name: a.name,
        description: a.description,
        parameters: a.json_schema.input,
      })),
    ]);
    return { body: { data: functions } };
  },
};
