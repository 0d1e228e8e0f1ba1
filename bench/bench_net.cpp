// bench_net: what receiving a 1232-byte UDP datagram costs the net tile's core, io_uring
// backend against the recvmmsg backend, in the same binary and the same run.
//
// BM_udp_recv_{uring,recvmmsg}/idle_us:I/kpps:R — streaming. A sender thread pinned to the
// first allowed CPU sends 1232-byte datagrams over loopback (sendmmsg) at one port of a
// net_tile, unpaced (R = 0: as fast as it can) or paced to R thousand per second; the
// benchmark thread, pinned to the second CPU, polls the tile for bench_seconds and plays
// the consumer (pops each descriptor, hands the frame straight back). After a poll that
// found nothing it sleeps I µs (I = 0: busy-poll), like the runtime's idle strategy.
//   items_per_second       datagrams delivered by the tile per second of wall time
//   rx_cpu_ns_per_packet   CPU time of the receiving thread (CLOCK_THREAD_CPUTIME_ID) per
//                          datagram. With I = 0 the thread spins, so this is only 1e9 / rate
//                          × utilisation; with I > 0 it is the real cost including idle polls.
//   rx_busy_ns_per_packet  wall time inside polls that returned work, per datagram
//   rx_cpu_util            receiving thread CPU time / wall time
//   sender_pps, loss, loss_pct  what the sender managed and what never arrived (after the run
//                          the tile is drained until quiet, so loss = kernel drops)
//   syscalls_per_packet    io_uring_enter / recvmmsg calls per datagram
//
// BM_udp_drain_{uring,recvmmsg}/N — the receive path alone. N datagrams are queued in the
// socket while nobody polls, then the tile is polled until all are delivered; the manual
// time is the receiving thread's CPU time for that drain only (no sender running, no idle
// polls), so items_per_second is datagrams per CPU-second and rx_cpu_ns_per_packet its
// inverse.

#include <benchmark/benchmark.h>

#include <sched.h>
#include <sys/socket.h>
#include <time.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstring>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include <riptide/net/net_tile.hpp>
#include <riptide/util/cpu.hpp>

using namespace riptide;
using namespace riptide::net;

namespace {

constexpr double bench_seconds = 2.0;
constexpr unsigned send_batch = 64;

std::uint64_t now_ns() noexcept {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<std::uint64_t>(ts.tv_nsec);
}
std::uint64_t thread_cpu_ns() noexcept {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<std::uint64_t>(ts.tv_nsec);
}

int cpu_for(std::size_t i) {
  const auto cpus = util::allowed_cpus();
  return cpus.empty() ? -1 : cpus[i % cpus.size()];
}

// Restores the benchmark thread's CPU mask when a benchmark ends.
class pinned_scope {
 public:
  explicit pinned_scope(int cpu) {
    sched_getaffinity(0, sizeof saved_, &saved_);
    if (cpu >= 0) (void)util::pin_current_thread(cpu);
  }
  ~pinned_scope() { sched_setaffinity(0, sizeof saved_, &saved_); }
  pinned_scope(const pinned_scope&) = delete;
  pinned_scope& operator=(const pinned_scope&) = delete;

 private:
  cpu_set_t saved_{};
};

class blaster {
 public:
  // rate_pps 0: as fast as sendmmsg goes; otherwise paced to that many datagrams per second.
  blaster(int cpu, endpoint to, std::uint64_t rate_pps)
      : rate_pps_(rate_pps), thread_([this, cpu, to] { run(cpu, to); }) {}
  ~blaster() {
    stop();
  }
  blaster(const blaster&) = delete;
  blaster& operator=(const blaster&) = delete;

  void go() { go_.store(true, std::memory_order_release); }
  void stop() {
    stop_.store(true, std::memory_order_release);
    go();
    if (thread_.joinable()) thread_.join();
  }
  std::uint64_t sent() const { return sent_.load(std::memory_order_acquire); }
  double seconds() const { return static_cast<double>(end_ns_ - start_ns_) * 1e-9; }
  int errors() const { return errors_; }

 private:
  void run(int cpu, endpoint to) {
    if (cpu >= 0) (void)util::pin_current_thread(cpu);
    util::name_current_thread("blaster");
    udp_socket_options o;
    o.nonblocking = false;
    o.send_buffer_bytes = 4u << 20;
    udp_socket s = udp_socket::open_bound({to.ip, 0}, "bench sender", o);
    std::vector<std::uint8_t> payload(max_payload_bytes, 0xab);
    sockaddr_in dest = to_sockaddr(to);
    std::vector<iovec> iov(send_batch);
    std::vector<mmsghdr> msgs(send_batch);
    for (unsigned i = 0; i < send_batch; ++i) {
      iov[i] = {payload.data(), payload.size()};
      msgs[i] = {};
      msgs[i].msg_hdr.msg_name = &dest;
      msgs[i].msg_hdr.msg_namelen = sizeof dest;
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
    }
    while (!go_.load(std::memory_order_acquire)) std::this_thread::yield();
    start_ns_ = now_ns();
    std::uint64_t sent = 0;
    const unsigned batch = rate_pps_ == 0 ? send_batch : 16;
    while (!stop_.load(std::memory_order_relaxed)) {
      if (rate_pps_ != 0 &&
          sent + batch > (now_ns() - start_ns_) * rate_pps_ / 1'000'000'000ull) {
        util::cpu_relax();
        continue;
      }
      const int n = ::sendmmsg(s.fd(), msgs.data(), batch, 0);
      if (n > 0) {
        sent += static_cast<std::uint64_t>(n);
        sent_.store(sent, std::memory_order_release);
      } else {
        ++errors_;
      }
    }
    end_ns_ = now_ns();
  }

  std::uint64_t rate_pps_;
  std::atomic<bool> go_{false};
  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> sent_{0};
  std::uint64_t start_ns_ = 0, end_ns_ = 0;
  int errors_ = 0;
  std::thread thread_;  // last: starts after the fields above exist
};

std::unique_ptr<net_tile> open_tile(backend_kind backend) {
  net_tile_config c;
  c.backend = backend;
  c.rx_frames = 4096;
  c.rx_batch = 64;
  c.log_backend = false;
  std::mt19937 rng{std::random_device{}()};
  for (int attempt = 0;; ++attempt) {
    c.ports[static_cast<std::size_t>(port_kind::tpu)] =
        static_cast<std::uint16_t>(std::uniform_int_distribution<int>(20000, 60000)(rng));
    try {
      return std::make_unique<net_tile>("net", c);
    } catch (const std::runtime_error& e) {
      if (attempt > 50 || std::string(e.what()).find("in use") == std::string::npos) throw;
    }
  }
}

void bm_udp_recv(benchmark::State& state, backend_kind backend) {
  if (backend == backend_kind::io_uring && !io_uring_unavailable_reason().empty()) {
    state.SkipWithError(("io_uring unavailable: " + io_uring_unavailable_reason()).c_str());
    return;
  }
  const auto idle_us = static_cast<long>(state.range(0));
  const auto rate_pps = static_cast<std::uint64_t>(state.range(1)) * 1000;
  pinned_scope pin(cpu_for(1));
  auto tile = open_tile(backend);
  util::spsc_ring<util::frag_desc> out(4096), release(4096);
  tile->connect_rx(port_kind::tpu, &out, &release);
  for (int i = 0; i < 4; ++i) tile->poll();  // arm the receives before traffic starts

  std::uint64_t received = 0;
  std::array<util::frag_desc, 256> batch;
  auto consume = [&] {
    std::size_t n;
    while ((n = out.try_pop_batch(batch)) != 0) {
      received += n;
      (void)release.try_push_batch(std::span<const util::frag_desc>(batch.data(), n));
    }
  };

  blaster sender(cpu_for(0), tile->local_endpoint(port_kind::tpu), rate_pps);
  std::uint64_t window_received = 0, cpu_ns = 0, busy_ns = 0, syscalls = 0;
  double elapsed_s = 0;
  for (auto _ : state) {
    const std::uint64_t sys0 = tile->own_counter(net_tile::c_syscalls);
    sender.go();
    const std::uint64_t t0 = now_ns(), c0 = thread_cpu_ns();
    const std::uint64_t end = t0 + static_cast<std::uint64_t>(bench_seconds * 1e9);
    std::uint64_t t = t0;
    const timespec nap{0, idle_us * 1000};
    while (t < end) {
      const int w = tile->poll();
      const std::uint64_t t1 = now_ns();
      if (w > 0) {
        busy_ns += t1 - t;
        consume();
      } else if (idle_us > 0) {
        nanosleep(&nap, nullptr);
      }
      t = w > 0 || idle_us == 0 ? t1 : now_ns();
    }
    cpu_ns = thread_cpu_ns() - c0;
    elapsed_s = static_cast<double>(t - t0) * 1e-9;
    window_received = received;
    syscalls = tile->own_counter(net_tile::c_syscalls) - sys0;
    state.SetIterationTime(elapsed_s);
  }
  sender.stop();
  // Drain what is still queued, until nothing arrives for 50 ms.
  for (std::uint64_t quiet_since = now_ns(); now_ns() - quiet_since < 50'000'000;) {
    if (tile->poll() > 0) quiet_since = now_ns();
    consume();
  }
  const double sent = static_cast<double>(sender.sent());
  const double total = static_cast<double>(received);
  const double got = static_cast<double>(window_received);
  state.SetItemsProcessed(static_cast<std::int64_t>(window_received));
  state.counters["rx_cpu_ns_per_packet"] = got > 0 ? static_cast<double>(cpu_ns) / got : 0;
  state.counters["rx_busy_ns_per_packet"] = got > 0 ? static_cast<double>(busy_ns) / got : 0;
  state.counters["rx_cpu_util"] = elapsed_s > 0 ? static_cast<double>(cpu_ns) * 1e-9 / elapsed_s : 0;
  state.counters["sender_pps"] = sender.seconds() > 0 ? sent / sender.seconds() : 0;
  state.counters["loss"] = sent - total;
  state.counters["loss_pct"] = sent > 0 ? 100.0 * (sent - total) / sent : 0;
  state.counters["syscalls_per_packet"] = got > 0 ? static_cast<double>(syscalls) / got : 0;
  state.counters["rx_drop_tile"] = static_cast<double>(
      tile->own_counter(net_tile::c_rx_dropped_ring_full) +
      tile->own_counter(net_tile::c_rx_dropped_no_frame) + tile->own_counter(net_tile::c_io_errors));
  if (sender.errors() != 0) state.counters["sender_errors"] = sender.errors();
}

void BM_udp_recv_uring(benchmark::State& state) { bm_udp_recv(state, backend_kind::io_uring); }
void BM_udp_recv_recvmmsg(benchmark::State& state) { bm_udp_recv(state, backend_kind::recvmmsg); }

// Args: idle_us (0 = busy-poll; 50 = sleep 50 µs after a poll that found nothing) and the
// sender's rate in k datagrams/s (0 = unpaced blast). The paced run gives both backends the
// same arrival pattern, so its rx_cpu_ns_per_packet is the like-for-like receive cost.
void net_args(benchmark::internal::Benchmark* b) {
  b->ArgNames({"idle_us", "kpps"});
  b->Args({0, 0})->Args({50, 0})->Args({50, 200});
  b->Iterations(1)->UseManualTime()->Unit(benchmark::kMillisecond);
}
BENCHMARK(BM_udp_recv_uring)->Apply(net_args);
BENCHMARK(BM_udp_recv_recvmmsg)->Apply(net_args);

}  // namespace


namespace {
// Drain: the socket buffer is filled while the tile is not polled, then the tile is polled
// until every datagram has been delivered; CPU time of the drain only. No sender running
// concurrently and no idle polls: the receive path's own cost per datagram.
void bm_udp_drain(benchmark::State& state, backend_kind backend) {
  if (backend == backend_kind::io_uring && !io_uring_unavailable_reason().empty()) {
    state.SkipWithError(("io_uring unavailable: " + io_uring_unavailable_reason()).c_str());
    return;
  }
  const auto burst = static_cast<std::uint64_t>(state.range(0));
  pinned_scope pin(cpu_for(1));
  auto tile = open_tile(backend);
  util::spsc_ring<util::frag_desc> out(4096), release(4096);
  tile->connect_rx(port_kind::tpu, &out, &release);
  for (int i = 0; i < 4; ++i) tile->poll();
  udp_socket_options o;
  o.nonblocking = false;
  udp_socket s = udp_socket::open_bound({0x7f000001, 0}, "bench sender", o);
  std::vector<std::uint8_t> payload(max_payload_bytes, 0xcd);
  sockaddr_in dest = to_sockaddr(tile->local_endpoint(port_kind::tpu));
  std::vector<iovec> iov(send_batch);
  std::vector<mmsghdr> msgs(send_batch);
  for (unsigned i = 0; i < send_batch; ++i) {
    iov[i] = {payload.data(), payload.size()};
    msgs[i] = {};
    msgs[i].msg_hdr.msg_name = &dest;
    msgs[i].msg_hdr.msg_namelen = sizeof dest;
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
  std::array<util::frag_desc, 256> batch;
  std::uint64_t received = 0, lost = 0, cpu_ns = 0;
  std::uint64_t sys0 = tile->own_counter(net_tile::c_syscalls);
  for (auto _ : state) {
    for (std::uint64_t k = 0; k < burst;) {
      const int n = ::sendmmsg(s.fd(), msgs.data(), static_cast<unsigned>(std::min<std::uint64_t>(send_batch, burst - k)), 0);
      if (n > 0) k += static_cast<std::uint64_t>(n);
    }
    const std::uint64_t c0 = thread_cpu_ns();
    std::uint64_t got = 0;
    int idle = 0;
    while (got < burst && idle < 100000) {
      const int w = tile->poll();
      idle = w > 0 ? 0 : idle + 1;
      std::size_t n;
      while ((n = out.try_pop_batch(batch)) != 0) {
        got += n;
        (void)release.try_push_batch(std::span<const util::frag_desc>(batch.data(), n));
      }
    }
    const std::uint64_t spent = thread_cpu_ns() - c0;
    cpu_ns += spent;
    state.SetIterationTime(static_cast<double>(spent) * 1e-9);
    received += got;
    lost += burst - got;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(received));
  state.counters["rx_cpu_ns_per_packet"] =
      received ? static_cast<double>(cpu_ns) / static_cast<double>(received) : 0;
  state.counters["loss"] = static_cast<double>(lost);
  state.counters["syscalls_per_packet"] =
      received ? static_cast<double>(tile->own_counter(net_tile::c_syscalls) - sys0) / static_cast<double>(received) : 0;
}
void BM_udp_drain_uring(benchmark::State& state) { bm_udp_drain(state, backend_kind::io_uring); }
void BM_udp_drain_recvmmsg(benchmark::State& state) { bm_udp_drain(state, backend_kind::recvmmsg); }
BENCHMARK(BM_udp_drain_uring)->Arg(1024)->UseManualTime();
BENCHMARK(BM_udp_drain_recvmmsg)->Arg(1024)->UseManualTime();
}  // namespace

BENCHMARK_MAIN();
