/**
 * `@l3kit/stack`: a userspace TCP/UDP/ICMP stack. A {@link VirtualHost} is an `L3Device` with
 * Node-like sockets (`host.tcp.listen`, `host.tcp.connect` → `stream.Duplex`, `host.udp.bind`),
 * so real Node servers and clients (`http`, `pipeline`) run inside an l3kit topology.
 * @packageDocumentation
 */

export { ManualScheduler, type Scheduler, type TimerHandle, TimerScheduler } from '@l3kit/core';
export * from './errors.js';
export * from './host.js';
export { IcmpLayer, type IcmpStats, type PingOptions, type PingResult } from './icmp.js';
export type { IpLayer } from './ip.js';
export {
  type ConnectionUser,
  DEFAULT_TCP_CONFIG,
  type TcpConfig,
  TcpConnection,
  type TcpConnectionStats,
  TcpState,
  tcpStateName,
} from './tcp/connection.js';
export { type ListenOptions, TcpServer, type TcpServerEvents } from './tcp/listener.js';
export { TcpFlag } from './tcp/segment.js';
export { type TcpInfo, TcpSocket } from './tcp/socket.js';
export { type ConnectOptions, EPHEMERAL_FIRST, EPHEMERAL_LAST, TcpLayer, type TcpStats } from './tcp/tcp.js';
export { type RemoteInfo, UdpLayer, UdpSocket, type UdpSocketEvents, type UdpStats } from './udp.js';
