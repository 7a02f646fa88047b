/**
 * The gateway's local control socket: a unix socket (mode 0600) that answers one JSON request
 * per connection (`{"cmd":"stats"}` → `{"ok":true,"result":...}`), for `l3kit conntrack`,
 * `l3kit stats` and `l3kit reload`.
 */
import { existsSync, lstatSync, unlinkSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { L3kitError } from '@l3kit/core';

/** A control request. */
export interface ControlRequest {
  cmd: string;
  [arg: string]: unknown;
}

/** Answers a request; throw an `L3kitError` for a request it cannot serve. */
export type ControlHandler = (req: ControlRequest) => unknown | Promise<unknown>;

/** An error the control socket reported, or a failure to reach it. */
export class ControlError extends L3kitError {
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'ControlError';
  }
}

const MAX_REQUEST = 64 * 1024;

/**
 * Listens on `path` (a stale socket file there is replaced; any other file is an error). The
 * socket is created with mode 0600: only its owner may talk to the gateway.
 */
export async function serveControl(path: string, handler: ControlHandler): Promise<Server> {
  if (existsSync(path)) {
    if (!lstatSync(path).isSocket())
      throw new ControlError('ERR_CONTROL_PATH', `${path} exists and is not a socket`);
    unlinkSync(path);
  }
  const server = createServer((sock) => {
    let buf = '';
    sock.setEncoding('utf8');
    sock.on('error', () => {});
    sock.on('data', (chunk: string) => {
      buf += chunk;
      if (buf.length > MAX_REQUEST) {
        sock.end(`${JSON.stringify({ ok: false, code: 'ERR_TOO_LONG', error: 'request too long' })}\n`);
        return;
      }
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      const line = buf.slice(0, nl);
      sock.pause();
      void answer(line, handler).then((reply) => sock.end(`${JSON.stringify(reply)}\n`));
    });
  });
  const old = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', (e: NodeJS.ErrnoException) =>
        reject(
          new ControlError('ERR_CONTROL_PATH', `cannot listen on ${path}: ${e.code ?? e.message}`, {
            cause: e,
          }),
        ),
      );
      server.listen(path, () => {
        server.removeAllListeners('error');
        resolve();
      });
    });
  } finally {
    process.umask(old);
  }
  return server;
}

async function answer(line: string, handler: ControlHandler): Promise<Record<string, unknown>> {
  let req: ControlRequest;
  try {
    req = JSON.parse(line) as ControlRequest;
    if (!req || typeof req.cmd !== 'string') throw new Error('no cmd');
  } catch {
    return { ok: false, code: 'ERR_BAD_REQUEST', error: 'expected one JSON object with a "cmd" per line' };
  }
  try {
    return { ok: true, result: await handler(req) };
  } catch (e) {
    const code = e instanceof L3kitError ? e.code : 'ERR_INTERNAL';
    return { ok: false, code, error: (e as Error).message };
  }
}

/**
 * Sends one request to the control socket at `path` and returns its result. Throws
 * {@link ControlError}: `ERR_CONTROL_UNREACHABLE` when no gateway listens there, the gateway's
 * own code when it refused the request.
 */
export function controlRequest(path: string, req: ControlRequest, timeoutMs = 5000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const sock = connect(path);
    let buf = '';
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new ControlError('ERR_CONTROL_TIMEOUT', `${path}: no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    sock.setEncoding('utf8');
    sock.on('connect', () => sock.write(`${JSON.stringify(req)}\n`));
    sock.on('data', (c: string) => {
      buf += c;
    });
    sock.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(
        new ControlError(
          'ERR_CONTROL_UNREACHABLE',
          `cannot reach a gateway at ${path} (${e.code ?? e.message}); is \`l3kit gateway\` running with control.socket set?`,
          { cause: e },
        ),
      );
    });
    sock.on('end', () => {
      clearTimeout(timer);
      try {
        const reply = JSON.parse(buf) as { ok: boolean; result?: unknown; code?: string; error?: string };
        if (reply.ok) resolve(reply.result);
        else reject(new ControlError(reply.code ?? 'ERR_CONTROL', reply.error ?? 'request failed'));
      } catch {
        reject(new ControlError('ERR_CONTROL_PROTOCOL', `${path}: not an l3kit control socket`));
      }
    });
  });
}
