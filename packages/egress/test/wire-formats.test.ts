import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  buildDnsQuery,
  buildDnsResponse,
  connectStatusError,
  DnsType,
  decodeSocksAddress,
  decodeSocksUdp,
  encodeConnectRequest,
  encodeSocksRequest,
  encodeSocksUdp,
  encodeSocksUserPass,
  parseConnectStatus,
  parseDnsAnswers,
  parseDnsQuery,
  socksReplyError,
} from '../src/index.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

test('SOCKS5 requests encode IPv4, IPv6 and domain destinations as RFC 1928 specifies', () => {
  assert.equal(hex(encodeSocksRequest(1, '192.0.2.1', 80)), '050100' + '01c0000201' + '0050');
  assert.equal(
    hex(encodeSocksRequest(1, '2001:db8::1', 443)),
    '050100' + '04' + '20010db8000000000000000000000001' + '01bb',
  );
  assert.equal(
    hex(encodeSocksRequest(3, 'example.com', 53)),
    `050300030b${Buffer.from('example.com').toString('hex')}0035`,
  );
});

test('SOCKS5 username/password sub-negotiation follows RFC 1929', () => {
  assert.equal(hex(encodeSocksUserPass('bob', 'pw')), '0103' + '626f62' + '02' + '7077');
});

test('SOCKS5 UDP datagrams round-trip and fragments are refused', () => {
  const d = encodeSocksUdp('198.51.100.7', 5353, Buffer.from('hi'));
  assert.equal(hex(d), '000000' + '01c6336407' + '14e9' + '6869');
  assert.deepEqual(decodeSocksUdp(d), { host: '198.51.100.7', port: 5353, data: Buffer.from('hi') });
  const frag = Uint8Array.from(d);
  frag[2] = 1;
  assert.equal(decodeSocksUdp(frag), null);
});

test('SOCKS5 reply codes classify as refused, denied, unreachable, timeout or proxy failures', () => {
  assert.equal(socksReplyError(0, 'x'), undefined);
  assert.equal(socksReplyError(5, 'x')?.failure, 'refused');
  assert.equal(socksReplyError(2, 'x')?.failure, 'denied');
  assert.equal(socksReplyError(3, 'x')?.failure, 'unreachable');
  assert.equal(socksReplyError(4, 'x')?.failure, 'unreachable');
  assert.equal(socksReplyError(6, 'x')?.failure, 'timeout');
  assert.equal(socksReplyError(7, 'x')?.failure, 'proxy');
  assert.equal(socksReplyError(1, 'x')?.failure, 'unreachable');
});

test('SOCKS address decoding never throws on arbitrary bytes', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), fc.nat(70), (b, off) => {
      const a = decodeSocksAddress(b, off);
      if (a) assert.ok(a.length >= 5 && off + a.length <= b.length && a.port >= 0 && a.host.length > 0);
      decodeSocksUdp(b);
    }),
    { numRuns: 10_000 },
  );
});

test('the HTTP CONNECT request carries the authority, Host and Basic credentials', () => {
  assert.equal(
    encodeConnectRequest({ host: 'example.com', port: 443 }, { username: 'u', password: 'p' }),
    'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\nProxy-Authorization: Basic dTpw\r\n\r\n',
  );
  assert.equal(
    encodeConnectRequest({ host: '2001:db8::1', port: 80 }, {}),
    'CONNECT [2001:db8::1]:80 HTTP/1.1\r\nHost: [2001:db8::1]:80\r\n\r\n',
  );
  assert.throws(() => encodeConnectRequest({ host: 'a', port: 1 }, { headers: { 'X-A': 'b\r\nEvil: 1' } }));
});

test('HTTP CONNECT status lines are parsed and classified', () => {
  assert.equal(parseConnectStatus(Buffer.from('HTTP/1.1 200 Connection established\r\n\r\n'), 'x'), 200);
  assert.equal(parseConnectStatus(Buffer.from('HTTP/1.0 403 Forbidden\r\n\r\n'), 'x'), 403);
  assert.throws(() => parseConnectStatus(Buffer.from('SSH-2.0-OpenSSH\r\n\r\n'), 'x'));
  assert.equal(connectStatusError(200, 'x'), undefined);
  assert.equal(connectStatusError(403, 'x')?.failure, 'denied');
  assert.equal(connectStatusError(407, 'x')?.failure, 'proxy');
  assert.equal(connectStatusError(502, 'x')?.failure, 'unreachable');
  assert.equal(connectStatusError(504, 'x')?.failure, 'timeout');
});

test('a DNS query is built and parsed back to its question', () => {
  const qb = buildDnsQuery(0xbeef, 'www.example.com', DnsType.A);
  assert.equal(hex(qb), 'beef01000001000000000000' + '03777777076578616d706c6503636f6d00' + '00010001');
  const q = parseDnsQuery(qb);
  assert.deepEqual(q && { id: q.id, name: q.name, type: q.type, qclass: q.qclass }, {
    id: 0xbeef,
    name: 'www.example.com',
    type: 1,
    qclass: 1,
  });
});

test('a DNS response carries A records with a compression pointer and parses back', () => {
  const qb = buildDnsQuery(7, 'a.test', DnsType.A);
  const q = parseDnsQuery(qb);
  assert.ok(q);
  const r = buildDnsResponse(qb, q, 0, ['192.0.2.1', '2001:db8::1', '192.0.2.2'], 30);
  assert.equal(
    hex(r.subarray(q.end, q.end + 16)),
    'c00c' + '0001' + '0001' + '0000001e' + '0004' + 'c0000201',
  );
  const p = parseDnsAnswers(r);
  assert.deepEqual(p, {
    id: 7,
    rcode: 0,
    question: 'a.test',
    answers: [
      { name: 'a.test', address: '192.0.2.1', ttl: 30 },
      { name: 'a.test', address: '192.0.2.2', ttl: 30 },
    ],
  });
});

test('DNS parsers never throw and reject pointer loops', () => {
  const loop = Uint8Array.from([0, 1, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1]);
  assert.equal(parseDnsAnswers(loop), null);
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), (b) => {
      parseDnsQuery(b);
      parseDnsAnswers(b);
    }),
    { numRuns: 10_000 },
  );
});
