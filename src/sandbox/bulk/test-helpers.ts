import { createHash } from 'node:crypto';
import { connect } from 'node:net';
import type { MarketoBody, TestSandbox } from '../testing.ts';

/** Shared by the bulk extract tests: job calls as clients make them, and an RFC 4180 reader. */

export type Kind = 'leads' | 'activities';

export const DAY_MS = 86_400_000;

export function iso(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19) + 'Z';
}

export function createJob(sb: TestSandbox, kind: Kind, body: unknown): Promise<MarketoBody> {
  return sb.apiJson(`/bulk/v1/${kind}/export/create.json`, { method: 'POST', json: body });
}

/** Enqueue as node-marketo does: POST with an `_method=POST` urlencoded body. */
export function enqueue(sb: TestSandbox, kind: Kind, id: string): Promise<MarketoBody> {
  return sb.apiJson(`/bulk/v1/${kind}/export/${id}/enqueue.json`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: '_method=POST',
  });
}

export function cancel(sb: TestSandbox, kind: Kind, id: string): Promise<MarketoBody> {
  return sb.apiJson(`/bulk/v1/${kind}/export/${id}/cancel.json`, { method: 'POST' });
}

export async function status(sb: TestSandbox, kind: Kind, id: string): Promise<Record<string, unknown>> {
  const body = await sb.apiJson(`/bulk/v1/${kind}/export/${id}/status.json`);
  if (!body.success) throw new Error(`status failed: ${JSON.stringify(body.errors)}`);
  return body.result![0]!;
}

/** Poll until the job reaches one of `wanted` (tests keep processing time at 0 or move the clock). */
export async function waitFor(
  sb: TestSandbox,
  kind: Kind,
  id: string,
  wanted: string[] = ['Completed'],
  timeoutMs = 15_000,
): Promise<Record<string, unknown>> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const s = await status(sb, kind, id);
    if (wanted.includes(s.status as string)) return s;
    if (Date.now() > until) throw new Error(`job ${id} still ${String(s.status)}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Create, enqueue and wait for one job; returns its id and final status. */
export async function runJob(
  sb: TestSandbox,
  kind: Kind,
  body: unknown,
): Promise<{ id: string; status: Record<string, unknown> }> {
  const created = await createJob(sb, kind, body);
  if (!created.success) throw new Error(`create failed: ${JSON.stringify(created.errors)}`);
  const id = created.result![0]!.exportId as string;
  const queued = await enqueue(sb, kind, id);
  if (!queued.success) throw new Error(`enqueue failed: ${JSON.stringify(queued.errors)}`);
  return { id, status: await waitFor(sb, kind, id) };
}

export async function download(sb: TestSandbox, kind: Kind, id: string): Promise<Buffer> {
  const res = await sb.api(`/bulk/v1/${kind}/export/${id}/file.json`);
  if (res.status !== 200) throw new Error(`file answered ${res.status}`);
  return Buffer.from(await res.arrayBuffer());
}

/** A small RFC 4180 reader (quoted cells, `""` escapes, line breaks inside quotes). */
export function parseDelimited(text: string, delimiter = ','): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  let atCellStart = true;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c !== '"') cell += c;
      else if (text[i + 1] === '"') {
        cell += '"';
        i++;
      } else quoted = false;
      continue;
    }
    if (c === '"' && atCellStart) {
      quoted = true;
      atCellStart = false;
    } else if (c === delimiter) {
      row.push(cell);
      cell = '';
      atCellStart = true;
    } else if (c === '\n') {
      row.push(cell);
      rows.push(row);
      row = [];
      cell = '';
      atCellStart = true;
    } else {
      cell += c;
      atCellStart = false;
    }
  }
  if (!atCellStart || row.length > 0) {
    row.push(cell);
    rows.push(row);
  }
  return rows;
}

/** What a REST value looks like in an export cell. */
export function asCell(v: unknown): string {
  return v === null || v === undefined || v === '' ? 'null' : String(v);
}

const spareBuffers: Buffer[] = [];

/**
 * GET a file over a plain socket that reads into one reused buffer, hashing as bytes arrive: a
 * download of any size allocates nothing per chunk, so memory measured around it is the server's.
 */
export function rawDownload(
  base: string,
  path: string,
  token: string,
): Promise<{ status: number; size: number; sha256: string }> {
  const url = new URL(base + path);
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    let head = '';
    let status = 0;
    let remaining = -1;
    let size = 0;
    let done = false;
    const buf = spareBuffers.pop() ?? Buffer.allocUnsafe(256 * 1024);
    const finish = (err?: Error) => {
      if (done) return;
      done = true;
      socket.destroy();
      spareBuffers.push(buf);
      if (err) reject(err);
      else resolve({ status, size, sha256: hash.digest('hex') });
    };
    const socket = connect({
      host: url.hostname,
      port: Number(url.port),
      onread: {
        buffer: buf,
        callback: (n) => {
          let from = 0;
          if (remaining < 0) {
            const before = head.length;
            head += buf.toString('latin1', 0, n);
            const end = head.indexOf('\r\n\r\n');
            if (end === -1) return true;
            status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1]);
            remaining = Number(/\r\ncontent-length: *(\d+)/i.exec(head.slice(0, end))?.[1] ?? 0);
            from = end + 4 - before;
            head = '';
          }
          const body = buf.subarray(from, n);
          hash.update(body);
          size += body.length;
          remaining -= body.length;
          if (remaining <= 0) finish();
          return true;
        },
      },
    });
    socket.on('connect', () =>
      socket.write(
        `GET ${url.pathname} HTTP/1.1\r\nHost: ${url.host}\r\nAuthorization: Bearer ${token}\r\nConnection: close\r\n\r\n`,
      ),
    );
    socket.on('error', (err) => finish(err));
    socket.on('close', () => finish(remaining > 0 ? new Error('connection closed early') : undefined));
  });
}
