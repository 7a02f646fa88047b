import { ImpairmentLink, ManualClock, ManualScheduler } from '@l3kit/core';
import fc from 'fast-check';
import { VirtualHost } from './dist/src/index.js';
import { bytes, pump, sha256 } from './dist/test/helpers.js';
async function once(p, verbose) {
  const sched = new ManualScheduler(new ManualClock(0));
  const tcp = { sack: p.sack, maxRetransmits: 30, synRetries: 30 };
  const a = new VirtualHost({ addr: '10.0.0.1/24', addr6: 'fd00::1/64', scheduler: sched, tcp });
  const b = new VirtualHost({ addr: '10.0.0.2/24', addr6: 'fd00::2/64', scheduler: sched, tcp });
  const link = new ImpairmentLink({ ...p, scheduler: sched });
  link.connect(a, b);
  const up = bytes(p.up, p.seed), down = bytes(p.down, p.seed + 1);
  const atServer = [], atClient = [];
  let serverEnd = false, clientEnd = false, closed = 0; const errs = [];
  let ss;
  b.tcp.listen(9, (s) => { ss = s; s.on('data', (d) => atServer.push(d)); s.on('end', () => { serverEnd = true; }); s.on('close', () => closed++); s.on('error', e => errs.push('s ' + e.code)); s.end(down); });
  const c = a.tcp.connect({ host: p.family === 4 ? '10.0.0.2' : 'fd00::2', port: 9 });
  c.on('data', (d) => atClient.push(d)); c.on('end', () => { clientEnd = true; }); c.on('close', () => closed++); c.on('error', e => errs.push('c ' + e.code));
  c.end(up);
  try { await pump(sched, () => serverEnd && clientEnd && closed === 2, 3_600_000, 50); } catch (e) {
    if (verbose) console.log('TIMEOUT', errs, serverEnd, clientEnd, closed, c.tcpInfo(), ss?.tcpInfo(), link.stats);
    throw new Error('pump ' + errs.join());
  }
  if (sha256(atServer) !== sha256(up) || sha256(atClient) !== sha256(down)) { if (verbose) console.log('MISMATCH', Buffer.concat(atServer).length, p.up, Buffer.concat(atClient).length, p.down); throw new Error('mismatch'); }
}
const arb = fc.record({ seed: fc.integer({ min: 1, max: 1 << 30 }), loss: fc.double({ min: 0, max: 0.2, noNaN: true }), duplicate: fc.double({ min: 0, max: 0.1, noNaN: true }), reorder: fc.double({ min: 0, max: 0.2, noNaN: true }), corrupt: fc.double({ min: 0, max: 0.05, noNaN: true }), delayMs: fc.integer({ min: 0, max: 30 }), up: fc.integer({ min: 0, max: 60_000 }), down: fc.integer({ min: 0, max: 60_000 }), sack: fc.boolean(), family: fc.constantFrom(4, 6) });
if (process.argv[2]) { await once(JSON.parse(process.argv[2]), true); console.log('ok'); }
else {
  const r = await fc.check(fc.asyncProperty(arb, (p) => once(p, false)), { numRuns: Number(process.env.N ?? 300), seed: Number(process.env.SEED ?? 1) });
  console.log(r.failed ? JSON.stringify(r.counterexample[0]) : 'all ok', r.failed ? String(r.errorInstance) : '');
}
