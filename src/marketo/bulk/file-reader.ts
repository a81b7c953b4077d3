/**
 * Reads one export file as it downloads: bytes are hashed (sha256) and counted on the way into the CSV
 * parser, the first `skipRows` data rows are dropped (a restart already saved them), and the file's last
 * batch is only handed out once the checksum matched, so a caller that saves it as "job done" never
 * saves a corrupt end. One batch is held back to know which is last; nothing else is kept.
 */
import { createHash } from 'node:crypto';
import { readEnvelope } from '../models/api.ts';
import { MarketoSyncError, type DownloadResponse, type SyncIO } from '../models/types.ts';
import { offloadedBatches, type RecipeReader } from './csv-offload.ts';
import { CsvError, csvBatches, type CsvBatch, type CsvOptions, type CsvRow } from './csv.ts';

export interface FileExpectation {
  fileSize?: number;
  /** `sha256:<hex>` as Marketo reports it. */
  fileChecksum?: string;
}

export interface FileBatch<T = CsvRow> {
  batch: CsvBatch<T>;
  last: boolean;
}

/**
 * How a read ended: `done` (every batch handed out, checksum good or not known), `gone` (404: not
 * there any more), `mismatch` (bytes differ from `fileChecksum`/`fileSize`: the last batch was held
 * back and the caller decides whether to read again).
 */
export type FileOutcome =
  | { kind: 'done'; bytes: number }
  | { kind: 'gone' }
  | { kind: 'mismatch'; actual: string; bytes: number; csvError?: CsvError };

const textDecoder = new TextDecoder();

async function readText(res: DownloadResponse, limit = 64 * 1024): Promise<string> {
  let text = '';
  for await (const chunk of res.body) {
    text += textDecoder.decode(chunk, { stream: true });
    if (text.length > limit) break;
  }
  return text;
}

/** Not a file: a JSON envelope (auth, permission, rate errors come that way) or an HTTP error. */
async function refusal(res: DownloadResponse, path: string): Promise<Error> {
  const text = await readText(res);
  if ((res.headers['content-type'] ?? '').includes('json')) {
    try {
      readEnvelope(JSON.parse(text) as unknown, path);
    } catch (err) {
      if (err instanceof MarketoSyncError) return err;
    }
    return new MarketoSyncError('invalid_envelope', 'a JSON body instead of an export file', path);
  }
  return new MarketoSyncError(`http_${res.status}`, text.slice(0, 200) || `HTTP ${res.status}`, path);
}

export async function* readExportFile<T = CsvRow>(
  io: SyncIO,
  path: string,
  opts: {
    skipRows: number;
    batchRows: number;
    expect: FileExpectation;
    /**
     * Items from rows (default: the rows), see {@link CsvOptions.reader}. One with a recipe
     * (csv-offload.ts withRecipe) lets the file be parsed on the CSV worker thread.
     */
    reader?: RecipeReader<T>;
  },
): AsyncGenerator<FileBatch<T>, FileOutcome> {
  const res = await io.download(path);
  let inner: AsyncIterator<Uint8Array> | undefined;
  let ended = false;
  try {
    if (res.status === 404) return { kind: 'gone' };
    const json = (res.headers['content-type'] ?? '').includes('json');
    if (res.status !== 200 || json) throw await refusal(res, path);

    const hash = createHash('sha256');
    let size = 0;
    const body = res.body[Symbol.asyncIterator]();
    inner = body;
    // The parser may stop early (a CsvError): its `return()` must not close the body, which is then
    // drained into the hash to tell a corrupt download (read again) from a malformed file.
    const source: AsyncIterable<Uint8Array> = {
      [Symbol.asyncIterator]: () => ({
        next: async () => {
          const r = await body.next();
          if (r.done) ended = true;
          else {
            hash.update(r.value);
            size += r.value.byteLength;
          }
          return r;
        },
        return: async () => ({ done: true, value: undefined }),
      }),
    };

    let skip = opts.skipRows;
    let held: CsvBatch<T> | undefined;
    let header: string[] | undefined;
    let csvError: CsvError | undefined;
    try {
      const reader = opts.reader;
      let batches: AsyncIterable<CsvBatch<T>>;
      if (reader?.recipe !== undefined) {
        batches = offloadedBatches<T>(source, { batchRows: opts.batchRows, reader, recipe: reader.recipe });
      } else {
        const csvOptions: CsvOptions<T> = { batchRows: opts.batchRows };
        if (reader) csvOptions.reader = reader;
        batches = csvBatches<T>(source, csvOptions);
      }
      for await (const batch of batches) {
        header = batch.header;
        let rows = batch.rows;
        if (skip > 0) {
          const n = Math.min(skip, rows.length);
          skip -= n;
          if (n === rows.length) continue;
          rows = rows.slice(n);
        }
        if (held) yield { batch: held, last: false };
        held = { header: batch.header, rows, bytes: batch.bytes };
      }
    } catch (err) {
      if (!(err instanceof CsvError)) throw err;
      csvError = err;
    }
    while (!ended) {
      const r = await body.next();
      if (r.done) ended = true;
      else {
        hash.update(r.value);
        size += r.value.byteLength;
      }
    }

    const actual = `sha256:${hash.digest('hex')}`;
    const want = opts.expect;
    const sumOk = want.fileChecksum === undefined || want.fileChecksum.toLowerCase() === actual;
    const sizeOk = want.fileSize === undefined || want.fileSize === size;
    if (!sumOk || !sizeOk) {
      return csvError
        ? { kind: 'mismatch', actual, bytes: size, csvError }
        : { kind: 'mismatch', actual, bytes: size };
    }
    // The bytes are Marketo's: a parse error is the file's own, not the download's.
    if (csvError) throw new MarketoSyncError('invalid_file', csvError.message, path);
    // The job must leave the caller's state even when it had no (more) rows: an empty last batch.
    yield { batch: held ?? { header: header ?? [], rows: [], bytes: size }, last: true };
    return { kind: 'done', bytes: size };
  } finally {
    // Stopped early (the caller broke off, or an error): close the stream, then free the call.
    if (inner && !ended) await inner.return?.().catch(() => undefined);
    res.cancel();
  }
}
