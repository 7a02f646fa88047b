import { ManualClock } from '@l3kit/core';
import { type Benchmark, measureAllocations, timeOps } from '@l3kit/testkit';
import { buildPacket } from '@l3kit/wire';
import { Defragmenter } from '../src/defrag.js';
import { fragmentIpv4 } from '../src/fragment.js';

function device() {
  const d = new Defragmenter({ clock: new ManualClock(0), maintainIntervalMs: 0, maxDatagrams: 100_000 });
  let n = 0;
  d.setHandler(() => {
    n++;
  });
  return { d, count: () => n };
}

/** Benchmarks of the defragmenter (issue 4 names). */
export const benchmarks: Benchmark[] = [
  {
    name: 'nat.defrag.passthrough',
    unit: 'ns',
    description: 'ns for a non-fragment IPv4 TCP packet (1500 bytes) through the Defragmenter to its handler',
    async run() {
      const { d } = device();
      const pkt = buildPacket({
        src: '10.0.0.1',
        dst: '10.0.0.2',
        tcp: { srcPort: 1, dstPort: 2, flags: 0x10 },
        payload: new Uint8Array(1460),
      });
      const t = timeOps(() => d.send(pkt), { opsPerRound: 1_000_000 });
      const a = await measureAllocations(() => d.send(pkt), 1_000_000);
      return { value: t.nsPerOp, allocBytesPerOp: a.bytesPerOp, gcCount: a.gcCount };
    },
  },
  {
    name: 'nat.defrag.reassemble',
    unit: 'ns',
    description: 'ns per 3-fragment IPv4 datagram (3000-byte UDP payload, MTU 1500) reassembled and emitted',
    run() {
      const { d, count } = device();
      const sets: Uint8Array[][] = [];
      for (let id = 0; id < 4096; id++) {
        const pkt = buildPacket({
          src: '10.0.0.1',
          dst: '10.0.0.2',
          identification: id,
          udp: { srcPort: 1, dstPort: 2 },
          payload: new Uint8Array(3000),
        });
        sets.push(fragmentIpv4(pkt, 1500) as Uint8Array[]);
      }
      const t = timeOps(
        (i) => {
          const fs = sets[i & 4095];
          d.send(fs[2]);
          d.send(fs[0]);
          d.send(fs[1]);
        },
        { opsPerRound: 20_000 },
      );
      if (count() === 0) throw new Error('nothing reassembled');
      return { value: t.nsPerOp };
    },
  },
];
