// Signature verification: the raw libsecp256k1 loop vs the verify tile on its rings.
//
// BM_schnorr_verify_raw     : secp256k1_schnorrsig_verify over the same transaction
//                             messages the tile sees, public keys parsed once up front.
//                             Single thread, pinned to the CPU verify tile 0 uses. The reference ceiling per core.
// BM_sigverify_tile/V       : V verify tiles, each on its own pinned core thread (the real
//                             runtime), fed round-robin from the benchmark thread, which also
//                             drains their outputs; counted at the output. Reports
//                             items_per_second for the whole stage and per_core (÷ V).
// BM_parse_transaction      : the parser alone, for scale.

#include <benchmark/benchmark.h>

#include <sched.h>

#include <memory>
#include <vector>

#include "bench_support.hpp"

#include <riptide/tpu/verify_tile.hpp>
#include <riptide/txn/transaction.hpp>
#include <riptide/util/cpu.hpp>
#include <riptide/util/frame_pool.hpp>
#include <riptide/util/runtime.hpp>

using namespace riptide;

namespace {

constexpr std::uint32_t tx_count = 1024;
constexpr std::uint64_t signer_count = 64;

struct corpus {
  util::frame_pool pool{tx_count};
  std::vector<std::uint16_t> lens;
  corpus() {
    std::vector<crypto::keypair> signers;
    for (std::uint64_t i = 0; i < signer_count; ++i) signers.push_back(crypto::keypair::generate());
    for (std::uint32_t i = 0; i < tx_count; ++i) {
      const auto n = txn::build_transfer(signers[i % signer_count],
                                         signers[(i + 1) % signer_count].public_key(), i + 1,
                                         crypto::hash32{}, pool.frame(i));
      lens.push_back(static_cast<std::uint16_t>(n));
    }
  }
};

const corpus& shared_corpus() {
  static const corpus c;
  return c;
}

using bench::cpu_at;

void BM_schnorr_verify_raw(benchmark::State& state) {
  const auto& c = shared_corpus();
  // Same CPU as the first verify tile in BM_sigverify_tile, so the ratio compares like with like.
  util::pin_current_thread(cpu_at(1));
  std::vector<std::span<const std::uint8_t>> txs;
  for (std::uint32_t i = 0; i < tx_count; ++i) txs.push_back(c.pool.frame(i).first(c.lens[i]));
  bench::run_raw_verify(state, txs);
}
BENCHMARK(BM_schnorr_verify_raw)->UseRealTime()->MinTime(2.0);

void BM_sigverify_tile(benchmark::State& state) {
  const auto& c = shared_corpus();
  const std::size_t tiles = static_cast<std::size_t>(state.range(0));
  using ring = util::spsc_ring<util::frag_desc>;
  std::vector<std::unique_ptr<ring>> ins, outs;
  std::vector<std::unique_ptr<tpu::verify_tile>> verifiers;
  std::vector<util::core_plan> plan;
  for (std::size_t i = 0; i < tiles; ++i) {
    ins.push_back(std::make_unique<ring>(256));
    outs.push_back(std::make_unique<ring>(256));
    verifiers.push_back(std::make_unique<tpu::verify_tile>(
        "verify" + std::to_string(i), c.pool, *ins.back(), *outs.back(), nullptr,
        tpu::verify_tile_config{}));
    // Tile i on CPU i+1 (wrapping): the benchmark thread keeps CPU 0 as feeder and sink.
    plan.push_back(util::core_plan{cpu_at(i + 1), {verifiers.back().get()}});
  }
  util::pin_current_thread(cpu_at(0));
  util::runtime rt(plan, util::runtime_options{});
  rt.start();
  constexpr std::uint64_t per_iteration = 512;
  std::uint64_t seq = 0, received = 0, target = 0;
  util::frag_desc out[64];
  auto drain_outputs = [&] {
    for (auto& o : outs) received += o->try_pop_batch(out);
  };
  for (auto _ : state) {
    target += per_iteration;
    std::uint64_t sent = 0;
    while (sent < per_iteration) {
      const std::uint32_t f = static_cast<std::uint32_t>(seq % tx_count);
      if (ins[seq % tiles]->try_push(util::frag_desc{f, c.lens[f], 0, seq})) {
        ++seq;
        ++sent;
      } else {
        drain_outputs();
        // Yield rather than spin: with more tiles than spare CPUs a tile shares the
        // feeder's CPU, and a spinning feeder would steal its time.
        sched_yield();
      }
    }
    while (received < target) {
      drain_outputs();
      sched_yield();
    }
  }
  rt.stop();
  std::uint64_t failed = 0;
  for (auto& v : verifiers)
    failed += v->own_counter(tpu::verify_tile::c_sig_failed) +
              v->own_counter(tpu::verify_tile::c_parse_failed);
  if (failed != 0) state.SkipWithError("the tile rejected valid transactions");
  state.SetItemsProcessed(static_cast<std::int64_t>(received));
  state.counters["per_core"] = benchmark::Counter(static_cast<double>(received) / static_cast<double>(tiles),
                                                  benchmark::Counter::kIsRate);
}
BENCHMARK(BM_sigverify_tile)->Arg(1)->Arg(2)->UseRealTime()->MinTime(2.0);

void BM_parse_transaction(benchmark::State& state) {
  const auto& c = shared_corpus();
  std::uint64_t n = 0;
  for (auto _ : state) {
    const std::uint32_t f = static_cast<std::uint32_t>(n++ % tx_count);
    txn::transaction_view tx;
    benchmark::DoNotOptimize(txn::parse_transaction(c.pool.frame(f).first(c.lens[f]), tx));
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(n));
}
BENCHMARK(BM_parse_transaction);

}  // namespace

BENCHMARK_MAIN();
