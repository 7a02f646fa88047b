/**
 * An independent oracle for the PER codec and the helper's rewrites: Wireshark's ASN.1-generated
 * H.225.0 and H.245 dissectors (tshark) read the messages the encoder builds, and the messages the
 * NAT emits after the helper rewrote them, and must find exactly the transport addresses our
 * decoder reports, with no malformed-packet or expert error. Skipped when tshark is not installed.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { buildPacket, PcapWriter } from '@l3kit/wire';
import {
  H323Helper,
  H323UserInformation,
  MultimediaSystemControlMessage,
  parseQ931,
  perDecode,
  Q931MessageType,
  RasMessage,
} from '../src/h323.js';
import { AlgRig, CLIENT, ScriptedConn, SERVER } from './alg-peers.js';
import {
  arqValue,
  connectUuie,
  facilityUuie,
  fastStartOffer,
  grqValue,
  h245Tpkt,
  INSIDE,
  lrqValue,
  olcAckValue,
  olcValue,
  progressUuie,
  q931Tpkt,
  REMOTE,
  ras,
  rcfValue,
  rrqValue,
  setupUuie,
  urqValue,
} from './h323-fixtures.js';

const H245_PORT = 1800;
const hasTshark = spawnSync('tshark', ['-v'], { encoding: 'utf8' }).status === 0;

/** Our decoder's addresses of a TPKT on `port` (1720: Q.931, 1719: RAS datagram, else H.245), as "ip:port". */
function ours(tpkt: Uint8Array, port: number): string[] {
  let hits: ReturnType<typeof perDecode>['hits'];
  if (port === 1719) hits = perDecode(RasMessage, tpkt).hits;
  else if (port === 1720) {
    const q = parseQ931(tpkt, 4, tpkt.length);
    assert.ok(q);
    hits = perDecode(H323UserInformation, tpkt, q.uuOff, q.uuEnd).hits;
  } else hits = perDecode(MultimediaSystemControlMessage, tpkt, 4, tpkt.length).hits;
  return hits.map(
    (h) => `${h.ip >>> 24}.${(h.ip >>> 16) & 255}.${(h.ip >>> 8) & 255}.${h.ip & 255}:${h.port}`,
  );
}

/** tshark's addresses per frame (H.225 ip/port and H.245 network/tsapIdentifier), plus any error it reports. */
function theirs(packets: Uint8Array[]): { frames: string[][]; problems: string } {
  const dir = mkdtempSync(join(tmpdir(), 'l3kit-h323-'));
  try {
    const chunks: Uint8Array[] = [];
    const w = new PcapWriter((c) => chunks.push(c));
    for (const p of packets) w.write(p, 0);
    const file = join(dir, 'h323.pcap');
    writeFileSync(file, Buffer.concat(chunks));
    const r = spawnSync('tshark', ['-r', file, '-d', `tcp.port==${H245_PORT},h245`, '-V'], {
      encoding: 'utf8',
      maxBuffer: 64 << 20,
    });
    assert.equal(r.status, 0, r.stderr);
    // Each "ip:" / "network:" line of the dissection is followed by its "port:" / "tsapIdentifier:".
    const frames = r.stdout
      .split(/^Frame \d+:/m)
      .slice(1)
      .map((text) => {
        const found: string[] = [];
        const re = /^\s+(?:ip|network): (\d+\.\d+\.\d+\.\d+)\n\s+(?:port|tsapIdentifier): (\d+)$/gm;
        for (let m = re.exec(text); m; m = re.exec(text)) found.push(`${m[1]}:${m[2]}`);
        return found;
      });
    const e = spawnSync(
      'tshark',
      [
        '-r',
        file,
        '-d',
        `tcp.port==${H245_PORT},h245`,
        '-Y',
        '_ws.malformed || _ws.expert.severity >= "error"',
      ],
      {
        encoding: 'utf8',
      },
    );
    assert.equal(e.status, 0, e.stderr);
    return { frames, problems: e.stdout.trim() };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function tcp(payload: Uint8Array, dport: number, seq: number): Uint8Array {
  return buildPacket({
    src: INSIDE,
    dst: REMOTE,
    tcp: { srcPort: 40000, dstPort: dport, seq, flags: 0x18 },
    payload,
  });
}

describe('Wireshark as an oracle', { skip: hasTshark ? false : 'tshark is not installed' }, () => {
  it('reads every message the encoder builds with the addresses our decoder finds', () => {
    const fs = fastStartOffer([INSIDE, 5000], [INSIDE, 5001]);
    const msgs: Array<[number, Uint8Array]> = [
      [
        1720,
        q931Tpkt(
          Q931MessageType.setup,
          setupUuie({ h245: [INSIDE, 1800], src: [INSIDE, 1720], dest: [REMOTE, 1720], fastStart: fs }),
        ),
      ],
      [1720, q931Tpkt(Q931MessageType.callProceeding, progressUuie('callProceeding', [INSIDE, 1801]))],
      [1720, q931Tpkt(Q931MessageType.alerting, progressUuie('alerting', [INSIDE, 1802], fs))],
      [1720, q931Tpkt(Q931MessageType.connect, connectUuie([INSIDE, 1803], fs))],
      [
        1720,
        q931Tpkt(
          Q931MessageType.facility,
          facilityUuie({ h245: [INSIDE, 1804], alternative: [REMOTE, 1720] }),
        ),
      ],
      [H245_PORT, h245Tpkt(olcValue([INSIDE, 6001]))],
      [H245_PORT, h245Tpkt(olcAckValue([INSIDE, 6000], [INSIDE, 6001]))],
    ];
    let seq = 1;
    const pkts = msgs.map(([port, m]) => {
      const p = tcp(m, port, seq);
      seq += m.length;
      return p;
    });
    const { frames, problems } = theirs(pkts);
    assert.equal(problems, '', 'no malformed packet or expert error');
    for (const [i, [port, m]] of msgs.entries())
      assert.deepEqual(frames[i].sort(), ours(m, port).sort(), `message ${i}`);
  });

  it('reads the rewritten Setup and OpenLogicalChannelAck the NAT emits', () => {
    const rig = new AlgRig();
    rig.nat.addHelper(new H323Helper({ clock: rig.clock }));
    const q931 = new ScriptedConn(rig, CLIENT, 40000, SERVER, 1720).open();
    const setup = q931Tpkt(
      Q931MessageType.setup,
      setupUuie({
        h245: [CLIENT, 1800],
        src: [CLIENT, 1720],
        fastStart: fastStartOffer([CLIENT, 5000], [CLIENT, 5001]),
      }),
    );
    const [out] = q931.iSend(Buffer.from(setup).toString('latin1'));
    const ext245 = rig.nat.listExpectations().find((e) => e.insidePort === 1800)?.externalPort ?? 0;
    const h245 = new ScriptedConn(rig, CLIENT, 1800, SERVER, H245_PORT).accept(ext245);
    const [ack] = h245.iSend(
      Buffer.from(h245Tpkt(olcAckValue([CLIENT, 6000], [CLIENT, 6001]))).toString('latin1'),
    );
    const { frames, problems } = theirs([out.bytes, ack.bytes]);
    assert.equal(problems, '');
    assert.deepEqual(frames[0].sort(), ours(out.payload, 1720).sort());
    assert.deepEqual(frames[1].sort(), ours(ack.payload, H245_PORT).sort());
    assert.ok(
      frames.flat().every((a) => !a.startsWith(`${CLIENT}:`)),
      'no inside address left',
    );
  });

  it('reads the RAS messages with the addresses our decoder finds', () => {
    const msgs = [
      rrqValue([INSIDE, 1720], [INSIDE, 1719], { ttl: 60 }),
      rcfValue([REMOTE, 1720]),
      grqValue([INSIDE, 1719]),
      urqValue([INSIDE, 1720]),
      arqValue([INSIDE, 1720], [REMOTE, 1720]),
      lrqValue([INSIDE, 1719]),
    ].map((v) => ras(v));
    const pkts = msgs.map((m) =>
      buildPacket({ src: INSIDE, dst: REMOTE, udp: { srcPort: 1719, dstPort: 1719 }, payload: m }),
    );
    const { frames, problems } = theirs(pkts);
    assert.equal(problems, '');
    for (const [i, m] of msgs.entries())
      assert.deepEqual(frames[i].sort(), ours(m, 1719).sort(), `message ${i}`);
  });
});
