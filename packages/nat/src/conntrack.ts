/** `conntrack -L` style text for `nat.formatConntrack()`. */
import type { MappingRecord } from './records.js';

function tuple(r: MappingRecord, t: MappingRecord['original'], reply: boolean): string {
  if (r.proto === 1) {
    // ICMP echo: type/code/id instead of ports.
    const type = reply ? 0 : 8;
    return `src=${t.src} dst=${t.dst} type=${type} code=0 id=${reply ? t.dstPort : t.srcPort}`;
  }
  if (r.proto === 47)
    return `src=${t.src} dst=${t.dst} srckey=0x${t.srcPort.toString(16)} dstkey=0x${t.dstPort.toString(16)}`;
  return `src=${t.src} dst=${t.dst} sport=${t.srcPort} dport=${t.dstPort}`;
}

/**
 * One line per record, as `conntrack -L -o extended` prints it (zone = tenant), e.g.
 * `ipv4     2 tcp      6 7439 ESTABLISHED src=192.168.1.10 dst=198.51.100.7 sport=40000 dport=80 packets=3 bytes=180 src=198.51.100.7 dst=203.0.113.1 sport=80 dport=40000 packets=2 bytes=120 [ASSURED] mark=0 zone=0 use=1`
 */
export function formatConntrackLines(records: readonly MappingRecord[]): string {
  const lines: string[] = [];
  for (const r of records) {
    const secs =
      r.expiresInMs === Number.POSITIVE_INFINITY
        ? 'static'
        : String(Math.max(0, Math.ceil(r.expiresInMs / 1000)));
    const name = r.protoName.padEnd(8);
    const state = r.proto === 6 ? `${r.state} ` : '';
    const flags = r.state === 'LISTEN' ? '[FORWARD] ' : r.packetsIn > 0 ? '[ASSURED] ' : '[UNREPLIED] ';
    const unreplied = r.packetsIn === 0 && r.state !== 'LISTEN';
    lines.push(
      `ipv4     2 ${name} ${String(r.proto).padEnd(2)} ${secs} ${state}${tuple(r, r.original, false)} packets=${r.packetsOut} bytes=${r.bytesOut} ` +
        `${unreplied ? '[UNREPLIED] ' : ''}${tuple(r, r.reply, true)} packets=${r.packetsIn} bytes=${r.bytesIn} ` +
        `${unreplied ? '' : flags}mark=0 zone=${r.tenant} use=1`,
    );
  }
  const n = records.length;
  return `${lines.join('\n')}${n ? '\n' : ''}conntrack v1.4 (l3kit): ${n} flow entries have been shown.\n`;
}
