// The door's handed-over flows, from a thread that is not the door's owner:
// a shard in a worker thread opens its handed-over flows in the door right
// as their sockets leave repair, and marks them closed, through the two
// flow maps alone (native/door/door_flows.h, over duplicates of the fds the
// owner's Door gives in flowMaps). Everything else about the door (its
// program, secrets, cookie state, reply MACs, attachment) stays with the
// owner; these writes are the ones that cannot wait for a message to it.
import { addon, type DoorFlowMaps, type NativeDoorFlows } from '../native/addon.js';

export class DoorFlows {
  private readonly native: NativeDoorFlows;

  /** `maps`: the owner's Door.flowMaps (valid while that door is open). */
  constructor(maps: DoorFlowMaps) {
    if (!addon.door.available) throw Object.assign(new Error(`the XDP door is not built: the addon lacks ${addon.door.missing}`), { code: 'ENOSYS' });
    this.native = new addon.door.DoorFlows(maps);
  }

  /** A kernel socket owns this flow now (its writeFlowWords): its segments pass to the kernel. */
  handOver(flow: Uint32Array, peerIsn: number): void {
    this.native.handOver(flow, peerIsn >>> 0);
  }

  /** The flow's socket closed: its stragglers still pass to the kernel, a SYN goes to userspace; `seen` as Door.flowClosed's. */
  flowClosed(flow: Uint32Array, seen: Uint32Array = new Uint32Array(3)): boolean {
    return this.native.flowClosed(flow, seen);
  }

  /** Undoes handOver; false if the flow was not handed over. */
  takeBack(flow: Uint32Array): boolean {
    return this.native.takeBack(flow);
  }

  close(): void {
    this.native.close();
  }
}
