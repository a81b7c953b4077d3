import { z } from 'zod';

/**
 * Fault injection: the failures real Marketo produces and clients must survive. A fault applies to
 * the next `count` matching calls, or to each call with a `probability`, or both.
 */
export const faultSchema = z
  .object({
    /**
     * `error`: HTTP 200 envelope with a Marketo code (604, 606, 608, 611, 613, 615, 713, …);
     * `http`: a plain HTTP status from the gateway (500, 502, 503, 504);
     * `slow`: delay the response by `delayMs`, then serve it normally;
     * `drop`: close the connection without answering.
     */
    kind: z.enum(['error', 'http', 'slow', 'drop']),
    code: z
      .string()
      .regex(/^\d{3,4}$/)
      .optional(),
    status: z.number().int().min(400).max(599).optional(),
    delayMs: z.number().int().min(0).max(600_000).optional(),
    count: z.number().int().min(1).optional(),
    probability: z.number().min(0).max(1).optional(),
    /** Only calls whose path (below the instance root) contains this string. */
    path: z.string().optional(),
    /** Also hit identity calls (off by default: faults target the REST surface). */
    identity: z.boolean().optional(),
  })
  .strict()
  .refine((f) => f.kind !== 'error' || f.code !== undefined, { message: 'kind "error" needs a code' })
  .refine((f) => f.kind !== 'http' || f.status !== undefined, { message: 'kind "http" needs a status' })
  .refine((f) => f.kind !== 'slow' || f.delayMs !== undefined, { message: 'kind "slow" needs delayMs' })
  .refine((f) => f.count !== undefined || f.probability !== undefined, {
    message: 'give count, probability or both',
  });

export type FaultSpec = z.infer<typeof faultSchema>;

interface ActiveFault extends FaultSpec {
  id: number;
  remaining: number;
  hits: number;
}

let nextFaultId = 1;

export class Faults {
  private list: ActiveFault[] = [];

  add(spec: FaultSpec): number {
    const id = nextFaultId++;
    this.list.push({ ...spec, id, remaining: spec.count ?? Infinity, hits: 0 });
    return id;
  }

  clear(): void {
    this.list = [];
  }

  describe(): { id: number; kind: string; remaining: number | null; hits: number }[] {
    return this.list.map((f) => ({
      id: f.id,
      kind: f.kind,
      code: f.code,
      status: f.status,
      remaining: f.remaining === Infinity ? null : f.remaining,
      hits: f.hits,
    }));
  }

  /** The fault (if any) this call hits; consumes one of its `count`. */
  take(path: string, identity: boolean, rand: () => number = Math.random): FaultSpec | undefined {
    if (this.list.length === 0) return undefined;
    for (const f of this.list) {
      if (identity !== (f.identity ?? false)) continue;
      if (f.path !== undefined && !path.includes(f.path)) continue;
      if (f.probability !== undefined && rand() >= f.probability) continue;
      f.remaining--;
      f.hits++;
      if (f.remaining <= 0) this.list = this.list.filter((x) => x !== f);
      return f;
    }
    return undefined;
  }
}
