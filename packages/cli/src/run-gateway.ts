/**
 * `l3kit gateway`: starts a {@link Gateway} from a config file with its control socket and
 * metrics endpoint, reloads on SIGHUP, saves the state and exits on SIGTERM / SIGINT.
 */

import { unlinkSync } from 'node:fs';
import type { Server } from 'node:http';
import type { Server as NetServer } from 'node:net';
import { type GatewayConfig, loadGatewayConfig } from './config.js';
import { ControlError, type ControlRequest, serveControl } from './control.js';
import { Gateway, type ReloadResult } from './gateway.js';
import { Logger } from './log.js';
import { renderMetrics, serveMetrics } from './metrics.js';

/** The control socket and metrics endpoint of a running gateway. */
export interface GatewayServices {
  /** Port of the metrics endpoint, if enabled. */
  metricsPort: number | undefined;
  /** Closes both (removes the socket file). */
  close(): Promise<void>;
}

/**
 * Starts the control socket (`config.control.socket`) and the metrics endpoint (`config.metrics`)
 * of `gw`. `reload` is what the control command `reload` does (re-read the file).
 */
export async function startGatewayServices(
  gw: Gateway,
  config: GatewayConfig,
  reload: () => ReloadResult,
): Promise<GatewayServices> {
  let control: NetServer | undefined;
  let metrics: Server | undefined;
  let metricsPort: number | undefined;
  const close = async () => {
    await Promise.all(
      [control, metrics].map((s) => (s ? new Promise<void>((r) => s.close(() => r())) : undefined)),
    );
    if (control && config.control) {
      try {
        unlinkSync(config.control.socket);
      } catch {
        // Already gone.
      }
    }
  };
  try {
    if (config.control)
      control = await serveControl(config.control.socket, (req: ControlRequest) => {
        switch (req.cmd) {
          case 'conntrack':
            return req.json
              ? { nat44: gw.nat.mappings(), nat64: gw.nat64?.mappings() ?? [] }
              : gw.conntrack();
          case 'stats':
            return gw.stats();
          case 'metrics':
            return renderMetrics(gw.stats());
          case 'reload':
            return reload();
          default:
            throw new ControlError(
              'ERR_UNKNOWN_COMMAND',
              `unknown control command ${JSON.stringify(req.cmd)}`,
            );
        }
      });
    if (config.metrics) {
      const m = await serveMetrics(
        () => renderMetrics(gw.stats()),
        config.metrics.port,
        config.metrics.listen,
      );
      metrics = m.server;
      metricsPort = m.port;
    }
  } catch (e) {
    await close();
    throw e;
  }
  return { metricsPort, close };
}

/** Runs the gateway until SIGTERM / SIGINT; resolves to the exit code. */
export async function runGateway(
  file: string,
  config: GatewayConfig,
  io: { stderr: (text: string) => void },
): Promise<number> {
  const log = new Logger({
    level: config.log?.level,
    format: config.log?.format,
    write: (line) => io.stderr(`${line}\n`),
  });
  const gw = await Gateway.start({ config, log });
  const reload = (): ReloadResult => {
    const next = loadGatewayConfig(file);
    const r = gw.reload(next);
    log.info('configuration reloaded', {
      added: r.peersAdded.join(',') || undefined,
      removed: r.peersRemoved.join(',') || undefined,
      updated: r.peersUpdated.join(',') || undefined,
      forwardsAdded: r.forwardsAdded,
      forwardsRemoved: r.forwardsRemoved,
    });
    if (r.needRestart.length)
      log.warn('changes that need a restart were not applied', { paths: r.needRestart.join(',') });
    return r;
  };
  let services: GatewayServices;
  try {
    services = await startGatewayServices(gw, config, reload);
  } catch (e) {
    gw.stop({ snapshot: false });
    throw e;
  }
  if (services.metricsPort !== undefined)
    log.info('metrics', {
      url: `http://${config.metrics?.listen ?? '127.0.0.1'}:${services.metricsPort}/metrics`,
    });
  if (config.control) log.info('control socket', { path: config.control.socket });
  return new Promise<number>((resolveExit) => {
    const onHup = () => {
      try {
        reload();
      } catch (e) {
        log.error('reload failed, keeping the running configuration', { error: (e as Error).message });
      }
    };
    const onStop = (sig: NodeJS.Signals) => {
      process.off('SIGHUP', onHup);
      process.off('SIGTERM', onStop);
      process.off('SIGINT', onStop);
      log.info('stopping', { signal: sig });
      let code = 0;
      try {
        gw.stop();
      } catch (e) {
        log.error('could not save the state', { error: (e as Error).message });
        code = 1;
      }
      void services.close().then(() => {
        log.info('stopped');
        resolveExit(code);
      });
    };
    process.on('SIGHUP', onHup);
    process.on('SIGTERM', onStop);
    process.on('SIGINT', onStop);
  });
}
