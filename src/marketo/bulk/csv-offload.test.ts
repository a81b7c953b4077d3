/**
 * The CSV worker thread (a real worker, loaded from the sources through tsx): files parsed there give
 * exactly what csvBatches gives in-thread with the same reader (batches, bytes, items, errors).
 */
import { describe, expect, it } from 'vitest';
import { MarketoSyncError } from '../models/types.ts';
import { TEST_LEAD_FIELDS } from '../models/test-helpers.ts';
import { offloadCounts, offloadedBatches, offloadLimits, offloadSettings } from './csv-offload.ts';
import { recipeReader, type CsvRecipe } from './csv-worker.ts';
import { csvBatches, CsvError, type CsvBatch } from './csv.ts';

const FIELDS = [...TEST_LEAD_FIELDS];
const RECIPE: CsvRecipe = { kind: 'lead', fields: FIELDS };
const reader = recipeReader(RECIPE);

const HEADER = 'id,email,leadScore,unsubscribed,createdAt,dateOfBirth,__proto__,extra';
const EMAILS = ['a@b.c', 'Jos\u00e9@b.c', '"q, ""x"""', '"null"', 'null', '\u4e2d@b.c', '"two\nlines"'];

/** `rows` data rows; `fill` = share of optional cells set (dense files go the payload text path). */
function file(rows: number, fill: number, eol = '\n'): string {
  const lines = [HEADER];
  for (let i = 0; i < rows; i++) {
    const set = (k: number) => ((i * 7 + k * 13) % 100) / 100 < fill;
    const id = i % 23 === 22 ? '' : String(1000 + i);
    lines.push(
      [
        id,
        set(1) ? EMAILS[i % EMAILS.length] : '',
        set(2) ? String(i % 97) : 'null',
        set(3) ? (i % 2 === 0 ? 'true' : 'no') : '',
        set(4) ? '2024-01-31T10:00:00Z' : '',
        set(5) ? '2024-02-01' : '',
        set(6) ? 'p' : '',
        set(7) ? `x${i}` : '',
      ].join(','),
    );
  }
  return lines.join(eol) + eol;
}

async function* chunks(bytes: Uint8Array, size: number, failAfter?: number): AsyncGenerator<Uint8Array> {
  let n = 0;
  for (let at = 0; at < bytes.length; at += size) {
    if (failAfter !== undefined && n++ === failAfter) throw new Error('download broke');
    yield bytes.subarray(at, at + size);
  }
}

interface Outcome {
  batches: CsvBatch<unknown>[];
  error?: unknown;
}

async function collect(batches: AsyncIterable<CsvBatch<unknown>>): Promise<Outcome> {
  const out: CsvBatch<unknown>[] = [];
  try {
    for await (const b of batches) out.push(b);
  } catch (error) {
    return { batches: out, error };
  }
  return { batches: out };
}

async function both(text: string, size: number, batchRows = 50, failAfter?: number) {
  const bytes = new TextEncoder().encode(text);
  const inThread = await collect(csvBatches(chunks(bytes, size, failAfter), { batchRows, reader }));
  const before = offloadCounts.worker;
  const offloaded = await collect(
    offloadedBatches(chunks(bytes, size, failAfter), { batchRows, reader, recipe: RECIPE }),
  );
  expect(offloadCounts.worker).toBe(before + 1);
  return { inThread, offloaded };
}

function expectSame(a: Outcome, b: Outcome): void {
  expect(b.batches).toStrictEqual(a.batches);
  if (a.error === undefined) {
    expect(b.error).toBeUndefined();
    return;
  }
  const e = b.error as Error;
  expect(e.constructor).toBe((a.error as Error).constructor);
  expect(e.message).toBe((a.error as Error).message);
  if (a.error instanceof CsvError) expect((e as CsvError).line).toBe(a.error.line);
  if (a.error instanceof MarketoSyncError) expect((e as MarketoSyncError).code).toBe(a.error.code);
}

describe('offloadedBatches (CSV worker thread)', () => {
  it('gives the batches csvBatches gives, for dense, sparse, quoted and CRLF files at several chunk sizes', async () => {
    const files = [file(600, 0.9), file(600, 0.1), file(300, 0.6, '\r\n'), file(0, 1), '', HEADER];
    for (const text of files) {
      for (const size of [5, 333, 4096, 65536]) {
        const { inThread, offloaded } = await both(text, size);
        expectSame(inThread, offloaded);
      }
    }
    // Dense files came back as payload texts, sparse ones as objects: both kinds crossed.
    const dense = await both(file(400, 0.9), 1000);
    expect(dense.offloaded.batches.at(-1)?.rows.at(-1)?.constructor.name).toBe('PayloadRecord');
    expect(dense.offloaded.batches[0]?.rows.some((r) => r === undefined)).toBe(true);
  });

  it('throws the same errors: a wrong cell count (CsvError with its line), no id column (MarketoSyncError)', async () => {
    const bad = file(200, 0.9).replace('\n1100,', '\n1100,extra,');
    const wrong = await both(bad, 700);
    expect(wrong.inThread.error).toBeInstanceOf(CsvError);
    expectSame(wrong.inThread, wrong.offloaded);

    const noId = await both('email,leadScore\na@b.c,1\n', 64);
    expect(noId.inThread.error).toBeInstanceOf(MarketoSyncError);
    expectSame(noId.inThread, noId.offloaded);

    const unterminated = await both(`${HEADER}\n1,"open,,,,,,\n`, 8);
    expect(unterminated.inThread.error).toBeInstanceOf(CsvError);
    expectSame(unterminated.inThread, unterminated.offloaded);
  });

  it('a download error comes after the batches of the chunks before it, as in-thread', async () => {
    const { inThread, offloaded } = await both(file(500, 0.9), 2000, 20, 12);
    expect((inThread.error as Error).message).toBe('download broke');
    expect(inThread.batches.length).toBeGreaterThan(0);
    expectSame(inThread, offloaded);
  });

  it('a caller that stops reading stops the download: what is pulled ahead stays bounded', async () => {
    const saved = offloadLimits.unparsedBytes;
    offloadLimits.unparsedBytes = 8 * 1024;
    let open: AsyncIterator<CsvBatch<unknown>> | undefined;
    try {
      const text = file(4000, 0.9);
      const bytes = new TextEncoder().encode(text);
      let pulled = 0;
      async function* counted(): AsyncGenerator<Uint8Array> {
        for await (const c of chunks(bytes, 1024)) {
          pulled += c.byteLength;
          yield c;
        }
      }
      const batches = offloadedBatches(counted(), { batchRows: 50, reader, recipe: RECIPE });
      open = batches[Symbol.asyncIterator]();
      const first = await open.next();
      expect(first.done).toBe(false);
      const batchBytes = (first.value as CsvBatch<unknown>).bytes;
      // The caller holds off: the worker parses what it holds, then nothing more is pulled.
      await new Promise((r) => setTimeout(r, 300));
      const ahead = pulled;
      await new Promise((r) => setTimeout(r, 200));
      expect(pulled).toBe(ahead);
      // At most: the batches waiting (2) and one being filled, the unparsed bytes, one chunk in flight.
      expect(ahead).toBeLessThanOrEqual(4 * batchBytes + offloadLimits.unparsedBytes + 2 * 1024);
      expect(ahead).toBeLessThan(bytes.length / 2);
      // Reading on gives the rest, as in-thread.
      const rest: CsvBatch<unknown>[] = [first.value as CsvBatch<unknown>];
      for (let r = await open.next(); !r.done; r = await open.next()) rest.push(r.value);
      const inThread = await collect(csvBatches(chunks(bytes, 1024), { batchRows: 50, reader }));
      expect(rest).toStrictEqual(inThread.batches);
      expect(pulled).toBe(bytes.length);
      open = undefined;
    } finally {
      offloadLimits.unparsedBytes = saved;
      // A failed check must not leave the worker busy for the next tests.
      await open?.return?.(undefined);
    }
  });

  it('an early stop frees the worker for the next file', async () => {
    const bytes = new TextEncoder().encode(file(2000, 0.9));
    const before = offloadCounts.worker;
    for await (const b of offloadedBatches(chunks(bytes, 4096), { batchRows: 50, reader, recipe: RECIPE })) {
      expect(b.rows.length).toBe(50);
      break;
    }
    const { inThread, offloaded } = await both(file(300, 0.5), 1024);
    expectSame(inThread, offloaded);
    expect(offloadCounts.worker).toBe(before + 2);
  });

  it('an early stop while the download stalls returns at once (the caller then closes the download)', async () => {
    const bytes = new TextEncoder().encode(file(400, 0.9));
    let release: () => void = () => undefined;
    const stalled = new Promise<void>((resolve) => (release = resolve));
    let closed = false;
    // The whole file in the first chunk, then a read that only ends when the download is closed.
    const source: AsyncIterable<Uint8Array> = {
      [Symbol.asyncIterator]: () => {
        let first = true;
        return {
          next: async () => {
            if (first) {
              first = false;
              return { done: false as const, value: bytes.subarray(0, bytes.length - 10) };
            }
            await stalled;
            return { done: true as const, value: undefined };
          },
          return: async () => {
            closed = true;
            return { done: true as const, value: undefined };
          },
        };
      },
    };
    const t0 = Date.now();
    for await (const b of offloadedBatches(source, { batchRows: 50, reader, recipe: RECIPE })) {
      expect(b.rows.length).toBe(50);
      break;
    }
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect(closed).toBe(true);
    release();
    // The worker is free again for the next file.
    const before = offloadCounts.worker;
    const { inThread, offloaded } = await both(file(100, 0.9), 512);
    expectSame(inThread, offloaded);
    expect(offloadCounts.worker).toBe(before + 1);
  });

  it('an idle worker ends and the next file starts a new one', async () => {
    const idleMs = offloadSettings.idleMs;
    offloadSettings.idleMs = 50;
    try {
      const first = await both(file(200, 0.9), 1024);
      expectSame(first.inThread, first.offloaded);
      const started = offloadCounts.started;
      await new Promise((r) => setTimeout(r, 400));
      const { inThread, offloaded } = await both(file(200, 0.9), 1024);
      expectSame(inThread, offloaded);
      expect(offloadCounts.started).toBe(started + 1);
    } finally {
      offloadSettings.idleMs = idleMs;
    }
  });

  it('two files at once: one on the worker, one in-thread, both right', async () => {
    const a = new TextEncoder().encode(file(1500, 0.9));
    const b = new TextEncoder().encode(file(1500, 0.2));
    const { worker, inThread } = offloadCounts;
    const [ra, rb] = await Promise.all([
      collect(offloadedBatches(chunks(a, 4096), { batchRows: 100, reader, recipe: RECIPE })),
      collect(offloadedBatches(chunks(b, 4096), { batchRows: 100, reader, recipe: RECIPE })),
    ]);
    expect(offloadCounts.worker - worker).toBe(1);
    expect(offloadCounts.inThread - inThread).toBe(1);
    expectSame(await collect(csvBatches(chunks(a, 4096), { batchRows: 100, reader })), ra);
    expectSame(await collect(csvBatches(chunks(b, 4096), { batchRows: 100, reader })), rb);
  });
});
