// Typed-array views over one PacketBatch (struct of arrays). A view is made
// once per ring and reused for every batch: no per-packet objects.
import { addon, type BatchFieldName } from './addon.js';

const { batchLayout } = addon;

export const BATCH_CAPACITY = batchLayout.capacity;

export class BatchView {
  readonly buffer: ArrayBuffer;
  readonly time: Float64Array;
  readonly saddr: Uint32Array;
  readonly daddr: Uint32Array;
  readonly seq: Uint32Array;
  readonly ack: Uint32Array;
  readonly tsval: Uint32Array;
  readonly tsecr: Uint32Array;
  readonly hash: Uint32Array;
  readonly cookie: Uint32Array;
  /** Where a received ACK row's payload starts in `payload`, or BatchView.noPayload. */
  readonly payloadOffset: Uint32Array;
  readonly sport: Uint16Array;
  readonly dport: Uint16Array;
  readonly window: Uint16Array;
  readonly mss: Uint16Array;
  readonly vlan: Uint16Array;
  readonly payloadLength: Uint16Array;
  readonly kind: Uint8Array;
  readonly family: Uint8Array;
  readonly tcpFlags: Uint8Array;
  readonly wscale: Uint8Array;
  readonly optFlags: Uint8Array;
  readonly cookieState: Uint8Array;
  readonly mac: Uint8Array;
  /** The payload arena of received rows. */
  readonly payload: Uint8Array;
  static readonly noPayload = batchLayout.noPayload;

  constructor(buffer: ArrayBuffer = new ArrayBuffer(batchLayout.byteLength)) {
    if (buffer.byteLength !== batchLayout.byteLength) {
      throw new RangeError(`a batch buffer must be ${batchLayout.byteLength} bytes, got ${buffer.byteLength}`);
    }
    this.buffer = buffer;
    const view = <T>(name: BatchFieldName, Type: new (b: ArrayBuffer, o: number, l: number) => T): T => {
      const f = batchLayout.fields[name];
      return new Type(buffer, f.offset, f.length);
    };
    this.time = view('time', Float64Array);
    this.saddr = view('saddr', Uint32Array);
    this.daddr = view('daddr', Uint32Array);
    this.seq = view('seq', Uint32Array);
    this.ack = view('ack', Uint32Array);
    this.tsval = view('tsval', Uint32Array);
    this.tsecr = view('tsecr', Uint32Array);
    this.hash = view('hash', Uint32Array);
    this.cookie = view('cookie', Uint32Array);
    this.payloadOffset = view('payloadOffset', Uint32Array);
    this.sport = view('sport', Uint16Array);
    this.dport = view('dport', Uint16Array);
    this.window = view('window', Uint16Array);
    this.mss = view('mss', Uint16Array);
    this.vlan = view('vlan', Uint16Array);
    this.payloadLength = view('payloadLength', Uint16Array);
    this.kind = view('kind', Uint8Array);
    this.family = view('family', Uint8Array);
    this.tcpFlags = view('tcpFlags', Uint8Array);
    this.wscale = view('wscale', Uint8Array);
    this.optFlags = view('optFlags', Uint8Array);
    this.cookieState = view('cookieState', Uint8Array);
    this.mac = view('mac', Uint8Array);
    this.payload = view('payload', Uint8Array);
  }
}
