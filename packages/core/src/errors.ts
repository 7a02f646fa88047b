/**
 * Typed errors for API misuse. Packets never throw (they are dropped and counted); a wrong call
 * does, with a stable `code` that callers can switch on.
 */

/** Base class of every error l3kit throws on purpose. `code` is stable across versions. */
export class L3kitError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'L3kitError';
    this.code = code;
  }
}

/** Thrown for a bad argument or configuration value (`code` names which, e.g. `ERR_BAD_PREFIX`). */
export class ConfigError extends L3kitError {
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'ConfigError';
  }
}

/** Thrown when an operation is called on a closed device. */
export class ClosedError extends L3kitError {
  constructor(what: string) {
    super('ERR_CLOSED', `${what} is closed`);
    this.name = 'ClosedError';
  }
}
