import { connectL3 } from '@l3kit/core';
import { VirtualHost } from '@l3kit/stack';
const mtu = Number(process.env.MTU ?? 9000);
const a = new VirtualHost({ addr: '10.0.0.1/24', mtu });
const b = new VirtualHost({ addr: '10.0.0.2/24', mtu });
connectL3(a, b);
const total = Number(process.env.MB ?? 256) * 1024 * 1024;
const done = new Promise((res) => b.tcp.listen(80, (s) => { s.on('data', () => {}); s.on('end', () => { s.end(); res(); }); }));
const s = a.tcp.connect({ host: '10.0.0.2', port: 80 });
await new Promise((r) => s.once('connect', r));
const chunk = Buffer.alloc(262144, 1);
const c0 = process.cpuUsage(); const t0 = performance.now();
let sent = 0;
while (sent < total) { if (!s.write(chunk)) await new Promise((r) => s.once('drain', r)); sent += chunk.length; }
s.end();
await done;
const c = process.cpuUsage(c0);
console.log('MB/cpu-s', (total / 1048576 / ((c.user + c.system) / 1e6)).toFixed(1), 'MB/s wall', (total / 1048576 / ((performance.now() - t0) / 1e3)).toFixed(1), 'a', a.stats.packetsIn, a.stats.queued, 'b', b.stats.packetsIn, b.stats.queued);
