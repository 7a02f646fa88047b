/**
 * The demo's capture file is valid for Wireshark: `npm run demo`'s topology writes a pcapng, and
 * tshark decodes every packet of it with checksum validation on, with nothing malformed.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe } from 'node:test';
import { runDemo } from '@l3kit/examples/topology';
import { interopTest, tempDir } from './harness.js';
import { tsharkDecode } from './tshark.js';

describe('demo: the pcapng of npm run demo decoded by tshark', () => {
  interopTest(
    'tshark decodes every packet of the demo capture, with no malformed packet or bad checksum',
    ['tshark'],
    async () => {
      const out = join(tempDir(), 'demo.pcapng');
      const r = await runDemo({ out });
      const d = tsharkDecode(out);
      assert.equal(d.frames, r.packets, 'tshark saw every packet');
      for (const p of ['ip', 'ipv6', 'icmp', 'icmpv6', 'udp'])
        assert.ok(d.protocols.has(p), `no ${p} in the capture`);
      assert.deepEqual(d.problems, []);
    },
  );
});
