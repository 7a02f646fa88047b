/**
 * `@l3kit/upnp`: local helpers of `@l3kit/nat` that let inside hosts open ports themselves —
 * UPnP IGD with SSDP (`UpnpIgd`) and a PCP server that also answers NAT-PMP (`PcpServer`).
 */
export * from './igd.js';
export * from './pcp.js';
export * from './policy.js';
export * from './ssdp.js';
