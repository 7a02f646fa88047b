/** FTP ALG: parser golden lines, rewrites through a NAT with scripted peers, limits, roles. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '@l3kit/core';
import fc from 'fast-check';
import { FtpHelper, formatFtpArgument, parseFtpLine } from '../src/index.js';
import {
  ACK,
  AlgRig,
  CLIENT,
  EXT,
  fuzzSegments,
  OTHER,
  RST,
  ScriptedConn,
  SERVER,
  SYN,
  sackOption,
  tcpSeg,
} from './alg-peers.js';

const b = (s: string) => Buffer.from(s, 'latin1');
const ipNum = (s: string) => s.split('.').reduce((a, x) => a * 256 + Number(x), 0);

function portOf(text: string): { ip: string; port: number } {
  const m = /(\d+),(\d+),(\d+),(\d+),(\d+),(\d+)/.exec(text);
  assert.ok(m, `no h1..p2 in ${JSON.stringify(text)}`);
  return { ip: `${m[1]}.${m[2]}.${m[3]}.${m[4]}`, port: Number(m[5]) * 256 + Number(m[6]) };
}

/** A rig with an FtpHelper and an open control connection CLIENT:40000 → SERVER:21. */
function clientSetup(opts?: ConstructorParameters<typeof FtpHelper>[0]) {
  const rig = new AlgRig();
  const ftp = new FtpHelper(opts);
  const remove = rig.nat.addHelper(ftp);
  const c = new ScriptedConn(rig, CLIENT, 40000, SERVER, 21).open();
  c.rSend('220 (vsFTPd 3.0.3)\r\n', c.iSeq);
  return { rig, ftp, c, remove };
}

describe('FTP line parser', () => {
  it('reads the PORT commands lftp, curl and Windows ftp send', () => {
    for (const line of ['PORT 10,0,0,5,195,80', 'port 10,0,0,5,195,80', 'PORT  10,0,0,5,195,80 ']) {
      const a = parseFtpLine(b(line));
      assert.ok(a, line);
      assert.deepEqual([a.kind, a.ip, a.port], ['PORT', ipNum('10.0.0.5'), 50000]);
      assert.equal(line.slice(a.argStart, a.argEnd), '10,0,0,5,195,80');
    }
  });

  it('reads EPRT for IPv4 and leaves IPv6 EPRT alone', () => {
    const a = parseFtpLine(b('EPRT |1|10.0.0.5|41873|'));
    assert.ok(a);
    assert.deepEqual([a.kind, a.ip, a.port, a.delimiter], ['EPRT', ipNum('10.0.0.5'), 41873, 0x7c]);
    assert.equal('EPRT |1|10.0.0.5|41873|'.slice(a.argStart, a.argEnd), '10.0.0.5|41873');
    const bang = parseFtpLine(b('EPRT !1!10.0.0.5!2000!'));
    assert.equal(bang?.delimiter, 0x21);
    assert.equal(parseFtpLine(b('EPRT |2|1080::8:800:200C:417A|5282|')), null);
  });

  it('reads the 227 replies of vsftpd, proftpd and the RFC 1123 variant without parentheses', () => {
    const lines = [
      '227 Entering Passive Mode (10,0,0,5,39,21).',
      '227 Entering Passive Mode (10,0,0,5,39,21)',
      '227 =10,0,0,5,39,21',
    ];
    for (const line of lines) {
      const a = parseFtpLine(b(line));
      assert.ok(a, line);
      assert.deepEqual([a.kind, a.ip, a.port], ['227', ipNum('10.0.0.5'), 39 * 256 + 21]);
      assert.equal(line.slice(a.argStart, a.argEnd), '10,0,0,5,39,21');
    }
  });

  it('reads the port of a 229 reply', () => {
    const line = '229 Entering Extended Passive Mode (|||6446|)';
    const a = parseFtpLine(b(line));
    assert.ok(a);
    assert.deepEqual([a.kind, a.ip, a.port], ['229', -1, 6446]);
    assert.equal(line.slice(a.argStart, a.argEnd), '6446');
  });

  it('rejects malformed endpoint lines and ignores other lines', () => {
    for (const line of [
      'PORT 10,0,0,5,4',
      'PORT 256,0,0,1,4,1',
      'PORT 10,0,0,5,0,0',
      'PORT 10,0,0,5,4,1 junk',
      'PORT 10,0,0,5,4,1000',
      'EPRT |1|10.0.0.999|5|',
      'EPRT |1|10.0.0.5|70000|',
      'EPRT |1|10.0.0.5|5',
      '229 Entering Extended Passive Mode (|||0|)',
      '229 Entering Extended Passive Mode (||6446|)',
      'PORTS 1,2,3,4,5,6',
      '226 Transfer complete.',
      'USER anonymous',
      '',
    ])
      assert.equal(parseFtpLine(b(line)), null, line);
  });

  it('formats arguments in each syntax', () => {
    const ip = ipNum('203.0.113.100');
    assert.equal(formatFtpArgument('PORT', ip, 40001), '203,0,113,100,156,65');
    assert.equal(formatFtpArgument('227', ip, 256), '203,0,113,100,1,0');
    assert.equal(formatFtpArgument('EPRT', ip, 40001, 0x21), '203.0.113.100!40001');
    assert.equal(formatFtpArgument('229', ip, 40001), '40001');
  });

  it('never throws on arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), (bytes) => {
        parseFtpLine(bytes);
      }),
      { numRuns: 10_000 },
    );
    const prefixed = fc
      .tuple(fc.constantFrom('PORT ', 'EPRT ', '227 ', '229 ', 'eprt |1|'), fc.string({ maxLength: 40 }))
      .map(([k, s]) => b(k + s));
    fc.assert(
      fc.property(prefixed, (bytes) => {
        const a = parseFtpLine(bytes);
        if (a)
          assert.ok(a.port >= 1 && a.port <= 65535 && a.argStart <= a.argEnd && a.argEnd <= bytes.length);
      }),
      { numRuns: 10_000 },
    );
  });
});

describe('FtpHelper with an inside client', () => {
  it('rewrites PORT to the external address and an allocated port, and lets the data connection in', () => {
    const { rig, ftp, c } = clientSetup();
    const out = c.iSend('PORT 10,0,0,5,195,80\r\n');
    assert.equal(out.length, 1);
    const ep = portOf(out[0].text);
    assert.equal(ep.ip, EXT);
    assert.match(out[0].text, /^PORT 203,0,113,100,\d+,\d+\r\n$/);
    const exps = rig.nat.listExpectations();
    assert.equal(exps.length, 1);
    assert.deepEqual(
      [
        exps[0].insideIp,
        exps[0].insidePort,
        exps[0].externalPort,
        exps[0].remoteIp,
        exps[0].remotePort,
        exps[0].helper,
      ],
      [CLIENT, 50000, ep.port, SERVER, undefined, 'ftp'],
    );
    assert.ok(exps[0].expiresInMs <= 300_000 && exps[0].expiresInMs > 299_000);
    // Wrong remote address: not let in.
    assert.equal(rig.fromOutside(tcpSeg(OTHER, 20, EXT, ep.port, SYN, 5, 0)).length, 0);
    const syn = rig.fromOutside(tcpSeg(SERVER, 20, EXT, ep.port, SYN, 5, 0));
    assert.equal(syn.length, 1);
    assert.deepEqual([syn[0].dst, syn[0].dport, syn[0].src, syn[0].sport], [CLIENT, 50000, SERVER, 20]);
    const sa = rig.fromInside(tcpSeg(CLIENT, 50000, SERVER, 20, SYN | ACK, 77, 6));
    assert.deepEqual([sa[0].src, sa[0].sport], [EXT, ep.port]);
    assert.equal(ftp.stats.rewrites, 1);
    assert.equal(ftp.stats.expectations, 1);
    rig.close();
  });

  it('keeps seq, ack and SACK continuous after the length change, across a retransmitted PORT', () => {
    const { rig, ftp, c } = clientSetup();
    const port = 'PORT 10,0,0,5,195,80\r\n';
    const portSeq = c.iSeq;
    const first = c.iSend(port);
    const delta = first[0].payload.length - port.length;
    assert.ok(delta > 0, 'the rewrite grows the segment');
    // The server acknowledges what it received; the client sees the ack in its own space.
    const serverNext = first[0].seq + first[0].payload.length;
    assert.equal(c.rSend('200 PORT command successful.\r\n', serverNext)[0].ack, c.iSeq);
    // Retransmission of the PORT segment: byte-identical output, no new expectation.
    const again = c.iSend(port, portSeq);
    assert.deepEqual(again[0].payload, first[0].payload);
    assert.equal(again[0].seq, first[0].seq);
    assert.equal(rig.nat.listExpectations().length, 1);
    assert.equal(ftp.stats.retransmissions, 1);
    assert.equal(ftp.stats.rewrites, 1);
    // Later data is shifted by the delta exactly once.
    const list = c.iSend('LIST\r\n');
    assert.equal(list[0].seq, (portSeq + port.length + delta) >>> 0);
    assert.equal(list[0].text, 'LIST\r\n');
    const retr = c.iSend('RETR big.bin\r\n');
    assert.equal(retr[0].seq, list[0].seq + 6);
    // A SACK block from the server (its view) comes back in the client's space.
    const right = retr[0].seq + retr[0].payload.length;
    const sacked = rig.fromOutside(c.rAck(serverNext, sackOption([[retr[0].seq, right]])));
    assert.equal(sacked.length, 1);
    assert.equal(sacked[0].ack, portSeq + port.length);
    assert.deepEqual(sacked[0].sack, [[c.iSeq - 14, c.iSeq]]);
    rig.close();
  });

  it('never rewrites a PORT split across two segments, and realigns on the next line', () => {
    const { rig, ftp, c } = clientSetup();
    const a = c.iSend('PORT 10,0,0,');
    const b2 = c.iSend('5,195,80\r\n');
    assert.equal(a[0].text + b2[0].text, 'PORT 10,0,0,5,195,80\r\n');
    assert.equal(rig.nat.listExpectations().length, 0);
    assert.equal(ftp.stats.splitLines, 1);
    assert.equal(ftp.stats.rewrites, 0);
    // The next whole line is at a known line start again.
    const next = c.iSend('NOOP\r\nPORT 10,0,0,5,195,81\r\n');
    assert.match(next[0].text, /^NOOP\r\nPORT 203,0,113,100,/);
    assert.equal(rig.nat.listExpectations().length, 1);
    rig.close();
  });

  it('refuses a PORT naming another host (FTP bounce): unchanged, no expectation', () => {
    const { rig, ftp, c } = clientSetup();
    const out = c.iSend('PORT 198,51,100,99,0,25\r\n');
    assert.equal(out[0].text, 'PORT 198,51,100,99,0,25\r\n');
    assert.equal(rig.nat.listExpectations().length, 0);
    assert.equal(ftp.stats.refusals, 1);
    rig.close();
  });

  it('keeps a PORT that already names the external address and expects on that port', () => {
    const { rig, ftp, c } = clientSetup();
    const out = c.iSend('PORT 203,0,113,100,195,90\r\n');
    assert.equal(out[0].text, 'PORT 203,0,113,100,195,90\r\n');
    const e = rig.nat.listExpectations();
    assert.deepEqual([e[0].externalPort, e[0].insidePort], [50010, 50010]);
    assert.deepEqual([ftp.stats.rewrites, ftp.stats.refusals], [0, 0]);
    rig.close();
  });

  it('rewrites EPRT keeping its delimiter', () => {
    const { rig, c } = clientSetup();
    const out = c.iSend('EPRT |1|10.0.0.5|41873|\r\n');
    const m = /^EPRT \|1\|203\.0\.113\.100\|(\d+)\|\r\n$/.exec(out[0].text);
    assert.ok(m, out[0].text);
    assert.equal(rig.nat.listExpectations()[0].externalPort, Number(m[1]));
    assert.equal(rig.nat.listExpectations()[0].insidePort, 41873);
    rig.close();
  });

  it('keeps one expectation per control connection: a new PORT evicts the pending one', () => {
    const { rig, ftp, c } = clientSetup();
    const p1 = portOf(c.iSend('PORT 10,0,0,5,195,80\r\n')[0].text).port;
    const p2 = portOf(c.iSend('PORT 10,0,0,5,195,81\r\n')[0].text).port;
    assert.notEqual(p1, p2);
    const exps = rig.nat.listExpectations();
    assert.deepEqual(
      exps.map((e) => [e.externalPort, e.insidePort]),
      [[p2, 50001]],
    );
    assert.equal(ftp.stats.evictions, 1);
    assert.equal(rig.fromOutside(tcpSeg(SERVER, 20, EXT, p1, SYN, 5, 0)).length, 0);
    assert.equal(rig.fromOutside(tcpSeg(SERVER, 20, EXT, p2, SYN, 5, 0))[0]?.dport, 50001);
    rig.close();
  });

  it('lets the expectation lapse after 300 s', () => {
    const { rig, c } = clientSetup();
    const p = portOf(c.iSend('PORT 10,0,0,5,195,80\r\n')[0].text).port;
    rig.advance(300_001);
    assert.equal(rig.nat.listExpectations().length, 0);
    assert.equal(rig.fromOutside(tcpSeg(SERVER, 20, EXT, p, SYN, 5, 0)).length, 0);
    rig.close();
  });

  it('honours expectationTimeoutMs and maxExpectations', () => {
    const { rig, c } = clientSetup({ expectationTimeoutMs: 10_000, maxExpectations: 2 });
    c.iSend('PORT 10,0,0,5,195,80\r\nPORT 10,0,0,5,195,81\r\nPORT 10,0,0,5,195,82\r\n');
    assert.deepEqual(
      rig.nat.listExpectations().map((e) => e.insidePort),
      [50001, 50002],
    );
    rig.advance(10_001);
    assert.equal(rig.nat.listExpectations().length, 0);
    rig.close();
  });

  it('leaves the 227 and 229 replies an inside client receives untouched', () => {
    const { rig, ftp, c } = clientSetup();
    const got = c.rSend('227 Entering Passive Mode (198,51,100,20,39,21).\r\n', c.iSeq);
    assert.equal(got[0].text, '227 Entering Passive Mode (198,51,100,20,39,21).\r\n');
    const got2 = c.rSend('229 Entering Extended Passive Mode (|||6446|)\r\n', c.iSeq);
    assert.equal(got2[0].text, '229 Entering Extended Passive Mode (|||6446|)\r\n');
    // A client sending reply-like text is not a server: not parsed.
    assert.equal(c.iSend('227 (10,0,0,5,1,2)\r\n')[0].text, '227 (10,0,0,5,1,2)\r\n');
    assert.equal(rig.nat.listExpectations().length, 0);
    assert.equal(ftp.stats.rewrites, 0);
    rig.close();
  });

  it('counts malformed PORT lines and passes them unchanged', () => {
    const { rig, ftp, c } = clientSetup();
    assert.equal(c.iSend('PORT 10,0,0,5,4\r\n')[0].text, 'PORT 10,0,0,5,4\r\n');
    assert.equal(ftp.stats.parseErrors, 1);
    assert.equal(rig.nat.listExpectations().length, 0);
    rig.close();
  });

  it('frees its state and pending expectations when the connection ends, and stops when removed', () => {
    const { rig, ftp, c, remove } = clientSetup();
    c.iSend('PORT 10,0,0,5,195,80\r\n');
    assert.equal(ftp.connections, 1);
    rig.fromInside(tcpSeg(CLIENT, 40000, SERVER, 21, RST | ACK, c.iSeq, c.rSeq));
    rig.advance(241_000);
    assert.equal(ftp.connections, 0);
    assert.equal(rig.nat.listExpectations().length, 0);
    remove();
    const c2 = new ScriptedConn(rig, CLIENT, 40001, SERVER, 21).open();
    assert.equal(c2.iSend('PORT 10,0,0,5,195,80\r\n')[0].text, 'PORT 10,0,0,5,195,80\r\n');
    rig.close();
  });

  it('serves only the configured ports and tenants', () => {
    const rig = new AlgRig();
    const ftp = new FtpHelper({ ports: [2121], tenants: [0] });
    rig.nat.addHelper(ftp);
    const on21 = new ScriptedConn(rig, CLIENT, 40000, SERVER, 21).open();
    assert.equal(on21.iSend('PORT 10,0,0,5,195,80\r\n')[0].text, 'PORT 10,0,0,5,195,80\r\n');
    const on2121 = new ScriptedConn(rig, CLIENT, 40001, SERVER, 2121).open();
    assert.match(on2121.iSend('PORT 10,0,0,5,195,80\r\n')[0].text, /^PORT 203,0,113,100,/);
    rig.close();
  });

  it('rejects bad options with ERR_BAD_OPTION', () => {
    for (const bad of [
      { ports: [] },
      { ports: [0] },
      { ports: [70000] },
      { tenants: [-1] },
      { expectationTimeoutMs: 0 },
      { maxExpectations: 0 },
      { name: '' },
      { bogus: 1 },
    ])
      assert.throws(
        () => new FtpHelper(bad as never),
        (e: unknown) => e instanceof ConfigError && e.code === 'ERR_BAD_OPTION',
        JSON.stringify(bad),
      );
  });
});

describe('FtpHelper with an inside server behind a port forward', () => {
  function serverSetup() {
    const rig = new AlgRig();
    const ftp = new FtpHelper();
    rig.nat.addHelper(ftp);
    rig.nat.addPortForward({ proto: 6, outsidePort: 21, insideIp: CLIENT, insidePort: 21 });
    // Here CLIENT is the inside FTP server and SERVER the outside client.
    const c = new ScriptedConn(rig, CLIENT, 21, SERVER, 51000).accept(21);
    c.iSend('220 (vsFTPd 3.0.3)\r\n');
    return { rig, ftp, c };
  }

  it('rewrites the 227 reply and lets the client data connection in to the server', () => {
    const { rig, ftp, c } = serverSetup();
    const got = c.rSend('PASV\r\n', c.iSeq);
    assert.equal(got[0].text, 'PASV\r\n');
    const out = c.iSend('227 Entering Passive Mode (10,0,0,5,39,21).\r\n');
    assert.match(out[0].text, /^227 Entering Passive Mode \(203,0,113,100,\d+,\d+\)\.\r\n$/);
    const ep = portOf(out[0].text);
    const exp = rig.nat.listExpectations();
    assert.deepEqual([exp[0].insidePort, exp[0].remoteIp], [39 * 256 + 21, SERVER]);
    const syn = rig.fromOutside(tcpSeg(SERVER, 51001, EXT, ep.port, SYN, 9, 0));
    assert.deepEqual([syn[0].dst, syn[0].dport], [CLIENT, 10005]);
    // The client's ack of the longer reply reaches the server in its own space.
    const ackd = rig.fromOutside(c.rAck(out[0].seq + out[0].payload.length));
    assert.equal(ackd[0].ack, c.iSeq);
    assert.equal(ftp.stats.rewrites, 1);
    rig.close();
  });

  it('leaves a 229 reply unchanged and expects the data connection on the same external port', () => {
    const { rig, ftp, c } = serverSetup();
    const out = c.iSend('229 Entering Extended Passive Mode (|||6446|)\r\n');
    assert.equal(out[0].text, '229 Entering Extended Passive Mode (|||6446|)\r\n');
    const exp = rig.nat.listExpectations();
    assert.deepEqual([exp[0].externalPort, exp[0].insidePort], [6446, 6446]);
    const syn = rig.fromOutside(tcpSeg(SERVER, 51002, EXT, 6446, SYN, 9, 0));
    assert.deepEqual([syn[0].dst, syn[0].dport], [CLIENT, 6446]);
    assert.equal(ftp.stats.rewrites, 0);
    assert.equal(ftp.stats.expectations, 1);
    rig.close();
  });

  it('rewrites the 229 port when the same external port is taken', () => {
    const { rig, c } = serverSetup();
    rig.nat.addPortForward({ proto: 6, outsidePort: 6446, insideIp: '10.0.0.9', insidePort: 80 });
    const out = c.iSend('229 Entering Extended Passive Mode (|||6446|)\r\n');
    const m = /\(\|\|\|(\d+)\|\)/.exec(out[0].text);
    assert.ok(m);
    assert.notEqual(Number(m[1]), 6446);
    assert.equal(rig.nat.listExpectations()[0].externalPort, Number(m[1]));
    rig.close();
  });

  it('does not touch the PORT an outside client sends to the inside server', () => {
    const { rig, c } = serverSetup();
    const got = c.rSend('PORT 198,51,100,20,200,1\r\n', c.iSeq);
    assert.equal(got[0].text, 'PORT 198,51,100,20,200,1\r\n');
    assert.equal(rig.nat.listExpectations().length, 0);
    // The server's active data connection goes out as an ordinary connection.
    const syn = rig.fromInside(tcpSeg(CLIENT, 20, SERVER, 200 * 256 + 1, SYN, 1, 0));
    assert.equal(syn[0].dst, SERVER);
    assert.equal(rig.fromOutside(tcpSeg(SERVER, 51201, EXT, syn[0].sport, SYN | ACK, 3, 2))[0].dport, 20);
    rig.close();
  });
});

describe('FtpHelper properties', () => {
  it('never drops or throws on arbitrary control-connection bytes, and alters only endpoint lines', () => {
    const { rig, ftp, c } = clientSetup();
    const endpoint = /(^|\n)(port|eprt) /i;
    const arb = fc.oneof(
      fc.uint8Array({ maxLength: 200 }),
      fc
        .array(fc.constantFrom('PORT ', 'EPRT |1|', '10,0,0,5,', '1,2', '\r\n', '\n', '|', 'x'), {
          maxLength: 12,
        })
        .map((parts) => b(parts.join(''))),
    );
    fuzzSegments(c, arb, (p) => !endpoint.test(Buffer.from(p).toString('latin1')));
    assert.ok(ftp.stats.parseErrors + ftp.stats.rewrites + ftp.stats.splitLines > 0);
    rig.close();
  });

  const line = fc.oneof(
    fc.constantFrom('USER anonymous', 'PASS x@y', 'TYPE I', 'LIST', 'NOOP', 'RETR a.bin', 'PASV', 'EPSV'),
    fc
      .tuple(fc.integer({ min: 1024, max: 65535 }), fc.boolean())
      .map(([p, eprt]) => (eprt ? `EPRT |1|10.0.0.5|${p}|` : `PORT 10,0,0,5,${p >> 8},${p & 255}`)),
    fc.string({ maxLength: 30 }).map((s) => s.replace(/[\r\n]/g, ' ')),
  );

  it('rewrites retransmissions identically and never alters lines that announce nothing', () => {
    fc.assert(
      fc.property(
        fc.array(line, { minLength: 1, maxLength: 8 }),
        fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 8 }),
        fc.nat(),
        (lines, cuts, pick) => {
          const rig = new AlgRig();
          try {
            rig.nat.addHelper(new FtpHelper({ maxExpectations: 16 }));
            const c = new ScriptedConn(rig, CLIENT, 40000, SERVER, 21).open();
            const stream = lines.map((l) => `${l}\r\n`).join('');
            const segs: Array<{ seq: number; data: string; out: string; outSeq: number }> = [];
            let pos = 0;
            let k = 0;
            while (pos < stream.length) {
              const n = cuts[k++ % cuts.length];
              const data = stream.slice(pos, pos + n);
              const seq = c.iSeq;
              const out = c.iSend(data);
              assert.equal(out.length, 1);
              segs.push({ seq, data, out: out[0].text, outSeq: out[0].seq });
              pos += n;
            }
            // What the server received, with PORT / EPRT of 10.0.0.5 normalised, equals what was sent.
            const norm = (s: string) =>
              s
                .replace(/PORT (10,0,0,5|203,0,113,100),\d+,\d+/g, 'PORT X')
                .replace(/EPRT \|1\|(10\.0\.0\.5|203\.0\.113\.100)\|\d+\|/g, 'EPRT X');
            const received = segs.map((s) => s.out).join('');
            assert.equal(norm(received), norm(stream));
            // Sequence numbers out are contiguous.
            for (let i = 1; i < segs.length; i++)
              assert.equal(
                segs[i].outSeq,
                (segs[i - 1].outSeq + Buffer.byteLength(segs[i - 1].out, 'latin1')) >>> 0,
              );
            // A retransmission of any segment comes out exactly as the first time.
            const r = segs[pick % segs.length];
            const again = c.iSend(r.data, r.seq);
            assert.equal(again[0].text, r.out);
            assert.equal(again[0].seq, r.outSeq);
          } finally {
            rig.close();
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
