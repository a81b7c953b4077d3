import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { BufferPool } from './buffers.ts';

/**
 * Delimited-text encoding of bulk extract files (RFC 4180 quoting) and a streaming file writer that
 * hashes and measures what it writes, so a file of any size never sits in memory.
 */

export type ExportFormat = 'CSV' | 'TSV' | 'SSV';

export const FORMATS: readonly ExportFormat[] = ['CSV', 'TSV', 'SSV'];

const DELIMITERS: Record<ExportFormat, string> = { CSV: ',', TSV: '\t', SSV: ';' };

export type Cell = string | number | boolean | null | undefined;

export class RowEncoder {
  readonly delimiter: string;
  private readonly special: RegExp;

  constructor(format: ExportFormat) {
    this.delimiter = DELIMITERS[format];
    // Only cells holding the delimiter, a quote or a line break need quoting; the rest go out as is.
    this.special = new RegExp(`["\\r\\n${this.delimiter === '\t' ? '\\t' : this.delimiter}]`);
  }

  /** One cell: Marketo writes missing and empty values as the literal `null`. */
  cell(value: Cell): string {
    if (value === null || value === undefined || value === '') return 'null';
    if (typeof value !== 'string') return String(value);
    return this.special.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
  }

  /** One record, LF-terminated as Marketo's files are. */
  row(cells: readonly Cell[]): string {
    let line = this.cell(cells[0]);
    for (let i = 1; i < cells.length; i++) line += this.delimiter + this.cell(cells[i]);
    return line + '\n';
  }
}

/**
 * Rows that write their own bytes: `write` puts their UTF-8 into `buf` from `at` and returns the
 * offset after them. The writer leaves {@link ROW_HEADROOM} bytes free for it; when the rows need
 * more, `write` returns an offset past `buf.length` and is called again with an empty or a larger
 * buffer, so it must write the same bytes every time.
 */
export interface RowBytes {
  /** How many records the bytes hold. */
  records: number;
  write(buf: Buffer, at: number): number;
}

/**
 * Source rows: an encoded line, a {@link RowBytes} (written before the next row is taken), or
 * `undefined` for a record looked at and left out.
 */
export type RowSource = Iterable<string | RowBytes | undefined>;

export interface WrittenFile {
  records: number;
  size: number;
  /** `sha256:<hex>` as the job status reports it. */
  checksum: string;
}

/** Write buffers: rows are encoded straight into one, so no large string is ever built. */
const writeBuffers = new BufferPool(1024 * 1024, 4);
const BUFFER_BYTES = writeBuffers.size;
/** Room left for {@link RowBytes}: batches of generated lead lines stay below it. */
export const ROW_HEADROOM = 64 * 1024;
/** Longest stretch of synchronous work before the writer lets other requests run. */
const SLICE_MS = 12;

/** Rows longer than the write buffer, in a buffer of their own. */
function oversized(row: RowBytes): Buffer {
  let big = Buffer.allocUnsafe(BUFFER_BYTES * 2);
  let end: number;
  while ((end = row.write(big, 0)) > big.length) big = Buffer.allocUnsafe(big.length * 2);
  return big.subarray(0, end);
}

/**
 * Write `header` then every row of `rows` to `path`, hashing as it goes. Returns undefined when
 * `stopped()` turned true midway (the caller deletes the partial file).
 */

export async function writeExportFile(
  path: string,
  header: string,
  rows: RowSource,
  stopped: () => boolean,
): Promise<WrittenFile | undefined> {
  const hash = createHash('sha256');
  let used = 0;
  let size = 0;
  let records = 0;
  const fh = await open(path, 'w');
  const buf = writeBuffers.take();
  const writeOut = async (bytes: Buffer) => {
    hash.update(bytes);
    size += bytes.length;
    let off = 0;
    while (off < bytes.length) off += (await fh.write(bytes, off)).bytesWritten;
  };
  /** Append a line if it surely fits (3 bytes per UTF-16 unit at worst); false when full. */
  const put = (line: string): boolean => {
    if (used + line.length * 3 > BUFFER_BYTES) return false;
    used += buf.write(line, used);
    return true;
  };
  /** Flush the buffer, then take the line (written on its own when larger than the buffer). */
  const flushWith = async (line: string) => {
    await writeOut(buf.subarray(0, used));
    used = 0;
    if (!put(line)) await writeOut(Buffer.from(line, 'utf8'));
  };
  try {
    if (!put(header)) await flushWith(header);
    let sliceStart = performance.now();
    let seen = 0;
    for (const line of rows) {
      if (typeof line === 'object') {
        records += line.records;
        const end = used <= BUFFER_BYTES - ROW_HEADROOM ? line.write(buf, used) : BUFFER_BYTES + 1;
        if (end <= BUFFER_BYTES) {
          used = end;
        } else {
          // The awaited write lets other requests run.
          await writeOut(buf.subarray(0, used));
          used = line.write(buf, 0);
          if (used > BUFFER_BYTES) {
            used = 0;
            await writeOut(oversized(line));
          }
          if (stopped()) return undefined;
          sliceStart = performance.now();
          continue;
        }
      } else if (line !== undefined) {
        records++;
        if (!put(line)) {
          // The awaited write lets other requests run.
          await flushWith(line);
          if (stopped()) return undefined;
          sliceStart = performance.now();
          continue;
        }
      }
      if ((++seen & 1023) === 0 && performance.now() - sliceStart > SLICE_MS) {
        // Filtered sources can scan long runs without producing output: yield on time too.
        await yieldToLoop();
        if (stopped()) return undefined;
        sliceStart = performance.now();
      }
    }
    if (used > 0) await writeOut(buf.subarray(0, used));
    return { records, size, checksum: `sha256:${hash.digest('hex')}` };
  } finally {
    // Every write was awaited: nothing refers to the buffer any more.
    writeBuffers.give(buf);
    await fh.close();
  }
}
