/**
 * Reused I/O buffers for export files. A fresh megabyte-sized buffer per job or download outlives a
 * few young-generation collections, gets promoted, and then waits for a full collection: at export
 * volumes that is tens of megabytes of dead memory. Reusing a handful keeps memory flat.
 */
export class BufferPool {
  private readonly free: Buffer[] = [];

  constructor(
    readonly size: number,
    private readonly keep: number,
  ) {}

  take(): Buffer {
    return this.free.pop() ?? Buffer.allocUnsafe(this.size);
  }

  give(buf: Buffer): void {
    if (this.free.length < this.keep && buf.length === this.size) this.free.push(buf);
  }
}
