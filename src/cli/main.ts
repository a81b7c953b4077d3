/**
 * Entry point of the `tether` command line (bin/tether.mjs, `npm run cli -- <args>`): runs one command
 * with the process's arguments, environment and streams, and sets the exit code.
 */
import { once } from 'node:events';
import { runCli } from './run.ts';
import type { Output } from './commands.ts';

/** A write that waits for 'drain' when the stream's buffer is full (constant memory on big outputs). */
async function write(stream: NodeJS.WriteStream, chunk: string | Uint8Array): Promise<void> {
  if (!stream.write(chunk)) await once(stream, 'drain');
}

// `tether records ... | head`: a closed pipe ends the command quietly, like other Unix tools.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

const io: Output = {
  out: (chunk) => write(process.stdout, chunk),
  err: (text) => write(process.stderr, text),
  stdoutIsTty: process.stdout.isTTY === true,
  readStdin: async () => {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  },
};

process.exitCode = await runCli(process.argv.slice(2), process.env, io);
