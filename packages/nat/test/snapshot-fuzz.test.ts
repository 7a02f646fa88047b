/**
 * Restoring damaged snapshots (a truncated file, a hand-edited value): `Nat.restore` either
 * succeeds or throws a `ConfigError` with code `ERR_BAD_SNAPSHOT`; never a TypeError or a
 * RangeError, and a NAT it returns handles traffic without throwing.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { L3kitError } from '@l3kit/core';
import fc from 'fast-check';
import { EXT, echo, H1, H2, handshake, R1, R2, Rig, SYN, tcp, udp } from './helpers.js';

/** Every path (array of keys) to a leaf or container in a JSON value. */
function paths(v: unknown, prefix: Array<string | number> = [], out: Array<Array<string | number>> = []) {
  out.push(prefix);
  if (Array.isArray(v)) v.forEach((x, i) => void paths(x, [...prefix, i], out));
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) paths(x, [...prefix, k], out);
  return out;
}

function setAt(root: unknown, path: Array<string | number>, value: unknown): unknown {
  if (path.length === 0) return value;
  let o = root as Record<string | number, unknown>;
  for (let i = 0; i < path.length - 1; i++) o = o[path[i]] as Record<string | number, unknown>;
  o[path[path.length - 1]] = value;
  return root;
}

function deleteAt(root: unknown, path: Array<string | number>): unknown {
  if (path.length === 0) return undefined;
  let o = root as Record<string | number, unknown>;
  for (let i = 0; i < path.length - 1; i++) o = o[path[i]] as Record<string | number, unknown>;
  const k = path[path.length - 1];
  if (Array.isArray(o)) o.splice(Number(k), 1);
  else delete o[k];
  return root;
}

function damagedSnapshots(strictCode: boolean, numRuns: number): void {
  {
    const rig = new Rig();
    rig.addTenant('a');
    handshake(rig, H1, 40000, R1, 443);
    rig.udpOut(H2, 5000, R2, 53);
    rig.fromInside(echo(H1, R1, 9));
    rig.fromTenant('a', udp(H1, 5000, R1, 53));
    rig.nat.addPortForward({ proto: 17, outsidePort: 5353, insideIp: H1, insidePort: 53 });
    rig.nat.addExpectation({ proto: 6, insideIp: H2, insidePort: 20, remoteIp: R1 });
    rig.nat.addDropRule({ proto: 6, dstPort: 25 });
    rig.fromOutside(tcp(R2, 1, EXT, 33333, SYN)); // a held SYN
    const text = JSON.stringify(rig.nat.snapshot());
    rig.close();
    const all = paths(JSON.parse(text));
    const junk = fc.oneof(
      fc.constantFrom(
        null,
        -1,
        0,
        1.5,
        65536,
        2 ** 32,
        Number.MAX_SAFE_INTEGER,
        '',
        'x',
        '999.1.1.1',
        [],
        {},
        true,
      ),
      fc.integer(),
      fc.string({ maxLength: 8 }),
    );
    fc.assert(
      fc.property(
        fc.array(fc.record({ at: fc.nat(), value: junk, del: fc.boolean() }), { minLength: 1, maxLength: 3 }),
        (edits) => {
          let snap: unknown = JSON.parse(text);
          for (const e of edits) {
            const path = all[e.at % all.length];
            try {
              snap = e.del ? deleteAt(snap, path) : setAt(snap, path, e.value);
            } catch {
              // the path no longer exists after an earlier edit
            }
          }
          let r: Rig;
          try {
            r = Rig.restored(snap as never);
          } catch (err) {
            assert.ok(
              err instanceof L3kitError,
              `restore threw ${(err as Error)?.name}: ${(err as Error)?.message}`,
            );
            if (strictCode) assert.equal(err.code, 'ERR_BAD_SNAPSHOT', err.message);
            return;
          }
          r.fromOutside(udp(R1, 53, EXT, 5000));
          r.fromOutside(tcp(R1, 443, EXT, 40000, 0x10, 1, 1, 'x'));
          r.fromInside(udp(H1, 5000, R1, 53));
          r.advanceSec(400);
          r.close();
        },
      ),
      { numRuns },
    );
  }
}

describe('snapshot robustness', () => {
  it('a damaged snapshot restores cleanly or is refused with a typed error, never a crash', () => {
    damagedSnapshots(false, 1500);
  });

  it('a damaged snapshot is refused with ERR_BAD_SNAPSHOT (as Nat.restore documents)', () => {
    damagedSnapshots(true, 1500);
  });
});
