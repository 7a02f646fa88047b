/** TFTP ALG: request parser and the reply expectation under port-dependent filtering. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { parseTftpRequest, TftpHelper } from '../src/index.js';
import { AlgRig, CLIENT, EXT, OTHER, SERVER, udpDgram } from './alg-peers.js';

/** An RRQ / WRQ as tftp-hpa sends it (`-m octet`), with optional RFC 2347 options. */
function request(op: 1 | 2, file: string, mode: string, opts: string[] = []): Uint8Array {
  return Buffer.from([0, op, ...Buffer.from([file, mode, ...opts].map((s) => `${s}\0`).join(''), 'latin1')]);
}
/** DATA block from the server. */
function data(block: number, bytes: string): Uint8Array {
  return Buffer.from([0, 3, block >> 8, block & 255, ...Buffer.from(bytes)]);
}

describe('TFTP request parser', () => {
  it('reads the RRQ and WRQ of tftp-hpa, with modes in any case and options', () => {
    const r = parseTftpRequest(request(1, 'pxelinux.0', 'octet'));
    assert.deepEqual(r, { opcode: 1, filename: 'pxelinux.0', mode: 'octet', options: {} });
    const w = parseTftpRequest(request(2, 'up.txt', 'NetASCII', ['blksize', '1428', 'tsize', '0']));
    assert.deepEqual(w, {
      opcode: 2,
      filename: 'up.txt',
      mode: 'netascii',
      options: { blksize: '1428', tsize: '0' },
    });
  });

  it('rejects other opcodes, empty names, unknown modes and truncation', () => {
    assert.equal(parseTftpRequest(data(1, 'x')), null);
    assert.equal(parseTftpRequest(request(1, '', 'octet')), null);
    assert.equal(parseTftpRequest(request(1, 'f', 'binary')), null);
    assert.equal(parseTftpRequest(request(1, 'f', 'octet').subarray(0, 7)), null);
    assert.equal(parseTftpRequest(request(1, 'f', 'octet', ['blksize'])), null);
    assert.equal(parseTftpRequest(new Uint8Array([0, 1])), null);
  });

  it('never throws on arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (b) => {
        parseTftpRequest(b);
      }),
      { numRuns: 10_000 },
    );
  });
});

describe('TftpHelper', () => {
  const apdf = { mapping: 'endpoint-independent', filtering: 'address-and-port-dependent' } as const;

  it('lets the server reply from a new port in under address-and-port-dependent filtering', () => {
    const rig = new AlgRig(apdf);
    const tftp = new TftpHelper();
    rig.nat.addHelper(tftp);
    const out = rig.fromInside(udpDgram(CLIENT, 50123, SERVER, 69, request(1, 'boot.img', 'octet')));
    assert.equal(out.length, 1);
    const ext = out[0].sport;
    const exps = rig.nat.listExpectations();
    assert.equal(exps.length, 1);
    assert.deepEqual(
      [
        exps[0].proto,
        exps[0].insideIp,
        exps[0].insidePort,
        exps[0].externalPort,
        exps[0].remoteIp,
        exps[0].remotePort,
      ],
      [17, CLIENT, 50123, ext, SERVER, undefined],
    );
    // Another host cannot use it.
    assert.equal(rig.fromOutside(udpDgram(OTHER, 40000, EXT, ext, data(1, 'evil'))).length, 0);
    const d1 = rig.fromOutside(udpDgram(SERVER, 40000, EXT, ext, data(1, 'hello')));
    assert.equal(d1.length, 1);
    assert.deepEqual([d1[0].dst, d1[0].dport, d1[0].src, d1[0].sport], [CLIENT, 50123, SERVER, 40000]);
    // The transfer continues on the new port pair both ways.
    const ack = rig.fromInside(udpDgram(CLIENT, 50123, SERVER, 40000, Buffer.from([0, 4, 0, 1])));
    assert.deepEqual([ack[0].sport, ack[0].dport], [ext, 40000]);
    assert.equal(rig.fromOutside(udpDgram(SERVER, 40000, EXT, ext, data(2, 'more'))).length, 1);
    assert.equal(tftp.stats.requests, 1);
    assert.equal(tftp.stats.expectations, 1);
    rig.close();
  });

  it('without the helper the same reply is filtered out', () => {
    const rig = new AlgRig(apdf);
    const out = rig.fromInside(udpDgram(CLIENT, 50123, SERVER, 69, request(1, 'boot.img', 'octet')));
    assert.equal(rig.fromOutside(udpDgram(SERVER, 40000, EXT, out[0].sport, data(1, 'hello'))).length, 0);
    rig.close();
  });

  it('replaces the expectation when the client retransmits its request, and lets it lapse after 300 s', () => {
    const rig = new AlgRig(apdf);
    const tftp = new TftpHelper();
    rig.nat.addHelper(tftp);
    const req = udpDgram(CLIENT, 50123, SERVER, 69, request(2, 'up.bin', 'octet'));
    rig.fromInside(req);
    rig.fromInside(req);
    assert.equal(rig.nat.listExpectations().length, 1);
    assert.equal(tftp.stats.evictions, 1);
    rig.advance(300_001);
    assert.equal(rig.nat.listExpectations().length, 0);
    rig.close();
  });

  it('passes other datagrams to port 69 unchanged and counts them', () => {
    const rig = new AlgRig(apdf);
    const tftp = new TftpHelper();
    rig.nat.addHelper(tftp);
    const out = rig.fromInside(udpDgram(CLIENT, 50123, SERVER, 69, Buffer.from('not tftp')));
    assert.equal(out[0].text, 'not tftp');
    assert.equal(tftp.stats.parseErrors, 1);
    assert.equal(rig.nat.listExpectations().length, 0);
    rig.close();
  });

  it('acts only when added and only on its ports, and takes its expectations along when removed', () => {
    const rig = new AlgRig(apdf);
    const remove = rig.nat.addHelper(new TftpHelper({ ports: [6969] }));
    rig.fromInside(udpDgram(CLIENT, 50123, SERVER, 69, request(1, 'a', 'octet')));
    assert.equal(rig.nat.listExpectations().length, 0);
    rig.fromInside(udpDgram(CLIENT, 50124, SERVER, 6969, request(1, 'a', 'octet')));
    assert.equal(rig.nat.listExpectations().length, 1);
    // Removing the helper removes its pending expectations (as unregistering a Linux helper does).
    remove();
    assert.equal(rig.nat.listExpectations().length, 0);
    rig.fromInside(udpDgram(CLIENT, 50125, SERVER, 6969, request(1, 'a', 'octet')));
    assert.equal(rig.nat.listExpectations().length, 0);
    rig.close();
  });
});
