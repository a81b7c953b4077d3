import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { LEAD_FIELDS } from '../leads/fields.ts';
import { RowEncoder, writeExportFile, type RowSource } from './csv.ts';
import { fileThreadCounts, stopFileThread, useFileThread, writeExportFileOffThread } from './file-thread.ts';
import { LeadBatch, type GeneratedLines } from './rows.ts';

const dir = mkdtempSync(join(tmpdir(), 'sandbox-file-thread-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(() => useFileThread(true));

const FIELDS = LEAD_FIELDS.map((f) => f.name);
const enc = new RowEncoder('CSV');
const first: GeneratedLines = {
  info: { seed: 42, leads: 30_000, asOf: Date.UTC(2024, 4, 17) },
  fields: FIELDS,
  delimiter: ',',
};
// Another seed: a reseed in the middle of an export gives lines from the new seed.
const second: GeneratedLines = {
  info: { seed: 7, leads: 30_000, asOf: Date.UTC(2024, 4, 17) },
  fields: FIELDS,
  delimiter: ',',
};

/**
 * What leadRows yields for an export mixing untouched leads (batches of ids) and leads the API wrote
 * (encoded lines, one with a quoted line break), skipped ids, and a reseed: ~14 MB, many parts.
 */
function* mixedRows(onRow: (n: number) => void = () => undefined): RowSource {
  const batch = new LeadBatch();
  let n = 0;
  for (let id = 1; id <= 22_000; id++) {
    onRow(++n);
    if (id % 997 === 0) {
      if (batch.records > 0) {
        yield batch;
        batch.records = 0;
      }
      yield enc.row([id, `Changed "${id}"`, 'two\nlines', null, 'é, ü']);
      continue;
    }
    if (id % 1_501 === 0) {
      yield undefined;
      continue;
    }
    if (batch.records === 0) batch.use(id <= 15_000 ? first : second);
    batch.ids[batch.records++] = id;
    if (batch.records === 64 || id === 15_000) {
      yield batch;
      batch.records = 0;
    }
  }
  if (batch.records > 0) yield batch;
}

const header = enc.row(FIELDS);
const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

describe('export files on the file thread', () => {
  it('are byte for byte the files the main thread writes, with the same figures', async () => {
    const onMain = join(dir, 'main.csv');
    const onThread = join(dir, 'thread.csv');
    const before = fileThreadCounts.thread;
    const main = await writeExportFile(onMain, header, mixedRows(), () => false);
    const thread = await writeExportFileOffThread(onThread, header, mixedRows(), () => false);
    expect(fileThreadCounts.thread).toBe(before + 1);
    const bytes = readFileSync(onThread);
    expect(bytes.equals(readFileSync(onMain))).toBe(true);
    expect(bytes.length).toBeGreaterThan(10_000_000);
    // Every id but the skipped ones: a line with a quoted line break is one record.
    const records = 22_000 - Math.floor(22_000 / 1_501);
    expect(thread).toEqual({ records, size: bytes.length, checksum: sha(bytes) });
    expect(main).toEqual(thread);
  });

  it('writes on the main thread when switched off', async () => {
    useFileThread(false);
    const before = { ...fileThreadCounts };
    const path = join(dir, 'off.csv');
    const written = await writeExportFileOffThread(path, header, mixedRows(), () => false);
    expect(fileThreadCounts).toEqual({ thread: before.thread, inThread: before.inThread + 1 });
    expect(written?.checksum).toBe(sha(readFileSync(path)));
  });

  it('stops midway when asked to, and then writes the next file', async () => {
    let stop = false;
    const stopped = await writeExportFileOffThread(
      join(dir, 'stopped.csv'),
      header,
      mixedRows((n) => (stop ||= n > 5_000)),
      () => stop,
    );
    expect(stopped).toBeUndefined();
    const path = join(dir, 'after-stop.csv');
    const written = await writeExportFileOffThread(path, header, mixedRows(), () => false);
    expect(written?.records).toBe(22_000 - Math.floor(22_000 / 1_501));
    expect(written?.checksum).toBe(sha(readFileSync(path)));
  });

  it('fails with the error of rows that throw, and then writes the next file', async () => {
    const rows = mixedRows((n) => {
      if (n === 9_000) throw new Error('lead store gone');
    });
    await expect(writeExportFileOffThread(join(dir, 'threw.csv'), header, rows, () => false)).rejects.toThrow(
      'lead store gone',
    );
    const path = join(dir, 'after-throw.csv');
    const written = await writeExportFileOffThread(path, header, mixedRows(), () => false);
    expect(written?.checksum).toBe(sha(readFileSync(path)));
  });

  it('fails the file it was writing when the thread stops; the next file gets a new thread', async () => {
    let stopping: Promise<void> | undefined;
    const rows = mixedRows((n) => {
      if (n === 6_000) stopping = stopFileThread();
    });
    await expect(writeExportFileOffThread(join(dir, 'died.csv'), header, rows, () => false)).rejects.toThrow(
      /sandbox file thread stopped/,
    );
    await stopping;
    const before = fileThreadCounts.thread;
    const path = join(dir, 'after-death.csv');
    const written = await writeExportFileOffThread(path, header, mixedRows(), () => false);
    expect(fileThreadCounts.thread).toBe(before + 1);
    const onMain = join(dir, 'after-death-main.csv');
    await writeExportFile(onMain, header, mixedRows(), () => false);
    expect(readFileSync(path).equals(readFileSync(onMain))).toBe(true);
    expect(written?.checksum).toBe(sha(readFileSync(path)));
  });

  it('makes files one after the other, in the order they began; a waiting one stopped ends at once', async () => {
    const done: string[] = [];
    const track = (name: string, p: Promise<unknown>) => p.then(() => done.push(name));
    const small = function* (): RowSource {
      yield enc.row([1, 'small']);
    };
    let stopWaiting = false;
    const big = track(
      'big',
      writeExportFileOffThread(join(dir, 'big.csv'), header, mixedRows(), () => false),
    );
    const after = track(
      'small',
      writeExportFileOffThread(join(dir, 'small.csv'), header, small(), () => false),
    );
    const waiting = writeExportFileOffThread(
      join(dir, 'waiting.csv'),
      header,
      mixedRows((n) => (stopWaiting ||= n > 2_000)),
      () => stopWaiting,
    );
    expect(await waiting).toBeUndefined();
    done.push('stopped');
    await Promise.all([big, after]);
    // Interleaved, the one-line file would be done long before the 14 MB one.
    expect(done).toEqual(['stopped', 'big', 'small']);
    expect(readFileSync(join(dir, 'small.csv'), 'utf8')).toBe(`${header}1,small\n`);
  });

  it('reports a file it cannot open as a failure', async () => {
    await expect(
      writeExportFileOffThread(join(dir, 'no-such-dir', 'x.csv'), header, mixedRows(), () => false),
    ).rejects.toThrow(/ENOENT/);
  });
});
