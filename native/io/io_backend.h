// The I/O interface between a packet backend and the packet path: an RX
// side that fills a batch and a TX side that sends one. The Ring binding
// (io/ring_binding.cc) drives a backend only through these classes, so a
// second backend (AF_XDP) plugs in beside AF_PACKET (io/af_packet_*.h)
// without touching the pipeline or the engine.
//
// One virtual call per batch, none per frame: a backend walks its frames in
// a loop of its own and hands each to a concrete, inlined consumer
// (BatchFill, HandedOverSkip, PeekSerializer, ReplyWriter), which does the
// protocol work in Node-free code (pipeline/, under the sanitizer build).
//
// A frame, as every backend hands it over: its bytes (the checksum a local
// sender left to the device already completed), its length, the 802.1Q tag
// the hardware took off (0: none) and its arrival time in ms.
#pragma once

#include <cstdint>

#include "boundary/batch.h"
#include "boundary/counters.h"
#include "pipeline/handoff_frames.h"
#include "pipeline/pipeline.h"
#include "pipeline/reply_writer.h"

namespace syncache {

// Takes frames into rows [0, capacity) of an RX batch through the
// pipeline's Accept; the caller runs Pipeline::Finish on rows() after.
class BatchFill {
 public:
  BatchFill(Pipeline* pipeline, PacketBatch* batch, uint32_t capacity)
      : pipeline_(pipeline), batch_(batch), capacity_(capacity) {}
  uint32_t capacity() const { return capacity_; }
  uint32_t rows() const { return rows_; }
  // Rows still free (a ring over several queues fills one batch from each in turn).
  uint32_t room() const { return capacity_ - rows_; }
  // One frame into the next row; true if it was accepted.
  bool operator()(const uint8_t* frame, uint32_t length, uint16_t vlanTci, double timeMs) {
    if (!pipeline_->Accept(frame, length, vlanTci, timeMs, batch_, rows_)) return false;
    rows_++;
    return true;
  }

 private:
  Pipeline* pipeline_;
  PacketBatch* batch_;
  uint32_t capacity_;
  uint32_t rows_ = 0;
};

// Where the interface an RX side is bound to stands.
enum class LinkState { kGone, kDown, kUp };

// What a backend offers for the handoff besides plain receives: frames
// taken or looked at out of their turn. Only a ring whose frames are
// readable one by one as they land (AF_PACKET TPACKET_V2) can.
class RxLookAhead {
 public:
  virtual ~RxLookAhead() = default;
  // Takes, ahead of their turn, the waiting frames that must not wait behind
  // a flood of SYNs (IsUrgentSegment), into `fill`; Receive skips them later.
  virtual uint32_t ReceiveUrgent(BatchFill& fill, Counters* counters) = 0;
  // Shows `peek` the waiting frames without taking any, from slot `start`
  // (-1: the read cursor); returns the slot to look from next time.
  virtual int64_t Peek(int64_t start, PeekSerializer& peek) = 0;
  // Takes the frames at the head for as long as `skip` says they are a
  // handed-over flow's; returns the frames taken.
  virtual uint32_t SkipLeading(HandedOverSkip& skip, Counters* counters) = 0;
};

class RxSource {
 public:
  virtual ~RxSource() = default;
  // Polls readable when frames wait (or the link has an error to take).
  virtual int pollFd() const = 0;
  // Whether Receive would find a frame now, without a syscall.
  virtual bool Waiting() const = 0;
  // Fills the batch from the frames waiting, up to fill.capacity() rows;
  // never blocks. Counts rxFrames, rxBlocks, rxBatchFull, rxBadFrame,
  // truncatedFrames. Returns the rows accepted.
  virtual uint32_t Receive(BatchFill& fill, Counters* counters) = 0;
  // The error the link set on the RX side (ENETDOWN), read and cleared; 0 if none.
  virtual int TakeError() = 0;
  virtual LinkState Link() = 0;
  // Whether pollFd() polls with an error when the interface goes down or
  // away (AF_PACKET). If not (AF_XDP: the kernel unbinds the socket without
  // waking it), the caller looks at Link() itself.
  virtual bool PollsLinkErrors() const { return true; }
  // Adds the kernel's (or device's) own counts into the kernel* counters.
  virtual int UpdateKernelStats(Counters* counters) = 0;
  // nullptr if this RX side cannot look ahead.
  virtual RxLookAhead* lookAhead() { return nullptr; }
};

class TxSink {
 public:
  virtual ~TxSink() = default;
  // Writes send rows [0, count) with `writer` and sends them. Counts
  // txFrames, txRingFull, txKicks, txErrors. Returns the frames sent.
  virtual uint32_t Send(ReplyWriter& writer, uint32_t count, Counters* counters) = 0;
  // Whether frames the last send could not hand over (EAGAIN, ENOBUFS)
  // still wait; Flush tries again.
  virtual bool Backlogged() const = 0;
  virtual void Flush(Counters* counters) = 0;
};

}  // namespace syncache
