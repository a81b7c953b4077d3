import { createHash } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';
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
 * An export file being written: rows are encoded into a pooled buffer, which goes to disk (and through
 * the hash) when full. Used from the sandbox's main thread ({@link writeExportFile}) and from the file
 * thread (file-thread.ts), which feeds it rows as they arrive.
 */
export class ExportFileWriter {
  private readonly hash = createHash('sha256');
  private buf: Buffer | undefined = writeBuffers.take();
  private used = 0;
  private size = 0;
  private records = 0;

  private constructor(private readonly fh: FileHandle) {}

  /** Opens (creates or truncates) `path` and writes the `header` line (not a record). */
  static async open(path: string, header: string): Promise<ExportFileWriter> {
    const file = new ExportFileWriter(await open(path, 'w'));
    try {
      if (!file.put(header, 0)) await file.flushWith(header, 0);
    } catch (err) {
      await file.close();
      throw err;
    }
    return file;
  }

  /**
   * Puts `row` in the buffer; false when it did not fit (then {@link flushWith} it). A string holds
   * `records` lines (one by default; a quoted cell may hold line breaks, so they are not counted).
   */
  put(row: string | RowBytes, records = 1): boolean {
    const buf = this.buf!;
    if (typeof row === 'string') {
      // Surely fits: 3 bytes per UTF-16 unit at worst.
      if (this.used + row.length * 3 > BUFFER_BYTES) return false;
      this.used += buf.write(row, this.used);
      this.records += records;
      return true;
    }
    const end = this.used <= BUFFER_BYTES - ROW_HEADROOM ? row.write(buf, this.used) : BUFFER_BYTES + 1;
    if (end > BUFFER_BYTES) return false;
    this.used = end;
    this.records += row.records;
    return true;
  }

  /** Writes the buffer out, then takes `row` (on its own when larger than the buffer). */
  async flushWith(row: string | RowBytes, records = 1): Promise<void> {
    await this.writeOut(this.buf!.subarray(0, this.used));
    this.used = 0;
    if (this.put(row, records)) return;
    if (typeof row === 'string') {
      this.records += records;
      await this.writeOut(Buffer.from(row, 'utf8'));
    } else {
      this.records += row.records;
      await this.writeOut(oversized(row));
    }
  }

  /** Writes what is buffered; the file's figures. */
  async finish(): Promise<WrittenFile> {
    if (this.used > 0) await this.writeOut(this.buf!.subarray(0, this.used));
    this.used = 0;
    return { records: this.records, size: this.size, checksum: `sha256:${this.hash.digest('hex')}` };
  }

  /** Closes the file and gives the buffer back (every write was awaited: nothing refers to it). */
  async close(): Promise<void> {
    if (this.buf !== undefined) writeBuffers.give(this.buf);
    this.buf = undefined;
    await this.fh.close();
  }

  private async writeOut(bytes: Buffer): Promise<void> {
    this.hash.update(bytes);
    this.size += bytes.length;
    let off = 0;
    while (off < bytes.length) off += (await this.fh.write(bytes, off)).bytesWritten;
  }
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
  const file = await ExportFileWriter.open(path, header);
  try {
    let sliceStart = performance.now();
    let seen = 0;
    for (const row of rows) {
      if (row !== undefined && !file.put(row)) {
        // The awaited write lets other requests run.
        await file.flushWith(row);
        if (stopped()) return undefined;
        sliceStart = performance.now();
        continue;
      }
      if ((++seen & 1023) === 0 && performance.now() - sliceStart > SLICE_MS) {
        // Filtered sources can scan long runs without producing output: yield on time too.
        await yieldToLoop();
        if (stopped()) return undefined;
        sliceStart = performance.now();
      }
    }
    return await file.finish();
  } finally {
    await file.close();
  }
}
