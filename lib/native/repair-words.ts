// RepairParams packed into 32-bit words for addon.repairSocketWords: the
// handoff's hot path, where native code would otherwise read some 20 named
// properties of an object, one lookup each, per socket. The flow's words
// come first (flow-words.ts; the shard has them already); the layout comes
// from the addon.
import { addon, type RepairParams } from './addon.js';
import { FLOW_WORDS } from './flow-words.js';

const L = addon.repairLayout;

/** Words repairSocketWords reads. */
export const REPAIR_WORDS = L.words;

/**
 * Fills `out` (REPAIR_WORDS) from `params` and `flow`, the same connection's
 * FLOW_WORDS (family, peer address, local address, peer port, local port).
 * params.payload is not packed: pass stayInRepair and hand the data to
 * finishRepair. The addon checks the fields' ranges.
 */
export function packRepairParams(params: RepairParams, flow: Uint32Array, out: Uint32Array): Uint32Array {
  for (let i = 0; i < FLOW_WORDS; i++) out[i] = flow[i];
  out[L.iss] = params.iss;
  out[L.irs] = params.irs;
  out[L.mss] = params.mss;
  out[L.wscale] = params.wscale + 1;
  out[L.ourWscale] = params.ourWscale + 1;
  out[L.flags] = (params.sackPermitted ? L.sackPermitted : 0) | (params.timestamps ? L.timestamps : 0)
    | (params.windowProbe === true ? L.windowProbe : 0) | (params.stayInRepair === true ? L.stayInRepair : 0);
  out[L.tsNow] = params.tsNow ?? 0;
  out[L.window] = params.window;
  out[L.ourWindow] = params.ourWindow ?? 65535;
  out[L.mark] = params.mark ?? 0;
  return out;
}
