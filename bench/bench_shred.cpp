// FEC and merkle throughput against a memcpy reference in the same binary (perf/shred.md).
//
//   BM_memcpy_reference          32 shards of shard_bytes copied to 32 other buffers: the
//                                same data volume as one FEC set, at memory speed
//   BM_fec_encode_32_32          32 coding shards from 32 data shards
//   BM_fec_recover_32_32         32 of 64 shards lost at random (16 data, 16 coding; a new
//                                pattern each iteration, from 1024 precomputed), all rebuilt
//   BM_fec_recover_32_32_all_data_lost   the 32 data shards rebuilt from the 32 coding ones
//   BM_fec_*_isal                the same three on the ISA-L kernel (fec_kernel::isal), the
//                                reference for the default kernel (GFNI where the CPU has it;
//                                each benchmark's label names the kernel it ran)
//   BM_merkle_tree_64            merkle_tree::build over 64 shards of shard_bytes
//   BM_shred_make                a slot's bytes to signed shreds: shredder vs make_fec_set
//                                (its own comment says what it counts)
//
// Bytes are data bytes (32 × shard_bytes) per FEC set; items are FEC sets (trees for the
// merkle benchmark). Bar: encode and recover ≥ 1 GB/s of data per core. Every benchmark
// pins itself to one CPU.

#include <benchmark/benchmark.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <ctime>
#include <numeric>
#include <random>
#include <span>
#include <stdexcept>
#include <vector>

#include <riptide/crypto/schnorr.hpp>
#include <riptide/shred/fec.hpp>
#include <riptide/shred/merkle.hpp>
#include <riptide/shred/shred.hpp>
#include <riptide/shred/shredder.hpp>
#include <riptide/util/cpu.hpp>

#include "bench_support.hpp"

namespace {

using namespace riptide;
using namespace riptide::shred;

constexpr std::size_t shard_bytes = 1228;  // a shred's size; its erasure-coded part is ≤ this
constexpr std::size_t data_count = 32;
constexpr std::size_t coding_count = 32;
constexpr std::size_t set_data_bytes = data_count * shard_bytes;
constexpr std::size_t recover_patterns = 1024;

void pin() { (void)util::pin_current_thread(bench::cpu_at(0)); }

// 64 shard buffers, data filled with pseudo-random bytes and coding encoded from it.
struct fec_set {
  explicit fec_set(const fec_codec& codec) : buffers(codec.total_shards() * shard_bytes) {
    std::mt19937_64 rng(42);
    for (std::size_t i = 0; i < data_count * shard_bytes; ++i) buffers[i] = static_cast<std::uint8_t>(rng());
    for (std::size_t i = 0; i < codec.total_shards(); ++i) shards.push_back(buffers.data() + i * shard_bytes);
    if (!codec.encode(data(), coding(), shard_bytes)) throw std::runtime_error("encode failed");
    original = buffers;
  }
  std::span<const std::uint8_t* const> data() const {
    return {const_cast<const std::uint8_t* const*>(shards.data()), data_count};
  }
  std::span<std::uint8_t* const> coding() const { return {shards.data() + data_count, coding_count}; }

  std::vector<std::uint8_t> buffers;
  std::vector<std::uint8_t*> shards;
  std::vector<std::uint8_t> original;
};

void set_counters(benchmark::State& state, std::size_t bytes_per_iteration) {
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * bytes_per_iteration));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

void BM_memcpy_reference(benchmark::State& state) {
  pin();
  std::vector<std::uint8_t> src(set_data_bytes, 0x5a), dst(set_data_bytes);
  for (auto _ : state) {
    for (std::size_t i = 0; i < data_count; ++i)
      std::memcpy(dst.data() + i * shard_bytes, src.data() + i * shard_bytes, shard_bytes);
    benchmark::DoNotOptimize(dst.data());
    benchmark::ClobberMemory();
  }
  set_counters(state, set_data_bytes);
}
BENCHMARK(BM_memcpy_reference);

const char* kernel_label(const fec_codec& codec) {
  return codec.kernel() == fec_kernel::gfni ? "gfni" : "isal";
}

void run_encode(benchmark::State& state, fec_kernel kernel) {
  pin();
  fec_codec codec(data_count, coding_count, kernel);
  state.SetLabel(kernel_label(codec));
  fec_set set(codec);
  for (auto _ : state) {
    benchmark::DoNotOptimize(codec.encode(set.data(), set.coding(), shard_bytes));
    benchmark::ClobberMemory();
  }
  if (set.buffers != set.original) state.SkipWithError("encode is not deterministic");
  set_counters(state, set_data_bytes);
}

void BM_fec_encode_32_32(benchmark::State& state) { run_encode(state, fec_kernel::best); }
BENCHMARK(BM_fec_encode_32_32);

void BM_fec_encode_32_32_isal(benchmark::State& state) { run_encode(state, fec_kernel::isal); }
BENCHMARK(BM_fec_encode_32_32_isal);

// Present masks with `lost_data` data and 32 - lost_data coding shards missing at random.
std::vector<std::uint64_t> make_patterns(std::size_t lost_data) {
  std::mt19937_64 rng(7);
  std::vector<std::uint64_t> masks;
  std::vector<unsigned> d(data_count), c(coding_count);
  for (std::size_t p = 0; p < recover_patterns; ++p) {
    std::iota(d.begin(), d.end(), 0u);
    std::iota(c.begin(), c.end(), static_cast<unsigned>(data_count));
    std::shuffle(d.begin(), d.end(), rng);
    std::shuffle(c.begin(), c.end(), rng);
    std::uint64_t present = ~std::uint64_t{0};
    for (std::size_t i = 0; i < lost_data; ++i) present &= ~(std::uint64_t{1} << d[i]);
    for (std::size_t i = 0; i < coding_count - lost_data; ++i) present &= ~(std::uint64_t{1} << c[i]);
    masks.push_back(present);
  }
  return masks;
}

void run_recover(benchmark::State& state, std::size_t lost_data, fec_kernel kernel) {
  pin();
  fec_codec codec(data_count, coding_count, kernel);
  state.SetLabel(kernel_label(codec));
  fec_set set(codec);
  const auto masks = make_patterns(lost_data);
  // Lost shards are rebuilt in place each iteration; what they held before does not change
  // the work, and the rebuilt bytes are the originals, so the set stays consistent.
  std::size_t n = 0;
  bool ok = true;
  for (auto _ : state) {
    ok &= codec.recover(set.shards, masks[n++ % masks.size()], shard_bytes);
    benchmark::ClobberMemory();
  }
  if (!ok) state.SkipWithError("recover returned false");
  // Outside the timing: one recovery from garbage must give the originals back.
  const std::uint64_t mask = masks[0];
  for (std::size_t i = 0; i < set.shards.size(); ++i)
    if (!(mask >> i & 1)) std::memset(set.shards[i], 0xee, shard_bytes);
  if (!codec.recover(set.shards, mask, shard_bytes) || set.buffers != set.original)
    state.SkipWithError("recover did not rebuild the set");
  set_counters(state, set_data_bytes);
}

void BM_fec_recover_32_32(benchmark::State& state) {
  run_recover(state, data_count / 2, fec_kernel::best);
}
BENCHMARK(BM_fec_recover_32_32);

void BM_fec_recover_32_32_isal(benchmark::State& state) {
  run_recover(state, data_count / 2, fec_kernel::isal);
}
BENCHMARK(BM_fec_recover_32_32_isal);

void BM_fec_recover_32_32_all_data_lost(benchmark::State& state) {
  run_recover(state, data_count, fec_kernel::best);
}
BENCHMARK(BM_fec_recover_32_32_all_data_lost);

void BM_fec_recover_32_32_all_data_lost_isal(benchmark::State& state) {
  run_recover(state, data_count, fec_kernel::isal);
}
BENCHMARK(BM_fec_recover_32_32_all_data_lost_isal);

void BM_merkle_tree_64(benchmark::State& state) {
  pin();
  constexpr std::size_t leaves = merkle_max_leaves;
  std::vector<std::uint8_t> bytes(leaves * shard_bytes);
  std::mt19937_64 rng(3);
  for (auto& b : bytes) b = static_cast<std::uint8_t>(rng());
  std::vector<std::span<const std::uint8_t>> spans;
  for (std::size_t i = 0; i < leaves; ++i) spans.emplace_back(bytes.data() + i * shard_bytes, shard_bytes);
  merkle_tree tree;
  bool ok = true;
  for (auto _ : state) {
    ok &= tree.build(spans);
    benchmark::DoNotOptimize(tree.root());
  }
  if (!ok) state.SkipWithError("build failed");
  set_counters(state, leaves * shard_bytes);
}
BENCHMARK(BM_merkle_tree_64);

// BM_shred_make: a slot's serialized entry bytes (16 full sets + 1000 bytes, 508 392 bytes,
// added as 4 KiB entry batches) to signed, erasure-coded shreds. Arg 0 runs the shredder
// (cached codecs, reused buffers, one signature per set); arg 1 cuts the same bytes into
// the same sets with make_fec_set, the per-call reference (a codec and the shreds allocated
// each set). bytes_per_second counts payload bytes, items_per_second shreds; sign_share is
// the part of the CPU time one BIP-340 signature per set takes, from a timed sign loop run
// before the measurement (thread CPU clock).
void BM_shred_make(benchmark::State& state) {
  pin();
  const bool reference = state.range(0) != 0;
  constexpr std::size_t batch_bytes = 4096;
  const std::size_t full_set = max_fec_set_payload_bytes(max_coding_shreds_per_set);
  const std::size_t slot_bytes = 16 * full_set + 1000;
  std::vector<std::uint8_t> stream(slot_bytes);
  std::mt19937_64 rng(17);
  for (auto& b : stream) b = static_cast<std::uint8_t>(rng());
  const crypto::keypair leader = crypto::keypair::generate();

  const auto thread_cpu_ns = [] {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
  };
  // One signature's CPU cost, the way the shredder signs (caller-supplied aux).
  double sign_ns = 0;
  {
    constexpr int signs = 200;
    std::array<std::uint8_t, shred_signed_message_bytes> msg{};
    crypto::aux_rand aux{};
    const double t0 = thread_cpu_ns();
    for (int i = 0; i < signs; ++i) {
      msg[0] = static_cast<std::uint8_t>(i);
      benchmark::DoNotOptimize(leader.sign(msg, aux));
    }
    sign_ns = (thread_cpu_ns() - t0) / signs;
  }

  struct counting_sink final : shred_sink {
    void on_shred(std::span<const std::uint8_t> shred, shred_kind, std::uint32_t) noexcept override {
      ++shreds;
      checksum += shred[shred.size() - 1];
    }
    std::uint64_t shreds = 0;
    std::uint64_t checksum = 0;
  } sink;
  shredder sh(leader, 1, shredder_config{});
  std::uint64_t slot = 1;
  std::uint64_t sets = 0;
  bool ok = true;
  const double t0 = thread_cpu_ns();
  for (auto _ : state) {
    if (!reference) {
      ok &= sh.begin_slot(slot, slot - 1);
      for (std::size_t at = 0; at < slot_bytes; at += batch_bytes) {
        const std::size_t n = std::min(batch_bytes, slot_bytes - at);
        ok &= sh.add(std::span<const std::uint8_t>(stream).subspan(at, n), true, sink);
      }
      ok &= sh.finish_slot(sink);
    } else {
      fec_set_params p;
      p.slot = slot;
      p.parent_offset = 1;
      p.shred_version = 1;
      for (std::size_t at = 0; at < slot_bytes; at += full_set) {
        const std::size_t n = std::min(full_set, slot_bytes - at);
        p.last_in_slot = at + n == slot_bytes;
        const auto set = make_fec_set(leader, p, std::span<const std::uint8_t>(stream).subspan(at, n));
        for (const auto& shred : set) {
          ++sink.shreds;
          sink.checksum += shred.back();
        }
        p.fec_set_index += static_cast<std::uint32_t>(data_shreds_for(n, p.num_coding));
        ++sets;
      }
    }
    ++slot;
    benchmark::DoNotOptimize(sink.checksum);
  }
  const double loop_ns = thread_cpu_ns() - t0;
  if (!reference) sets = sh.metrics().fec_sets;
  if (!ok || sh.metrics().sets_dropped_sign_failed != 0) state.SkipWithError("shredder refused");
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * slot_bytes));
  state.SetItemsProcessed(static_cast<std::int64_t>(sink.shreds));
  state.counters["sign_share"] = loop_ns > 0 ? sign_ns * static_cast<double>(sets) / loop_ns : 0;
  state.counters["sign_us"] = sign_ns / 1e3;
  state.counters["sets"] = benchmark::Counter(static_cast<double>(sets), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_shred_make)->ArgName("make_fec_set")->Arg(0)->Arg(1);

}  // namespace

BENCHMARK_MAIN();
