/**
 * `@l3kit/cli`: the l3kit command: demo, gateway, conntrack, stats, genkey, pubkey.
 */
export {};
