#!/usr/bin/env node
/** The `l3kit` executable: {@link runCli} with the process's streams and exit code. */
import { runCli } from './cli.js';

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

const code = await runCli(process.argv.slice(2), {
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
  readStdin,
});
// The command is over: exit once stdout and stderr are flushed, even if a library left a handle
// open (a command line tool must not hang after its work is done).
process.exitCode = code;
process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
