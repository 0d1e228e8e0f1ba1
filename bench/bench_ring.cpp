// SPSC ring throughput and round-trip latency between two pinned cores.
//
// BM_spsc_throughput/B : the benchmark thread (pinned to the first allowed CPU) pushes
//   descriptors in batches of B into a 4096-slot ring; a consumer thread pinned to the second
//   CPU pops in batches of B. items_per_second = descriptors delivered per second.
// BM_spsc_round_trip   : ping through one ring, pong back through another, one descriptor
//   at a time, both sides spinning. Reports round_trip_ns.
// BM_memcpy_reference  : copying 16-byte descriptors within one core (the ceiling a ring
//   could reach if cross-core traffic cost nothing); a same-run reference.

#include <benchmark/benchmark.h>

#include <atomic>
#include <thread>
#include <vector>

#include <riptide/util/cpu.hpp>
#include <riptide/util/spsc_ring.hpp>

using riptide::util::frag_desc;
using riptide::util::spsc_ring;

namespace {

int cpu_at(std::size_t i) {
  static const auto cpus = riptide::util::allowed_cpus();
  return cpus.empty() ? -1 : cpus[i % cpus.size()];
}

void BM_spsc_throughput(benchmark::State& state) {
  const std::size_t batch = static_cast<std::size_t>(state.range(0));
  constexpr std::uint64_t per_iteration = 1 << 22;
  spsc_ring<frag_desc> ring(4096);
  riptide::util::pin_current_thread(cpu_at(0));
  std::atomic<std::uint64_t> consumed{0};
  std::atomic<bool> stop{false};
  std::thread consumer([&] {
    riptide::util::pin_current_thread(cpu_at(1));
    std::vector<frag_desc> out(batch);
    std::uint64_t n = 0, checksum = 0;
    while (!stop.load(std::memory_order_relaxed)) {
      const std::size_t got = ring.try_pop_batch(out);
      for (std::size_t i = 0; i < got; ++i) checksum += out[i].meta;
      if (got != 0) {
        n += got;
        consumed.store(n, std::memory_order_release);
      } else {
        riptide::util::cpu_relax();
      }
    }
    benchmark::DoNotOptimize(checksum);
  });
  std::vector<frag_desc> in(batch);
  std::uint64_t target = 0, seq = 0;
  for (auto _ : state) {
    target += per_iteration;
    std::uint64_t sent = 0;
    while (sent < per_iteration) {
      const std::size_t want = std::min<std::uint64_t>(batch, per_iteration - sent);
      for (std::size_t i = 0; i < want; ++i) in[i] = frag_desc{static_cast<std::uint32_t>(seq + i), 1232, 0, seq + i};
      const std::size_t pushed = ring.try_push_batch(std::span(in.data(), want));
      if (pushed == 0) riptide::util::cpu_relax();
      sent += pushed;
      seq += pushed;
    }
    while (consumed.load(std::memory_order_acquire) < target) riptide::util::cpu_relax();
  }
  stop.store(true);
  consumer.join();
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * per_iteration));
}
BENCHMARK(BM_spsc_throughput)->Arg(1)->Arg(16)->Arg(64)->Arg(256)->UseRealTime()->Unit(benchmark::kMillisecond);

void BM_spsc_round_trip(benchmark::State& state) {
  constexpr std::uint64_t per_iteration = 10000;
  spsc_ring<frag_desc> ping(64), pong(64);
  riptide::util::pin_current_thread(cpu_at(0));
  std::atomic<bool> stop{false};
  std::thread echo([&] {
    riptide::util::pin_current_thread(cpu_at(1));
    frag_desc d;
    while (!stop.load(std::memory_order_relaxed)) {
      if (ping.try_pop(d)) {
        while (!pong.try_push(d)) riptide::util::cpu_relax();
      }
    }
  });
  std::uint64_t seq = 0;
  for (auto _ : state) {
    for (std::uint64_t i = 0; i < per_iteration; ++i, ++seq) {
      while (!ping.try_push(frag_desc{0, 0, 0, seq})) {
      }
      frag_desc back;
      while (!pong.try_pop(back)) {
      }
      benchmark::DoNotOptimize(back);
    }
  }
  stop.store(true);
  echo.join();
  const double trips = static_cast<double>(state.iterations() * per_iteration);
  state.SetItemsProcessed(static_cast<std::int64_t>(trips));
  state.counters["round_trip_ns"] = benchmark::Counter(
      trips, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_spsc_round_trip)->UseRealTime()->Unit(benchmark::kMillisecond);

void BM_memcpy_reference(benchmark::State& state) {
  std::vector<frag_desc> a(4096), b(4096);
  for (auto _ : state) {
    for (int r = 0; r < 1024; ++r) {
      std::copy(a.begin(), a.end(), b.begin());
      benchmark::ClobberMemory();
    }
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * 1024 * 4096));
}
BENCHMARK(BM_memcpy_reference)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
