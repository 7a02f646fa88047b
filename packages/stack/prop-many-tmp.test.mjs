import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ImpairmentLink, ManualClock, ManualScheduler } from '@l3kit/core';
import { assertChecksums } from '@l3kit/testkit';
import fc from 'fast-check';
import { VirtualHost } from '/work/main/packages/stack/dist/src/index.js';
import { bytes, pump, sha256 } from '/work/main/packages/stack/dist/test/helpers.js';
describe('TCP under arbitrary impairments (property)', () => {
    it('delivers both directions intact and closes cleanly for any seed, loss, duplication, reordering and corruption', async () => {
        await fc.assert(fc.asyncProperty(fc.record({
            seed: fc.integer({ min: 1, max: 1 << 30 }),
            loss: fc.double({ min: 0, max: 0.2, noNaN: true }),
            duplicate: fc.double({ min: 0, max: 0.1, noNaN: true }),
            reorder: fc.double({ min: 0, max: 0.2, noNaN: true }),
            corrupt: fc.double({ min: 0, max: 0.05, noNaN: true }),
            delayMs: fc.integer({ min: 0, max: 30 }),
            up: fc.integer({ min: 0, max: 60_000 }),
            down: fc.integer({ min: 0, max: 60_000 }),
            sack: fc.boolean(),
            family: fc.constantFrom(4, 6),
        }), async (p) => {
            const sched = new ManualScheduler(new ManualClock(0));
            const tcp = { sack: p.sack, maxRetransmits: 30, synRetries: 30 };
            const a = new VirtualHost({ addr: '10.0.0.1/24', addr6: 'fd00::1/64', scheduler: sched, tcp });
            const b = new VirtualHost({ addr: '10.0.0.2/24', addr6: 'fd00::2/64', scheduler: sched, tcp });
            const link = new ImpairmentLink({ ...p, scheduler: sched });
            const check = (dev) => ({
                setHandler: (h) => dev.setHandler((x) => {
                    assertChecksums(x);
                    h(x);
                }),
                send: (x) => dev.send(x),
                addr: () => dev.addr(),
                setAddr: () => { },
                close: () => dev.close(),
            });
            link.connect(check(a), check(b));
            const up = bytes(p.up, p.seed);
            const down = bytes(p.down, p.seed + 1);
            const atServer = [];
            const atClient = [];
            let serverEnd = false;
            let clientEnd = false;
            let closed = 0;
            b.tcp.listen(9, (s) => {
                s.on('data', (d) => atServer.push(d));
                s.on('end', () => {
                    serverEnd = true;
                });
                s.on('close', () => closed++);
                s.end(down);
            });
            const c = a.tcp.connect({ host: p.family === 4 ? '10.0.0.2' : 'fd00::2', port: 9 });
            c.on('data', (d) => atClient.push(d));
            c.on('end', () => {
                clientEnd = true;
            });
            c.on('close', () => closed++);
            c.end(up);
            await pump(sched, () => serverEnd && clientEnd && closed === 2, 3_600_000, 50);
            assert.equal(sha256(atServer), sha256(up));
            assert.equal(sha256(atClient), sha256(down));
        }), { numRuns: 400 });
    });
});
//# sourceMappingURL=tcp-property.test.js.map