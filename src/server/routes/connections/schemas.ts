import { z } from 'zod';
import { ApiError } from '../../errors.ts';
import { parseWith } from '../../validate.ts';
import type { RouteContext } from '../../router.ts';

/** Nango's `connectionIdSchema` and `providerConfigKeySchema` (helpers/validation.ts). */
export const connectionIdSchema = z
  .string()
  .min(1)
  .max(255)
  .regex(/^[a-zA-Z0-9,.;:=+~[\]|@${}"'\\/_ -]+$/, 'Invalid connection id');

export const providerConfigKeySchema = z
  .string()
  .min(1)
  .max(255)
  .regex(/^[a-zA-Z0-9~:.@ _-]+$/, 'Invalid provider config key');

const connectionParams = z.object({ connectionId: connectionIdSchema }).strict();

/** `:connectionId` of the URL, checked like Nango (400 `invalid_uri_params`). */
export function connectionIdParam(ctx: RouteContext): string {
  return parseWith(connectionParams, ctx.params, 'invalid_uri_params').connectionId;
}

/** Routes whose query string must be empty (Nango `requireEmptyQuery`). */
export function requireEmptyQuery(ctx: RouteContext): void {
  const keys = Object.keys(ctx.query);
  if (keys.length === 0) return;
  throw new ApiError(400, 'invalid_query_params', `Unrecognized key(s) in query: '${keys.join("', '")}'`, {
    errors: [
      {
        code: 'unrecognized_keys',
        message: `Unrecognized key(s) in object: '${keys.join("', '")}'`,
        path: [],
      },
    ],
  });
}

/** A JSON body that may be absent (treated as `{}`, as Express does). */
export async function jsonOrEmpty(ctx: RouteContext): Promise<unknown> {
  return (await ctx.json()) ?? {};
}
