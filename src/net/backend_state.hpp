#pragma once
// Private state of the net tile's two backends (not a public header: src/net only).
//
// io_uring backend memory, set up in the constructor and torn down in the destructor:
//
//   buf_ring  : page-aligned ring of `ring_entries` io_uring_buf entries (addr, len, bid),
//               registered as provided-buffer group 0. The tile adds free rx frames at the
//               tail (bid = frame index, addr = frame − 32, len = 1280); the kernel takes
//               them from the head, in order. At most `window` are lent at a time.
//   a lent frame after a multishot recvmsg (net_tile.hpp has the picture):
//               | io_uring_recvmsg_out (16 B) | sockaddr_in (16 B) | payload … |
//               ^ frame − 32 (tail of frame − 1)  ^ frame                ^ frame + 1248 at most
//   recv[p]   : the msghdr each port's multishot recvmsg was armed with (only msg_namelen is
//               used: the kernel lays the source address out in the buffer as above).
//   sends     : tx_inflight slots; a slot owns the msghdr, iovec and destination sockaddr of
//               one SENDMSG until its completion, and remembers the descriptor to release.
//
// user_data of every SQE: tag (8 bits) << 56 | index (port for receives, slot for sends).

#include <liburing.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include <riptide/net/net_tile.hpp>

namespace riptide::net {

constexpr unsigned provided_buffer_group = 0;
// The receive header the kernel writes in front of the payload: io_uring_recvmsg_out and
// the source address. It must fit in the unused tail of the previous frame.
constexpr std::size_t recv_header_bytes = 16 + sizeof(sockaddr_in);
static_assert(recv_header_bytes == 32);
static_assert(util::max_packet_frame_bytes - max_payload_bytes - 16 >= recv_header_bytes,
              "the header of frame f must fit in frame f-1's tail, leaving payload+16 alone");

enum class uring_tag : std::uint64_t { recv = 1, send = 2, cancel = 3 };
constexpr int uring_tag_shift = 56;
constexpr std::uint64_t uring_user_data(uring_tag tag, std::uint64_t index) noexcept {
  return (static_cast<std::uint64_t>(tag) << uring_tag_shift) | index;
}

struct net_tile::uring_state {
  io_uring ring{};
  bool ring_open = false;      // io_uring_queue_init succeeded
  bool defer_taskrun = false;  // SINGLE_ISSUER | DEFER_TASKRUN | R_DISABLED: enable on first poll
  bool started = false;        // enabled and receives armed (first poll)
  bool broken = false;         // enabling failed: poll does nothing but count
  const void* owner_thread = nullptr;  // the polling thread (address of a thread_local)
  bool warned_thread = false;

  void* buf_ring_mem = nullptr;
  std::size_t buf_ring_bytes = 0;
  io_uring_buf_ring* buf_ring = nullptr;
  std::uint32_t ring_entries = 0;  // power of two ≥ window
  int ring_mask = 0;
  std::uint32_t window = 0;  // frames lent to the kernel at most
  std::uint32_t lent = 0;    // frames lent and not yet returned by a completion

  struct recv_slot {
    msghdr msg{};
    bool open = false;         // the port has a socket
    bool armed = false;        // a multishot recvmsg is outstanding
    bool rearm_now = false;    // re-arm on this poll (ended normally or out of buffers)
    bool rearm_later = false;  // re-arm at housekeeping (ended with an error)
  };
  std::array<recv_slot, port_kind_count> recv{};

  struct send_slot {
    msghdr msg{};
    iovec iov{};
    sockaddr_in to{};
    util::frag_desc desc{};
    std::uint32_t link = 0;
  };
  std::vector<send_slot> sends;
  std::vector<std::uint32_t> free_sends;  // stack of free slot indices
  std::uint32_t inflight = 0;

  ~uring_state();
};

struct net_tile::mmsg_state {
  // Receive: one message per frame of a batch.
  std::vector<mmsghdr> rx_msgs;
  std::vector<iovec> rx_iov;
  std::vector<sockaddr_in> rx_from;
  std::vector<std::uint32_t> rx_frame;
  std::size_t next_port = 0;  // round-robin start among open ports
  std::vector<std::size_t> open_ports;

  // Send: descriptors popped from tx rings, sent in order; kept on EAGAIN for the next poll.
  struct pending_send {
    util::frag_desc desc;
    std::uint32_t link;
  };
  std::vector<pending_send> pending;
  std::size_t pending_head = 0;
  std::size_t pending_count = 0;  // valid entries are [pending_head, pending_head + count)
  std::vector<mmsghdr> tx_msgs;
  std::vector<iovec> tx_iov;
  std::vector<sockaddr_in> tx_to;
};

}  // namespace riptide::net
