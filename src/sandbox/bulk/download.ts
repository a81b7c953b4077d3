import { open, type FileHandle } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import { BufferPool } from './buffers.ts';

/**
 * Serving an export file as Marketo does: the raw bytes (never gzip), byte ranges for clients that
 * download in parts or probe with `bytes=0-0`, 404 plain text while there is no file.
 */

export type ByteRange = { start: number; end: number };

/**
 * The range a `Range` header asks for: a range, `'unsatisfiable'`, or undefined to send the whole
 * file (no header, a syntax the server may ignore, or several ranges).
 */
export function parseRange(
  header: string | undefined,
  size: number,
): ByteRange | 'unsatisfiable' | undefined {
  if (header === undefined) return undefined;
  const m = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(m[1]);
  const last = m[2] === '' ? Infinity : Number(m[2]);
  if (last < start) return undefined;
  if (start >= size) return 'unsatisfiable';
  return { start, end: Math.min(last, size - 1) };
}

export function sendNotAvailable(res: ServerResponse): void {
  const body = 'Export file not available';
  res.writeHead(404, {
    'Content-Type': 'text/plain;charset=UTF-8',
    'Content-Length': Buffer.byteLength(body),
  });
  res.end(body);
}

/** Read buffers: two per download are all the memory a download holds. */
const readBuffers = new BufferPool(256 * 1024, 8);
const CHUNK_BYTES = readBuffers.size;

/**
 * Stream `path` (of `size` bytes) honouring `rangeHeader`; `onBytes` sees every chunk sent.
 *
 * Two buffers take turns: one is read into while the socket drains the other. A read stream would
 * allocate a fresh buffer per chunk, and a large download would pile up tens of megabytes of
 * garbage before the next collection.
 */
export function sendFile(
  res: ServerResponse,
  path: string,
  size: number,
  rangeHeader: string | undefined,
  onBytes: (n: number) => void,
): void {
  const range = parseRange(rangeHeader, size);
  if (range === 'unsatisfiable') {
    res.writeHead(416, { 'Content-Range': `bytes */${size}`, 'Accept-Ranges': 'bytes', 'Content-Length': 0 });
    res.end();
    return;
  }
  const start = range?.start ?? 0;
  const end = range?.end ?? size - 1;
  const headers: Record<string, string | number> = {
    'Content-Type': 'text/csv',
    'Content-Length': Math.max(0, end - start + 1),
    'Accept-Ranges': 'bytes',
  };
  if (range) headers['Content-Range'] = `bytes ${start}-${end}/${size}`;
  pump(res, path, start, end, () => res.writeHead(range ? 206 : 200, headers), onBytes).catch(() =>
    res.destroy(),
  );
}

/** Resolves true once `chunk` left for the socket, false if the connection closed first. */
function write(res: ServerResponse, chunk: Buffer): Promise<boolean> {
  return new Promise((resolve) => {
    const onClose = () => resolve(false);
    res.once('close', onClose);
    res.write(chunk, (err) => {
      res.off('close', onClose);
      resolve(!err);
    });
  });
}

async function pump(
  res: ServerResponse,
  path: string,
  start: number,
  end: number,
  writeHead: () => void,
  onBytes: (n: number) => void,
): Promise<void> {
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch {
    // Deleted since the status check (cancel, expiry, reset): no file to give.
    sendNotAvailable(res);
    return;
  }
  const length = Math.max(0, end - start + 1);
  // Probes (`bytes=0-0`) and small files get buffers of their own size; big reads use the pool.
  const pooled = length >= CHUNK_BYTES;
  const bufSize = pooled ? CHUNK_BYTES : Math.max(1, length);
  const bufs = pooled
    ? [readBuffers.take(), readBuffers.take()]
    : [Buffer.allocUnsafe(bufSize), Buffer.allocUnsafe(bufSize)];
  let settled = false;
  try {
    writeHead();
    let draining: Promise<boolean> = Promise.resolve(true);
    let pos = start;
    for (let i = 0; pos <= end; i++) {
      // This buffer's previous write finished before the last `await draining`.
      const buf = bufs[i & 1]!;
      const { bytesRead } = await fh.read(buf, 0, Math.min(bufSize, end - pos + 1), pos);
      if (bytesRead === 0) break;
      pos += bytesRead;
      if (!(await draining) || res.destroyed) {
        settled = true;
        return;
      }
      draining = write(res, bytesRead === bufSize ? buf : buf.subarray(0, bytesRead));
      onBytes(bytesRead);
    }
    const sent = await draining;
    settled = true;
    if (!sent) return;
    // A file cut short cannot keep the promised Content-Length: drop the connection instead.
    if (pos <= end) res.destroy();
    else res.end();
  } finally {
    // After a failed read a write may still hold a buffer: leave those to the collector.
    if (pooled && settled) for (const b of bufs) readBuffers.give(b);
    await fh.close();
  }
}
