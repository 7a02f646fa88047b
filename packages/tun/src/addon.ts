/**
 * Loads the native addon (`build/Release/l3kit_tun.node`, built by `scripts/build-addon.mjs`
 * during `npm install`). Internal.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { TunError } from './errors.js';

/** The functions the C addon exports (see `native/tun.c`). @internal */
export interface TunAddon {
  open(name: string, flags: number): [number, string];
  setVnetHdrSz(fd: number, size: number): void;
  setOffload(fd: number, flags: number): void;
  pollStart(
    fd: number,
    rx: ArrayBuffer,
    slot: number,
    lens: Int32Array,
    cb: (count: number, errno: number) => void,
    headroom?: number,
  ): object;
  /** True when `pollStart` takes `headroom` (an addon built from older sources lacks it). */
  rxHeadroom?: boolean;
  pollStop(handle: object): void;
  pollRef(handle: object, ref: boolean): void;
  write(fd: number, pkt: Uint8Array, hdr?: Uint8Array): number;
  writeMany(fd: number, pkts: readonly Uint8Array[], count: number, results: Int32Array): number;
  close(fd: number): void;
  getMtu(name: string): number;
  setMtu(name: string, mtu: number): void;
  getUp(name: string): boolean;
  setUp(name: string, up: boolean): void;
  getTxQueueLen(name: string): number;
  setTxQueueLen(name: string, qlen: number): void;
  readonly flags: {
    IFF_TUN: number;
    IFF_NO_PI: number;
    IFF_VNET_HDR: number;
    IFF_MULTI_QUEUE: number;
    TUN_F_CSUM: number;
    TUN_F_TSO4: number;
    TUN_F_TSO6: number;
    TUN_F_TSO_ECN: number;
  };
}

let cached: TunAddon | undefined;
let failure: TunError | undefined;

/** Where the addon is looked for: `L3KIT_TUN_ADDON` if set, else the package's build output. */
export function addonPath(): string {
  return (
    process.env.L3KIT_TUN_ADDON ||
    fileURLToPath(new URL('../../build/Release/l3kit_tun.node', import.meta.url))
  );
}

/** Returns the addon or throws `TunError('ERR_TUN_UNAVAILABLE')`. @internal */
export function loadAddon(): TunAddon {
  if (cached) return cached;
  if (failure) throw failure;
  const path = addonPath();
  if (process.platform !== 'linux') {
    failure = new TunError('ERR_TUN_UNAVAILABLE', `@l3kit/tun needs Linux; this is ${process.platform}`);
    throw failure;
  }
  if (!existsSync(path)) {
    failure = new TunError(
      'ERR_TUN_UNAVAILABLE',
      `@l3kit/tun: the native addon is not built (${path} is missing). Build it with ` +
        '`npm run build:addon -w @l3kit/tun` (needs a C compiler, make, python3 and the Node headers).',
    );
    throw failure;
  }
  try {
    cached = createRequire(import.meta.url)(path) as TunAddon;
    return cached;
  } catch (e) {
    failure = new TunError(
      'ERR_TUN_UNAVAILABLE',
      `@l3kit/tun: cannot load the native addon ${path}: ${(e as Error).message}. Rebuild it with ` +
        '`npm run build:addon -w @l3kit/tun`.',
      { cause: e },
    );
    throw failure;
  }
}

/** Whether the native addon can be loaded (does not throw). */
export function tunAvailable(): boolean {
  try {
    loadAddon();
    return true;
  } catch {
    return false;
  }
}
