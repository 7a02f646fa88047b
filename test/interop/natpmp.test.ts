/**
 * libnatpmp's `natpmpc` against l3kit's PCP / NAT-PMP server (`PcpServer` of `@l3kit/upnp`) on
 * the NAT: in the client namespace natpmpc asks the NAT's inside address (UDP 5351) for the
 * external address, maps TCP and UDP ports and deletes them again; programs in the server
 * namespace (outside) then reach servers in the client namespace through the mapped external
 * ports. The server namespace has no route back to 192.168.1.0/24: only the NAT's port forward can
 * carry those connections. A raw NAT-PMP / PCP client in python3 sends malformed and spoofed
 * requests and the server keeps answering natpmpc afterwards.
 *
 * natpmpc's CLI (libnatpmp 20150609 as Debian ships it, `natpmpc -h`):
 * `natpmpc [-g gw] -a <public port> <private port> <protocol> [lifetime]` — the public port comes
 * first. It always asks for the external address first, then sends the map request, and prints
 * `Public IP address : a.b.c.d`, `epoch = n` and `Mapped public port P protocol TCP to local port
 * L liftime T` (sic; newer releases spell it `lifetime`; both parse). Without `-g` it takes the
 * gateway of the default route, which the client namespace does not have (a device route).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, describe } from 'node:test';
import { connectL3 } from '@l3kit/core';
import { Nat } from '@l3kit/nat';
import { assertChecksums } from '@l3kit/testkit';
import { type NatPmpResponseRepr, type PcpRequestInfo, PcpServer, parseNatPmpResponse } from '@l3kit/upnp';
import {
  interopTest,
  makeTopology,
  PLAN,
  type Proc,
  python3,
  skipReason,
  type Topology,
  tempDir,
} from './harness.js';

const NAT_OUTSIDE = PLAN.natOutside.split('/')[0];
const NAT_INSIDE = PLAN.natInside.split('/')[0];
const TOOLS = ['natpmpc', 'python3'];
const PCP_PORT = 5351;
const TCP = 6;
const UDP = 17;

/**
 * One program, several roles (first argument), each printing one JSON line per event:
 * - `tcp-sink PORT`: accepts connections, reads to EOF, answers `<bytes> <sha256> <peer>`.
 * - `tcp-send HOST PORT BYTES TIMEOUT`: sends random bytes, half-closes, reads the answer.
 * - `udp-echo PORT`: answers every datagram with `<bytes> <sha256> <peer>`.
 * - `udp-send HOST PORT BYTES TIMEOUT TRIES`: sends a random datagram until answered.
 * - `raw HOST PORT TIMEOUT HEX...`: sends each hex message from one socket, collects the answers.
 */
const PEER_PY = String.raw`
import hashlib, json, os, socket, sys, time

def out(**kw):
    print(json.dumps(kw), flush=True)

def sha(b):
    return hashlib.sha256(b).hexdigest()

role = sys.argv[1]
if role == 'tcp-sink':
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(('0.0.0.0', int(sys.argv[2])))
    s.listen(8)
    while True:
        c, peer = s.accept()
        c.settimeout(20)
        h = hashlib.sha256()
        n = 0
        try:
            while True:
                d = c.recv(65536)
                if not d:
                    break
                h.update(d)
                n += len(d)
            c.sendall(('%d %s %s:%d\n' % (n, h.hexdigest(), peer[0], peer[1])).encode())
        except OSError as e:
            out(event='tcp-error', error=str(e))
        c.close()
        out(event='tcp', peer=peer[0], bytes=n, sha=h.hexdigest())
elif role == 'tcp-send':
    host, port, n, timeout = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
    data = os.urandom(n)
    t0 = time.monotonic()
    try:
        c = socket.create_connection((host, port), timeout=timeout)
        c.sendall(data)
        c.shutdown(socket.SHUT_WR)
        reply = b''
        while True:
            d = c.recv(4096)
            if not d:
                break
            reply += d
        out(ok=True, sent=n, sha=sha(data), reply=reply.decode().strip())
    except OSError as e:
        out(ok=False, error='%s: %s' % (type(e).__name__, e), elapsed=time.monotonic() - t0)
elif role == 'udp-echo':
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(('0.0.0.0', int(sys.argv[2])))
    while True:
        d, peer = s.recvfrom(65535)
        s.sendto(('%d %s %s:%d' % (len(d), sha(d), peer[0], peer[1])).encode(), peer)
        out(event='udp', peer=peer[0], bytes=len(d), sha=sha(d))
elif role == 'udp-send':
    host, port, n = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    timeout, tries = float(sys.argv[5]), int(sys.argv[6])
    data = os.urandom(n)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    for attempt in range(tries):
        s.sendto(data, (host, port))
        try:
            reply, src = s.recvfrom(65535)
            out(ok=True, sent=n, sha=sha(data), reply=reply.decode(), src='%s:%d' % src, attempt=attempt)
            break
        except socket.timeout:
            pass
    else:
        out(ok=False, sent=n, tries=tries)
elif role == 'raw':
    host, port, timeout = sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(('0.0.0.0', 0))
    s.settimeout(timeout)
    answers = []
    for m in sys.argv[5:]:
        s.sendto(bytes.fromhex(m), (host, port))
        try:
            a, src = s.recvfrom(65535)
            answers.append({'sent': m, 'answer': a.hex(), 'src': '%s:%d' % src})
        except socket.timeout:
            answers.append({'sent': m, 'answer': None})
    out(answers=answers)
`;

/** What {@link parseNatpmpc} reads from natpmpc's output. */
interface NatpmpcResult {
  code: number;
  out: string;
  publicAddress?: string;
  epochs: number[];
  mapping?: { publicPort: number; protocol: string; privatePort: number; lifetime: number };
}

/** Reads natpmpc's output line by line; fields it did not print stay undefined. */
function parseNatpmpc(code: number, out: string): NatpmpcResult {
  const r: NatpmpcResult = { code, out, epochs: [] };
  for (const line of out.split('\n')) {
    const addr = /^\s*Public IP address\s*:\s*(\d+\.\d+\.\d+\.\d+)\s*$/.exec(line);
    if (addr) r.publicAddress = addr[1];
    const epoch = /^\s*epoch\s*=\s*(\d+)\s*$/.exec(line);
    if (epoch) r.epochs.push(Number(epoch[1]));
    const map =
      /^\s*Mapped public port (\d+) protocol (\w+) to local port (\d+) li(?:fe|f)?time (\d+)\s*$/.exec(line);
    if (map)
      r.mapping = {
        publicPort: Number(map[1]),
        protocol: map[2],
        privatePort: Number(map[3]),
        lifetime: Number(map[4]),
      };
  }
  return r;
}

/** Parses the single JSON line a one-shot role of {@link PEER_PY} prints. */
function jsonLine<T>(stdout: string, what: string): T {
  const line = stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line) as T;
  } catch {
    throw new Error(`${what}: no JSON result in ${JSON.stringify(stdout)}`);
  }
}

/** Every JSON event line a long-running role of {@link PEER_PY} printed so far. */
function events(stdout: string): Array<{ event: string; peer: string; bytes: number; sha: string }> {
  return stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l));
}

/** A PCP MAP request (RFC 6887 §7.1, §11.1) built byte by byte, independently of `@l3kit/upnp`. */
function pcpMapRequest(o: {
  clientIp: string;
  protocol: number;
  internalPort: number;
  lifetime: number;
  nonce: Buffer;
}): Buffer {
  const b = Buffer.alloc(60);
  b[0] = 2; // version
  b[1] = 1; // R = 0, opcode MAP
  b.writeUInt32BE(o.lifetime, 4);
  b.writeUInt16BE(0xffff, 18); // IPv4-mapped IPv6 address ::ffff:a.b.c.d
  o.clientIp.split('.').forEach((x, i) => {
    b[20 + i] = Number(x);
  });
  o.nonce.copy(b, 24);
  b[36] = o.protocol;
  b.writeUInt16BE(o.internalPort, 40);
  // Suggested external port and address stay zero: no preference.
  return b;
}

describe('natpmp: natpmpc in the client namespace drives l3kit PcpServer on the NAT', () => {
  let topo: Topology | undefined;
  let nat: Nat | undefined;
  let pcp: PcpServer | undefined;
  let peerPy = '';
  /** Packets the NAT emitted (both sides), each checksum-verified by the independent oracle. */
  let verified = 0;
  /** NAT-PMP responses seen on the wire towards the client, decoded. */
  const wireAnswers: NatPmpResponseRepr[] = [];
  const requests: PcpRequestInfo[] = [];

  before(() => {
    if (skipReason(TOOLS)) return;
    peerPy = join(tempDir('l3k-natpmp-'), 'peer.py');
    writeFileSync(peerPy, PEER_PY);
    topo = makeTopology({
      serverRouteBack: false,
      wire: (clientTun, serverTun) => {
        const n = new Nat({ inside: PLAN.natInside, outside: PLAN.natOutside });
        nat = n;
        const server = new PcpServer({ maxLifetime: 3600 });
        pcp = server;
        server.on('request', (r) => requests.push(r));
        connectL3(n.inside(), clientTun);
        n.inside().setHandler((p) => {
          assertChecksums(p, 'NAT inside packet');
          verified++;
          // UDP from the inside address port 5351 to the client: a PCP / NAT-PMP answer.
          const ihl = (p[0] & 0x0f) * 4;
          if (p[9] === UDP && ((p[ihl] << 8) | p[ihl + 1]) === PCP_PORT && p[ihl + 8] === 0) {
            const r = parseNatPmpResponse(p.subarray(ihl + 8));
            if (r) wireAnswers.push(r);
          }
          clientTun.send(p);
        });
        n.outside().setHandler((p) => {
          assertChecksums(p, 'NAT outside packet');
          verified++;
          serverTun.send(p);
        });
        serverTun.setHandler((p) => n.outside().send(p));
        n.addHelper(server);
        return () => n.close();
      },
    });
  });
  afterEach(() => {
    // Every test starts without mappings, whatever the previous one left (admin removal).
    const table = pcp?.table;
    if (!table) return;
    for (const m of table.list(0)) table.remove({ tenant: 0 }, m.proto, m.externalPort);
  });
  after(async () => {
    await topo?.dispose();
  });
  const t = (): Topology => {
    assert.ok(topo, 'topology was not created');
    return topo;
  };
  const theNat = (): Nat => {
    assert.ok(nat, 'NAT was not created');
    return nat;
  };
  const server = (): PcpServer => {
    assert.ok(pcp, 'PcpServer was not created');
    return pcp;
  };

  /** The NAT's port forwards of one protocol. */
  const forwards = (proto: number) =>
    theNat()
      .listPortForwards()
      .filter((f) => f.proto === proto);

  /** natpmpc in the client namespace with the NAT's inside address as the gateway. */
  const natpmpc = async (...args: string[]): Promise<NatpmpcResult> => {
    const r = await t().client.run(['natpmpc', '-g', NAT_INSIDE, ...args], { timeoutMs: 20_000 });
    return parseNatpmpc(r.code, r.stdout + r.stderr);
  };
  /**
   * natpmpc `-a <public> <private> <proto> <lifetime>` for a free, allowed public port; asserts
   * success and the echoed ports. With a lifetime, natpmpc is granted exactly that port and
   * lifetime and the NAT lists the port forward (origin `natpmp`) with that lease; with lifetime 0
   * (a deletion) the answer carries external port 0 and lifetime 0 (RFC 6886 §3.4).
   */
  const natpmpcMap = async (
    publicPort: number,
    privatePort: number,
    proto: 'tcp' | 'udp',
    lifetime: number,
  ): Promise<NonNullable<NatpmpcResult['mapping']>> => {
    const r = await natpmpc('-a', String(publicPort), String(privatePort), proto, String(lifetime));
    assert.equal(r.code, 0, r.out);
    assert.equal(r.publicAddress, NAT_OUTSIDE, r.out);
    const m = r.mapping;
    assert.ok(m, `natpmpc printed no mapping:\n${r.out}`);
    assert.equal(m.protocol, proto.toUpperCase(), r.out);
    assert.equal(m.privatePort, privatePort, r.out);
    assert.equal(m.lifetime, lifetime, r.out);
    if (lifetime === 0) {
      assert.equal(m.publicPort, 0, r.out);
      return m;
    }
    assert.equal(m.publicPort, publicPort, 'the suggested (free, allowed) public port is granted');
    const fwd = forwards(proto === 'tcp' ? TCP : UDP).filter((f) => f.outsidePort === publicPort);
    assert.equal(fwd.length, 1, JSON.stringify(theNat().listPortForwards()));
    const { expiresInMs, ...rest } = fwd[0];
    assert.deepEqual(rest, {
      proto: proto === 'tcp' ? TCP : UDP,
      outsideIp: NAT_OUTSIDE,
      outsidePort: publicPort,
      insideIp: PLAN.client,
      insidePort: privatePort,
      tenant: 0,
      origin: 'natpmp',
      description: `NAT-PMP ${PLAN.client}`,
    });
    const lease = expiresInMs ?? 0;
    assert.ok(lease > (lifetime - 60) * 1000 && lease <= lifetime * 1000, `lease ${expiresInMs} ms`);
    return m;
  };
  const py = (...args: string[]): string[] => [python3(), peerPy, ...args];
  /**
   * Runs `body` while a peer.py server (`tcp-sink` or `udp-echo`) listens on `port` in the client
   * namespace; stops it afterwards, whatever happens.
   */
  const withInsideServer = async (
    role: 'tcp-sink' | 'udp-echo',
    port: number,
    body: (srv: Proc) => Promise<void>,
  ): Promise<void> => {
    const srv = t().client.spawn(py(role, String(port)));
    try {
      await t().client.waitForPort(port, role === 'tcp-sink' ? 'tcp' : 'udp', 10_000, srv);
      await body(srv);
    } finally {
      await srv.stop();
    }
  };
  /** One TCP transfer from the server namespace to NAT_OUTSIDE:port. */
  const tcpFromOutside = async (port: number, bytes: number, timeoutS: number) => {
    const r = await t().server.run(
      py('tcp-send', NAT_OUTSIDE, String(port), String(bytes), String(timeoutS)),
      {
        timeoutMs: (timeoutS + 20) * 1000,
      },
    );
    return jsonLine<{ ok: boolean; sha?: string; reply?: string; error?: string; elapsed?: number }>(
      r.stdout + r.stderr,
      'tcp-send',
    );
  };
  /** One UDP exchange from the server namespace to NAT_OUTSIDE:port. */
  const udpFromOutside = async (port: number, bytes: number, timeoutS: number, tries: number) => {
    const r = await t().server.run(
      py('udp-send', NAT_OUTSIDE, String(port), String(bytes), String(timeoutS), String(tries)),
      { timeoutMs: (timeoutS * tries + 20) * 1000 },
    );
    return jsonLine<{ ok: boolean; sha?: string; reply?: string; src?: string }>(
      r.stdout + r.stderr,
      'udp-send',
    );
  };

  interopTest(
    "natpmpc reads the external address: the NAT's outside address, with the server's epoch",
    TOOLS,
    async () => {
      const before = requests.length;
      const r = await natpmpc();
      assert.equal(r.code, 0, r.out);
      assert.equal(r.publicAddress, NAT_OUTSIDE, r.out);
      assert.equal(r.epochs.length, 1, r.out);
      // The epoch counts seconds since the server was attached (wall clock of the NAT).
      assert.ok(Math.abs(r.epochs[0] - server().epoch) <= 2, `epoch ${r.epochs[0]} vs ${server().epoch}`);
      const seen = requests.slice(before);
      assert.ok(seen.length >= 1);
      for (const q of seen) {
        assert.equal(q.protocol, 'natpmp');
        assert.equal(q.client, PLAN.client);
        assert.equal(q.tenant, 0);
        assert.equal(q.opcode, 0);
        assert.equal(q.resultName, 'SUCCESS');
      }
      const onWire = wireAnswers.filter((a) => a.opcode === 0);
      assert.ok(onWire.length >= 1);
      assert.equal(onWire[onWire.length - 1].externalAddress, NAT_OUTSIDE);
      assert.ok(verified > 0);
    },
  );

  interopTest(
    'natpmpc maps a TCP port; 256 KiB sent from outside to the mapped port arrive intact inside',
    TOOLS,
    async () => {
      await withInsideServer('tcp-sink', 8080, async (sink) => {
        const m = await natpmpcMap(18080, 8080, 'tcp', 3600);
        const got = await tcpFromOutside(m.publicPort, 256 * 1024, 15);
        assert.ok(got.ok, got.error);
        // The inside server answers "<bytes> <sha256> <peer>": it saw the outside host itself.
        assert.equal(got.reply?.split(' ').slice(0, 2).join(' '), `${256 * 1024} ${got.sha}`);
        assert.match(
          got.reply ?? '',
          new RegExp(`^\\d+ [0-9a-f]{64} ${PLAN.server.replace(/\./g, '\\.')}:\\d+$`),
        );
        const ev = events(sink.stdout);
        assert.equal(ev.length, 1, sink.stdout);
        assert.deepEqual(ev[0], { event: 'tcp', peer: PLAN.server, bytes: 256 * 1024, sha: got.sha });
      });
    },
  );

  interopTest(
    'natpmpc maps a UDP port; a datagram from outside reaches the inside socket and the answer comes from the mapped port',
    TOOLS,
    async () => {
      await withInsideServer('udp-echo', 5555, async (echo) => {
        const m = await natpmpcMap(15555, 5555, 'udp', 600);
        const got = await udpFromOutside(m.publicPort, 1200, 2, 3);
        assert.ok(got.ok, 'no answer through the mapped UDP port');
        assert.equal(got.reply, `1200 ${got.sha} ${PLAN.server}:${got.reply?.split(':').pop()}`);
        // The inside socket's answer leaves the NAT from the mapped external address and port.
        assert.equal(got.src, `${NAT_OUTSIDE}:${m.publicPort}`);
        assert.ok(events(echo.stdout).some((e) => e.sha === got.sha && e.peer === PLAN.server));
      });
    },
  );

  interopTest(
    'natpmpc with lifetime 0 deletes the TCP and UDP mappings and both ports are closed again',
    TOOLS,
    async () => {
      await withInsideServer('tcp-sink', 8081, (sink) =>
        withInsideServer('udp-echo', 5556, async (echo) => {
          const tm = await natpmpcMap(18081, 8081, 'tcp', 3600);
          const um = await natpmpcMap(15556, 5556, 'udp', 3600);
          // Both are open before the deletion (the servers stay up afterwards).
          const open = await tcpFromOutside(tm.publicPort, 1000, 10);
          assert.ok(open.ok, open.error);
          const openU = await udpFromOutside(um.publicPort, 100, 2, 3);
          assert.ok(openU.ok, 'the UDP mapping does not answer before the deletion');

          await natpmpcMap(tm.publicPort, 8081, 'tcp', 0);
          await natpmpcMap(um.publicPort, 5556, 'udp', 0);
          assert.deepEqual(theNat().listPortForwards(), []);
          assert.equal(server().table.list(0).length, 0);

          const closed = await tcpFromOutside(tm.publicPort, 1000, 3);
          assert.equal(closed.ok, false, 'the TCP port still answers after the deletion');
          assert.ok((closed.elapsed ?? 99) < 5, `the attempt took ${closed.elapsed} s`);
          const closedU = await udpFromOutside(um.publicPort, 100, 1, 2);
          assert.equal(closedU.ok, false, 'the UDP port still answers after the deletion');
          assert.equal(events(sink.stdout).length, 1, sink.stdout);
          assert.equal(events(echo.stdout).length, 1, echo.stdout);
        }),
      );
    },
  );

  interopTest(
    "natpmpc with private port 0 and lifetime 0 removes all of the client's mappings of a protocol",
    TOOLS,
    async () => {
      await natpmpcMap(15601, 5601, 'udp', 600);
      await natpmpcMap(15602, 5602, 'udp', 600);
      await natpmpcMap(18601, 8601, 'tcp', 600);
      assert.equal(forwards(UDP).length, 2);
      await natpmpcMap(0, 0, 'udp', 0);
      assert.equal(forwards(UDP).length, 0, 'the UDP mappings are gone');
      const left = forwards(TCP);
      assert.equal(left.length, 1, 'the TCP mapping stays');
      assert.equal(left[0].outsidePort, 18601);
    },
  );

  interopTest(
    'malformed NAT-PMP datagrams and a PCP request for another address change nothing, and natpmpc still works',
    TOOLS,
    async () => {
      await natpmpcMap(18090, 8090, 'tcp', 600);
      const fwdBefore = theNat().listPortForwards();
      const s = server().stats;
      const dropped = { ...s.dropped };
      const errors = { ...s.errors };
      const other = '192.168.1.77';
      const spoofed = pcpMapRequest({
        clientIp: other,
        protocol: TCP,
        internalPort: 8091,
        lifetime: 600,
        nonce: randomBytes(12),
      });
      const msgs = {
        /** A TCP map request cut after 4 of its 12 bytes: dropped silently. */
        truncated: '00020000',
        /** A NAT-PMP response sent to the server: dropped silently. */
        response: '0080000000000000',
        /** Opcode 99: answered UNSUPPORTED_OPCODE with the request returned (RFC 6886 §3.5). */
        badOpcode: '00630000deadbeef',
        /** One byte: shorter than any message, dropped silently. */
        oneByte: '00',
        /** A PCP MAP whose client address is another host's: ADDRESS_MISMATCH (RFC 6887 §8.1). */
        spoofed: spoofed.toString('hex'),
      };
      const r = await t().client.run(py('raw', NAT_INSIDE, String(PCP_PORT), '1', ...Object.values(msgs)), {
        timeoutMs: 20_000,
      });
      const { answers } = jsonLine<{ answers: Array<{ sent: string; answer: string | null; src?: string }> }>(
        r.stdout + r.stderr,
        'raw',
      );
      const ans = (m: string) => answers.find((a) => a.sent === m)?.answer;
      assert.equal(ans(msgs.truncated), null);
      assert.equal(ans(msgs.response), null);
      assert.equal(ans(msgs.oneByte), null);
      assert.equal(ans(msgs.badOpcode), '00e30005deadbeef', JSON.stringify(answers));
      const mismatch = Buffer.from(ans(msgs.spoofed) ?? '', 'hex');
      assert.ok(mismatch.length >= 24, JSON.stringify(answers));
      assert.equal(mismatch[0], 2, 'PCP version 2');
      assert.equal(mismatch[1], 0x81, 'a MAP response');
      assert.equal(mismatch[3], 12, 'ADDRESS_MISMATCH');
      for (const a of answers) if (a.answer) assert.equal(a.src, `${NAT_INSIDE}:${PCP_PORT}`);

      assert.equal(s.dropped.short - (dropped.short ?? 0), 2, JSON.stringify(s.dropped));
      assert.equal(s.dropped.response - (dropped.response ?? 0), 1, JSON.stringify(s.dropped));
      assert.equal(s.dropped['internal-error'], undefined);
      assert.equal(s.errors['natpmp:UNSUPPORTED_OPCODE'] - (errors['natpmp:UNSUPPORTED_OPCODE'] ?? 0), 1);
      assert.equal(s.errors.ADDRESS_MISMATCH - (errors.ADDRESS_MISMATCH ?? 0), 1);
      // Nothing was mapped, removed or renewed (the lease only ran down).
      const now = theNat().listPortForwards();
      const noLease = (fs: typeof now) => fs.map((f) => ({ ...f, expiresInMs: undefined }));
      assert.deepEqual(noLease(now), noLease(fwdBefore), 'nothing was mapped or removed');
      assert.ok((now[0].expiresInMs ?? 0) <= (fwdBefore[0].expiresInMs ?? 0), 'nothing renewed the lease');

      // The server still serves natpmpc: address, a new mapping, and the old one is intact.
      const addr = await natpmpc();
      assert.equal(addr.publicAddress, NAT_OUTSIDE, addr.out);
      await natpmpcMap(15590, 5590, 'udp', 600);
      assert.equal(forwards(TCP)[0]?.outsidePort, 18090);
      assert.equal(forwards(UDP)[0]?.outsidePort, 15590);
    },
  );

  interopTest(
    "a NAT-PMP request from outside to the NAT's outside address gets no answer and reaches no server",
    TOOLS,
    async () => {
      const received = server().stats.received;
      const r = await t().server.run(
        py('raw', NAT_OUTSIDE, String(PCP_PORT), '1', '0000', '000200000000000000000258'),
        {
          timeoutMs: 20_000,
        },
      );
      const { answers } = jsonLine<{ answers: Array<{ answer: string | null }> }>(r.stdout + r.stderr, 'raw');
      assert.deepEqual(
        answers.map((a) => a.answer),
        [null, null],
      );
      assert.equal(server().stats.received, received, 'the server never saw the outside packets');
      assert.deepEqual(theNat().listPortForwards(), []);
    },
  );
});
