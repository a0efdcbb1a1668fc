// A flow's key kept as struct-of-arrays columns, one row a flow: what the
// SYN cache's entries (engine/syncache.ts) and the engine's send rows
// (engine/engine.ts, over the send batch) both hold, and the one function
// that writes it.

/** Columns of a flow key: row r's addresses are words [4r, 4r+4). */
export interface FlowKeyColumns {
  readonly family: Uint8Array;
  readonly localAddr: Uint32Array;
  readonly peerAddr: Uint32Array;
  readonly localPort: Uint16Array;
  readonly peerPort: Uint16Array;
}

/** Writes a flow key into row r of `to`, its addresses read from local[localAt..+4) and peer[peerAt..+4). */
export function writeFlowKey(to: FlowKeyColumns, r: number, family: number, local: Uint32Array, localAt: number,
  peer: Uint32Array, peerAt: number, localPort: number, peerPort: number): void {
  const o = r * 4;
  to.family[r] = family;
  for (let k = 0; k < 4; k++) {
    to.localAddr[o + k] = local[localAt + k];
    to.peerAddr[o + k] = peer[peerAt + k];
  }
  to.localPort[r] = localPort;
  to.peerPort[r] = peerPort;
}
