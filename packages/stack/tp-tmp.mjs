import { connectL3 } from '@l3kit/core';
import { VirtualHost } from '@l3kit/stack';
const mtu = Number(process.env.MTU ?? 1500);
const a = new VirtualHost({ addr: '10.0.0.1/24', mtu });
const b = new VirtualHost({ addr: '10.0.0.2/24', mtu });
connectL3(a, b);
const total = 50 * 1024 * 1024;
let got = 0;
const done = new Promise((res) => b.tcp.listen(80, (s) => { s.on('data', (d) => { got += d.length; }); s.on('end', () => { s.end(); res(); }); }));
const s = a.tcp.connect({ host: '10.0.0.2', port: 80, noDelay: !!process.env.ND });
await new Promise((r) => s.once('connect', r));
const chunk = Buffer.alloc(65536, 1);
const t0 = performance.now();
let sent = 0;
while (sent < total) { if (!s.write(chunk)) await new Promise((r) => s.once('drain', r)); sent += chunk.length; }
s.end();
await done;
const ms = performance.now() - t0;
const i = s.tcpInfo(); console.log('MB/s', (total / 1048576 / (ms / 1000)).toFixed(1), got === total, i.retransmits, i.windowProbes, i.timeouts, process.cpuUsage());
