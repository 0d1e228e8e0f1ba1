// PoH throughput against a reference in the same binary (perf/poh.md has results).
//
//   BM_sha256_transform_reference  h = sha256(h) as a loop of OpenSSL SHA256_Transform
//                                  calls (IV reset, h || padding, transform, store BE)
//   BM_poh_hash_chain              the PoH tile's loop: poh::hash(batch), tick() when due
//   BM_sha256_chain/<backend>      sha256_chain() per sha256 backend
//   BM_poh_verify_entries/<threads>          verify_entries() with the default backend
//   BM_poh_verify_entries_backend/<backend>  one thread, each verify backend
//
// Bars: hash_chain >= 0.95 x transform_reference; verify (1 thread) >= 2 x hash_chain.
// Every benchmark reports hashes as items_per_second.

#include <benchmark/benchmark.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <sched.h>

#include <cstring>
#include <vector>

#include <riptide/crypto/poh.hpp>
#include <riptide/crypto/sha256.hpp>

namespace {

using namespace riptide::crypto;

constexpr std::uint64_t chain_batch_hashes = 1024;
constexpr std::uint64_t bench_hashes_per_tick = 1'000'000;
constexpr std::size_t verify_entry_count = 64;
constexpr std::uint64_t verify_hashes_per_entry = 4096;

// Pins the calling thread to `cpus` CPUs starting at 0 (all of them if there are
// fewer); a no-op where affinity cannot be set.
void pin_to_first_cpus(int cpus) {
  cpu_set_t set;
  CPU_ZERO(&set);
  for (int c = 0; c < cpus; ++c) CPU_SET(c, &set);
  (void)pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

hash32 seed_hash() {
  hash32 h{};
  for (std::size_t i = 0; i < h.size(); ++i) h[i] = static_cast<std::uint8_t>(i * 7 + 1);
  return h;
}

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
void BM_sha256_transform_reference(benchmark::State& state) {
  pin_to_first_cpus(1);
  static constexpr std::uint32_t iv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                          0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  // block = h || 0x80 || zeros || 256 (bits, big-endian); h is the first 32 bytes.
  alignas(64) unsigned char block[64] = {};
  const hash32 seed = seed_hash();
  std::memcpy(block, seed.data(), seed.size());
  block[32] = 0x80;
  block[62] = 0x01;  // 256 = 0x0100
  SHA256_CTX ctx;
  SHA256_Init(&ctx);
  for (auto _ : state) {
    for (std::uint64_t i = 0; i < chain_batch_hashes; ++i) {
      std::memcpy(ctx.h, iv, sizeof(iv));
      SHA256_Transform(&ctx, block);
      for (int w = 0; w < 8; ++w) {
        block[4 * w] = static_cast<unsigned char>(ctx.h[w] >> 24);
        block[4 * w + 1] = static_cast<unsigned char>(ctx.h[w] >> 16);
        block[4 * w + 2] = static_cast<unsigned char>(ctx.h[w] >> 8);
        block[4 * w + 3] = static_cast<unsigned char>(ctx.h[w]);
      }
    }
    benchmark::DoNotOptimize(block);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * chain_batch_hashes));
}
#pragma GCC diagnostic pop
BENCHMARK(BM_sha256_transform_reference);

void BM_poh_hash_chain(benchmark::State& state) {
  pin_to_first_cpus(1);
  poh p(seed_hash(), bench_hashes_per_tick);
  std::uint64_t hashes = 0;
  for (auto _ : state) {
    const std::uint64_t before = p.remaining_hashes();
    if (p.hash(chain_batch_hashes)) {
      hashes += before - 1;
      benchmark::DoNotOptimize(p.tick());
      hashes += 1;
    } else {
      hashes += before - p.remaining_hashes();
    }
  }
  benchmark::DoNotOptimize(p.last_hash());
  state.SetItemsProcessed(static_cast<std::int64_t>(hashes));
  state.SetLabel(to_string(sha256_active_backend()));
}
BENCHMARK(BM_poh_hash_chain);

void BM_sha256_chain(benchmark::State& state) {
  const auto backend = static_cast<sha256_backend>(state.range(0));
  const sha256_backend saved = sha256_active_backend();
  if (!sha256_force_backend(backend)) {
    state.SkipWithError("backend not available on this CPU");
    return;
  }
  pin_to_first_cpus(1);
  hash32 h = seed_hash();
  for (auto _ : state) {
    sha256_chain(h, chain_batch_hashes);
  }
  benchmark::DoNotOptimize(h);
  sha256_force_backend(saved);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * chain_batch_hashes));
  state.SetLabel(to_string(backend));
}
BENCHMARK(BM_sha256_chain)
    ->Arg(static_cast<int>(sha256_backend::portable))
    ->Arg(static_cast<int>(sha256_backend::shani));

// 64 entries of 4096 hashes each; every fourth ends with a mixin, as transaction
// entries between ticks do.
const std::vector<poh_entry>& verify_fixture() {
  static const std::vector<poh_entry> entries = [] {
    std::vector<poh_entry> out;
    hash32 h = seed_hash();
    for (std::size_t i = 0; i < verify_entry_count; ++i) {
      poh_entry e{verify_hashes_per_entry, {}, i % 4 == 3, {}};
      sha256_chain(h, verify_hashes_per_entry - 1);
      if (e.has_mixin) {
        e.mixin = seed_hash();
        e.mixin[0] = static_cast<std::uint8_t>(i);
        h = sha256_mixin(h, e.mixin);
      } else {
        sha256_chain(h, 1);
      }
      e.hash = h;
      out.push_back(e);
    }
    return out;
  }();
  return entries;
}

void run_verify(benchmark::State& state, unsigned threads, poh_verify_backend backend) {
  const std::vector<poh_entry>& entries = verify_fixture();
  const hash32 start = seed_hash();
  for (auto _ : state) {
    if (!verify_entries(start, entries, threads, backend)) {
      state.SkipWithError("fixture failed to verify");
      return;
    }
  }
  state.SetItemsProcessed(
      static_cast<std::int64_t>(state.iterations() * verify_entry_count * verify_hashes_per_entry));
  state.SetLabel(to_string(backend));
}

// Arg = threads. One thread is pinned to CPU 0 and timed by CPU time like the chain
// benches; with more, the caller (and the workers it spawns, which inherit its mask)
// may use the first `threads` CPUs, and only wall-clock time is meaningful.
void BM_poh_verify_entries(benchmark::State& state) {
  const auto threads = static_cast<unsigned>(state.range(0));
  pin_to_first_cpus(static_cast<int>(threads));
  run_verify(state, threads, poh_best_verify_backend());
  pin_to_first_cpus(1);
}
BENCHMARK(BM_poh_verify_entries)->Arg(1);
BENCHMARK(BM_poh_verify_entries)->Arg(2)->UseRealTime();

void BM_poh_verify_entries_backend(benchmark::State& state) {
  const auto backend = static_cast<poh_verify_backend>(state.range(0));
  if (!poh_verify_backend_available(backend)) {
    state.SkipWithError("backend not available on this CPU");
    return;
  }
  pin_to_first_cpus(1);
  run_verify(state, 1, backend);
}
BENCHMARK(BM_poh_verify_entries_backend)
    ->Arg(static_cast<int>(poh_verify_backend::portable))
    ->Arg(static_cast<int>(poh_verify_backend::shani))
    ->Arg(static_cast<int>(poh_verify_backend::avx2))
    ->Arg(static_cast<int>(poh_verify_backend::avx512));

}  // namespace

BENCHMARK_MAIN();
