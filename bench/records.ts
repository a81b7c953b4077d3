/**
 * `npm run bench:records`: the records cache and `GET /records`.
 *
 * 1. Writes BENCH_RECORDS (default 1,000,000) realistic Marketo `Lead` records (~20 fields, ~560 bytes of
 *    JSON) for one connection straight through the repository (upsertRecords, BENCH_BATCH per call) into
 *    a fresh SQLite database in a temp data dir; prints the time and records/s (only the upsertRecords
 *    calls are timed), then the speed of an unchanged rewrite (change detection).
 * 2. Starts Tether on that data dir, in this process on port 0 (or `src/main.ts` in a child process with
 *    BENCH_TETHER=child), and reads the whole cache through `GET /records/` with a
 *    keep-alive HTTP client, one request at a time following `next_cursor`:
 *    - limit=100 and limit=1000, the client JSON.parsing every page and checking every record comes
 *      exactly once;
 *    - limit=1000 "server-bound": the client only reads `next_cursor` from the head of the body.
 *    Prints records/s for each.
 *
 * BENCH_PACKED=1: the records are written packed (src/record-payload.ts), as a bulk Lead sync stores them,
 * so reads measure unpacking them; the unchanged rewrite (objects) then compares across both forms.
 *
 * BENCH_DATABASE_URL: Tether's TETHER_DATABASE_URL instead of the embedded SQLite (e.g. a `postgres://…`
 * database of its own).
 *
 * Target: ≥ 100,000 records/s with 1,000-record pages.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import pino from 'pino';
import { loadConfig } from '../src/config.ts';
import { createConnection } from '../src/db/connections.ts';
import { countRecords, upsertRecords, type RecordInput } from '../src/db/records.ts';
import { packedPrefix, PayloadRecord, recordShape } from '../src/record-payload.ts';
import { openStore } from '../src/db/store.ts';
import { startTether } from '../src/server/start.ts';
import { root } from './lib.ts';

const TOTAL = Number(process.env.BENCH_RECORDS ?? 1_000_000);
const BATCH = Number(process.env.BENCH_BATCH ?? 10_000);
const TARGET = 100_000;
/** BENCH_TETHER=child runs the server as `src/main.ts` in a child process (default: in this process). */
const INPROCESS = process.env.BENCH_TETHER !== 'child';

/** `npm start` (src/main.ts) in its own process; resolves with its URL once it listens. */
async function spawnTether(
  childEnv: NodeJS.ProcessEnv,
): Promise<{ url: string; pid: number; stop: () => Promise<void> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'src/main.ts')], {
    cwd: root,
    env: childEnv,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout! });
  const url = await new Promise<string>((resolve, reject) => {
    lines.on('line', (line) => {
      const m = /Tether is running at (\S+)/.exec(line);
      if (m) resolve(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`Tether exited with ${code}`)));
  });
  return {
    url,
    pid: child.pid!,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

const FIRST = ['Ada', 'Grace', 'Alan', 'Edsger', 'Barbara', 'Donald', 'Margaret', 'Ken', 'Linus', 'Radia'];
const LAST = ['Lovelace', 'Hopper', 'Turing', 'Dijkstra', 'Liskov', 'Knuth', 'Hamilton', 'Thompson'];
const CITIES = [
  ['Chicago', 'IL', 'USA'],
  ['Paris', 'IDF', 'France'],
  ['Berlin', 'BE', 'Germany'],
  ['Austin', 'TX', 'USA'],
  ['Toronto', 'ON', 'Canada'],
] as const;
const INDUSTRIES = ['Software', 'Manufacturing', 'Finance', 'Healthcare', 'Retail', 'Education'];
const SOURCES = ['Website', 'Trade Show', 'Webinar', 'Referral', 'Paid Search'];
const STATUSES = ['New', 'Open', 'Working', 'Nurture', 'Qualified', 'Disqualified'];

/** A Marketo lead as a sync would write it (~20 fields, ~700 bytes of JSON). */
function lead(i: number): RecordInput {
  const first = FIRST[i % FIRST.length]!;
  const last = LAST[(i >> 3) % LAST.length]!;
  const [city, state, country] = CITIES[i % CITIES.length]!;
  const created = new Date(Date.UTC(2023, 0, 1) + (i % 700) * 86_400_000 + (i % 86_400) * 1000);
  const updated = new Date(created.getTime() + (i % 90) * 86_400_000);
  return {
    id: String(1_000_000 + i),
    email: `${first.toLowerCase()}.${last.toLowerCase()}.${i}@example${i % 97}.com`,
    firstName: first,
    lastName: last,
    company: `Company ${i % 5000} Inc.`,
    title: i % 3 === 0 ? 'VP Marketing' : i % 3 === 1 ? 'Marketing Manager' : 'Director of Demand Gen',
    phone: `+1-312-555-${String(i % 10_000).padStart(4, '0')}`,
    address: `${(i % 9999) + 1} Main Street`,
    city,
    state,
    country,
    postalCode: String(10_000 + (i % 89_999)),
    industry: INDUSTRIES[i % INDUSTRIES.length],
    leadSource: SOURCES[i % SOURCES.length],
    leadStatus: STATUSES[i % STATUSES.length],
    leadScore: i % 100,
    numberOfEmployees: (i % 50) * 100,
    annualRevenue: (i % 1000) * 10_000,
    website: `https://www.example${i % 97}.com`,
    unsubscribed: i % 17 === 0,
    emailInvalid: false,
    createdAt: created.toISOString().slice(0, 19) + 'Z',
    updatedAt: updated.toISOString().slice(0, 19) + 'Z',
  };
}

const PACKED = process.env.BENCH_PACKED === '1';
const shape = recordShape(
  Object.keys(lead(0))
    .filter((k) => k !== 'id')
    .sort(),
);

/** `r` packed: its values in the shape's member order, each followed by U+001F, then its id. */
function packed(r: RecordInput): PayloadRecord {
  let text = packedPrefix(shape);
  for (const m of shape.members) text += `${r[m] === undefined ? '' : JSON.stringify(r[m])}\x1f`;
  return new PayloadRecord(String(r.id), text + JSON.stringify(String(r.id)), shape);
}

const dataDir = mkdtempSync(join(tmpdir(), 'tether-bench-records-'));
const env = {
  TETHER_PORT: '0',
  TETHER_HOST: '127.0.0.1',
  TETHER_DATA_DIR: dataDir,
  TETHER_SANDBOX: 'off',
  TETHER_LOG_LEVEL: 'silent',
  // Another database (e.g. `postgres://…`, a database of its own) instead of the embedded SQLite.
  ...(process.env.BENCH_DATABASE_URL ? { TETHER_DATABASE_URL: process.env.BENCH_DATABASE_URL } : {}),
};
const config = loadConfig(env);
let stopTether = async () => {};
try {
  console.log(
    `machine: ${cpus().length} CPUs, load average ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')} (figures scale with the CPU this process gets)`,
  );
  // 1. Write, straight through the repository (no server yet).
  const store = await openStore(config);
  const ctx = store.ctx;
  const connection = await createConnection(ctx, {
    environmentId: store.environment.id,
    connectionId: 'bench',
    providerConfigKey: 'marketo',
    provider: 'marketo',
  });
  const sample = JSON.stringify(lead(12345)).length;
  // Only the upsertRecords calls are timed (making the records is the sync's work). CPU time too: on a
  // shared machine it varies less than the wall clock.
  let writeMs = 0;
  let writeCpuUs = 0;
  for (let start = 0; start < TOTAL; start += BATCH) {
    const records: (RecordInput | PayloadRecord)[] = [];
    for (let i = start; i < Math.min(TOTAL, start + BATCH); i++)
      records.push(PACKED ? packed(lead(i)) : lead(i));
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    await upsertRecords(ctx, { connectionPk: connection.id, model: 'Lead', records, runId: 'bench' });
    const c = process.cpuUsage(c0);
    writeCpuUs += c.user + c.system;
    writeMs += performance.now() - t0;
  }
  const writeS = writeMs / 1000;
  const stored = await countRecords(ctx, { connectionPk: connection.id, model: 'Lead' });
  if (stored !== TOTAL) throw new Error(`stored ${stored} records, expected ${TOTAL}`);
  console.log(
    `write: ${TOTAL.toLocaleString('en')} Lead records (~${sample} bytes of JSON each${PACKED ? ', packed' : ''}) in ${writeS.toFixed(1)} s` +
      ` = ${Math.round(TOTAL / writeS).toLocaleString('en')} records/s (upsertRecords, ${BATCH.toLocaleString('en')} per call),` +
      ` ${(writeCpuUs / TOTAL).toFixed(1)} µs CPU per record`,
  );

  // Unchanged rewrite of one batch: the change detection path.
  const again: RecordInput[] = [];
  for (let i = 0; i < BATCH; i++) again.push(lead(i));
  const tu = performance.now();
  const cu = process.cpuUsage();
  const s = await upsertRecords(ctx, { connectionPk: connection.id, model: 'Lead', records: again });
  const cpuU = process.cpuUsage(cu);
  const unchangedS = (performance.now() - tu) / 1000;
  if (s.unchanged !== BATCH) throw new Error(`expected ${BATCH} unchanged, got ${JSON.stringify(s)}`);
  console.log(
    `rewrite unchanged: ${BATCH.toLocaleString('en')} records in ${(unchangedS * 1000).toFixed(0)} ms` +
      ` = ${Math.round(BATCH / unchangedS).toLocaleString('en')} records/s,` +
      ` ${((cpuU.user + cpuU.system) / BATCH).toFixed(1)} µs CPU per record`,
  );

  const secretKey = store.keys.secretKey;
  await store.close();

  // 2. Read through the API: Tether in its own process (as deployed), or in this one.
  let tetherUrl: string;
  if (INPROCESS) {
    const tether = await startTether(config, { logger: pino({ level: 'silent' }) });
    stopTether = () => tether.close();
    tetherUrl = tether.url;
    console.log(`Tether in this process at ${tetherUrl}`);
  } else {
    const child = await spawnTether({ ...process.env, ...env });
    stopTether = child.stop;
    tetherUrl = child.url;
    console.log(`Tether in a child process (pid ${child.pid}, src/main.ts) at ${tetherUrl}`);
  }
  const url = new URL(tetherUrl);
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const headers = {
    authorization: `Bearer ${secretKey}`,
    'connection-id': 'bench',
    'provider-config-key': 'marketo',
  };
  /** `body` is the whole body decoded, or only its first 200 bytes when `whole` is false. */
  const get = (path: string, whole: boolean) =>
    new Promise<{ status: number; body: string; bytes: number }>((resolve, reject) => {
      const req = request({ host: url.hostname, port: url.port, path, agent, headers }, (res) => {
        const chunks: Buffer[] = [];
        let bytes = 0;
        res.on('data', (c: Buffer) => {
          bytes += c.length;
          if (whole || chunks.length === 0) chunks.push(c);
        });
        res.on('end', () => {
          const body = Buffer.concat(chunks);
          resolve({
            status: res.statusCode ?? 0,
            body: (whole ? body : body.subarray(0, 200)).toString(),
            bytes,
          });
        });
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end();
    });

  /**
   * Reads the whole cache, one page at a time. `parse`: the client JSON.parses every page (as the SDK
   * does) and checks that every record comes exactly once. Otherwise the client only reads next_cursor
   * from the head of the body (where Tether, as Nango, writes it) and counts records by page size: what
   * the server alone sustains.
   */
  async function readAll(limit: number, parse: boolean): Promise<number> {
    // Ids are 1,000,000 + i: a bitmap checks "exactly once" without a million-entry Set in the heap.
    const seen = new Uint8Array(TOTAL);
    let count = 0;
    let cursor: string | null = null;
    let pages = 0;
    let bytes = 0;
    const tr = performance.now();
    do {
      const q = new URLSearchParams({ model: 'Lead', limit: String(limit) });
      if (cursor) q.set('cursor', cursor);
      const res = await get(`/records/?${q}`, parse);
      if (res.status !== 200) throw new Error(`GET /records: ${res.status} ${res.body.slice(0, 300)}`);
      bytes += res.bytes;
      if (parse) {
        const page = JSON.parse(res.body) as { next_cursor: string | null; records: { id: string }[] };
        for (const r of page.records) {
          const i = Number(r.id) - 1_000_000;
          if (!(i >= 0 && i < TOTAL) || seen[i]) throw new Error(`record ${r.id} read twice or unknown`);
          seen[i] = 1;
          count++;
        }
        cursor = page.next_cursor;
      } else {
        const m = /^\{"next_cursor":(?:null|"([^"]+)")/.exec(res.body);
        if (!m) throw new Error(`unexpected body start: ${res.body.slice(0, 100)}`);
        cursor = m[1] ?? null;
        count += cursor ? limit : TOTAL - count;
      }
      pages++;
    } while (cursor);
    const readS = (performance.now() - tr) / 1000;
    if (count !== TOTAL) throw new Error(`read ${count} records, expected ${TOTAL}`);
    const perS = TOTAL / readS;
    console.log(
      `read limit=${limit}, ${parse ? 'client parses every page' : 'server-bound (client reads next_cursor only)'}: ` +
        `${TOTAL.toLocaleString('en')} records in ${pages.toLocaleString('en')} pages, ${readS.toFixed(1)} s = ` +
        `${Math.round(perS).toLocaleString('en')} records/s (${(bytes / 1e6 / readS).toFixed(0)} MB/s, ` +
        `${((readS / pages) * 1000).toFixed(2)} ms/page)`,
    );
    return perS;
  }

  await readAll(100, true);
  const parsed = await readAll(1000, true);
  const served = await readAll(1000, false);
  agent.destroy();
  const fmt = (n: number) => Math.round(n).toLocaleString('en');
  // The target is Tether's: what it serves with 1,000-record pages (the parsing client shares this
  // process's CPU and adds its own JSON.parse time to every page).
  console.log(
    served >= TARGET
      ? `target met: Tether serves ${fmt(served)} ≥ ${fmt(TARGET)} records/s with 1,000-record pages (${fmt(parsed)} records/s with a client parsing every page in the same process)`
      : `TARGET MISSED: Tether serves ${fmt(served)} < ${fmt(TARGET)} records/s with 1,000-record pages (${fmt(parsed)} with a parsing client)`,
  );
  if (served < TARGET) process.exitCode = 1;
} finally {
  await stopTether();
  rmSync(dataDir, { recursive: true, force: true });
}
