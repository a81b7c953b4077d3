/**
 * `npm run bench:csv`: CPU per lead of the CSV worker thread's work on a lead export file, in-process
 * (quiet and fast next to bench:sync, where this cost sits on the critical path of records/s).
 *
 * A sandbox (in this process) generates BENCH_CSV_LEADS leads (default 80,000, seed 42); lead export jobs
 * with every describe field, as the lead sync asks for them, give the file (the windows' files joined
 * under one header). Then, BENCH_CSV_REPS times (default 9): the file in BENCH_CSV_CHUNK-byte chunks
 * (default 128 KiB, as undici delivers them) through the worker's exact path: csvBatches with the lead
 * recipe's reader, 1,000-row batches, each packed into the message the worker posts (csv-worker.ts
 * packBatch; the post itself is left out). Prints µs of CPU per lead (process.cpuUsage): min and median.
 */
import { createHash } from 'node:crypto';
import { startTestSandbox, type TestSandbox } from '../src/sandbox/testing.ts';
import { csvBatches } from '../src/marketo/bulk/csv.ts';
import { packBatch, recipeReader, type CsvRecipe } from '../src/marketo/bulk/csv-worker.ts';
import { valueKind } from '../src/marketo/models/lead-records.ts';

const LEADS = Number(process.env.BENCH_CSV_LEADS ?? 80_000);
const REPS = Number(process.env.BENCH_CSV_REPS ?? 9);
const CHUNK = Number(process.env.BENCH_CSV_CHUNK ?? 128 * 1024);
/** As the lead sync's default `exportBatchRows` (models/leads.ts). */
const BATCH_ROWS = 1000;
const DAY_MS = 86_400_000;

function iso(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19) + 'Z';
}

async function exportFile(sb: TestSandbox, fields: string[], from: number, to: number): Promise<Buffer> {
  const created = await sb.apiJson('/bulk/v1/leads/export/create.json', {
    method: 'POST',
    json: { fields, format: 'CSV', filter: { createdAt: { startAt: iso(from), endAt: iso(to) } } },
  });
  if (!created.success) throw new Error(`create: ${JSON.stringify(created.errors)}`);
  const id = created.result![0]!.exportId as string;
  await sb.apiJson(`/bulk/v1/leads/export/${id}/enqueue.json`, { method: 'POST' });
  for (;;) {
    const s = await sb.apiJson(`/bulk/v1/leads/export/${id}/status.json`);
    const status = s.result?.[0]?.status;
    if (status === 'Completed') break;
    if (status === 'Failed' || status === 'Cancelled') throw new Error(`job ${id} ${String(status)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  const res = await sb.api(`/bulk/v1/leads/export/${id}/file.json`);
  if (res.status !== 200) throw new Error(`file answered ${res.status}`);
  return Buffer.from(await res.arrayBuffer());
}

/** The lead export file (all describe fields) and the recipe the sync would send the worker. */
async function leadFile(): Promise<{ file: Buffer; recipe: CsvRecipe }> {
  // A fixed instant: the same file (and output digest) on every run.
  const now = Date.UTC(2026, 0, 1);
  const sb = await startTestSandbox({
    seed: { leads: LEADS, seed: 42, asOf: now, spanDays: 90 },
    settings: { bulkProcessingMs: 0 },
  });
  try {
    const describe = await sb.apiJson('/rest/v1/leads/describe.json');
    const items = (describe.result ?? []) as { rest?: { name: string }; dataType: string }[];
    const fields = items.map((f) => ({ name: f.rest!.name, dataType: f.dataType }));
    const names = fields.map((f) => f.name);
    const parts: Buffer[] = [];
    // 31-day windows (the export filter's limit) over the leads' creation span.
    for (let end = now + DAY_MS; end > now - 92 * DAY_MS; end -= 30 * DAY_MS) {
      const file = await exportFile(sb, names, end - 30 * DAY_MS, end);
      const lf = file.indexOf(10);
      parts.push(parts.length === 0 ? file : file.subarray(lf + 1));
    }
    const recipe: CsvRecipe = {
      kind: 'lead',
      fields: fields.map((f) => ({ name: f.name, kind: valueKind(f.dataType) })),
    };
    return { file: Buffer.concat(parts), recipe };
  } finally {
    await sb.close();
  }
}

async function* chunks(file: Buffer): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < file.length; i += CHUNK) {
    // A copy, as the worker gets each chunk in an ArrayBuffer of its own.
    yield new Uint8Array(file.subarray(i, i + CHUNK));
  }
}

/** One pass: leads read, and a digest of every payload (the output must not change with the code). */
async function pass(
  file: Buffer,
  recipe: CsvRecipe,
  digest: boolean,
): Promise<{ leads: number; hash: string }> {
  const hash = createHash('sha256');
  let leads = 0;
  let first = true;
  for await (const batch of csvBatches<unknown>(chunks(file), {
    batchRows: BATCH_ROWS,
    reader: recipeReader(recipe),
  })) {
    const msg = packBatch(1, batch, first);
    first = false;
    leads += msg.ids.length;
    if (digest) {
      for (let i = 0; i < msg.ids.length; i++) hash.update(msg.ids[i]!).update('\n').update(msg.payloads[i]!);
      hash.update(JSON.stringify(msg.values));
    }
  }
  return { leads, hash: hash.digest('hex').slice(0, 16) };
}

const { file, recipe } = await leadFile();
console.log(
  `file: ${(file.length / 1e6).toFixed(1)} MB, ${recipe.kind === 'lead' ? recipe.fields.length : 0} fields, ` +
    `chunks of ${CHUNK} bytes, ${BATCH_ROWS}-row batches`,
);
const check = await pass(file, recipe, true);
console.log(`leads: ${check.leads}, output digest: ${check.hash}`);
const us: number[] = [];
for (let r = 0; r < REPS; r++) {
  const before = process.cpuUsage();
  const { leads } = await pass(file, recipe, false);
  const cpu = process.cpuUsage(before);
  us.push((cpu.user + cpu.system) / leads);
}
us.sort((a, b) => a - b);
console.log(
  `µs CPU per lead: min ${us[0]!.toFixed(2)}, median ${us[Math.floor(us.length / 2)]!.toFixed(2)} ` +
    `(${REPS} passes: ${us.map((u) => u.toFixed(2)).join(' ')})`,
);
