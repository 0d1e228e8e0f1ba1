// What a vote costs the voting validator, against one Schnorr signature in the same binary.
//
// BM_schnorr_sign_raw      : crypto::keypair::sign of a 32-byte message: the reference (a
//                            vote transaction holds one signature).
// BM_vote_engine_slot/N    : one slot of the consensus tile's work with N voters (4, 16, 64):
//                            on_bank with every voter's new tower (each voted the slot before),
//                            then decide (fork choice, lockout, threshold, switch; our tower
//                            records the vote, roots prune after 32 slots). items = slots.
// BM_build_vote_transaction: a signed vote transaction of a full (31-deep) tower. items = votes.
// BM_save_tower            : consensus::save_tower: write a new file, fsync, rename over the
//                            old one, fsync the directory (the page cache's disk: bound by
//                            the device, not the CPU). items = saves.
// Pinned to one CPU.

#include <benchmark/benchmark.h>

#include <array>
#include <filesystem>
#include <optional>
#include <vector>

#include "bench_support.hpp"

#include <riptide/consensus/tower_file.hpp>
#include <riptide/consensus/vote_engine.hpp>
#include <riptide/consensus/vote_tx.hpp>
#include <riptide/crypto/schnorr.hpp>
#include <riptide/txn/transaction.hpp>
#include <riptide/util/cpu.hpp>

using namespace riptide;

namespace {

consensus::tower_sync full_tower() {
  consensus::tower_sync v;
  for (std::uint64_t s = 1; s <= 64; ++s) (void)v.votes.record_vote(s);
  v.bank_hash.fill(0x42);
  v.timestamp_ms = 1'700'000'000'000;
  return v;
}

void BM_schnorr_sign_raw(benchmark::State& state) {
  util::pin_current_thread(bench::cpu_at(1));
  const auto key = crypto::keypair::generate();
  crypto::hash32 msg{};
  std::uint64_t n = 0;
  for (auto _ : state) {
    msg[0] = static_cast<std::uint8_t>(++n);
    benchmark::DoNotOptimize(key.sign(msg));
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_schnorr_sign_raw)->MinTime(1.0);

void BM_vote_engine_slot(benchmark::State& state) {
  util::pin_current_thread(bench::cpu_at(1));
  const auto voters = static_cast<std::size_t>(state.range(0));
  consensus::vote_engine_config cfg;
  cfg.stakes.assign(voters, 100);
  cfg.self = 0;
  consensus::vote_engine engine(cfg, 0);
  consensus::tower others;
  std::vector<std::optional<consensus::tower_sync>> states(voters);
  std::uint64_t slot = 0;
  for (auto _ : state) {
    ++slot;
    if (slot > 1) {
      (void)others.record_vote(slot - 1);
      for (std::size_t v = 1; v < voters; ++v) states[v] = consensus::tower_sync{others, {}, std::nullopt};
    }
    crypto::hash32 hash{};
    hash[0] = static_cast<std::uint8_t>(slot);
    if (!engine.on_bank(consensus::bank_view{slot, slot - 1, hash, states})) {
      state.SkipWithError("the engine refused a block");
      return;
    }
    const auto d = engine.decide(static_cast<std::int64_t>(slot));
    if (!d.vote) {
      state.SkipWithError("the engine did not vote");
      return;
    }
    benchmark::DoNotOptimize(d);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  state.counters["root"] = static_cast<double>(engine.root());
}
BENCHMARK(BM_vote_engine_slot)->Arg(4)->Arg(16)->Arg(64)->MinTime(1.0);

void BM_build_vote_transaction(benchmark::State& state) {
  util::pin_current_thread(bench::cpu_at(1));
  const auto key = crypto::keypair::generate();
  auto vote = full_tower();
  crypto::hash32 blockhash{};
  std::array<std::uint8_t, txn::max_transaction_bytes> out{};
  for (auto _ : state) {
    ++vote.timestamp_ms.value();  // a new message each time
    benchmark::DoNotOptimize(consensus::build_vote_transaction(key, vote, blockhash, out));
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_build_vote_transaction)->MinTime(1.0);

void BM_save_tower(benchmark::State& state) {
  util::pin_current_thread(bench::cpu_at(1));
  const auto dir = std::filesystem::temp_directory_path() / "riptide-bench-tower";
  std::filesystem::create_directories(dir);
  const auto key = crypto::keypair::generate();
  auto vote = full_tower();
  for (auto _ : state) {
    ++vote.timestamp_ms.value();
    consensus::save_tower(dir / "tower.bin", key.public_key(), vote);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_save_tower)->UseRealTime()->MinTime(1.0);

}  // namespace

BENCHMARK_MAIN();
