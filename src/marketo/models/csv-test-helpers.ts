/**
 * Shared by the lead reader tests (lead-csv-reader, lead-payload-bytes): a file fed in chunks, and the
 * payload texts the cells path (one converter, `records()` per batch) stores for it: what every faster
 * path must store byte for byte.
 */
import { expect } from 'vitest';
import { payloadJson } from '../../db/record-json.ts';
import { csvBatches } from '../bulk/csv.ts';
import { LeadRowConverter, type LeadSchema } from './lead-records.ts';

export async function* chunksOf(bytes: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

/** What the cells path stores for every row with an id of a dense file. */
export async function expectedPayloads(
  bytes: Uint8Array,
  schema: LeadSchema,
  delimiter?: ',' | ';' | '\t',
): Promise<string[]> {
  const out: string[] = [];
  let conv: LeadRowConverter | undefined;
  for await (const batch of csvBatches(chunksOf(bytes, 1 << 16), { batchRows: 1000, delimiter })) {
    conv ??= new LeadRowConverter(batch.header, schema);
    for (const rec of conv.records(batch.rows)) out.push(payloadJson(rec, rec.id));
  }
  expect(conv?.isDense).toBe(true);
  return out;
}
