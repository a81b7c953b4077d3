/**
 * `npm run bench:proxy`: what Tether's `/proxy` costs and whether it keeps Marketo's limits, measured
 * against the Marketo sandbox on this machine. Every server runs in its own process: the sandbox
 * (`--no-limits` for the throughput phases), Tether (the bundle `npm start` runs, built first;
 * TETHER_SANDBOX=off, temp data dir) and a bare Node reverse proxy written below (node:http piping to the sandbox); the load comes from
 * this process. Prints, from one run:
 *
 *  1. a simple lead read (`GET /rest/v1/lead/<id>.json`): throughput and p50/p99 under load
 *     (autocannon) direct to the sandbox, through the bare proxy and through Tether (the loads take
 *     turns over the three targets, BENCH_ROUNDS times, and add up per target), plus the latency
 *     Tether adds at p50 without load (sequential calls, µs resolution), and the CPU time per request
 *     of each proxy process and of the sandbox (from /proc; steadier than req/s when the machine is shared);
 *  2. identity calls made by 1,000 concurrent proxied reads on a cold token (sandbox tokens expired);
 *  3. with Marketo's limits on (a fresh sandbox instance: 100 calls / 20 s, 10 in flight), calls
 *     completed per rolling window as a share of the allowed rate, and the 606/615 seen by callers
 *     and by the sandbox;
 *  4. the RSS growth of the Tether process while a bulk export file streams through the proxy.
 *
 * Environment: BENCH_QUICK=1 (short run: 3 s loads, 150 calls under limits, ~50 MB file),
 * BENCH_SECONDS (per load; 5), BENCH_ROUNDS (alternating loads per target in phase 1; 3), BENCH_CONNECTIONS, BENCH_RATE_CALLS, BENCH_BULK_LEADS, BENCH_TETHER_LOG_LEVEL (warn),
 * BENCH_PHASES (which phases run, e.g. `1` or `14`; default all), BENCH_TETHER_NODE_ARGS (node flags of
 * the measured Tether, e.g. `--cpu-prof --cpu-prof-dir=/tmp/p`).
 * Tether runs with TETHER_SYNCS=off: background syncs would compete with the proxy for its CPU.
 */
import autocannon from 'autocannon';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  connectMarketo,
  getToken,
  spawnSandbox,
  spawnUntil,
  tetherApi,
  tetherBundle,
  type Child,
  type SandboxProcess,
} from './lib.ts';

const SELF = fileURLToPath(import.meta.url);

// ---------------------------------------------------------------------------------------------------
// The bare reverse proxy (child process mode): `tsx bench/proxy.ts --bare-proxy http://host:port`

function bareProxy(target: string): void {
  const t = new URL(target);
  // Same upstream pool as Tether's outbound client: keep-alive, 10 sockets per origin.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 10, maxFreeSockets: 10 });
  const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);
  const strip = (h: http.IncomingHttpHeaders) => {
    const out: http.OutgoingHttpHeaders = {};
    for (const [k, v] of Object.entries(h)) if (!HOP.has(k) && v !== undefined) out[k] = v;
    return out;
  };
  const server = http.createServer((req, res) => {
    const up = http.request(
      {
        host: t.hostname,
        port: t.port,
        method: req.method,
        path: req.url,
        headers: { ...strip(req.headers), host: t.host },
        agent,
      },
      (ur) => {
        res.writeHead(ur.statusCode ?? 502, strip(ur.headers));
        ur.pipe(res);
      },
    );
    up.on('error', () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    req.pipe(up);
  });
  server.keepAliveTimeout = 65_000;
  server.listen(0, '127.0.0.1', () => {
    const port = (server.address() as AddressInfo).port;
    process.stdout.write(JSON.stringify({ url: `http://127.0.0.1:${port}` }) + '\n');
  });
  process.on('SIGTERM', () => process.exit(0));
}

// ---------------------------------------------------------------------------------------------------
// Helpers

function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const mb = (bytes: number) => (bytes / 1e6).toFixed(1);
const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
const mark = (ok: boolean) => (ok ? 'MET' : 'MISSED');

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function median(values: number[]): number {
  return percentile(
    [...values].sort((a, b) => a - b),
    50,
  );
}

/**
 * CPU time (user + system) a process has used, in µs, from /proc: per-request CPU is far less noisy than
 * req/s on a machine other work shares (it is what throughput would be if the proxy had the core).
 */
function cpuMicros(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1e6) / CLOCK_TICKS;
}

/** `getconf CLK_TCK` on Linux. */
const CLOCK_TICKS = 100;

interface Target {
  name: string;
  /** The proxy process (none when the load goes straight to the sandbox). */
  pid: number | undefined;
  url: string;
  headers: Record<string, string>;
  /** Path of a lead read below `url`. */
  path: (id: number) => string;
}

interface Counters {
  apiCalls: number;
  identityCalls: number;
  tokensIssued: number;
  byEndpoint: Record<string, number>;
  errorsByCode: Record<string, number>;
  peakConcurrency: number;
  callsInWindow: number;
}

async function counters(admin: string, munchkin: string): Promise<Counters> {
  return (await (await fetch(`${admin}/instances/${munchkin}/counters`)).json()) as Counters;
}

const errorsOf = (c: Counters) => Object.values(c.errorsByCode).reduce((a, b) => a + b, 0);
const LEAD_READ = 'GET /rest/v1/lead/:id.json';

/** One keep-alive connection, sequential calls: latency without load, µs resolution. */
async function sequentialLatency(target: Target, ids: number[], n: number): Promise<number[]> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const u = new URL(target.url);
  const once = (path: string) =>
    new Promise<void>((resolve, reject) => {
      const req = http.request(
        { host: u.hostname, port: u.port, path, headers: target.headers, agent },
        (res) => {
          if (res.statusCode !== 200) reject(new Error(`${target.name}: HTTP ${res.statusCode}`));
          res.resume();
          res.on('end', resolve);
        },
      );
      req.on('error', reject);
      req.end();
    });
  const out: number[] = [];
  for (let i = 0; i < n + 50; i++) {
    const t0 = performance.now();
    await once(target.path(ids[i % ids.length]!));
    if (i >= 50) out.push(performance.now() - t0); // the first 50 warm up
  }
  agent.destroy();
  return out.sort((a, b) => a - b);
}

async function load(target: Target, ids: number[], seconds: number, connections: number) {
  let n = 0;
  return autocannon({
    url: target.url,
    connections,
    pipelining: 1,
    duration: seconds,
    headers: target.headers,
    requests: [
      { method: 'GET', setupRequest: (req) => ({ ...req, path: target.path(ids[n++ % ids.length]!) }) },
    ],
  });
}

// ---------------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const QUICK = process.env.BENCH_QUICK === '1';
  const SECONDS = Number(process.env.BENCH_SECONDS ?? (QUICK ? 3 : 5));
  const ROUNDS = Number(process.env.BENCH_ROUNDS ?? (QUICK ? 1 : 3));
  const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);
  const RATE_CALLS = Number(process.env.BENCH_RATE_CALLS ?? (QUICK ? 150 : 300));
  // A 31-day export window holds 31/730 of the leads, ~620 bytes a row with every field:
  // 20 M leads give a ~530 MB file, 2 M leads ~53 MB.
  const BULK_LEADS = Number(process.env.BENCH_BULK_LEADS ?? (QUICK ? 2_000_000 : 20_000_000));
  const LOG_LEVEL = process.env.BENCH_TETHER_LOG_LEVEL ?? 'warn';
  const SEQ = QUICK ? 500 : 2000;
  const PHASES = process.env.BENCH_PHASES ?? '1234';
  const TETHER_NODE_ARGS = (process.env.BENCH_TETHER_NODE_ARGS ?? '').split(' ').filter(Boolean);

  const children: Pick<Child, 'stop'>[] = [];
  const dataDir = mkdtempSync(join(tmpdir(), 'tether-bench-'));
  try {
    // -- processes --------------------------------------------------------------------------------
    const sb: SandboxProcess = await spawnSandbox([
      '--no-limits',
      '--leads',
      String(BULK_LEADS),
      '--seed',
      '42',
    ]);
    children.push(sb);
    const sandboxOrigin = new URL(sb.info.endpoint).origin;
    const sandboxHost = new URL(sb.info.endpoint).host;
    const bare = await spawnUntil([SELF, '--bare-proxy', sandboxOrigin], {}, /^\{"url":"([^"]+)"\}$/);
    children.push(bare);
    const bareUrl = bare.match[1]!;
    const secretKey = randomUUID();
    const tether = await spawnUntil(
      [await tetherBundle()],
      {
        TETHER_PORT: '0',
        TETHER_SANDBOX: 'off',
        TETHER_ALLOWED_HOSTS: sandboxHost,
        TETHER_DATA_DIR: dataDir,
        TETHER_SECRET_KEY: secretKey,
        TETHER_LOG_LEVEL: LOG_LEVEL,
        // The proxy alone: no background syncs of the (large) sandbox competing for Tether's CPU.
        TETHER_SYNCS: 'off',
      },
      /Tether is running at (\S+)/,
      TETHER_NODE_ARGS,
    );
    children.push(tether);
    const tetherUrl = tether.match[1]!;
    const tetherPid = tether.child.pid!;
    const auth = { authorization: `Bearer ${secretKey}` };
    const api = tetherApi(tetherUrl, secretKey);
    const connect = (info: Parameters<typeof connectMarketo>[2]) =>
      connectMarketo(tetherUrl, secretKey, info);

    const connA = await connect(sb.info);
    // Instance B keeps Marketo's limits on (rate 100 / 20 s, 10 in flight) for phase 3; connected now so
    // that the connect flow's own calls have left its rolling window by then.
    const munchkinB = '222-BBB-222';
    const created = await fetch(`${sb.info.admin}/instances`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        munchkinId: munchkinB,
        seed: { leads: 1000, seed: 7 },
        limits: {
          rate: { enabled: true, max: 100, windowMs: 20_000 },
          concurrency: { enabled: true, max: 10 },
        },
      }),
    });
    if (created.status !== 201) throw new Error(`instance B: ${created.status} ${await created.text()}`);
    const infoB = (await created.json()) as {
      endpoint: string;
      identity: string;
      clientId: string;
      clientSecret: string;
    };
    const connB = await connect(infoB);
    // Throughput phases measure the proxy, not Marketo's limits: raise Tether's limits on instance A
    // through the limits API (the sandbox's are off).
    await api(`/connections/${connA}/limits?provider_config_key=marketo`, {
      method: 'PATCH',
      json: {
        instance: {
          rate_max: 1_000_000,
          rate_window_ms: 1000,
          max_in_flight: 10_000,
          daily_quota: 1_000_000_000,
        },
      },
    });
    const proxyHeaders = { ...auth, 'connection-id': connA, 'provider-config-key': 'marketo' };
    const token = await getToken(sb.info);
    const instPath = new URL(sb.info.endpoint).pathname.replace(/\/rest$/, ''); // `/123-ABC-456`
    const targets: Target[] = [
      {
        name: 'direct to the sandbox',
        pid: undefined,
        url: sandboxOrigin,
        headers: { authorization: `Bearer ${token}` },
        path: (id) => `${instPath}/rest/v1/lead/${id}.json`,
      },
      {
        name: 'bare Node reverse proxy',
        pid: bare.child.pid,
        url: bareUrl,
        headers: { authorization: `Bearer ${token}` },
        path: (id) => `${instPath}/rest/v1/lead/${id}.json`,
      },
      {
        name: "Tether's /proxy",
        pid: tetherPid,
        url: tetherUrl,
        headers: proxyHeaders,
        path: (id) => `/proxy/rest/v1/lead/${id}.json`,
      },
    ];
    const ids = Array.from({ length: 1000 }, (_, i) => 1 + ((i * 7919) % Math.min(BULK_LEADS, 1_000_000)));
    // One proxied call first: Tether fetches its token.
    const first = await fetch(`${tetherUrl}/proxy/rest/v1/lead/1.json`, { headers: proxyHeaders });
    const firstBody = (await first.json()) as { success?: boolean };
    if (first.status !== 200 || firstBody.success !== true) {
      throw new Error(`first proxied call: ${first.status} ${JSON.stringify(firstBody)}`);
    }

    console.log(
      `bench:proxy${QUICK ? ' (BENCH_QUICK)' : ''}: ${SECONDS} s per load, ${CONNECTIONS} connections, ` +
        `Tether log level ${LOG_LEVEL}, syncs off; sandbox, Tether, bare proxy and load generator share this machine ` +
        `(${(await import('node:os')).availableParallelism()} CPUs)`,
    );

    if (PHASES.includes('1')) {
      // -- 1. throughput and latency ------------------------------------------------------------------
      console.log('\n1. Lead read (GET /rest/v1/lead/<id>.json), sandbox limits off');
      const results: Record<
        string,
        { rps: number; p50: number; p99: number; seqP50: number; seqP99: number; cpu: number }
      > = {};
      const sandboxPid = sb.child.pid!;
      // The loads alternate between the targets, ROUNDS times: a machine whose speed drifts (other work,
      // CPU frequency, page cache) then weighs on every target alike instead of on whichever ran last.
      for (const target of targets) await load(target, ids, QUICK ? 2 : 3, CONNECTIONS); // warm-up (JIT)
      const sums = new Map<
        string,
        {
          ok: number;
          seconds: number;
          cpu: number;
          sbCpu: number;
          rps: number[];
          p50: number[];
          p99: number[];
        }
      >();
      for (let round = 0; round < ROUNDS; round++) {
        for (const target of targets) {
          const before = await counters(sb.info.admin, sb.info.munchkinId);
          const cpu0 = target.pid !== undefined ? cpuMicros(target.pid) : NaN;
          const sbCpu0 = cpuMicros(sandboxPid);
          const r = await load(target, ids, SECONDS, CONNECTIONS);
          const cpu = cpuMicros(target.pid ?? sandboxPid) - cpu0;
          const sbCpu = cpuMicros(sandboxPid) - sbCpu0;
          const after = await counters(sb.info.admin, sb.info.munchkinId);
          const served = (after.byEndpoint[LEAD_READ] ?? 0) - (before.byEndpoint[LEAD_READ] ?? 0);
          const errors = errorsOf(after) - errorsOf(before);
          if (r.non2xx > 0 || r.errors > 0 || errors > 0 || served < r['2xx']) {
            throw new Error(
              `${target.name}: ${r.non2xx} non-2xx, ${r.errors} errors, ${errors} Marketo errors, ${served} served for ${r['2xx']} answers`,
            );
          }
          let sum = sums.get(target.name);
          if (sum === undefined) {
            sum = { ok: 0, seconds: 0, cpu: 0, sbCpu: 0, rps: [], p50: [], p99: [] };
            sums.set(target.name, sum);
          }
          sum.ok += r['2xx'];
          sum.seconds += r.duration; // seconds
          sum.cpu += cpu;
          sum.sbCpu += sbCpu;
          sum.rps.push(r['2xx'] / r.duration);
          sum.p50.push(r.latency.p50);
          sum.p99.push(r.latency.p99);
        }
      }
      for (const target of targets) {
        const sum = sums.get(target.name)!;
        const seq = await sequentialLatency(target, ids, SEQ);
        const rps = sum.ok / sum.seconds;
        const p50 = median(sum.p50);
        const p99 = median(sum.p99);
        const cpu = sum.cpu / sum.ok;
        results[target.name] = {
          rps,
          p50,
          p99,
          seqP50: percentile(seq, 50),
          seqP99: percentile(seq, 99),
          cpu,
        };
        const rounds = ROUNDS > 1 ? ` (rounds: ${sum.rps.map((x) => Math.round(x)).join(', ')})` : '';
        console.log(
          `   ${target.name.padEnd(24)} ${String(Math.round(rps)).padStart(6)} req/s` +
            `   loaded p50 ${p50} ms, p99 ${p99} ms` +
            `   unloaded p50 ${percentile(seq, 50).toFixed(3)} ms, p99 ${percentile(seq, 99).toFixed(3)} ms` +
            `   (${sum.ok} ok)${rounds}`,
        );
        console.log(
          `   ${''.padEnd(24)} CPU per request: ${target.pid !== undefined ? `${cpu.toFixed(1)} µs in the proxy, ` : ''}${(sum.sbCpu / sum.ok).toFixed(1)} µs in the sandbox`,
        );
      }
      const direct = results['direct to the sandbox']!;
      const bareR = results['bare Node reverse proxy']!;
      const teth = results["Tether's /proxy"]!;
      const share = teth.rps / bareR.rps;
      const added = teth.seqP50 - direct.seqP50;
      const addedBare = bareR.seqP50 - direct.seqP50;
      const bareRounds = sums.get('bare Node reverse proxy')!.rps;
      const roundShares = sums.get("Tether's /proxy")!.rps.map((x, i) => pct(x / bareRounds[i]!));
      console.log(
        `   Tether throughput = ${pct(share)} of the bare proxy (target ≥ 70%: ${mark(share >= 0.7)}), ` +
          `${pct(teth.rps / direct.rps)} of direct` +
          (ROUNDS > 1
            ? ` (requests over ${ROUNDS} alternating rounds; per round ${roundShares.join(', ')})`
            : ''),
      );
      console.log(
        `   Tether's CPU per request = ${(teth.cpu / bareR.cpu).toFixed(2)}× the bare proxy's ` +
          `(${teth.cpu.toFixed(1)} vs ${bareR.cpu.toFixed(1)} µs; less noisy than req/s when other work shares the machine)`,
      );
      console.log(
        `   Tether adds ${added.toFixed(3)} ms at p50 without load vs direct (bare proxy adds ${addedBare.toFixed(3)} ms)` +
          ` (target ≤ 1 ms: ${mark(added <= 1)}); under load p50 ${teth.p50} ms vs ${direct.p50} ms direct`,
      );
    }
    if (PHASES.includes('2')) {
      // -- 2. identity calls on a cold token ----------------------------------------------------------
      console.log('\n2. 1,000 concurrent proxied reads on a cold token');
      const before = await counters(sb.info.admin, sb.info.munchkinId);
      const expired = (await (
        await fetch(`${sb.info.admin}/instances/${sb.info.munchkinId}/tokens/expire`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: '{}',
        })
      ).json()) as { expired: number };
      const statuses: Record<string, number> = {};
      const t0 = performance.now();
      await Promise.all(
        Array.from({ length: 1000 }, async (_, i) => {
          const res = await fetch(`${tetherUrl}/proxy/rest/v1/lead/${ids[i % ids.length]}.json`, {
            headers: proxyHeaders,
          });
          const body = (await res.json()) as { success?: boolean; errors?: { code: string }[] };
          const key =
            res.status === 200 && body.success
              ? '200 ok'
              : `${res.status} ${body.errors?.[0]?.code ?? JSON.stringify(body).slice(0, 80)}`;
          statuses[key] = (statuses[key] ?? 0) + 1;
        }),
      );
      const coldMs = performance.now() - t0;
      const after = await counters(sb.info.admin, sb.info.munchkinId);
      const identityCalls = after.identityCalls - before.identityCalls;
      const tokensIssued = after.tokensIssued - before.tokensIssued;
      console.log(
        `   ${expired.expired} token(s) expired in the sandbox; answers ${JSON.stringify(statuses)} in ${Math.round(coldMs)} ms`,
      );
      console.log(
        `   identity calls: ${identityCalls}, tokens issued: ${tokensIssued}, 601/602 seen by the sandbox: ` +
          `${(after.errorsByCode['601'] ?? 0) - (before.errorsByCode['601'] ?? 0)}/${(after.errorsByCode['602'] ?? 0) - (before.errorsByCode['602'] ?? 0)}` +
          ` (target exactly 1 identity call: ${mark(identityCalls === 1)})`,
      );
    }
    if (PHASES.includes('3')) {
      // -- 3. Marketo's limits on ---------------------------------------------------------------------
      console.log(`\n3. ${RATE_CALLS} calls with the sandbox's limits on (100 calls / 20 s, 10 in flight)`);
      const headersB = { ...auth, 'connection-id': connB, 'provider-config-key': 'marketo' };
      const limitsB = (await api(`/connections/${connB}/limits?provider_config_key=marketo`)) as {
        instance: {
          limits: { rateMax: number; rateWindowMs: number; windowSkewMs: number; maxInFlight: number };
        };
      };
      const lb = limitsB.instance.limits;
      // The connect flow called the instance outside traffic control (its connection test counts in
      // Marketo's window like another tool's call would): start with an empty window.
      const waitFrom = performance.now();
      let beforeB = await counters(sb.info.admin, munchkinB);
      const preexisting = beforeB.callsInWindow;
      while (beforeB.callsInWindow > 0 && performance.now() - waitFrom < 25_000) {
        await sleep(250);
        beforeB = await counters(sb.info.admin, munchkinB);
      }
      const waited = performance.now() - waitFrom;
      const WORKERS = 30;
      const done: number[] = [];
      const caller = { c606: 0, c615: 0, http429: 0, other: 0 };
      let next = 0;
      const start = performance.now();
      await Promise.all(
        Array.from({ length: WORKERS }, async () => {
          while (next < RATE_CALLS) {
            const i = next++;
            const res = await fetch(`${tetherUrl}/proxy/rest/v1/lead/${1 + (i % 1000)}.json`, {
              headers: headersB,
            });
            const body = (await res.json()) as { success?: boolean; errors?: { code: string }[] };
            const codes = (body.errors ?? []).map((e) => e.code);
            if (res.status === 200 && body.success) done.push(performance.now() - start);
            else if (codes.includes('606')) caller.c606++;
            else if (codes.includes('615')) caller.c615++;
            else if (res.status === 429) caller.http429++;
            else caller.other++;
          }
        }),
      );
      const afterB = await counters(sb.info.admin, munchkinB);
      done.sort((a, b) => a - b);
      const W = 20_000;
      const perWindow: number[] = [];
      for (const t of done) perWindow[Math.floor(t / W)] = (perWindow[Math.floor(t / W)] ?? 0) + 1;
      let maxRolling = 0;
      for (let i = 0, j = 0; i < done.length; i++) {
        while (done[i]! - done[j]! >= W) j++;
        maxRolling = Math.max(maxRolling, i - j + 1);
      }
      // At exactly the allowed rate (100 per 20 s, the first 100 at once), call N completes
      // floor((N - 1) / 100) windows after the first: the share of the allowed rate is that ideal time
      // over the time it took.
      const ideal = Math.floor((done.length - 1) / 100) * W;
      const took = done.length > 1 ? done[done.length - 1]! - done[0]! : NaN;
      const rateShare = ideal / took;
      const sb606 = (afterB.errorsByCode['606'] ?? 0) - (beforeB.errorsByCode['606'] ?? 0);
      const sb615 = (afterB.errorsByCode['615'] ?? 0) - (beforeB.errorsByCode['615'] ?? 0);
      const toCallers = caller.c606 + caller.c615;
      console.log(
        `   Tether's limits for the instance: ${lb.rateMax} / ${lb.rateWindowMs} ms (+${lb.windowSkewMs} ms skew), ${lb.maxInFlight} in flight; ${WORKERS} callers; ` +
          `${preexisting} call(s) of the connect flow were in the sandbox's window, waited ${(waited / 1000).toFixed(1)} s for it to clear`,
      );
      console.log(
        `   ${done.length} completed in ${((performance.now() - start) / 1000).toFixed(1)} s; per 20 s window from the start: ${perWindow.map((n) => n ?? 0).join(', ')}; ` +
          `busiest rolling 20 s: ${maxRolling}`,
      );
      console.log(
        `   at exactly the allowed rate the last call would complete ${(ideal / 1000).toFixed(1)} s after the first; it took ${(took / 1000).toFixed(1)} s: ` +
          `${pct(rateShare)} of the allowed rate (target ≥ 95%: ${mark(rateShare >= 0.95)})`,
      );
      console.log(
        `   606/615 reaching callers: ${caller.c606}/${caller.c615}; seen by the sandbox: ${sb606}/${sb615}; ` +
          `other refusals to callers: ${caller.http429} HTTP 429, ${caller.other} other; sandbox peak in flight ${afterB.peakConcurrency}` +
          ` (target zero 606/615 to callers: ${mark(toCallers === 0)})`,
      );
    }
    if (PHASES.includes('4')) {
      // -- 4. RSS while a bulk file streams through ---------------------------------------------------
      console.log('\n4. Bulk export file streamed through the proxy');
      const proxyJson = async (method: string, path: string, body?: unknown) => {
        const res = await fetch(`${tetherUrl}/proxy${path}`, {
          method,
          headers: { ...proxyHeaders, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
          ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        });
        return (await res.json()) as {
          success: boolean;
          result?: { exportId: string; status: string; fileSize?: number; numberOfRecords?: number }[];
          errors?: unknown[];
        };
      };
      const describe = (await proxyJson('GET', '/rest/v1/leads/describe.json')) as unknown as {
        result: { rest: { name: string } }[];
      };
      const fields = describe.result.map((f) => f.rest.name);
      const endAt = new Date();
      const startAt = new Date(endAt.getTime() - 31 * 86_400_000);
      const exp = await proxyJson('POST', '/bulk/v1/leads/export/create.json', {
        fields,
        format: 'CSV',
        filter: {
          createdAt: {
            startAt: startAt.toISOString().slice(0, 19) + 'Z',
            endAt: endAt.toISOString().slice(0, 19) + 'Z',
          },
        },
      });
      if (!exp.success) throw new Error(`export create: ${JSON.stringify(exp)}`);
      const exportId = exp.result![0]!.exportId;
      await proxyJson('POST', `/bulk/v1/leads/export/${exportId}/enqueue.json`);
      const g0 = performance.now();
      let status = exp.result![0]!;
      while (status.status !== 'Completed') {
        await sleep(500);
        status = (await proxyJson('GET', `/bulk/v1/leads/export/${exportId}/status.json`)).result![0]!;
        if (status.status === 'Failed' || status.status === 'Cancelled')
          throw new Error(`export ${status.status}`);
      }
      const fileSize = status.fileSize ?? 0;
      console.log(
        `   one export of ${fields.length} fields over 31 days of ${BULK_LEADS.toLocaleString('en-US')} leads: ` +
          `${(status.numberOfRecords ?? 0).toLocaleString('en-US')} rows, ${mb(fileSize)} MB, generated in ${((performance.now() - g0) / 1000).toFixed(1)} s`,
      );
      await sleep(1000);
      const baseline = rssBytes(tetherPid);
      let peak = baseline;
      const sampler = setInterval(() => {
        peak = Math.max(peak, rssBytes(tetherPid));
      }, 50);
      const d0 = performance.now();
      const received = await new Promise<number>((resolve, reject) => {
        const u = new URL(`${tetherUrl}/proxy/bulk/v1/leads/export/${exportId}/file.json`);
        http
          .get({ host: u.hostname, port: u.port, path: u.pathname, headers: proxyHeaders }, (res) => {
            if (res.statusCode !== 200) reject(new Error(`file: HTTP ${res.statusCode}`));
            let n = 0;
            res.on('data', (c: Buffer) => (n += c.length));
            res.on('end', () => resolve(n));
            res.on('error', reject);
          })
          .on('error', reject);
      });
      const dlS = (performance.now() - d0) / 1000;
      clearInterval(sampler);
      peak = Math.max(peak, rssBytes(tetherPid));
      const growth = peak - baseline;
      const label =
        received >= 500e6
          ? 'one file ≥ 500 MB'
          : `one ${mb(received)} MB file (below 500 MB: BENCH_QUICK or BENCH_BULK_LEADS)`;
      console.log(
        `   streamed ${mb(received)} MB (${label}) in ${dlS.toFixed(1)} s = ${(received / 1e6 / dlS).toFixed(0)} MB/s; ` +
          `Tether RSS ${mb(baseline)} MB before, peak ${mb(peak)} MB: growth ${mb(growth)} MB (target < 50 MB: ${mark(growth < 50e6)})`,
      );
      if (received !== fileSize) throw new Error(`received ${received} bytes of ${fileSize}`);
    }
    const warnings = tether.lines.filter((l) => l.startsWith('{')).length;
    if (warnings > 0)
      console.log(
        `\n(Tether logged ${warnings} line(s) at ${LOG_LEVEL} or above; last: ${tether.lines.at(-1)})`,
      );
  } finally {
    for (const c of children.reverse()) await c.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--bare-proxy') {
  bareProxy(process.argv[3]!);
} else {
  await main();
}
