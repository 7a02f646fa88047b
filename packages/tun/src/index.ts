/**
 * `@l3kit/tun`: a Linux TUN device as an `L3Device`, through l3kit's own small N-API addon
 * (`native/tun.c`, built by node-gyp during `npm install`). See the package README.
 * @packageDocumentation
 */
export { addonPath, tunAvailable } from './addon.js';
export { TunError, type TunErrorCode } from './errors.js';
export { TUN_RX_HEADROOM, TunDevice, type TunOptions, type TunStats, type TunTxDrops } from './tun-device.js';
export {
  completeVnetChecksum,
  fillVnetHeader,
  VNET_F_NEEDS_CSUM,
  VNET_HDR_LEN,
  VnetGso,
  vnetGsoType,
} from './vnet.js';
