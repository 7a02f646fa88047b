/**
 * Errors of `@l3kit/tun`. Every failure to open or control a TUN device throws a {@link TunError}
 * with a stable `code`; bad options throw `ConfigError` from `@l3kit/core`.
 */
import { L3kitError } from '@l3kit/core';

/**
 * Stable codes of {@link TunError}:
 * - `ERR_TUN_UNAVAILABLE`: the native addon is not built (no compiler at install time, not
 *   Linux); run `npm run build:addon -w @l3kit/tun`.
 * - `ERR_TUN_NO_DEVICE`: `/dev/net/tun` does not exist (no `tun` module, a container without it).
 * - `ERR_TUN_PERMISSION`: EPERM / EACCES: creating or attaching needs CAP_NET_ADMIN (root), or
 *   the persistent device belongs to another user.
 * - `ERR_TUN_BUSY`: EBUSY / EEXIST / EINVAL from TUNSETIFF: the name belongs to a non-TUN
 *   interface, or to a TUN that is attached already / opened with other flags.
 * - `ERR_TUN_NOT_FOUND`: an ioctl by name found no such interface (ENODEV), e.g. after the
 *   device was moved into another network namespace.
 * - `ERR_TUN_IO`: any other system call failure (see `errno` / `syscall`).
 */
export type TunErrorCode =
  | 'ERR_TUN_UNAVAILABLE'
  | 'ERR_TUN_NO_DEVICE'
  | 'ERR_TUN_PERMISSION'
  | 'ERR_TUN_BUSY'
  | 'ERR_TUN_NOT_FOUND'
  | 'ERR_TUN_IO';

/** A TUN device could not be opened or controlled. `code` is one of {@link TunErrorCode}. */
export class TunError extends L3kitError {
  /** The system error name (`EPERM`, `ENOENT`, ...), when a system call failed. */
  readonly sysCode: string | undefined;
  /** The failing system call (`open`, `ioctl`), when one failed. */
  readonly syscall: string | undefined;
  declare readonly code: TunErrorCode;

  constructor(
    code: TunErrorCode,
    message: string,
    options?: { cause?: unknown; sysCode?: string; syscall?: string },
  ) {
    super(code, message, options);
    this.name = 'TunError';
    this.sysCode = options?.sysCode;
    this.syscall = options?.syscall;
  }
}

interface SysError {
  code?: string;
  syscall?: string;
  message?: string;
}

/** Maps an error thrown by the addon to a {@link TunError} with a helpful message. */
export function tunErrorFrom(e: unknown, what: string): TunError {
  const se = (e ?? {}) as SysError;
  const sys = typeof se.code === 'string' ? se.code : undefined;
  const detail = se.message ?? String(e);
  const opts = { cause: e, sysCode: sys, syscall: se.syscall };
  switch (sys) {
    case 'ENOENT':
    case 'ENXIO':
      if (se.syscall === 'open')
        return new TunError(
          'ERR_TUN_NO_DEVICE',
          `${what}: /dev/net/tun is missing (load the tun module or expose the device to the container): ${detail}`,
          opts,
        );
      return new TunError('ERR_TUN_IO', `${what}: ${detail}`, opts);
    case 'ENODEV':
      return new TunError('ERR_TUN_NOT_FOUND', `${what}: no such interface here: ${detail}`, opts);
    case 'EPERM':
    case 'EACCES':
      return new TunError(
        'ERR_TUN_PERMISSION',
        `${what}: permission denied (TUN devices need CAP_NET_ADMIN, e.g. root): ${detail}`,
        opts,
      );
    case 'EBUSY':
    case 'EEXIST':
    case 'EINVAL':
      return new TunError(
        'ERR_TUN_BUSY',
        `${what}: the interface exists and cannot be attached as this TUN (another kind, already attached, or other flags): ${detail}`,
        opts,
      );
    default:
      return new TunError('ERR_TUN_IO', `${what}: ${detail}`, opts);
  }
}
