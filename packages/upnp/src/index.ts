/**
 * `@l3kit/upnp`: uPnP IGD / SSDP and NAT-PMP / PCP servers for the l3kit NAT: inside hosts open ports themselves.
 */
export {};
