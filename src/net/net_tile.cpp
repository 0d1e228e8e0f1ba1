#include <riptide/net/net_tile.hpp>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string>

#include "backend_state.hpp"

namespace riptide::net {

namespace {

constexpr std::uint32_t max_batch = 1024;
constexpr std::uint32_t max_uring_frames = 65535;  // frames 1..65535: 16-bit buffer ids
constexpr std::uint64_t kernel_drop_poll_housekeeps = 8;  // SO_MEMINFO read cadence
constexpr std::size_t release_pop_batch = 64;

const net_tile_config& validated(const net_tile_config& c) {
  auto fail = [](const std::string& what) { throw std::invalid_argument("net_tile_config: " + what); };
  if (c.rx_frames == 0 || c.rx_frames > (1u << 24)) fail("rx_frames must be in [1, 2^24]");
  if (c.rx_batch == 0 || c.rx_batch > max_batch) fail("rx_batch must be in [1, 1024]");
  if (c.tx_batch == 0 || c.tx_batch > max_batch) fail("tx_batch must be in [1, 1024]");
  if (c.tx_inflight == 0 || c.tx_inflight > 65536) fail("tx_inflight must be in [1, 65536]");
  if (c.uring_provided_frames < 32 || c.uring_provided_frames > 32768 ||
      (c.uring_provided_frames & (c.uring_provided_frames - 1)) != 0)
    fail("uring_provided_frames must be a power of two in [32, 32768]");
  return c;
}

}  // namespace

const char* to_string(backend_kind kind) noexcept {
  switch (kind) {
    case backend_kind::automatic: return "automatic";
    case backend_kind::io_uring: return "io_uring";
    case backend_kind::recvmmsg: return "recvmmsg";
  }
  return "?";
}

net_tile::net_tile(std::string name, const net_tile_config& config)
    : util::tile(std::move(name)), config_(validated(config)),
      // Frame 0 is never handed out: it guards frame 1's receive header (net_tile.hpp).
      frames_(config.rx_frames + 1), free_frames_(1, config.rx_frames), faults_(config.faults),
      faults_active_(faults_.active()), frame_port_(std::size_t{config.rx_frames} + 1, no_port) {
  const bool want_uring = config_.backend != backend_kind::recvmmsg;
  std::string why_not;
  if (want_uring) why_not = io_uring_unavailable_reason();
  if (want_uring && why_not.empty() && config_.rx_frames > max_uring_frames)
    why_not = "rx_frames above " + std::to_string(max_uring_frames) +
              " (provided buffer ids are 16-bit)";
  if (config_.backend == backend_kind::io_uring && !why_not.empty())
    throw std::runtime_error("net: io_uring backend requested but unavailable: " + why_not);
  backend_ = want_uring && why_not.empty() ? backend_kind::io_uring : backend_kind::recvmmsg;

  udp_socket_options options;
  // io_uring never blocks the caller whatever the socket mode; a blocking socket lets the
  // kernel park a send that finds the buffer full (poll-armed) instead of failing it.
  options.nonblocking = backend_ == backend_kind::recvmmsg;
  options.recv_buffer_bytes = config_.socket_buffer_bytes;
  options.send_buffer_bytes = config_.socket_buffer_bytes;
  for (std::size_t i = 0; i < port_kind_count; ++i) {
    if (config_.ports[i] == 0) continue;
    sockets_[i] = udp_socket::open_bound({config_.bind_ip, config_.ports[i]},
                                         to_string(static_cast<port_kind>(i)), options);
  }

  if (backend_ == backend_kind::io_uring) {
    uring_init();
  } else {
    mmsg_init();
  }
  if (config_.log_backend) {
    if (backend_ == backend_kind::io_uring) {
      std::fprintf(stderr,
                   "net %s: backend io_uring (multishot recvmsg into rx frames, %u lent at a "
                   "time, %s)\n",
                   this->name().c_str(), uring_->window,
                   uring_->defer_taskrun ? "defer_taskrun" : "plain task work");
    } else if (why_not.empty()) {
      std::fprintf(stderr, "net %s: backend recvmmsg/sendmmsg (as configured)\n",
                   this->name().c_str());
    } else {
      std::fprintf(stderr, "net %s: backend recvmmsg/sendmmsg (io_uring unavailable: %s)\n",
                   this->name().c_str(), why_not.c_str());
    }
  }
}

net_tile::~net_tile() = default;

void net_tile::connect_rx(port_kind kind, util::spsc_ring<util::frag_desc>* out,
                          util::spsc_ring<util::frag_desc>* release) {
  const auto p = static_cast<std::size_t>(kind);
  if (p >= port_kind_count || !sockets_[p].is_open())
    throw std::invalid_argument(std::string("net_tile::connect_rx: port ") + to_string(kind) +
                                " is not open (its port is 0 in the config)");
  if (out == nullptr || release == nullptr)
    throw std::invalid_argument("net_tile::connect_rx: out and release rings are required");
  auto& outs = routes_[p].outs;
  if (std::find(outs.begin(), outs.end(), out) != outs.end())
    throw std::invalid_argument(std::string("net_tile::connect_rx: this out ring is already "
                                            "connected to port ") + to_string(kind));
  outs.push_back(out);
  add_release(release);
}

void net_tile::add_release(util::spsc_ring<util::frag_desc>* release) {
  if (release == nullptr)
    throw std::invalid_argument("net_tile::add_release: the release ring is required");
  if (std::find(releases_.begin(), releases_.end(), release) == releases_.end())
    releases_.push_back(release);
}

void net_tile::add_tx(util::spsc_ring<util::frag_desc>* in, const util::frame_pool* pool,
                      util::spsc_ring<util::frag_desc>* release) {
  if (in == nullptr || pool == nullptr)
    throw std::invalid_argument("net_tile::add_tx: in ring and frame pool are required");
  tx_.push_back({in, pool, release});
}

std::uint16_t net_tile::bound_port(port_kind kind) const noexcept {
  const auto p = static_cast<std::size_t>(kind);
  return p < port_kind_count && sockets_[p].is_open() ? sockets_[p].local().port : 0;
}

endpoint net_tile::local_endpoint(port_kind kind) const noexcept {
  return {config_.bind_ip, bound_port(kind)};
}

std::vector<std::size_t> net_tile::drop_counters() const {
  std::vector<std::size_t> d = {c_rx_dropped_no_frame, c_rx_oversize, c_rx_unrouted, c_fault_dropped,
                                c_tx_errors, c_io_errors};
  for (std::size_t p = 0; p < port_kind_count; ++p)
    for (std::size_t first : {c_rx_drop_quota_first, c_rx_drop_ring_full_first, c_rx_kernel_drops_first})
      d.push_back(first + p);
  return d;
}

std::vector<std::string_view> net_tile::own_counter_names() const {
  static const std::vector<std::string> per_port = [] {
    std::vector<std::string> v;
    for (const char* what : {"rx_drop_quota_", "rx_drop_ring_full_", "rx_kernel_drops_", "rx_held_"})
      for (std::size_t p = 0; p < port_kind_count; ++p) v.push_back(what + std::string(to_string(static_cast<port_kind>(p))));
    return v;
  }();
  std::vector<std::string_view> names = {
      "rx_gossip",         "rx_tpu",           "rx_tpu_forwards",   "rx_tvu",
      "rx_repair",         "rx_bytes",         "rx_drop_ring_full", "rx_drop_no_frame",
      "rx_oversize",       "rx_kernel_drops",  "rx_unrouted",       "fault_dropped",
      "fault_duplicated",  "fault_reordered",  "tx_packets",        "tx_bytes",
      "tx_errors",         "rx_rearms",        "syscalls",          "io_errors"};
  names.insert(names.end(), per_port.begin(), per_port.end());
  return names;
}

// ---- poll / lifecycle -------------------------------------------------------------------

int net_tile::poll() noexcept {
  return backend_ == backend_kind::io_uring ? uring_poll() : mmsg_poll();
}

std::size_t net_tile::free_rx_frames() const noexcept {
  return free_frames_.available() + (uring_ ? uring_->lent : 0);
}

void net_tile::housekeep(std::uint64_t /*monotonic_ns*/) noexcept {
  if (backend_ == backend_kind::io_uring) uring_housekeep();
  // Datagrams the kernel dropped because a socket's receive buffer was full (the tile was
  // slow, or consumers held every frame): not seen by the tile, so ask the kernel.
  if (housekeeps_++ % kernel_drop_poll_housekeeps == 0) {
    std::uint64_t drops = 0;
    for (std::size_t p = 0; p < port_kind_count; ++p) {
      if (!sockets_[p].is_open()) continue;
      const auto d = static_cast<std::uint64_t>(std::max(0, sockets_[p].kernel_drops()));
      set_counter(c_rx_kernel_drops_first + p, d);
      drops += d;
    }
    set_counter(c_rx_kernel_drops, drops);
  }
  for (std::size_t p = 0; p < port_kind_count; ++p) set_counter(c_rx_held_first + p, held_[p]);
  // A window on a quiet port would otherwise hold its packets until traffic resumes.
  for (std::size_t p = 0; p < port_kind_count; ++p) {
    quiet_housekeeps_[p] = rx_since_housekeep_[p] == 0 ? quiet_housekeeps_[p] + 1 : 0;
    rx_since_housekeep_[p] = 0;
    if (quiet_housekeeps_[p] >= config_.reorder_flush_housekeeps)
      flush_held(static_cast<port_kind>(p));
  }
}

void net_tile::begin_drain() noexcept {
  draining_ = true;
  for (std::size_t p = 0; p < port_kind_count; ++p) flush_held(static_cast<port_kind>(p));
  if (backend_ == backend_kind::io_uring) uring_drain();
}

bool net_tile::drained() const noexcept {
  if (tx_outstanding_.load(std::memory_order_acquire) != 0) return false;
  return std::all_of(tx_.begin(), tx_.end(), [](const tx_link& l) { return l.in->empty_approx(); });
}

// ---- receive path -------------------------------------------------------------------------

void net_tile::on_datagram(port_kind port, std::uint32_t bytes) noexcept {
  count(c_rx_gossip + static_cast<std::size_t>(port));
  count(c_rx_bytes, bytes);
}

void net_tile::recycle_frame(std::uint32_t frame) noexcept {
  if (!frames_.contains(frame) || !free_frames_.release(frame)) count(c_io_errors);
}

void net_tile::push_rx(port_kind port, const util::frag_desc& d) noexcept {
  const auto p = static_cast<std::size_t>(port);
  if (config_.rx_quota[p] != 0 && held_[p] >= config_.rx_quota[p]) {
    count(c_rx_drop_quota_first + p);
    recycle_frame(d.frame);
    return;
  }
  route& r = routes_[p];
  const std::size_t n = r.outs.size();
  // Round-robin from r.next; a full ring passes its turn to the next, once around.
  std::size_t i = r.next;
  for (std::size_t tried = 0; tried < n; ++tried) {
    util::spsc_ring<util::frag_desc>* out = r.outs[i];
    if (++i == n) i = 0;
    if (out->try_push(d)) {
      r.next = i;
      ++held_[p];
      frame_port_[d.frame] = static_cast<std::uint8_t>(p);
      return;
    }
  }
  count(c_rx_dropped_ring_full);
  count(c_rx_drop_ring_full_first + p);
  recycle_frame(d.frame);
}

void net_tile::deliver(port_kind port, std::uint32_t frame, std::uint16_t len,
                       endpoint from) noexcept {
  const util::frag_desc d{frame, len, static_cast<std::uint16_t>(port), from.pack()};
  if (routes_[static_cast<std::size_t>(port)].outs.empty()) {
    count(c_rx_unrouted);
    recycle_frame(frame);
    return;
  }
  ++rx_since_housekeep_[static_cast<std::size_t>(port)];
  if (!faults_active_) {
    push_rx(port, d);
    return;
  }
  auto stage = [&](const util::frag_desc& in) {
    if (draining_) {  // no new holding while stopping
      push_rx(port, in);
      return;
    }
    util::frag_desc out;
    switch (faults_.reorder(port, in, out)) {
      case fault_injector::reorder_step::held: break;
      case fault_injector::reorder_step::overtaking:
        count(c_fault_reordered);
        push_rx(port, out);
        break;
      case fault_injector::reorder_step::in_order: push_rx(port, out); break;
    }
  };
  switch (faults_.judge(port)) {
    case fault_injector::verdict::drop:
      count(c_fault_dropped);
      recycle_frame(frame);
      return;
    case fault_injector::verdict::duplicate: {
      // Copy before the original is pushed: after the push the frame is the consumer's.
      std::uint32_t copy = 0;
      const bool copied = free_frames_.try_acquire(copy);
      if (copied) std::memcpy(frames_.frame(copy).data(), frames_.frame(frame).data(), len);
      stage(d);
      if (copied) {
        count(c_fault_duplicated);
        stage(util::frag_desc{copy, len, d.kind, d.meta});
      } else {
        count(c_rx_dropped_no_frame);  // the copy could not be made; the original went on
      }
      return;
    }
    case fault_injector::verdict::deliver: stage(d); return;
  }
}

void net_tile::flush_held(port_kind port) noexcept {
  util::frag_desc out;
  while (faults_.flush_one(port, out)) push_rx(port, out);
}

int net_tile::reclaim_rx_frames() noexcept {
  int n = 0;
  std::array<util::frag_desc, release_pop_batch> batch;
  for (auto* ring : releases_) {
    // Bounded: a few batches per ring per poll.
    for (int round = 0; round < 8; ++round) {
      const std::size_t k = ring->try_pop_batch(batch);
      for (std::size_t i = 0; i < k; ++i) {
        const std::uint32_t f = batch[i].frame;
        if (f < frame_port_.size() && frame_port_[f] != no_port) {
          --held_[frame_port_[f]];
          frame_port_[f] = no_port;
        }
        recycle_frame(f);
      }
      n += static_cast<int>(k);
      if (k < batch.size()) break;
    }
  }
  return n;
}

// ---- send path ----------------------------------------------------------------------------

bool net_tile::tx_acceptable(std::size_t link, const util::frag_desc& d) noexcept {
  const tx_link& l = tx_[link];
  const endpoint to = endpoint::unpack(d.meta);
  const bool ok = d.kind < port_kind_count && sockets_[d.kind].is_open() &&
                  l.pool->contains(d.frame) && d.len <= max_payload_bytes &&
                  d.len <= l.pool->frame_bytes() && to.ip != 0 && to.port != 0;
  if (!ok) tx_done(link, d, -EINVAL);
  return ok;
}

void net_tile::tx_done(std::size_t link, const util::frag_desc& d, int result) noexcept {
  if (result >= 0) {
    count(c_tx_packets);
    count(c_tx_bytes, static_cast<std::uint64_t>(result));
  } else {
    count(c_tx_errors);
  }
  auto* release = tx_[link].release;
  if (release != nullptr && !release->try_push(d)) count(c_io_errors);
}

}  // namespace riptide::net
