/**
 * The README's "wiring devices in code" example, kept here so it always compiles.
 * Run it: node examples/dist/wiring.js
 */
import { Capture, L3Hub, VirtualHost } from '@l3kit/core';

// A router with two hosts on two subnets.
const hub = new L3Hub({ addr4: '10.0.0.1' });
const a = new VirtualHost({ addr: '10.0.1.2/24', addr6: '2001:db8:1::2/64' });
const b = new VirtualHost({ addr: '10.0.2.2/24', addr6: '2001:db8:2::2/64' });

// Record everything b sends and receives; the hub routes each host's networks to it.
const cap = new Capture({ format: 'pcapng' });
hub.connectL3(a);
hub.connectL3(cap.tap(b, 'b'));

// A UDP echo service on b, a ping and a datagram from a.
const echo = b.udp.bind(7);
echo.on('message', (data, from) => echo.send(data, from.port, from.address));
const sock = a.udp.bind();
sock.on('message', (data) => console.log('a got', new TextDecoder().decode(data)));
sock.send('hello', 7, '10.0.2.2');

const reply = await a.ping('2001:db8:2::2');
console.log(`ping over IPv6 answered by ${reply.from}, hop limit ${reply.ttl}`);
console.log(`${cap.packets} packets captured at b`);
cap.writeFile('wiring.pcapng');
