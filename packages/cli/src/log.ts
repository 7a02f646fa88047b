/** The gateway's logger: levels, text or JSON lines, on a stream (stderr by default). */
import type { Clock } from '@l3kit/core';
import { ConfigError, systemClock } from '@l3kit/core';

/** Log levels, least to most severe. */
export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;

/** A log level. */
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Options of {@link Logger}. */
export interface LoggerOptions {
  /** Lowest level written (default `info`). */
  level?: LogLevel;
  /** `text` (default): `2026-01-01T00:00:00.000Z INFO message key=value`; `json`: one object per line. */
  format?: 'text' | 'json';
  /** Where lines go (default: `process.stderr`). */
  write?: (line: string) => void;
  /** Timestamps (default: the system clock). */
  clock?: Clock;
}

/** Structured fields of a log line. */
export type LogFields = Record<string, string | number | boolean | undefined>;

/** A small structured logger. */
export class Logger {
  private min: number;
  private readonly format: 'text' | 'json';
  private readonly write: (line: string) => void;
  private readonly clock: Clock;

  /** Throws {@link ConfigError} `ERR_BAD_OPTION` for an unknown level or format. */
  constructor(opts: LoggerOptions = {}) {
    this.min = levelIndex(opts.level ?? 'info');
    const format = opts.format ?? 'text';
    if (format !== 'text' && format !== 'json')
      throw new ConfigError('ERR_BAD_OPTION', `log format must be text or json, got ${String(format)}`);
    this.format = format;
    this.write = opts.write ?? ((line) => process.stderr.write(`${line}\n`));
    this.clock = opts.clock ?? systemClock();
  }

  /** Changes the lowest level written. */
  setLevel(level: LogLevel): void {
    this.min = levelIndex(level);
  }

  /** Writes a debug line. */
  debug(msg: string, fields?: LogFields): void {
    this.log('debug', msg, fields);
  }
  /** Writes an info line. */
  info(msg: string, fields?: LogFields): void {
    this.log('info', msg, fields);
  }
  /** Writes a warning. */
  warn(msg: string, fields?: LogFields): void {
    this.log('warn', msg, fields);
  }
  /** Writes an error. */
  error(msg: string, fields?: LogFields): void {
    this.log('error', msg, fields);
  }

  /** Writes a line at `level` when it is at or above the configured level. */
  log(level: LogLevel, msg: string, fields: LogFields = {}): void {
    if (levelIndex(level) < this.min) return;
    const time = new Date(this.clock.now()).toISOString();
    if (this.format === 'json') {
      this.write(JSON.stringify({ time, level, msg, ...fields }));
      return;
    }
    let line = `${time} ${level.toUpperCase().padEnd(5)} ${msg}`;
    for (const [k, v] of Object.entries(fields)) {
      if (v === undefined) continue;
      const s = String(v);
      line += ` ${k}=${/[\s"=]/.test(s) || s === '' ? JSON.stringify(s) : s}`;
    }
    this.write(line);
  }
}

function levelIndex(level: string): number {
  const i = (LOG_LEVELS as readonly string[]).indexOf(level);
  if (i < 0)
    throw new ConfigError(
      'ERR_BAD_OPTION',
      `log level must be one of ${LOG_LEVELS.join(', ')}, got ${level}`,
    );
  return i;
}
