/**
 * `@l3kit/egress`: egress devices without NAT: tenants' connections leave through SOCKS5, HTTP CONNECT or host sockets.
 */
export {};
