/**
 * UPnP: an inside host opens a port on the NAT itself, like a game console or a BitTorrent client.
 *
 * The NAT runs the UPnP IGD of `@l3kit/upnp` (`nat.addHelper(new UpnpIgd(...))`) on its inside
 * address. The console behind it discovers the gateway with SSDP (an M-SEARCH to
 * 239.255.255.250:1900), reads the device description, asks for the external address and adds a
 * port mapping with SOAP — all over l3kit's userspace TCP/UDP — then a peer outside connects to
 * the mapped port, and the console deletes the mapping. The code is the demo's UPnP scene
 * (`upnp-scene.ts`); this example runs it on its own, prints each packet and writes a capture.
 *
 * Run it: node examples/dist/upnp-example.js [capture.pcapng]      (exits 1 if a step fails)
 */
import { Capture, type Clock } from '@l3kit/core';
import { formatPacket } from '@l3kit/wire';
import { runMain } from './example-util.js';
import { runUpnpScene, type UpnpSceneResult } from './upnp-scene.js';

/** A wall clock with sub-millisecond resolution. */
const clock: Clock = { now: () => performance.timeOrigin + performance.now() };

/** Runs the UPnP scene with its packets printed to `log`; writes the capture to `out` if given. */
export async function runUpnpExample(log: (line: string) => void, out?: string): Promise<UpnpSceneResult> {
  const t0 = clock.now();
  const cap = new Capture({
    format: 'pcapng',
    clock,
    onPacket: (pkt, info) =>
      log(
        `  ${info.direction === 'out' ? `${info.name} ->` : `-> ${info.name}`} ${formatPacket(pkt, { timestampMs: info.timestampMs - t0 })}`,
      ),
  });
  const r = await runUpnpScene(cap, log, clock);
  if (out) {
    cap.writeFile(out);
    log(`${cap.packets} packets written to ${out}`);
  }
  return r;
}

await runMain(import.meta.url, 'upnp example', async () => {
  const r = await runUpnpExample((l) => console.log(l), process.argv[2]);
  if (r.forwardsAfterDelete !== 0) throw new Error('the mapping was not deleted');
});
