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

/**
 * Decodes `file` with tshark (checksums validated) and collects malformed / bad-checksum lines.
 * `allowTcpNegativeZero`: a TCP checksum field of 0xffff where the computation gives 0x0000 is
 * the same one's-complement value (-0) and verifies; Linux's GSO segmentation produces it now and
 * then (an incremental update, RFC 1624 §3). Captures of kernel traffic pass this flag; captures
 * of l3kit's own packets do not (l3kit never turns a 0x0000 into 0xffff).
 */
export function tsharkDecode(file: string, opts: { allowTcpNegativeZero?: boolean } = {}): Decoded {
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
  const all: string[] = [];
  for (const l of verbose.stdout.split('\n')) {
    if (opts.allowTcpNegativeZero && /TCP Checksum 0xffff instead of 0x0000 \(see RFC 1624\)/.test(l)) {
      // Its "[Checksum Status: Bad]" line came just before: not a problem either.
      if (all.length > 0 && /status: bad/i.test(all[all.length - 1])) all.pop();
      continue;
    }
    if (/malformed|status: bad|Expert Info \((Error|Warning)\/(Malformed|Checksum|Protocol)\)/i.test(l))
      all.push(l);
  }
  const problems = all.slice(0, 20);
  return { frames: lines.length, protocols, problems };
}
