/** Test helpers: an in-memory UDP network for WireGuard servers, deterministic and synchronous. */
import { ManualClock, ManualScheduler } from '@l3kit/core';
import { genkey, pubkey } from '../src/keys.js';
import { nativeAeadUnavailableReason } from '../src/native-aead.js';
import { type UdpTransport, WireGuardServer, type WireGuardServerOptions } from '../src/server.js';

/** Every transport-data AEAD backend, with a skip reason for those this machine lacks. */
export const BACKENDS = [
  { cipher: 'addon', skip: nativeAeadUnavailableReason() ?? false },
  { cipher: 'node-crypto', skip: false },
  { cipher: 'js', skip: false },
] as const;

/** The `cipher` {@link memServer} uses when its options name none (set per backend suite). */
export const testCipher: { value: WireGuardServerOptions['cipher'] } = { value: undefined };

/** One datagram in flight. */
export interface Datagram {
  msg: Uint8Array;
  from: { address: string; port: number };
  to: { address: string; port: number };
}

/**
 * An in-memory UDP network. Sends are queued and delivered in order by a trampoline (no
 * re-entrancy). `filter` may drop (return false) or observe datagrams.
 */
export class MemoryNet {
  private readonly nodes = new Map<string, WireGuardServer>();
  private readonly queue: Datagram[] = [];
  private running = false;
  filter: (d: Datagram) => boolean = () => true;
  readonly log: Datagram[] = [];

  transport(address: string, port: number): UdpTransport & { rebind(address: string, port: number): void } {
    const self = this;
    const me = { address, port };
    return {
      send(msg, toPort, toAddress) {
        self.enqueue({
          msg: Uint8Array.from(msg),
          from: { ...me },
          to: { address: toAddress, port: toPort },
        });
      },
      close() {
        self.nodes.delete(`${me.address}:${me.port}`);
      },
      rebind(a: string, p: number) {
        const s = self.nodes.get(`${me.address}:${me.port}`);
        self.nodes.delete(`${me.address}:${me.port}`);
        me.address = a;
        me.port = p;
        if (s) self.nodes.set(`${a}:${p}`, s);
      },
    };
  }

  attach(address: string, port: number, server: WireGuardServer): void {
    this.nodes.set(`${address}:${port}`, server);
  }

  /** Delivers a datagram as if it came from `from`. */
  inject(d: Datagram): void {
    this.enqueue(d);
  }

  private enqueue(d: Datagram): void {
    this.queue.push(d);
    if (this.running) return;
    this.running = true;
    try {
      for (let d2 = this.queue.shift(); d2; d2 = this.queue.shift()) {
        this.log.push(d2);
        if (!this.filter(d2)) continue;
        this.nodes.get(`${d2.to.address}:${d2.to.port}`)?.receive(d2.msg, d2.from.address, d2.from.port);
      }
    } finally {
      this.running = false;
    }
  }

  /** Datagrams of a message type in the log. */
  ofType(t: number): Datagram[] {
    return this.log.filter((d) => d.msg[0] === t);
  }
}

/** A server on the memory network with a fresh key. */
export function memServer(
  net: MemoryNet,
  sched: ManualScheduler,
  address: string,
  port: number,
  opts: Partial<WireGuardServerOptions> = {},
): { server: WireGuardServer; key: string; pub: string; transport: ReturnType<MemoryNet['transport']> } {
  const key = opts.privateKey ?? genkey();
  const transport = net.transport(address, port);
  const server = new WireGuardServer({
    ...opts,
    cipher: opts.cipher ?? testCipher.value,
    privateKey: key,
    transport,
    scheduler: sched,
    clock: sched.clock,
  });
  net.attach(address, port, server);
  return { server, key, pub: pubkey(key), transport };
}

/** A manual scheduler starting at a realistic epoch time (TAI64N timestamps are wall-clock based). */
export function manual(): ManualScheduler {
  return new ManualScheduler(new ManualClock(1_700_000_000_000));
}
