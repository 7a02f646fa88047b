/**
 * `@l3kit/stack`: a userspace TCP/UDP/ICMP stack. A {@link VirtualHost} is an `L3Device` with
 * Node-like sockets (`host.tcp.listen`, `host.tcp.connect` → `stream.Duplex`, `host.udp.bind`),
 * so real Node servers and clients (`http`, `pipeline`) run inside an l3kit topology.
 * @packageDocumentation
 */
export * from './errors.js';
export * from './host.js';
export type { IpLayer } from './ip.js';
export { IcmpLayer, type IcmpStats, type PingOptions, type PingResult } from './icmp.js';
export { UdpLayer, UdpSocket, type RemoteInfo, type UdpSocketEvents, type UdpStats } from './udp.js';
export {
  DEFAULT_TCP_CONFIG,
  TcpConnection,
  TcpState,
  tcpStateName,
  type ConnectionUser,
  type TcpConfig,
  type TcpConnectionStats,
} from './tcp/connection.js';
export { TcpServer, type ListenOptions, type TcpServerEvents } from './tcp/listener.js';
export { TcpSocket, type TcpInfo } from './tcp/socket.js';
export { TcpLayer, type ConnectOptions, type TcpStats, EPHEMERAL_FIRST, EPHEMERAL_LAST } from './tcp/tcp.js';
export { TcpFlag } from './tcp/segment.js';
export { ManualScheduler, TimerScheduler, type Scheduler, type TimerHandle } from '@l3kit/core';
