import type { IncomingMessage, ServerResponse } from 'node:http';
import { gzipSync } from 'node:zlib';

export const JSON_TYPE = 'application/json;charset=UTF-8';

/** Read a request body up to `limit` bytes; `null` when it is larger (the caller answers 413). */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        over = true;
        chunks.length = 0;
        return;
      }
      if (!over) chunks.push(chunk);
    });
    req.on('end', () => resolve(over ? null : chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** Send a JSON body, gzip-compressed when asked for and worth it (Marketo compresses ≥1 KiB). */
export function sendJson(
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  body: unknown,
  opts: { gzip?: boolean; headers?: Record<string, string> } = {},
): void {
  let payload: Buffer | string = JSON.stringify(body);
  const headers: Record<string, string | number> = { 'Content-Type': JSON_TYPE, ...opts.headers };
  if (opts.gzip && payload.length >= 1024 && /\bgzip\b/.test(req.headers['accept-encoding'] ?? '')) {
    payload = gzipSync(payload, { level: 1 });
    headers['Content-Encoding'] = 'gzip';
    headers['Vary'] = 'Accept-Encoding';
  }
  headers['Content-Length'] = Buffer.byteLength(payload);
  res.writeHead(status, headers);
  res.end(payload);
}

/** nginx-style HTML error pages, as Marketo's gateway sends for 413/414/5xx. */
export function sendGatewayError(res: ServerResponse, status: number): void {
  const reason: Record<number, string> = {
    413: 'Request Entity Too Large',
    414: 'Request-URI Too Large',
    500: 'Internal Server Error',
    502: 'Bad Gateway',
    503: 'Service Temporarily Unavailable',
    504: 'Gateway Time-out',
  };
  const text = `${status} ${reason[status] ?? 'Error'}`;
  const body = `<html>\r\n<head><title>${text}</title></head>\r\n<body>\r\n<center><h1>${text}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n`;
  res.writeHead(status, {
    'Content-Type': 'text/html',
    'Content-Length': Buffer.byteLength(body),
    Connection: 'close',
  });
  res.end(body);
}
