#pragma once
// Seeded network fault injection: drop, duplicate and reorder received packets.
//
// Contract
//   - Pure: no clocks, no threads, no I/O. Every decision comes from one xoshiro256** stream
//     seeded by `fault_config::seed`, so the same seed and the same sequence of calls give the
//     same decisions (a loss test can be replayed exactly). Different seeds give different
//     decisions.
//   - The net tile owns one injector and calls it on its core thread for every received packet
//     of an acceptable size, in two steps:
//       1. `judge(port)`  → drop, deliver, or deliver twice (the tile copies the frame);
//       2. `reorder(port, desc, out)` for each copy → the packet is held in the port's window
//          and at most one packet (maybe another one) comes out.
//     Randomness drawn per packet: one draw if drop[port] > 0, one more if not dropped and
//     duplicate > 0, one more if the port's reorder window is full.
//   - Reordering (window W > 0), per port: up to W packets are held. When a packet arrives
//     and W are already held, one of the W + 1 is released, chosen uniformly, except that the
//     oldest is released unconditionally once W + 1 later packets have arrived. Hence the
//     delay is bounded: a packet leaves by the (W + 1)-th arrival after it (or on flush),
//     its position in the output differs from its arrival position by at most W, and every
//     packet comes out exactly once (`flush_one` releases what is held, oldest first).
//   - Memory: the reorder windows (port_kind_count × W descriptors) are allocated in the
//     constructor; nothing allocates afterwards. Descriptors are opaque here: the injector
//     never touches frames, so whoever holds it owns the frames of held descriptors.
//   - Failure: the constructor throws std::invalid_argument for a probability outside [0, 1]
//     (or NaN) or a window above max_reorder_window. The rest is noexcept.

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include <riptide/net/udp.hpp>
#include <riptide/util/prng.hpp>
#include <riptide/util/spsc_ring.hpp>

namespace riptide::net {

constexpr std::uint32_t max_reorder_window = 1024;

struct fault_config {
  std::array<double, port_kind_count> drop{};  // probability 0..1 per port
  double duplicate = 0;                         // probability a packet is delivered twice
  // 0 = off; else packets are held and released in a shuffled order within a window of this
  // many packets (see the contract above for the exact bound).
  std::uint32_t reorder_window = 0;
  std::uint64_t seed = 1;

  bool active() const noexcept;  // any fault configured
};

class fault_injector {
 public:
  enum class verdict : std::uint8_t { deliver, drop, duplicate };
  enum class reorder_step : std::uint8_t {
    held,        // the packet was taken into the window, nothing came out
    in_order,    // `out` is the oldest packet of the window (or the input, window 0)
    overtaking,  // `out` overtook at least one older packet still held
  };

  explicit fault_injector(const fault_config& config);

  const fault_config& config() const noexcept { return config_; }
  bool active() const noexcept { return active_; }
  bool reordering() const noexcept { return window_ != 0; }

  // Step 1 for one received packet.
  verdict judge(port_kind port) noexcept;

  // Step 2 for one packet (or copy) to be delivered. Fills `out` unless the result is `held`.
  reorder_step reorder(port_kind port, const util::frag_desc& in, util::frag_desc& out) noexcept;

  // Releases the oldest held packet of `port` into `out`; false when none is held.
  bool flush_one(port_kind port, util::frag_desc& out) noexcept;
  std::size_t held(port_kind port) const noexcept;
  std::size_t held_total() const noexcept;

  // Running totals of decisions (also what the net tile reports as counters).
  std::uint64_t dropped() const noexcept { return dropped_; }
  std::uint64_t duplicated() const noexcept { return duplicated_; }
  std::uint64_t reordered() const noexcept { return reordered_; }

 private:
  struct held_packet {
    util::frag_desc desc;
    std::uint64_t seq;  // arrival number within the port
  };
  struct window_state {
    std::size_t head = 0;   // oldest held packet (index into this port's slots)
    std::size_t count = 0;  // packets held
    std::uint64_t next_seq = 0;
  };

  std::uint64_t next_u64() noexcept;
  bool chance(double probability) noexcept;  // one draw
  held_packet& slot(std::size_t port, std::size_t i) noexcept {
    return slots_[port * window_ + (windows_[port].head + i) % window_];
  }

  fault_config config_;
  bool active_;
  std::uint32_t window_;
  util::xoshiro256ss rng_;
  std::array<window_state, port_kind_count> windows_{};
  std::vector<held_packet> slots_;  // port_kind_count × window_, each port a circular buffer
  std::uint64_t dropped_ = 0;
  std::uint64_t duplicated_ = 0;
  std::uint64_t reordered_ = 0;
};

}  // namespace riptide::net
