#pragma once
// The net tile: the node's UDP sockets, on io_uring (or a recvmmsg/sendmmsg fallback).
//
// Contract
//   - Start-up (one thread, before the runtime starts): the constructor opens and binds one
//     socket per configured port and sets up the backend; `connect_rx`, `add_release` and
//     `add_tx` wire the rings. Errors there throw std::runtime_error with a message naming the socket, e.g.
//       "udp 127.0.0.1:12000 (gossip): bind: Address already in use".
//   - Running: `poll`, `housekeep` and `begin_drain` run on one thread, the tile's
//     core thread (or a test's thread). With io_uring that thread must stay the same for the
//     tile's life: the ring is created disabled and bound to the first thread that polls
//     (IORING_SETUP_SINGLE_ISSUER | DEFER_TASKRUN); a poll from another thread does nothing
//     but count io_errors (and say so once on stderr). `drained()` may be called from any thread
//     (it reads only atomics). The accessors (`rx_frames`, `backend`, `bound_port`) may be
//     called from any thread once construction is done.
//   - RX: a datagram received on port `kind` lands in a frame of `rx_frames()` and is pushed
//     to one of that port's `out` rings as frag_desc{frame, len, kind, meta = source endpoint
//     packed}. The kernel writes it there directly, with no copy in user space: recvmmsg
//     into the frame; io_uring into a provided buffer that *is* the frame (below). The
//     consumer owns the frame's payload bytes [0, max_payload_bytes) until the descriptor
//     comes back through any release ring of the tile (its own from `connect_rx`, or one
//     given to `add_release` by a tile further down the pipeline that ended up owning the
//     frame); it must not write past them (see the layout).
//   - Sharding: each `connect_rx` call adds an out ring to its port (one per consumer tile).
//     A port's datagrams go to its rings round-robin, one datagram at a time; if the chosen
//     ring is full the next ones are tried, once around. Only when every ring of the port is
//     full is the datagram dropped (rx_dropped_ring_full). A datagram longer than
//     max_payload_bytes, or one on an open port with no ring connected, is dropped and
//     counted too; nothing is ever held waiting. When consumers hold every frame the tile
//     stops taking datagrams; they wait in the socket's receive buffer, and what overflows it
//     is counted from the kernel (rx_kernel_drops).
//   - Per-port quotas: consumers of one port may hold at most `rx_quota[port]` frames at a
//     time (0: no limit but the pool). A datagram that would go over is dropped at once and
//     counted (rx_drop_quota_<port>), so a flood on one port (say tpu, whose verify tiles fall
//     behind) cannot take the frames gossip, shreds and repair need. A frame counts against
//     its port from the push to a consumer until it comes back through a release ring; the
//     tile remembers each frame's port for that (one byte per frame, sized at start-up).
//     Every drop is also counted per port (rx_drop_ring_full_<port>, rx_kernel_drops_<port>)
//     besides the totals.
//   - io_uring provided buffers are rx frames lent to the kernel: at most
//     `uring_provided_frames` at a time, topped up each poll from the tile's LIFO of free
//     frames (so the kernel writes into cache-warm frames). Buffer id = frame index. The
//     kernel puts a 32-byte header (io_uring_recvmsg_out + source sockaddr_in) in front of
//     the payload, so frame f's buffer starts 32 bytes before the frame, in the unused tail
//     of frame f − 1; frame 0 is never handed out, it only guards frame 1's header:
//
//       frame f-1: | payload ≤ 1232 | 16 spare | hdr+addr of f (32) |  frame f: | payload …
//                                                ^ buffer f starts here, 1280 bytes long
//
//     A datagram of up to 1248 bytes fits in frame f; anything longer is truncated by the
//     kernel (MSG_TRUNC) and dropped as oversize, so nothing is ever written past frame f.
//   - Fault injection (fault.hpp) runs on received packets after the size check and before
//     the push, identically for both backends. Packets held by a reorder window are released
//     by later arrivals on their port, by `begin_drain`, or by `housekeep` once the port has
//     been quiet for `reorder_flush_housekeeps` intervals (so a quiet link strands nothing).
//   - TX: a producer pushes frag_desc{frame in its `pool`, len, kind = port to send from,
//     meta = destination endpoint packed} to its `in` ring. The tile sends it from that
//     port's socket and, when the send has completed (successfully or not), pushes the same
//     descriptor to `release` so the producer can reuse the frame. The producer must size
//     `release` to hold every frame it owns; if it is full anyway the descriptor is counted
//     (io_errors) and lost to the producer. A descriptor that cannot be sent (bad frame,
//     len > max_payload_bytes, port not open, destination 0) is counted in tx_errors and
//     released at once.
//   - poll() never blocks and does bounded work: ≤ rx_batch received datagrams, ≤ tx_batch
//     queued sends, and at most one io_uring_enter (only when SQEs are queued or the kernel
//     flagged pending completions; an idle poll makes no syscall). The fallback makes one
//     non-blocking recvmmsg per open port and one sendmmsg per run of same-port sends.
//   - Drain: `begin_drain` stops receiving (cancels the multishot receives), flushes held
//     packets, and keeps sending until the tx rings are empty; `drained()` is true when no
//     send is queued or in flight.
//   - Memory: the frame pool, the provided-buffer ring, send slots and message arrays are
//     allocated in the constructor. poll() allocates nothing.

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <riptide/net/fault.hpp>
#include <riptide/net/udp.hpp>
#include <riptide/util/frame_pool.hpp>
#include <riptide/util/spsc_ring.hpp>
#include <riptide/util/tile.hpp>

namespace riptide::net {

enum class backend_kind : std::uint8_t { automatic, io_uring, recvmmsg };
const char* to_string(backend_kind kind) noexcept;  // "automatic", "io_uring", "recvmmsg"

// Empty if this kernel runs what the io_uring backend needs (a ring with a provided buffer
// ring, multishot recvmsg delivering a loopback datagram with its source address); otherwise
// why not ("io_uring_queue_init: Operation not permitted", …). The first call runs the probe
// (~100 µs, opens two loopback sockets); later calls return the cached answer. Thread-safe.
const std::string& io_uring_unavailable_reason();

struct net_tile_config {
  // automatic: io_uring if the probe passes, else recvmmsg; the choice is logged on stderr.
  // io_uring: fail (throw) if the probe does not pass.
  backend_kind backend = backend_kind::automatic;
  std::uint32_t bind_ip = 0x7f000001;                 // 127.0.0.1, host byte order
  std::array<std::uint16_t, port_kind_count> ports{};  // 0 = port not opened
  // Receive frames (frame_pool, 1280 B each, payload ≤ 1232); the pool holds one more,
  // frame 0, which is never handed out. io_uring: at most 65535 (16-bit buffer ids).
  std::uint32_t rx_frames = 4096;
  // Frames each port's consumers may hold at once (index = port_kind); 0 = no limit.
  std::array<std::uint32_t, port_kind_count> rx_quota{};
  std::uint32_t rx_batch = 64;     // datagrams received per poll at most (1..1024)
  std::uint32_t tx_batch = 64;     // sends queued per poll at most (1..1024)
  std::uint32_t tx_inflight = 256; // io_uring: sends in flight at most (send slots)
  // io_uring: rx frames lent to the kernel as provided buffers at a time; a power of two in
  // [32, 32768] (capped at rx_frames / 2). Enough to cover what the kernel hands over between two
  // polls (32 per port per io_uring_enter); fewer keeps the frames in cache. Running out is
  // harmless: datagrams wait in the socket and the receive is re-armed (rx_rearms).
  std::uint32_t uring_provided_frames = 256;
  // SO_RCVBUF/SO_SNDBUF per socket (forced past rmem_max/wmem_max when running as root).
  // The receive buffer absorbs bursts while the core thread sleeps; 0 = kernel default.
  std::uint32_t socket_buffer_bytes = 4u << 20;
  fault_config faults;
  // A port's reorder window is flushed after this many housekeeping intervals (1 ms each by
  // default) in a row without a packet on that port, so a quiet link does not strand the
  // packets it holds. Larger values let slow streams be reordered too.
  std::uint32_t reorder_flush_housekeeps = 20;
  bool log_backend = true;  // print the backend choice on stderr at construction
};

class net_tile final : public util::tile {
 public:
  // Own counters (indices for own_counter()).
  enum counter : std::size_t {
    c_rx_gossip,              // datagrams received per port (every size)
    c_rx_tpu,
    c_rx_tpu_forwards,
    c_rx_tvu,
    c_rx_repair,
    c_rx_bytes,               // bytes of those datagrams
    c_rx_dropped_ring_full,   // every consumer ring of the port full
    c_rx_dropped_no_frame,    // every rx frame held by consumers
    c_rx_oversize,            // longer than max_payload_bytes (or truncated)
    c_rx_kernel_drops,        // socket receive buffer overflows, from the kernel (SO_MEMINFO)
    c_rx_unrouted,            // port open but no ring connected
    c_fault_dropped,
    c_fault_duplicated,
    c_fault_reordered,        // released ahead of an older held packet
    c_tx_packets,
    c_tx_bytes,
    c_tx_errors,              // bad descriptor or failed send (frame still released)
    c_rx_rearms,              // io_uring: multishot receive re-armed (e.g. out of buffers)
    c_syscalls,               // io_uring_enter / recvmmsg / sendmmsg calls
    // Unexpected syscall or completion errors, a bad frame index or double release on a
    // release ring, a producer's release ring full (that frame is lost to the producer).
    c_io_errors,
    // Per port (index + port_kind): over the port's quota; every consumer ring of the port
    // full; the socket's receive buffer overflowed (from the kernel).
    c_rx_drop_quota_first,
    c_rx_drop_ring_full_first = c_rx_drop_quota_first + port_kind_count,
    c_rx_kernel_drops_first = c_rx_drop_ring_full_first + port_kind_count,
    // Per port: frames its consumers hold now (a level, not a count).
    c_rx_held_first = c_rx_kernel_drops_first + port_kind_count,
    c_own_count = c_rx_held_first + port_kind_count,
  };
  static_assert(std::size_t{c_own_count} + std::size_t{util::first_own_counter} <=
                util::metrics_max_counters);

  net_tile(std::string name, const net_tile_config& config);
  ~net_tile() override;

  // Start-up only. Adds `out` to the rings received packets of `kind` are sharded over (call
  // once per consumer tile); their frames come back through `release` (consumer → net; may
  // be shared by several ports or calls). Throws std::invalid_argument if the port is not
  // open, a ring is null, or `out` is already connected to this port.
  void connect_rx(port_kind kind, util::spsc_ring<util::frag_desc>* out,
                  util::spsc_ring<util::frag_desc>* release);
  // Start-up only. One more ring the tile takes rx frames back from, for a tile further down
  // the pipeline (dedup, bank) that releases frames without consuming a port. Adding a ring
  // the tile already reclaims from does nothing. Throws std::invalid_argument if null.
  void add_release(util::spsc_ring<util::frag_desc>* release);
  // Start-up only. Descriptors on `in` name frames of `pool`; they come back on `release`
  // (net → producer) after the send; `release` may be null if the producer does not want
  // them back.
  void add_tx(util::spsc_ring<util::frag_desc>* in, const util::frame_pool* pool,
              util::spsc_ring<util::frag_desc>* release);

  const util::frame_pool& rx_frames() const noexcept { return frames_; }
  backend_kind backend() const noexcept { return backend_; }
  std::uint16_t bound_port(port_kind kind) const noexcept;  // 0 if not open
  endpoint local_endpoint(port_kind kind) const noexcept;  // {bind_ip, port}; port 0 if closed
  // Frames not held by consumers or a reorder window (free, or lent to the kernel empty).
  // Start-up value: rx_frames. Core thread only.
  std::size_t free_rx_frames() const noexcept;

  std::vector<std::string_view> own_counter_names() const override;
  std::vector<std::size_t> drop_counters() const override;
  int poll() noexcept override;
  void housekeep(std::uint64_t monotonic_ns) noexcept override;
  void begin_drain() noexcept override;
  bool drained() const noexcept override;

 private:
  struct uring_state;  // net_uring.cpp
  struct mmsg_state;   // net_mmsg.cpp
  struct route {
    std::vector<util::spsc_ring<util::frag_desc>*> outs;  // consumers of the port
    std::size_t next = 0;  // index in outs of the ring the next datagram tries first
  };
  struct tx_link {
    util::spsc_ring<util::frag_desc>* in;
    const util::frame_pool* pool;
    util::spsc_ring<util::frag_desc>* release;
  };

  // Common receive path (net_tile.cpp).
  void on_datagram(port_kind port, std::uint32_t bytes) noexcept;  // counts rx + bytes
  void drop_oversize() noexcept { count(c_rx_oversize); }
  // `frame` holds a received payload of acceptable size; applies faults and pushes.
  void deliver(port_kind port, std::uint32_t frame, std::uint16_t len, endpoint from) noexcept;
  void push_rx(port_kind port, const util::frag_desc& d) noexcept;
  void recycle_frame(std::uint32_t frame) noexcept;
  void flush_held(port_kind port) noexcept;
  int reclaim_rx_frames() noexcept;
  // Common send path: checks a descriptor popped from tx link `link`; on failure counts,
  // releases it and returns false.
  bool tx_acceptable(std::size_t link, const util::frag_desc& d) noexcept;
  void tx_done(std::size_t link, const util::frag_desc& d, int result) noexcept;

  // Backends.
  void uring_init();
  int uring_poll() noexcept;
  void uring_arm() noexcept;
  void lend_frames() noexcept;
  void uring_drain() noexcept;
  void uring_housekeep() noexcept;
  void mmsg_init();
  int mmsg_poll() noexcept;

  net_tile_config config_;
  backend_kind backend_ = backend_kind::recvmmsg;
  std::array<udp_socket, port_kind_count> sockets_;
  util::frame_pool frames_;
  util::frame_stack free_frames_;
  std::array<route, port_kind_count> routes_{};
  std::vector<util::spsc_ring<util::frag_desc>*> releases_;  // distinct rx release rings
  std::vector<tx_link> tx_;
  std::size_t tx_next_ = 0;  // round-robin start among tx links
  fault_injector faults_;
  bool faults_active_;
  bool draining_ = false;
  std::uint64_t housekeeps_ = 0;
  std::array<std::uint64_t, port_kind_count> rx_since_housekeep_{};
  // Frames each port's consumers hold, and which port each frame was pushed for
  // (no_port when it is not held by a consumer).
  static constexpr std::uint8_t no_port = 0xFF;
  std::array<std::uint32_t, port_kind_count> held_{};
  std::vector<std::uint8_t> frame_port_;
  std::array<std::uint32_t, port_kind_count> quiet_housekeeps_{};
  // Sends popped from tx rings and not yet completed; read by drained() from other threads.
  std::atomic<std::uint32_t> tx_outstanding_{0};
  std::unique_ptr<uring_state> uring_;
  std::unique_ptr<mmsg_state> mmsg_;
};

}  // namespace riptide::net
