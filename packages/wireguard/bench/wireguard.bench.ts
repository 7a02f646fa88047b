/**
 * Benchmarks of @l3kit/wireguard's data path. Run with `npm run bench -- wireguard.`.
 * `wireguard.encrypt` / `wireguard.decrypt` use the default cipher (`'native'`: l3kit's N-API
 * addon over Node's OpenSSL when it is built, else node:crypto; each result records the
 * `backend` actually used), the `.node-crypto` variants node:crypto's createCipheriv per packet,
 * the `.js` variants the TypeScript AEAD. The figures include the transport framing, counters,
 * replay window, allowed-IPs check and (for encrypt) handing the datagram to the transport.
 * Allocation per packet is measured and reported honestly: node:crypto allocates a cipher object
 * and output buffers per call; every backend allocates the outgoing datagram (dgram may hold it).
 */
import { type Benchmark, measureAllocations, timeOps } from '@l3kit/testkit';
import { buildPacket } from '@l3kit/wire';
import { MessageType } from '../src/constants.js';
import type { WireGuardServerOptions } from '../src/server.js';
import { MemoryNet, manual, memServer } from '../test/helpers.js';

const PACKET = 1420;

type Cipher = NonNullable<WireGuardServerOptions['cipher']>;

function setup(cipher: Cipher) {
  const sched = manual();
  const net = new MemoryNet();
  const a = memServer(net, sched, '192.0.2.1', 1, { cipher });
  const b = memServer(net, sched, '192.0.2.2', 1, { cipher });
  const pa = a.server.addPeer({ publicKey: b.pub, allowedIps: ['10.0.0.2/32'], endpoint: '192.0.2.2:1' });
  const pb = b.server.addPeer({ publicKey: a.pub, allowedIps: ['10.0.0.1/32'] });
  let delivered = 0;
  pb.setHandler(() => delivered++);
  const pkt = buildPacket({
    src: '10.0.0.1',
    dst: '10.0.0.2',
    udp: { srcPort: 1, dstPort: 2 },
    payload: new Uint8Array(PACKET - 28),
  });
  pa.send(pkt); // handshake + first packet
  if (delivered !== 1) throw new Error('benchmark setup: handshake failed');
  return { net, a, b, pa, pb, pkt, delivered: () => delivered };
}

const LABELS: Record<'native' | 'node-crypto' | 'js', string> = {
  native: "the default cipher (l3kit's native addon over Node's OpenSSL, node:crypto without it)",
  'node-crypto': "node:crypto's ChaCha20-Poly1305 (createCipheriv per packet)",
  js: 'the TypeScript ChaCha20-Poly1305',
};

function benches(cipher: 'native' | 'node-crypto' | 'js'): Benchmark[] {
  // The names measure the default cipher; the other backends get a suffix.
  const suffix = cipher === 'native' ? '' : `.${cipher}`;
  const label = LABELS[cipher];
  return [
    {
      name: `wireguard.encrypt${suffix}`,
      unit: 'ns',
      description: `${label}: ns per ${PACKET}-byte IPv4 packet encrypted by a peer into a transport message (AEAD, padding, framing, counter, timers) and handed to the UDP transport`,
      async run() {
        const { net, a, pa, pkt } = setup(cipher);
        let sent = 0;
        net.filter = () => false; // nothing delivered; the memory net still copies: replace it
        const peerAny = pa as unknown as { host: { sendUdp: (m: Uint8Array) => void } };
        peerAny.host.sendUdp = () => {
          sent++;
        };
        const send = () => pa.send(pkt);
        const t = timeOps(send, { opsPerRound: 20_000, rounds: 15 });
        const alloc = await measureAllocations(send, 50_000);
        if (sent === 0) throw new Error('benchmark sanity: nothing sent');
        return {
          value: t.nsPerOp,
          opsPerSec: t.opsPerSec,
          mbitPerSec: Math.round((PACKET * 8 * t.opsPerSec) / 1e6),
          allocBytesPerOp: alloc.bytesPerOp,
          gcDuringAllocRun: alloc.gcCount,
          backend: a.server.cipherBackend,
        };
      },
    },
    {
      name: `wireguard.decrypt${suffix}`,
      unit: 'ns',
      description: `${label}: ns per ${PACKET}-byte transport message received by the server: index lookup, replay window, AEAD open, roaming check, allowed-IPs source check, delivery`,
      async run() {
        const { net, b, pa, pb, pkt, delivered } = setup(cipher);
        const N = 4096;
        const start = net.log.length;
        net.filter = () => false;
        for (let i = 0; i < N; i++) pa.send(pkt);
        const msgs = net.log
          .slice(start)
          .filter((d) => d.msg[0] === MessageType.Transport)
          .map((d) => d.msg);
        if (msgs.length !== N) throw new Error(`benchmark setup: ${msgs.length} messages`);
        const kp = pb.current;
        if (!kp) throw new Error('benchmark setup: no session');
        const recv = (i: number) => {
          const j = i & (N - 1);
          if (j === 0) kp.replay.reset();
          b.server.receive(msgs[j], '192.0.2.1', 1);
        };
        const before = delivered();
        const t = timeOps(recv, { opsPerRound: N * 4, rounds: 15 });
        const alloc = await measureAllocations(recv, N * 12);
        if (delivered() - before < N * 4 || pb.stats.decryptFailed + pb.stats.replay > 0)
          throw new Error(`benchmark sanity: delivered ${delivered() - before}, ${JSON.stringify(pb.stats)}`);
        return {
          value: t.nsPerOp,
          opsPerSec: t.opsPerSec,
          mbitPerSec: Math.round((PACKET * 8 * t.opsPerSec) / 1e6),
          allocBytesPerOp: alloc.bytesPerOp,
          gcDuringAllocRun: alloc.gcCount,
          backend: b.server.cipherBackend,
        };
      },
    },
  ];
}

export const benchmarks: Benchmark[] = [...benches('js'), ...benches('node-crypto'), ...benches('native')];
