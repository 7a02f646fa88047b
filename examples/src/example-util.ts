/** Small helpers the runnable examples share: running a main, and HTTP over l3kit TCP. */
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import type { VirtualHost } from '@l3kit/stack';

/** An HTTP response as text. */
export interface TextResponse {
  status: number;
  body: string;
}

/**
 * Sends one HTTP/1.1 request from `host` with Node's own `http` client over an l3kit TCP
 * connection (`Connection: close`) and resolves with the status and the body as text.
 */
export function httpRequest(
  host: VirtualHost,
  url: URL,
  opts: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<TextResponse> {
  const port = Number(url.port || 80);
  const hostname = url.hostname.replace(/^\[(.*)\]$/, '$1');
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: hostname,
        port,
        path: url.pathname,
        method: opts.method ?? 'GET',
        headers: { connection: 'close', ...opts.headers },
        createConnection: () => host.tcp.connect({ host: hostname, port, noDelay: true }) as never,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          body += c;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}

/**
 * Runs `main` when `moduleUrl` is the script node was started with: holds the process open
 * meanwhile (l3kit's timers are unref'd, so a virtual network never keeps a process alive on its
 * own), prints a failure and sets exit code 1.
 */
export async function runMain(moduleUrl: string, what: string, main: () => Promise<unknown>): Promise<void> {
  if (!process.argv[1] || fileURLToPath(moduleUrl) !== process.argv[1]) return;
  const alive = setInterval(() => {}, 1000);
  try {
    await main();
  } catch (e) {
    console.error(`${what} failed: ${e instanceof Error ? e.message : String(e)}`);
    process.exitCode = 1;
  } finally {
    clearInterval(alive);
  }
}
