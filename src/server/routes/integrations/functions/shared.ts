import { z } from 'zod';
import type { RouteContext } from '../../../router.ts';
import { parseWith } from '../../../validate.ts';
import {
  functionNameSchema,
  integrationFunctions,
  registriesOf,
  type ListedFunction,
} from '../../../functions-view.ts';
import type { Integration } from '../../../../db/integrations.ts';
import { listFunctionSettings } from '../../../../db/integration-functions.ts';
import { integrationOr404, providerConfigKeySchema, uniqueKeyParam } from '../schemas.ts';

const functionParams = z.object({ uniqueKey: providerConfigKeySchema, name: functionNameSchema }).strict();

/** `:uniqueKey` and `:name` checked like Nango (400 `invalid_uri_params`). */
export function functionParamsOf(ctx: RouteContext): { uniqueKey: string; name: string } {
  return parseWith(functionParams, ctx.params, 'invalid_uri_params');
}

/** The integration (404 `not_found` as the other integration routes) and its functions, with its settings. */
export async function functionsOf(
  ctx: RouteContext,
  uniqueKey: string = uniqueKeyParam(ctx),
): Promise<{ integration: Integration; functions: ListedFunction[] }> {
  const integration = await integrationOr404(ctx, uniqueKey);
  const settings = await listFunctionSettings(ctx.deps.store.ctx, integration.id);
  return { integration, functions: integrationFunctions(registriesOf(ctx), integration, settings) };
}
