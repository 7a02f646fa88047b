/** IRC DCC ALG: parser on client formats, rewrites through a NAT, RESUME / ACCEPT, limits. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { IrcHelper, parseIrcDcc } from '../src/index.js';
import {
  AlgRig,
  CLIENT,
  CLIENT2,
  EXT,
  fuzzSegments,
  OTHER,
  ScriptedConn,
  SERVER,
  SYN,
  tcpSeg,
} from './alg-peers.js';

const b = (s: string) => Buffer.from(s, 'latin1');
/** 10.0.0.5 and 203.0.113.100 as DCC writes them. */
const INSIDE_DEC = 167772165;
const EXT_DEC = 3405803876;

function setup(opts?: ConstructorParameters<typeof IrcHelper>[0]) {
  const rig = new AlgRig();
  const irc = new IrcHelper(opts);
  rig.nat.addHelper(irc);
  const c = new ScriptedConn(rig, CLIENT, 45000, SERVER, 6667).open();
  c.iSend('NICK alice\r\nUSER alice 0 * :Alice\r\n');
  c.rSend(':irc.example.net 001 alice :Welcome\r\n', c.iSeq);
  return { rig, irc, c };
}

function dccPort(text: string): number {
  const m = /DCC \w+ \S+ (\d+) (\d+)/.exec(text);
  assert.ok(m, text);
  return Number(m[2]);
}

describe('IRC DCC parser', () => {
  it('reads SEND and CHAT as irssi, mIRC and HexChat send them', () => {
    const send = `PRIVMSG bob :\x01DCC SEND file.txt ${INSIDE_DEC} 45678 1024\x01`;
    const d = parseIrcDcc(b(send));
    assert.ok(d);
    assert.deepEqual([d.type, d.argument, d.ip, d.port], ['SEND', 'file.txt', INSIDE_DEC, 45678]);
    assert.equal(send.slice(d.argStart, d.argEnd), `${INSIDE_DEC} 45678`);
    const quoted = parseIrcDcc(b(`PRIVMSG bob :\x01DCC SEND "my file.txt" ${INSIDE_DEC} 1024 2048\x01`));
    assert.deepEqual([quoted?.argument, quoted?.port], ['my file.txt', 1024]);
    const chat = parseIrcDcc(b(`PRIVMSG bob :\x01DCC CHAT chat ${INSIDE_DEC} 45679\x01`));
    assert.deepEqual([chat?.type, chat?.argument, chat?.port], ['CHAT', 'chat', 45679]);
    const passive = parseIrcDcc(b(`PRIVMSG bob :\x01DCC SEND f.bin ${INSIDE_DEC} 0 1024 17\x01`));
    assert.equal(passive?.port, 0);
  });

  it('reads RESUME and ACCEPT behind a server prefix and IRCv3 tags', () => {
    const line = `@time=2024-01-01T00:00:00.000Z :bob!b@host PRIVMSG alice :\x01DCC RESUME file.txt 40000 512\x01`;
    const d = parseIrcDcc(b(line));
    assert.ok(d);
    assert.deepEqual([d.type, d.ip, d.port], ['RESUME', -1, 40000]);
    assert.equal(line.slice(d.portStart, d.argEnd), '40000');
    const a = parseIrcDcc(b(`NOTICE bob :\x01DCC ACCEPT file.txt 45678 512\x01`));
    assert.deepEqual([a?.type, a?.port], ['ACCEPT', 45678]);
  });

  it('rejects malformed DCC and lines that are not PRIVMSG / NOTICE', () => {
    for (const l of [
      `JOIN #x :\x01DCC SEND f ${INSIDE_DEC} 1\x01`,
      `PRIVMSG bob :DCC SEND f ${INSIDE_DEC} 1`,
      `PRIVMSG bob :\x01DCC SEND f 99999999999 1\x01`,
      `PRIVMSG bob :\x01DCC SEND f ${INSIDE_DEC} 70000\x01`,
      `PRIVMSG bob :\x01DCC SEND "f ${INSIDE_DEC} 1\x01`,
      `PRIVMSG bob :\x01DCC SEND f 10.0.0.5 1\x01`,
      `PRIVMSG bob :\x01DCC FOO f ${INSIDE_DEC} 1\x01`,
      `PRIVMSG bob :\x01DCC SEND\x01`,
      `PRIVMSG bob :\x01ACTION waves\x01`,
    ])
      assert.equal(parseIrcDcc(b(l)), null, JSON.stringify(l));
  });

  it('never throws on arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), (x) => {
        parseIrcDcc(x);
      }),
      { numRuns: 10_000 },
    );
    fc.assert(
      fc.property(fc.string({ maxLength: 50 }), (s) => {
        parseIrcDcc(b(`PRIVMSG bob :\x01DCC ${s}`));
      }),
      { numRuns: 10_000 },
    );
  });
});

describe('IrcHelper', () => {
  it('rewrites a DCC SEND to the external address and port and lets the peer connect', () => {
    const { rig, irc, c } = setup();
    const out = c.iSend(`PRIVMSG bob :\x01DCC SEND file.txt ${INSIDE_DEC} 45678 1024\x01\r\n`);
    assert.match(
      out[0].text,
      new RegExp(`^PRIVMSG bob :\\x01DCC SEND file\\.txt ${EXT_DEC} \\d+ 1024\\x01\\r\\n$`),
    );
    const port = dccPort(out[0].text);
    const e = rig.nat.listExpectations();
    assert.deepEqual(
      [e[0].insidePort, e[0].externalPort, e[0].remoteIp, e[0].helper],
      [45678, port, undefined, 'irc'],
    );
    // Any remote user may connect (the peer is not the server).
    const syn = rig.fromOutside(tcpSeg(OTHER, 51515, EXT, port, SYN, 1, 0));
    assert.deepEqual([syn[0].dst, syn[0].dport], [CLIENT, 45678]);
    assert.equal(irc.stats.rewrites, 1);
    // The server's ack of the longer line reaches the client in its own sequence space.
    const ack = rig.fromOutside(c.rAck(out[0].seq + out[0].payload.length));
    assert.equal(ack[0].ack, c.iSeq);
    rig.close();
  });

  it('translates RESUME coming in and ACCEPT going out for an inside sender', () => {
    const { rig, irc, c } = setup();
    // Another host holds external port 45678, so the offer's port must change.
    rig.fromInside(tcpSeg(CLIENT2, 45678, OTHER, 80, SYN, 1, 0));
    const out = c.iSend(`PRIVMSG bob :\x01DCC SEND file.txt ${INSIDE_DEC} 45678 4096\x01\r\n`);
    const port = dccPort(out[0].text);
    assert.notEqual(port, 45678);
    const got = c.rSend(
      `:bob!b@h PRIVMSG alice :\x01DCC RESUME file.txt ${port} 1024\x01\r\n`,
      out[0].seq + out[0].payload.length,
    );
    assert.equal(got[0].text, ':bob!b@h PRIVMSG alice :\x01DCC RESUME file.txt 45678 1024\x01\r\n');
    assert.equal(got[0].ack, c.iSeq);
    const acc = c.iSend('PRIVMSG bob :\x01DCC ACCEPT file.txt 45678 1024\x01\r\n');
    assert.equal(acc[0].text, `PRIVMSG bob :\x01DCC ACCEPT file.txt ${port} 1024\x01\r\n`);
    assert.equal(irc.stats.resumes, 2);
    // The server acknowledges the inbound RESUME (shorter for the client) in its own space.
    const lenIn = got[0].payload.length;
    const ack = rig.fromInside(c.iAck(got[0].seq + lenIn));
    assert.equal(ack[0].ack, c.rSeq);
    rig.close();
  });

  it('leaves offers from remote users and their RESUME / ACCEPT alone', () => {
    const { rig, irc, c } = setup();
    const offer = `:bob!b@h PRIVMSG alice :\x01DCC SEND f.bin 3325256724 5000 10\x01\r\n`;
    assert.equal(c.rSend(offer, c.iSeq)[0].text, offer);
    const resume = 'PRIVMSG bob :\x01DCC RESUME f.bin 5000 5\x01\r\n';
    assert.equal(c.iSend(resume)[0].text, resume);
    const accept = `:bob!b@h PRIVMSG alice :\x01DCC ACCEPT f.bin 5000 5\x01\r\n`;
    assert.equal(c.rSend(accept, c.iSeq)[0].text, accept);
    assert.equal(rig.nat.listExpectations().length, 0);
    assert.equal(irc.stats.rewrites + irc.stats.resumes, 0);
    rig.close();
  });

  it('rewrites the address of a passive DCC (port 0) without an expectation', () => {
    const { rig, c } = setup();
    const out = c.iSend(`PRIVMSG bob :\x01DCC SEND f.bin ${INSIDE_DEC} 0 1024 17\x01\r\n`);
    assert.equal(out[0].text, `PRIVMSG bob :\x01DCC SEND f.bin ${EXT_DEC} 0 1024 17\x01\r\n`);
    assert.equal(rig.nat.listExpectations().length, 0);
    rig.close();
  });

  it('refuses an address that is not the sender’s, and keeps the port of an external one', () => {
    const { rig, irc, c } = setup();
    const forged = `PRIVMSG bob :\x01DCC SEND f.bin 3325256724 5000 10\x01\r\n`;
    assert.equal(c.iSend(forged)[0].text, forged);
    assert.equal(irc.stats.refusals, 1);
    const pub = `PRIVMSG bob :\x01DCC CHAT chat ${EXT_DEC} 45700\x01\r\n`;
    assert.equal(c.iSend(pub)[0].text, pub);
    assert.deepEqual(
      rig.nat.listExpectations().map((e) => [e.externalPort, e.insidePort]),
      [[45700, 45700]],
    );
    rig.close();
  });

  it('keeps at most 8 pending expectations per connection (oldest evicted), 300 s each', () => {
    const { rig, irc, c } = setup();
    for (let i = 0; i < 10; i++)
      c.iSend(`PRIVMSG bob :\x01DCC SEND f${i} ${INSIDE_DEC} ${46000 + i} 1\x01\r\n`);
    const ports = rig.nat.listExpectations().map((e) => e.insidePort);
    assert.deepEqual(
      ports.sort((x, y) => x - y),
      [46002, 46003, 46004, 46005, 46006, 46007, 46008, 46009],
    );
    assert.equal(irc.stats.evictions, 2);
    rig.advance(300_001);
    assert.equal(rig.nat.listExpectations().length, 0);
    rig.close();
  });

  it('never drops or throws on arbitrary bytes, and alters only DCC lines', () => {
    const { rig, c } = setup();
    const arb = fc.oneof(
      fc.uint8Array({ maxLength: 200 }),
      fc
        .array(
          fc.constantFrom(
            'PRIVMSG bob :',
            '\x01DCC ',
            'SEND ',
            'ACCEPT ',
            `${INSIDE_DEC} `,
            '45678',
            '\r\n',
            '"',
            ' ',
          ),
          {
            maxLength: 12,
          },
        )
        .map((parts) => b(parts.join(''))),
    );
    fuzzSegments(c, arb, (p) => !Buffer.from(p).toString('latin1').toUpperCase().includes('\x01DCC '));
    rig.close();
  });

  it('rewrites a retransmitted DCC line identically and counts a split one', () => {
    const { rig, irc, c } = setup();
    const line = `PRIVMSG bob :\x01DCC SEND file.txt ${INSIDE_DEC} 45678 1024\x01\r\n`;
    const seq = c.iSeq;
    const first = c.iSend(line);
    const again = c.iSend(line, seq);
    assert.deepEqual([again[0].seq, again[0].text], [first[0].seq, first[0].text]);
    assert.equal(rig.nat.listExpectations().length, 1);
    assert.equal(irc.stats.retransmissions, 1);
    const split = `PRIVMSG bob :\x01DCC SEND b.txt ${INSIDE_DEC} 45679 1\x01\r\n`;
    const p1 = c.iSend(split.slice(0, 30));
    const p2 = c.iSend(split.slice(30));
    assert.equal(p1[0].text + p2[0].text, split);
    assert.equal(irc.stats.splitLines, 1);
    assert.equal(rig.nat.listExpectations().length, 1);
    rig.close();
  });
});
