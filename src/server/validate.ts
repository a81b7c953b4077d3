import type { z } from 'zod';
import { ApiError } from './errors.ts';

type Where = 'invalid_body' | 'invalid_query_params' | 'invalid_headers' | 'invalid_uri_params';

/** Parse input at the edge; failures answer 400 with Nango's validation error shape. */
export function parseWith<T>(schema: z.ZodType<T>, value: unknown, where: Where): T {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const errors = r.error.issues.map((i) => ({
    code: i.code,
    message: i.message,
    path: i.path.map(String),
  }));
  const first = errors[0];
  const at = first && first.path.length > 0 ? ` at ${first.path.join('.')}` : '';
  throw new ApiError(400, where, `${first?.message ?? 'Invalid input'}${at}`, { errors });
}
