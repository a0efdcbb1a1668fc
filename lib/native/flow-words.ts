// A flow as native code takes it (ring.handOver/takeBack/peek,
// repairSocketWords): family, peer address x4, local address x4, peer port,
// local port, as 32-bit words; the layout comes from the addon.
import { addon, type FlowEnds } from './addon.js';
import { writeAddress } from './address.js';

const L = addon.flowLayout;

/** Words a flow takes. */
export const FLOW_WORDS = L.words;

/** Writes the flow's words into `out` (FLOW_WORDS long, reused by callers on hot paths) and returns it. */
export function writeFlowWords(flow: FlowEnds, out: Uint32Array = new Uint32Array(FLOW_WORDS)): Uint32Array {
  out[L.family] = flow.family;
  writeAddress(flow.remoteAddress, out, L.peerAddress);
  writeAddress(flow.localAddress, out, L.localAddress);
  out[L.peerPort] = flow.remotePort;
  out[L.localPort] = flow.localPort;
  return out;
}
