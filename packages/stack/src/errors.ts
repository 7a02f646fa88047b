/**
 * Errors of the stack. Socket errors look like Node's (`code` `ECONNREFUSED`, `ETIMEDOUT`,
 * `ECONNRESET`, …, plus `errno` and `syscall`) so code written for `net` handles them unchanged.
 * API misuse throws {@link L3kitError} subclasses from `@l3kit/core` with an `ERR_…` code.
 */
import { L3kitError } from '@l3kit/core';

/** Node-style errno values (Linux numbering, negated as in libuv). */
const ERRNO: Record<string, number> = {
  ECONNREFUSED: -111,
  ECONNRESET: -104,
  ETIMEDOUT: -110,
  EADDRINUSE: -98,
  EADDRNOTAVAIL: -99,
  ENETUNREACH: -101,
  EHOSTUNREACH: -113,
  EACCES: -13,
  EPIPE: -32,
  ECONNABORTED: -103,
};

/** A socket error shaped like Node's system errors. */
export class SocketError extends Error {
  /** Node's error code, e.g. `ECONNREFUSED`. */
  readonly code: string;
  /** Negative errno as Node reports it. */
  readonly errno: number;
  /** The operation: `connect`, `read`, `write`, `bind`, `listen`, `send`. */
  readonly syscall: string;
  /** Remote address, when known. */
  readonly address?: string;
  /** Remote port, when known. */
  readonly port?: number;
  constructor(code: string, syscall: string, address?: string, port?: number) {
    const where = address !== undefined ? ` ${address}${port !== undefined ? `:${port}` : ''}` : '';
    super(`${syscall} ${code}${where}`);
    this.name = 'Error';
    this.code = code;
    this.errno = ERRNO[code] ?? -1;
    this.syscall = syscall;
    if (address !== undefined) this.address = address;
    if (port !== undefined) this.port = port;
  }
}

/** Thrown when a port is already bound (code `EADDRINUSE`, also an {@link L3kitError}). */
export class AddressInUseError extends L3kitError {
  constructor(what: string) {
    super('EADDRINUSE', `${what}: address already in use`);
    this.name = 'AddressInUseError';
  }
}
