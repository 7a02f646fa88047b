/**
 * The native ChaCha20-Poly1305 of the WireGuard data path: a small N-API addon
 * (`native/aead.c`, built into `build/Release/l3kit_wireguard_aead.node` by
 * `scripts/build-addon.mjs` during `npm install`, best effort) over the OpenSSL EVP API that the
 * Node binary exports. Each key is set up once in an OpenSSL cipher context; a call encrypts or
 * decrypts in place in the caller's buffer and allocates nothing.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { ClosedError, ConfigError } from '@l3kit/core';

/** The functions the C addon exports (see `native/aead.c`). @internal */
export interface AeadAddon {
  newKey(key: Uint8Array, uses?: number): object;
  release(handle: object): void;
  seal(handle: object, counterLo: number, counterHi: number, buf: Uint8Array, off: number, len: number): void;
  open(
    handle: object,
    counterLo: number,
    counterHi: number,
    buf: Uint8Array,
    off: number,
    len: number,
    dst?: Uint8Array,
    dstOff?: number,
  ): boolean;
  sealNonce: NonceOp<void>;
  openNonce: NonceOp<boolean>;
}

/** `sealNonce` / `openNonce` of {@link AeadAddon}: a raw 12-byte nonce and optional AAD. @internal */
export type NonceOp<R> = (
  handle: object,
  nonce: Uint8Array,
  aad: Uint8Array | null,
  buf: Uint8Array,
  off: number,
  len: number,
) => R;

let loaded: AeadAddon | null | undefined;
let whyNot: string | undefined;

/**
 * Where the addon is looked for: `L3KIT_WIREGUARD_ADDON` if set (an empty value after `=`
 * counts as unset), else the package's build output.
 */
export function nativeAeadPath(): string {
  return (
    process.env.L3KIT_WIREGUARD_ADDON ||
    fileURLToPath(new URL('../../build/Release/l3kit_wireguard_aead.node', import.meta.url))
  );
}

/** The loaded addon, or null when it is not built or cannot load (see {@link nativeAeadUnavailableReason}). @internal */
export function loadNativeAead(): AeadAddon | null {
  if (loaded !== undefined) return loaded;
  const path = nativeAeadPath();
  if (!existsSync(path)) {
    whyNot =
      `the native AEAD addon is not built (${path} is missing); build it with ` +
      '`npm run build:addon -w @l3kit/wireguard` (needs a C compiler, make, python3 and the Node headers)';
    loaded = null;
    return null;
  }
  try {
    loaded = createRequire(import.meta.url)(path) as AeadAddon;
  } catch (e) {
    whyNot = `cannot load the native AEAD addon ${path}: ${(e as Error).message}`;
    loaded = null;
  }
  return loaded;
}

/** Whether the native AEAD addon is built and loads (does not throw). */
export function nativeAeadAvailable(): boolean {
  return loadNativeAead() !== null;
}

/** Why the native AEAD addon is unavailable, or undefined when it loads. */
export function nativeAeadUnavailableReason(): string | undefined {
  loadNativeAead();
  return whyNot;
}

/** Largest counter a {@link NativeAeadKey} accepts (counters are JavaScript numbers). */
const MAX_COUNTER = Number.MAX_SAFE_INTEGER;
const TWO_32 = 0x1_0000_0000;

/** What a {@link NativeAeadKey} is used for: an OpenSSL context is set up per direction. */
export type AeadKeyUse = 'seal' | 'open' | 'both';

const USES: Record<AeadKeyUse, number> = { seal: 1, open: 2, both: 3 };

/** Rethrows a TypeError / RangeError of the addon (argument misuse) as a {@link ConfigError}. */
function misuse(e: unknown): never {
  const code = (e as { code?: unknown }).code;
  if (e instanceof Error && typeof code === 'string')
    throw new ConfigError(code, `native AEAD: ${e.message}`, { cause: e });
  throw e;
}

/**
 * A ChaCha20-Poly1305 key in the native addon (RFC 8439), set up once. WireGuard transport data
 * uses {@link seal} / {@link open} with the nonce `0^32 ‖ counter` (64-bit little-endian); the
 * `…WithNonce` forms take any 12-byte nonce and additional data.
 *
 * The cipher state is wiped and freed by {@link release} (call it when the key is erased) or, at
 * the latest, when the object is garbage collected. Calls after `release` throw
 * {@link ClosedError}. Bad data never throws (`open` returns false); bad arguments (lengths,
 * offsets, types) throw {@link ConfigError} with code `ERR_OUT_OF_RANGE` or
 * `ERR_INVALID_ARG_TYPE`, and sealing with a key made for `'open'` only (or the reverse)
 * `ERR_AEAD_DIRECTION`.
 *
 * ```ts
 * const k = NativeAeadKey.create(key32);
 * const buf = new Uint8Array(16 + 100 + 16); // header, data, room for the tag
 * k.seal(7, buf, 16, 100); // encrypts buf[16..116) in place, tag at buf[116..132)
 * k.open(7, buf, 16, 100); // true, buf[16..116) is the plaintext again
 * k.release();
 * ```
 */
export class NativeAeadKey {
  private handle: object | null;

  private constructor(
    private readonly addon: AeadAddon,
    key: Uint8Array,
    uses: number,
  ) {
    try {
      this.handle = addon.newKey(key, uses);
    } catch (e) {
      misuse(e);
    }
  }

  /**
   * A key handle for a 32-byte key, set up for `uses` (a WireGuard key pair seals with one key and
   * opens with the other: one OpenSSL context each). Throws {@link ConfigError}
   * `ERR_CIPHER_UNAVAILABLE` when the addon is not built (see {@link nativeAeadUnavailableReason}),
   * `ERR_BAD_KEY` for a key that is not 32 bytes, `ERR_BAD_OPTION` for an unknown `uses`.
   */
  static create(key: Uint8Array, uses: AeadKeyUse = 'both'): NativeAeadKey {
    const addon = loadNativeAead();
    if (!addon) throw new ConfigError('ERR_CIPHER_UNAVAILABLE', `@l3kit/wireguard: ${whyNot}`);
    if (!(key instanceof Uint8Array) || key.length !== 32)
      throw new ConfigError('ERR_BAD_KEY', 'a ChaCha20-Poly1305 key is a 32-byte Uint8Array');
    if (!Object.hasOwn(USES, uses))
      throw new ConfigError('ERR_BAD_OPTION', `uses must be 'seal', 'open' or 'both', got ${String(uses)}`);
    return new NativeAeadKey(addon, key, USES[uses]);
  }

  /** Whether {@link release} was called. */
  get released(): boolean {
    return this.handle === null;
  }

  /** Wipes and frees the cipher state now. Idempotent. */
  release(): void {
    const h = this.handle;
    if (h === null) return;
    this.handle = null;
    this.addon.release(h);
  }

  /**
   * Encrypts `buf[off, off + len)` in place with the WireGuard nonce for `counter`
   * (0 … 2^53 − 1) and writes the 16-byte tag at `buf[off + len]`.
   */
  seal(counter: number, buf: Uint8Array, off: number, len: number): void {
    const h = this.live(counter);
    try {
      this.addon.seal(h, counter >>> 0, (counter / TWO_32) >>> 0, buf, off, len);
    } catch (e) {
      misuse(e);
    }
  }

  /**
   * Verifies the tag at `buf[off + len]` and decrypts `buf[off, off + len)` in place, or into
   * `dst[dstOff, dstOff + len)` when `dst` is given. False for a forged or corrupted message:
   * then `buf` is unchanged and the `dst` region is zeroed (no unauthenticated plaintext).
   */
  open(counter: number, buf: Uint8Array, off: number, len: number, dst?: Uint8Array, dstOff = 0): boolean {
    const h = this.live(counter);
    try {
      return dst === undefined
        ? this.addon.open(h, counter >>> 0, (counter / TWO_32) >>> 0, buf, off, len)
        : this.addon.open(h, counter >>> 0, (counter / TWO_32) >>> 0, buf, off, len, dst, dstOff);
    } catch (e) {
      misuse(e);
    }
  }

  /** {@link seal} with an arbitrary 12-byte nonce and optional additional data. */
  sealWithNonce(nonce: Uint8Array, aad: Uint8Array | null, buf: Uint8Array, off: number, len: number): void {
    const h = this.live(0);
    try {
      this.addon.sealNonce(h, nonce, aad, buf, off, len);
    } catch (e) {
      misuse(e);
    }
  }

  /** {@link open} (in place) with an arbitrary 12-byte nonce and optional additional data. */
  openWithNonce(
    nonce: Uint8Array,
    aad: Uint8Array | null,
    buf: Uint8Array,
    off: number,
    len: number,
  ): boolean {
    const h = this.live(0);
    try {
      return this.addon.openNonce(h, nonce, aad, buf, off, len);
    } catch (e) {
      misuse(e);
    }
  }

  private live(counter: number): object {
    const h = this.handle;
    if (h === null) throw new ClosedError('NativeAeadKey');
    if (!Number.isInteger(counter) || counter < 0 || counter > MAX_COUNTER)
      throw new ConfigError('ERR_OUT_OF_RANGE', `counter must be an integer in 0..2^53-1, got ${counter}`);
    return h;
  }
}
