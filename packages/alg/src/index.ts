/**
 * `@l3kit/alg`: application Layer Gateways for the l3kit NAT: FTP, TFTP, IRC DCC, SIP, H.323, PPTP.
 */
export {};
