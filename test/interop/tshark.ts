/**
 * Decoding l3kit's capture files with tshark, checksum validation on: shared by the capture and
 * demo interop tests.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';

const CHECKS = [
  '-o',
  'ip.check_checksum:TRUE',
  '-o',
  'tcp.check_checksum:TRUE',
  '-o',
  'udp.check_checksum:TRUE',
];

/** What tshark made of a capture file. */
export interface Decoded {
  frames: number;
  protocols: Set<string>;
  problems: string[];
}

/** Decodes `file` with tshark (checksums validated) and collects malformed / bad-checksum lines. */
export function tsharkDecode(file: string): Decoded {
  const fields = spawnSync(
    'tshark',
    ['-r', file, ...CHECKS, '-T', 'fields', '-e', 'frame.number', '-e', 'frame.protocols'],
    { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 },
  );
  assert.equal(fields.status, 0, `tshark failed: ${fields.stderr}`);
  const lines = fields.stdout.trim().split('\n').filter(Boolean);
  const protocols = new Set<string>();
  for (const l of lines) for (const p of (l.split('\t')[1] ?? '').split(':')) protocols.add(p);
  const verbose = spawnSync('tshark', ['-r', file, ...CHECKS, '-V'], {
    encoding: 'utf8',
    maxBuffer: 1024 * 1024 * 1024,
  });
  assert.equal(verbose.status, 0, `tshark -V failed: ${verbose.stderr}`);
  const problems = verbose.stdout
    .split('\n')
    .filter((l) =>
      /malformed|status: bad|Expert Info \((Error|Warning)\/(Malformed|Checksum|Protocol)\)/i.test(l),
    )
    .slice(0, 20);
  return { frames: lines.length, protocols, problems };
}
