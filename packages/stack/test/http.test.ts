import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import http from 'node:http';
import { describe, it } from 'node:test';
import { connectL3 } from '@l3kit/core';
import { VirtualHost } from '../src/index.js';
import { pair, pump } from './helpers.js';

describe("Node's http over l3kit sockets", () => {
  it('serves a GET with a 1 MB body from http.createServer to http.request', async () => {
    const { sched, a, b } = pair();
    const body = Buffer.alloc(1024 * 1024);
    for (let i = 0; i < body.length; i++) body[i] = (i * 31 + 7) & 0xff;
    const server = http.createServer((req, res) => {
      assert.equal(req.method, 'GET');
      assert.equal(req.url, '/blob');
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length });
      res.end(body);
    });
    b.tcp.listen(80, (sock) => server.emit('connection', sock));
    let status = 0;
    let hash = '';
    let peer = '';
    const req = http.request({
      method: 'GET',
      path: '/blob',
      host: '10.0.0.2',
      createConnection: () => a.tcp.connect({ host: '10.0.0.2', port: 80 }) as never,
    });
    req.on('response', (res) => {
      status = res.statusCode ?? 0;
      peer = res.socket.remoteAddress ?? '';
      const h = createHash('sha256');
      res.on('data', (d: Buffer) => h.update(d));
      res.on('end', () => {
        hash = h.digest('hex');
      });
    });
    req.end();
    await pump(sched, () => hash !== '', 60_000, 10);
    assert.equal(status, 200);
    assert.equal(peer, '10.0.0.2');
    assert.equal(hash, createHash('sha256').update(body).digest('hex'));
    server.close();
  });

  it('keeps one connection alive for several requests', async () => {
    const { sched, a, b } = pair();
    let connections = 0;
    const server = http.createServer((req, res) => res.end(`you asked for ${req.url}`));
    b.tcp.listen(80, (sock) => {
      connections++;
      server.emit('connection', sock);
    });
    const sock = a.tcp.connect({ host: '10.0.0.2', port: 80 });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    (agent as unknown as { createConnection: () => unknown }).createConnection = () => sock;
    const answers: string[] = [];
    for (const path of ['/one', '/two', '/three']) {
      let text: string | undefined;
      http
        .get({ host: '10.0.0.2', path, agent }, (res) => {
          let s = '';
          res.on('data', (d) => {
            s += d;
          });
          res.on('end', () => {
            text = s;
          });
        })
        .end();
      await pump(sched, () => text !== undefined, 10_000, 10);
      answers.push(text as string);
    }
    assert.deepEqual(answers, ['you asked for /one', 'you asked for /two', 'you asked for /three']);
    assert.equal(connections, 1);
    agent.destroy();
    server.close();
  });

  it('runs on real time with the default clock and scheduler', async () => {
    const a = new VirtualHost({ addr: '10.9.0.1/24' });
    const b = new VirtualHost({ addr: '10.9.0.2/24' });
    connectL3(a, b);
    const body = Buffer.alloc(300_000, 7);
    const server = http.createServer((_req, res) => res.end(body));
    b.tcp.listen(80, (sock) => server.emit('connection', sock));
    const got = await new Promise<number>((resolve, reject) => {
      http
        .get(
          {
            host: '10.9.0.2',
            path: '/',
            createConnection: () => a.tcp.connect({ host: '10.9.0.2', port: 80 }) as never,
          },
          (res) => {
            let n = 0;
            res.on('data', (d: Buffer) => {
              n += d.length;
            });
            res.on('end', () => resolve(n));
          },
        )
        .on('error', reject);
    });
    assert.equal(got, body.length);
    server.close();
    a.close();
    b.close();
  });
});
