// A connection as the handoff names it: the flow (its ends, FlowEnds, and
// the peer's ISN: enough to mark it handed over) and what finishing its
// handoff needs. Types and the flow's map key only: the handover, the socket
// maker and the worker's messages take these.
import type { Handshake } from '../engine/engine.js';
import type { FlowEnds } from '../native/addon.js';

export type { FlowEnds };

/** The flow of a handshake, enough to mark it handed over: its ends and the peer's ISN. */
export interface FlowOf extends FlowEnds {
  irs: number;
}

/** What the shard needs to finish a handoff: the flow, its held entry (or -1) and the final ACK's own data. */
export type HandoffFlow = FlowOf & Pick<Handshake, 'hold' | 'iss' | 'payload'>;

/** A flow's 4-tuple as a map key. */
export function flowKey(h: FlowEnds): string {
  return `${h.remoteAddress}|${h.remotePort}|${h.localAddress}|${h.localPort}`;
}

/** The handshake's flow alone (a handshake is a FlowOf, but carries much more). */
export function flowOf(h: FlowOf): FlowOf {
  return { family: h.family, remoteAddress: h.remoteAddress, remotePort: h.remotePort, localAddress: h.localAddress, localPort: h.localPort, irs: h.irs };
}
