import { z } from 'zod';
import type { RouteDef } from '../../router.ts';
import { parseWith } from '../../validate.ts';
import { listConnections, LIST_DEFAULT_LIMIT, type Connection } from '../../../db/connections.ts';
import { connectionListItem } from '../../views.ts';

const intString = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d{1,9}$/, 'Expected a non-negative integer')
    .transform(Number)
    .pipe(z.number().int().min(min).max(max));

const idSchema = z.string().min(1).max(255);

/**
 * Both query forms of `@nangohq/node` `listConnections`: object (`connectionId`, `endUserId`,
 * `integrationId` comma list, `tags[k]=v`, `limit`, `page`) and legacy (`connectionId`, `search`,
 * `endUserId`, `endUserOrganizationId`, `limit`, `page`). Anything else is refused.
 */
const querySchema = z
  .object({
    connectionId: idSchema.optional(),
    search: idSchema.optional(),
    endUserId: idSchema.optional(),
    endUserOrganizationId: idSchema.optional(),
    integrationId: z.string().min(1).max(2048).optional(),
    tags: z.record(z.string().min(1).max(64), z.string().max(255)).optional(),
    limit: intString(1, 2000).optional(),
    page: intString(0, 1_000_000).optional(),
  })
  .strict();

/** Tag keys the SDK derives from end-user fields (`displayName`, `email`). */
const END_USER_TAGS: Record<string, (c: Connection) => string | null | undefined> = {
  end_user_display_name: (c) => c.endUser?.display_name,
  end_user_email: (c) => c.endUser?.email,
};

/** `GET /connections` (and legacy `GET /connection`): never any credentials. */
export const getConnections: RouteDef = {
  method: 'GET',
  path: '/connections',
  auth: 'secret',
  handler: async (ctx) => {
    const q = parseWith(querySchema, ctx.query, 'invalid_query_params');
    const integrationIds = q.integrationId
      ?.split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
    const tags: Record<string, string> = {};
    const endUserTags: [string, string][] = [];
    for (const [k, v] of Object.entries(q.tags ?? {})) {
      const key = k.toLowerCase();
      if (END_USER_TAGS[key]) endUserTags.push([key, v]);
      else tags[key] = v;
    }
    const limit = q.limit ?? LIST_DEFAULT_LIMIT;
    const page = q.page ?? 0;
    const filter = {
      ...(q.connectionId !== undefined ? { connectionId: q.connectionId } : {}),
      ...(q.search !== undefined ? { search: q.search } : {}),
      ...(q.endUserId !== undefined ? { endUserId: q.endUserId } : {}),
      ...(q.endUserOrganizationId !== undefined ? { endUserOrganizationId: q.endUserOrganizationId } : {}),
      ...(integrationIds && integrationIds.length > 0 ? { integrationIds } : {}),
      ...(Object.keys(tags).length > 0 ? { tags } : {}),
    };
    let connections: Connection[];
    if (endUserTags.length === 0) {
      connections = await listConnections(ctx.deps.store.ctx, ctx.auth.environment.id, {
        ...filter,
        limit,
        page,
      });
    } else {
      // A tag set on the connection, or the end user's field of that name: filtered here, then paged.
      const all = await listConnections(ctx.deps.store.ctx, ctx.auth.environment.id, {
        ...filter,
        limit: LIST_DEFAULT_LIMIT,
      });
      connections = all
        .filter((c) =>
          endUserTags.every(
            ([k, v]) =>
              Object.entries(c.tags).some(([tk, tv]) => tk.toLowerCase() === k && tv === v) ||
              END_USER_TAGS[k]!(c) === v,
          ),
        )
        .slice(page * limit, page * limit + limit);
    }
    return { body: { connections: connections.map(connectionListItem) } };
  },
};

/** Legacy path, same handler. */
export const getConnectionsLegacy: RouteDef = { ...getConnections, path: '/connection' };
