// FEC resolver cost per set against the raw work it must do, in the same binary.
//
//   BM_reference_verify_roots_recover   what resolving a 32:32 set with 32 losses cannot
//                                       avoid: one leader signature check (pubkey cached),
//                                       32 merkle roots from leaf and proof, the 32 shreds
//                                       copied in, fec_codec::recover of the other 32 and a
//                                       merkle tree over the 64 leaves
//   BM_fec_resolver_32_of_64            fec_resolver::add() of 32 random shreds of a 32:32 set
//                                       (a new pattern per set), which completes and rebuilds
//                                       the 32 others as full wire shreds
//   BM_fec_resolver_duplicate           add() of a shred whose set already completed (the
//                                       late shreds of every set under Turbine)
//
// Items are FEC sets (shreds for the duplicate benchmark); bytes are the 32 data shards.
// Every benchmark pins itself to one CPU.

#include <benchmark/benchmark.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <numeric>
#include <random>
#include <stdexcept>
#include <vector>

#include <riptide/shred/fec.hpp>
#include <riptide/shred/fec_resolver.hpp>
#include <riptide/shred/merkle.hpp>
#include <riptide/shred/shred.hpp>
#include <riptide/util/cpu.hpp>

namespace {

using namespace riptide;
using namespace riptide::shred;

using shred_set = std::vector<std::vector<std::uint8_t>>;

constexpr std::size_t set_count = 64;
constexpr std::size_t pattern_count = 256;
constexpr std::uint16_t version = 1;
constexpr std::size_t shard = shard_bytes(64);
constexpr std::size_t set_data_bytes = 32 * shard;

void pin() {
  const auto cpus = util::allowed_cpus();
  if (!cpus.empty()) (void)util::pin_current_thread(cpus[0]);
}

const crypto::keypair& leader() {
  static const crypto::keypair k = crypto::keypair::generate();
  return k;
}

class one_leader final : public leader_lookup {
 public:
  std::optional<crypto::pubkey> leader_for_slot(std::uint64_t) const noexcept override {
    return leader().public_key();
  }
};

// set_count full 32:32 sets, one per slot, and pattern_count random choices of 32 positions.
struct corpus {
  corpus() {
    std::mt19937_64 rng(7);
    for (std::size_t s = 0; s < set_count; ++s) {
      fec_set_params p;
      p.slot = 1 + s;
      p.parent_offset = 1;
      p.shred_version = version;
      std::vector<std::uint8_t> payload(32 * 991);
      for (auto& b : payload) b = static_cast<std::uint8_t>(rng());
      sets.push_back(make_fec_set(leader(), p, payload));
    }
    for (std::size_t i = 0; i < pattern_count; ++i) {
      std::array<std::uint8_t, 64> order;
      std::iota(order.begin(), order.end(), 0);
      std::shuffle(order.begin(), order.end(), rng);
      patterns.push_back(order);
    }
  }
  std::vector<shred_set> sets;
  std::vector<std::array<std::uint8_t, 64>> patterns;  // first 32 entries arrive
};

const corpus& shared_corpus() {
  static const corpus c;
  return c;
}

void BM_reference_verify_roots_recover(benchmark::State& state) {
  pin();
  const corpus& c = shared_corpus();
  crypto::pubkey_cache keys(64);
  fec_codec codec(32, 32);
  std::vector<std::uint8_t> buffers(64 * max_shred_bytes);
  std::array<std::uint8_t*, 64> shards;
  std::array<merkle_node, 64> leaves;
  std::size_t k = 0;
  for (auto _ : state) {
    const shred_set& set = c.sets[k % set_count];
    const auto& order = c.patterns[k % pattern_count];
    ++k;
    std::uint64_t present = 0;
    bool ok = true;
    for (std::size_t i = 0; i < 32; ++i) {
      const std::size_t p = order[i];
      shred_view v;
      ok &= parse_shred(set[p], v) == shred_error::none;
      leaves[p] = merkle_leaf(v.signed_region());
      std::array<merkle_node, max_proof_depth> proof;
      std::memcpy(proof.data(), v.proof().data(), v.proof().size());
      const auto root = merkle_root_from_proof(leaves[p], p, 64, {proof.data(), v.proof_depth()});
      if (i == 0) ok &= verify_shred_signature(v, keys, leader().public_key(), *root);
      std::memcpy(buffers.data() + p * max_shred_bytes, set[p].data(), set[p].size());
      present |= std::uint64_t{1} << p;
    }
    for (std::size_t p = 0; p < 64; ++p) {
      shards[p] = buffers.data() + p * max_shred_bytes + (p < 32 ? 64 : coding_headers_end);
    }
    ok &= codec.recover(shards, present, shard);
    for (std::size_t p = 0; p < 64; ++p) {
      if ((present >> p) & 1u) continue;
      leaves[p] = merkle_leaf({buffers.data() + p * max_shred_bytes + 64,
                               shard + (p < 32 ? 0 : coding_headers_end - 64)});
    }
    merkle_tree tree;
    ok &= tree.build_from_leaves(leaves);
    benchmark::DoNotOptimize(tree.root());
    if (!ok) throw std::runtime_error("reference failed");
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * set_data_bytes));
}
BENCHMARK(BM_reference_verify_roots_recover);

void BM_fec_resolver_32_of_64(benchmark::State& state) {
  pin();
  const corpus& c = shared_corpus();
  one_leader leaders;
  fec_resolver_config config;
  config.max_sets = 16;
  config.completed_sets_remembered = 1;  // each set is forgotten and resolved afresh
  config.shred_version = version;
  fec_resolver resolver(config, leaders);
  std::size_t k = 0;
  for (auto _ : state) {
    const shred_set& set = c.sets[k % set_count];
    const auto& order = c.patterns[k % pattern_count];
    ++k;
    bool completed = false;
    for (std::size_t i = 0; i < 32; ++i) completed = resolver.add(set[order[i]], 0).set_completed;
    if (!completed) throw std::runtime_error("set did not complete");
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * set_data_bytes));
}
BENCHMARK(BM_fec_resolver_32_of_64);

void BM_fec_resolver_duplicate(benchmark::State& state) {
  pin();
  const corpus& c = shared_corpus();
  one_leader leaders;
  fec_resolver_config config;
  config.shred_version = version;
  fec_resolver resolver(config, leaders);
  for (const shred_set& set : c.sets) {
    for (std::size_t p = 0; p < 32; ++p) (void)resolver.add(set[p], 0);
  }
  std::size_t k = 0;
  for (auto _ : state) {
    const add_result r = resolver.add(c.sets[k % set_count][32 + k % 32], 0);
    ++k;
    if (r.reason != drop_reason::duplicate) throw std::runtime_error("expected a duplicate");
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_fec_resolver_duplicate);

}  // namespace

BENCHMARK_MAIN();
