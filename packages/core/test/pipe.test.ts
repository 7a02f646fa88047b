import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Prefix } from '@l3kit/wire';
import { ConfigError, connectL3, PIPE_DEFAULT_MAX_DEPTH, pipeL3 } from '../src/index.js';
import { Recorder, udp } from './helpers.js';

describe('pipeL3', () => {
  it('delivers a packet sent into one end to the other end’s handler, in both directions', () => {
    const [a, b] = pipeL3();
    const atA: Uint8Array[] = [];
    const atB: Uint8Array[] = [];
    a.setHandler((p) => atA.push(p));
    b.setHandler((p) => atB.push(p));
    const p1 = udp('10.0.0.1', '10.0.0.2');
    const p2 = udp('10.0.0.2', '10.0.0.1');
    a.send(p1);
    assert.deepEqual(atB, [p1]);
    assert.equal(atB[0], p1, 'the same buffer is handed over, synchronously, without a copy');
    assert.deepEqual(atA, []);
    b.send(p2);
    assert.deepEqual(atA, [p2]);
    assert.equal(a.stats.delivered, 2);
    assert.equal(a.stats, b.stats, 'both ends share one stats object');
    assert.equal(a.peer, b);
    assert.equal(b.peer, a);
  });

  it('keeps a separate address on each end', () => {
    const [a, b] = pipeL3();
    assert.equal(a.addr(), undefined);
    a.setAddr(Prefix.parse('10.0.0.1/30'));
    b.setAddr(Prefix.parse('10.0.0.2/30'));
    assert.equal(a.addr()?.toString(), '10.0.0.1/30');
    assert.equal(b.addr()?.toString(), '10.0.0.2/30');
  });

  it('replaces the handler when set again', () => {
    const [a, b] = pipeL3();
    const first: Uint8Array[] = [];
    const second: Uint8Array[] = [];
    b.setHandler((p) => first.push(p));
    b.setHandler((p) => second.push(p));
    a.send(udp('10.0.0.1', '10.0.0.2'));
    assert.equal(first.length, 0);
    assert.equal(second.length, 1);
  });

  it('stops a packet bouncing between two reflecting handlers at maxDepth and counts the drop', () => {
    const [a, b] = pipeL3({ maxDepth: 10 });
    let hops = 0;
    // Each end reflects what it emits straight back into itself: a → b → a → ... re-entrantly.
    a.setHandler((p) => {
      hops++;
      a.send(p);
    });
    b.setHandler((p) => {
      hops++;
      b.send(p);
    });
    a.send(udp('10.0.0.1', '10.0.0.2'));
    assert.equal(hops, 10);
    assert.equal(a.stats.delivered, 10);
    assert.equal(a.stats.depthExceeded, 1);
    // The depth counter unwound: a fresh packet is delivered again.
    b.setHandler(() => {});
    a.send(udp('10.0.0.1', '10.0.0.2'));
    assert.equal(a.stats.delivered, 11);
  });

  it('uses a default depth limit that survives an endless loop without a stack overflow', () => {
    const [a, b] = pipeL3();
    a.setHandler((p) => a.send(p));
    b.setHandler((p) => b.send(p));
    a.send(udp('10.0.0.1', '10.0.0.2'));
    assert.equal(a.stats.delivered, PIPE_DEFAULT_MAX_DEPTH);
    assert.equal(a.stats.depthExceeded, 1);
  });

  it('restores the depth counter when a handler throws', () => {
    const [a, b] = pipeL3({ maxDepth: 1 });
    b.setHandler(() => {
      throw new Error('boom');
    });
    assert.throws(() => a.send(udp('10.0.0.1', '10.0.0.2')), /boom/);
    const got: Uint8Array[] = [];
    b.setHandler((p) => got.push(p));
    a.send(udp('10.0.0.1', '10.0.0.2'));
    assert.equal(got.length, 1);
    assert.equal(a.stats.depthExceeded, 0);
  });

  it('drops and counts packets sent into either end after one end is closed', () => {
    const [a, b] = pipeL3();
    const got: Uint8Array[] = [];
    a.setHandler((p) => got.push(p));
    b.setHandler((p) => got.push(p));
    b.close();
    a.send(udp('10.0.0.1', '10.0.0.2'));
    b.send(udp('10.0.0.2', '10.0.0.1'));
    assert.equal(got.length, 0);
    assert.equal(a.stats.closed, 2);
  });

  it('joins two devices when each is connected to one end', () => {
    const [a, b] = pipeL3();
    const x = new Recorder('10.0.0.1/24', 'x');
    const y = new Recorder('10.0.0.2/24', 'y');
    connectL3(x, a);
    connectL3(y, b);
    const p = udp('10.0.0.1', '10.0.0.2');
    x.emit(p);
    assert.deepEqual(y.take(), [p]);
    y.emit(udp('10.0.0.2', '10.0.0.1'));
    assert.equal(x.take().length, 1);
  });

  it('rejects a maxDepth below 1 with a typed error', () => {
    assert.throws(
      () => pipeL3({ maxDepth: 0 }),
      (e: unknown) => e instanceof ConfigError && e.code === 'ERR_BAD_OPTION',
    );
  });
});
