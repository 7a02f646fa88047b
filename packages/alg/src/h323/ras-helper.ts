/**
 * H.225.0 RAS ALG (UDP 1719): an inside endpoint that talks to a gatekeeper on the outside.
 * Like Linux `nf_conntrack_h323`'s RAS part it rewrites the endpoint's RAS and call-signalling
 * addresses and, for a registration, lets the gatekeeper-routed Q.931 connection in.
 */
import type { HelperPacketContext, NatHelper, NatHelperHost } from '@l3kit/nat';
import { formatIpv4 } from '@l3kit/wire';
import { addressBytes, checkCommon, checkMs, isPrivate, writeL4Bytes } from './common.js';
import { type AddressHit, PerError, perDecode } from './per.js';
import { RasMessage } from './ras.js';

/** RAS port (H.225.0). */
export const H323_RAS_PORT = 1719;
/** Registration lifetime when the RegistrationRequest names none (Linux `default_rrq_ttl`: 300 s). */
export const H323_DEFAULT_RRQ_TTL_MS = 300_000;

/** Options of {@link H323RasHelper}. */
export interface H323RasHelperOptions {
  /** RAS ports (default `[1719]`). */
  ports?: number[];
  /** Tenants served (default: all). */
  tenants?: number[];
  /** Registration lifetime when the RegistrationRequest has no timeToLive, ms (default 300 000). */
  defaultTtlMs?: number;
}

/** Counters of {@link H323RasHelper}. */
export interface H323RasHelperStats {
  /** RAS messages decoded. */
  messages: number;
  /** Addresses rewritten. */
  rewrites: number;
  /** Registrations (RegistrationRequest with the endpoint's call-signalling address) made or refreshed. */
  registrations: number;
  /** Expectations the NAT refused. */
  expectationFailures: number;
  /** Datagrams that are not valid RAS PER. */
  parseErrors: number;
  /** Messages decoded only up to an unmodelled structure. */
  partialDecodes: number;
  /** Private addresses in outbound messages that are not the sender's (left alone). */
  refusals: number;
}

interface Registration {
  expId: number;
  extPort: number;
  insidePort: number;
  owner: number;
}

type RasRole = 'ras' | 'signal' | 'other';

function rasRole(path: string): RasRole {
  if (/\.(rasAddress|replyAddress)(\.\d+)?\.ipAddress$/.test(path)) return 'ras';
  if (/\.(callSignalAddress|srcCallSignalAddress)(\.\d+)?\.ipAddress$/.test(path)) return 'signal';
  return 'other';
}

/**
 * The H.225.0 RAS ALG for an inside endpoint registered with an outside gatekeeper. Add it next
 * to {@link H323Helper}: `nat.addHelper(new H323RasHelper())`.
 *
 * Outbound: `rasAddress` / `replyAddress` equal to the endpoint's RAS socket become the NAT's
 * external endpoint of that UDP flow; the `callSignalAddress` of a RegistrationRequest becomes an
 * external port, and an expectation lets the gatekeeper's Q.931 connection in to it for the
 * registration's lifetime (refreshed by every RegistrationRequest, like Linux with
 * `gkrouted_only`); UnregistrationRequest, AdmissionRequest and InfoRequestResponse use the
 * registered port. Inbound: addresses naming the NAT's external endpoints map back.
 */
export class H323RasHelper implements NatHelper {
  /** Helper name (`'h323-ras'`). */
  readonly name = 'h323-ras';
  /** UDP. */
  readonly proto = 17;
  /** RAS ports. */
  readonly ports: readonly number[];
  /** Tenants served (all when undefined). */
  readonly tenants?: readonly number[];
  /** Counters. */
  readonly stats: H323RasHelperStats = {
    messages: 0,
    rewrites: 0,
    registrations: 0,
    expectationFailures: 0,
    parseErrors: 0,
    partialDecodes: 0,
    refusals: 0,
  };
  private readonly defaultTtlMs: number;
  /** `tenant:insideIp:port` of a registered call-signalling address → its registration. */
  private readonly regs = new Map<string, Registration>();

  constructor(opts: H323RasHelperOptions = {}) {
    const common = checkCommon(opts, 'H323RasHelper', [H323_RAS_PORT]);
    this.ports = common.ports;
    this.tenants = common.tenants;
    this.defaultTtlMs = checkMs(opts.defaultTtlMs, 'defaultTtlMs', H323_DEFAULT_RRQ_TTL_MS);
  }

  /** Registered call-signalling addresses (for tests and introspection). */
  get registrations(): number {
    return this.regs.size;
  }

  /** {@inheritDoc NatHelper.onPacket} */
  onPacket(ctx: HelperPacketContext, host: NatHelperHost): Uint8Array | null | undefined {
    if (ctx.proto !== 17 || ctx.payloadLen === 0) return undefined;
    try {
      this.datagram(ctx, host);
    } catch {
      this.stats.parseErrors++; // never throw into the NAT
    }
    return undefined;
  }

  /** {@inheritDoc NatHelper.onClose} */
  onClose(connectionId: number): void {
    for (const [k, r] of this.regs) if (r.owner === connectionId) this.regs.delete(k);
  }

  private datagram(ctx: HelperPacketContext, host: NatHelperHost): void {
    let r: ReturnType<typeof perDecode>;
    try {
      r = perDecode(RasMessage, ctx.pkt, ctx.payloadOff, ctx.payloadOff + ctx.payloadLen);
    } catch (e) {
      if (!(e instanceof PerError)) throw e;
      this.stats.parseErrors++;
      return;
    }
    this.stats.messages++;
    if (!r.complete) this.stats.partialDecodes++;
    const msg = r.value as Record<string, Record<string, unknown> | undefined> | undefined;
    const rrq = msg?.registrationRequest;
    const ttlS = rrq?.timeToLive;
    const ttlMs = typeof ttlS === 'number' ? ttlS * 1000 : this.defaultTtlMs;
    for (const h of r.hits) {
      const to = this.translate(ctx, host, h, ttlMs);
      if (!to) continue;
      writeL4Bytes(ctx, h.ipOff, addressBytes(to.ip, to.port));
      this.stats.rewrites++;
    }
  }

  private translate(
    ctx: HelperPacketContext,
    host: NatHelperHost,
    h: AddressHit,
    ttlMs: number,
  ): { ip: number; port: number } | null {
    const role = rasRole(h.path);
    if (role === 'other') return null;
    const insideIp = ctx.insideIp >>> 0;
    const externalIp = ctx.externalIp >>> 0;
    if (ctx.direction === 'inbound') {
      if (h.ip !== externalIp) return null;
      if (role === 'ras') return h.port === ctx.externalPort ? { ip: insideIp, port: ctx.insidePort } : null;
      for (const [k, reg] of this.regs)
        if (reg.extPort === h.port && k.startsWith(`${ctx.tenant}:${insideIp}:`))
          return { ip: insideIp, port: reg.insidePort };
      return null;
    }
    if (h.ip !== insideIp) {
      if (isPrivate(h.ip)) this.stats.refusals++;
      return null;
    }
    if (role === 'ras') return h.port === ctx.insidePort ? { ip: externalIp, port: ctx.externalPort } : null;
    const key = `${ctx.tenant}:${insideIp}:${h.port}`;
    const reg = this.regs.get(key);
    if (h.path.startsWith('registrationRequest.')) {
      const ext = this.register(ctx, host, key, h.port, reg, ttlMs);
      return ext < 0 ? null : { ip: externalIp, port: ext };
    }
    if (!reg) return null;
    if (h.path.startsWith('unregistrationRequest.')) {
      host.removeExpectation(reg.expId);
      this.regs.delete(key);
    }
    return { ip: externalIp, port: reg.extPort };
  }

  /** (Re)creates the expectation for the gatekeeper's Q.931 connection; returns the external port or -1. */
  private register(
    ctx: HelperPacketContext,
    host: NatHelperHost,
    key: string,
    port: number,
    prev: Registration | undefined,
    ttlMs: number,
  ): number {
    const opts = {
      proto: 6,
      insideIp: formatIpv4(ctx.insideIp >>> 0),
      insidePort: port,
      tenant: ctx.tenant,
      remoteIp: formatIpv4(ctx.remoteIp >>> 0),
      timeoutMs: ttlMs,
      helper: this.name,
    };
    let rec: ReturnType<NatHelperHost['addExpectation']> | null = null;
    if (prev) {
      try {
        // Same external port while the previous expectation still holds it, then drop the old one.
        rec = host.addExpectation({ ...opts, externalPort: prev.extPort });
      } catch {
        rec = null;
      }
      host.removeExpectation(prev.expId);
    }
    if (!rec) {
      try {
        rec = host.addExpectation(opts);
      } catch {
        this.stats.expectationFailures++;
        this.regs.delete(key);
        return -1;
      }
    }
    this.regs.set(key, {
      expId: rec.id,
      extPort: rec.externalPort,
      insidePort: port,
      owner: ctx.connectionId,
    });
    this.stats.registrations++;
    return rec.externalPort;
  }
}
