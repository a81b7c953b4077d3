/**
 * `npm run bench:sandbox`: how fast the Marketo sandbox answers, so that it is never the
 * bottleneck when Tether is measured against it. The sandbox runs in its own process (one core);
 * the load comes from this process. Prints requests/s for a simple lead read (limits off) and
 * MB/s for a bulk-extract file download.
 */
import { readFileSync } from 'node:fs';
import autocannon from 'autocannon';
import { getToken, spawnSandbox } from './lib.ts';

const LEADS = Number(process.env.BENCH_LEADS ?? 1_000_000);
const DURATION = Number(process.env.BENCH_SECONDS ?? 10);

/** CPU time (user + system) of a process in ms, from /proc (USER_HZ is 100 on Linux). */
function cpuMs(pid: number | undefined): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return NaN;
  }
}

const sb = await spawnSandbox(['--no-limits', '--leads', String(LEADS), '--seed', '42']);
try {
  const token = await getToken(sb.info);
  const auth = { authorization: `Bearer ${token}` };

  // 1. Simple lead read, keep-alive, 64 connections.
  const ids = Array.from({ length: 1000 }, (_, i) => 1 + ((i * 7919) % LEADS));
  let n = 0;
  const result = await autocannon({
    url: sb.info.endpoint,
    connections: 64,
    pipelining: 1,
    duration: DURATION,
    headers: auth,
    requests: [
      {
        method: 'GET',
        setupRequest: (req) => ({
          ...req,
          path: new URL(`${sb.info.endpoint}/v1/lead/${ids[n++ % ids.length]}.json`).pathname,
        }),
      },
    ],
  });
  const ok = result['2xx'];
  // HTTP 200 also carries Marketo errors: check what the sandbox says it served.
  const counters = (await (
    await fetch(`${sb.info.admin}/instances/${sb.info.munchkinId}/counters`)
  ).json()) as {
    byEndpoint: Record<string, number>;
    errorsByCode: Record<string, number>;
  };
  const served = counters.byEndpoint['GET /rest/v1/lead/:id.json'] ?? 0;
  const errors = Object.values(counters.errorsByCode).reduce((a, b) => a + b, 0);
  if (errors > 0 || served < ok) {
    throw new Error(
      `lead reads were not all served: ${served} served, errors ${JSON.stringify(counters.errorsByCode)}`,
    );
  }
  console.log(
    `lead read: ${Math.round(result.requests.average)} requests/s (p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms, ${ok} ok, ${result.non2xx} non-2xx, ${result.errors} errors)`,
  );

  // 2. Bulk extract of every lead, then a timed download of the file.
  const base = sb.info.endpoint.replace(/\/rest$/, '');
  const post = async (path: string, body?: unknown) =>
    (await (
      await fetch(base + path, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      })
    ).json()) as {
      success: boolean;
      result?: { exportId: string; status: string; fileSize?: number }[];
      errors?: unknown[];
    };
  const endAt = new Date();
  const startAt = new Date(endAt.getTime() - 31 * 86_400_000);
  // Generated leads span 730 days; one 31-day window is enough to measure serving speed.
  const created = await post('/bulk/v1/leads/export/create.json', {
    fields: ['id', 'email', 'firstName', 'lastName', 'company', 'city', 'country', 'createdAt', 'updatedAt'],
    format: 'CSV',
    filter: {
      createdAt: {
        startAt: startAt.toISOString().slice(0, 19) + 'Z',
        endAt: endAt.toISOString().slice(0, 19) + 'Z',
      },
    },
  });
  if (!created.success) throw new Error(`export create failed: ${JSON.stringify(created)}`);
  const exportId = created.result![0]!.exportId;
  const t0 = performance.now();
  // The sandbox's own CPU while it generates (status polls included): what it takes from the
  // machine while a client downloads.
  const cpu0 = cpuMs(sb.child.pid);
  await post(`/bulk/v1/leads/export/${exportId}/enqueue.json`);
  let status = '';
  let fileSize = 0;
  let records = 0;
  while (status !== 'Completed') {
    const s = (await (
      await fetch(`${base}/bulk/v1/leads/export/${exportId}/status.json`, { headers: auth })
    ).json()) as {
      result: { status: string; fileSize?: number; numberOfRecords?: number }[];
    };
    status = s.result[0]!.status;
    fileSize = s.result[0]!.fileSize ?? 0;
    records = s.result[0]!.numberOfRecords ?? 0;
    if (status === 'Failed' || status === 'Cancelled') throw new Error(`export ${status}`);
    if (status !== 'Completed') await new Promise((r) => setTimeout(r, 50));
  }
  const genMs = performance.now() - t0;
  const genCpuMs = cpuMs(sb.child.pid) - cpu0;
  // Serving speed: download the file repeatedly, one stream at a time, for a few seconds.
  const t1 = performance.now();
  let bytes = 0;
  let downloads = 0;
  while (performance.now() - t1 < 3000 || downloads === 0) {
    const res = await fetch(`${base}/bulk/v1/leads/export/${exportId}/file.json`, { headers: auth });
    for await (const chunk of res.body!) bytes += (chunk as Uint8Array).byteLength;
    downloads++;
  }
  const dlMs = performance.now() - t1;
  console.log(
    `bulk file: ${records} leads, ${(fileSize / 1e6).toFixed(1)} MB generated in ${(genMs / 1000).toFixed(2)} s ` +
      `(sandbox CPU ${((genCpuMs * 1000) / Math.max(1, records)).toFixed(1)} µs per lead); ` +
      `${downloads} downloads at ${(bytes / 1e6 / (dlMs / 1000)).toFixed(0)} MB/s`,
  );
} finally {
  await sb.stop();
}
