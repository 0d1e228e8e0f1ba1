// bench_turbine: what the Turbine tree costs per shred, against the SHA-256 of the seed that
// every tree starts with, in the same binary and the same run. The benchmark thread is pinned
// to the first allowed CPU.
//
// The cluster: N nodes with heavy-tailed stakes (a Pareto-like spread over ~4 decades, the
// shape of a real stake table) and 10 % unstaked; fanout 200 (the default); the leader is a
// staked member that rotates every 4 slots; shred indices 0..63 of data then coding.
//
// BM_sha256_seed            turbine_seed() alone. items_per_second = seeds.
// BM_turbine_tree/N         compute(): the whole shuffle and tree of one shred.
//                           items_per_second = shreds.
// BM_turbine_root/N         root(slot, …): the leader's call, one draw. items_per_second = shreds.
// BM_turbine_children/N     children(): the hot call of one node for one shred, `self` cycling
//                           through every member so the figure is the cluster-wide average
//                           per node (staked nodes sit high in the tree and draw further).
//                           items_per_second = shreds handled by one node.
// BM_turbine_children_leaf/N  the same call for the lowest-stake staked node (a leaf almost
//                           always: it stops after the (N-2)/200 + 1 interior draws).

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include <riptide/shred/turbine.hpp>
#include <riptide/util/cpu.hpp>
#include <riptide/util/prng.hpp>

namespace {

using namespace riptide::shred;
using riptide::epoch::stake_entry;

constexpr std::uint32_t fanout = 200;
constexpr std::uint32_t shreds_per_slot = 128;  // 64 data + 64 coding
constexpr std::uint64_t slots_per_leader = 4;

void pin() {
  static const auto cpus = riptide::util::allowed_cpus();
  if (!cpus.empty()) riptide::util::pin_current_thread(cpus[0]);
}

std::vector<stake_entry> make_cluster(std::size_t n) {
  riptide::util::xoshiro256ss rng(n);
  std::vector<stake_entry> nodes(n);
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t b = 0; b < nodes[i].id.size(); b += 8) {
      const std::uint64_t w = rng.next();
      std::memcpy(nodes[i].id.data() + b, &w, 8);
    }
    const double u = static_cast<double>(rng.next() >> 11) * 0x1.0p-53;  // [0, 1)
    const double stake = std::min(1e9 / std::pow(1.0 - u, 1.1), 1e14);  // capped: sum fits u64
    nodes[i].stake = i % 10 == 9 ? 0 : static_cast<std::uint64_t>(stake);
  }
  return nodes;
}

// Shred number s → (slot, index, type, leader), as a leader schedule would produce them.
struct shred_id {
  std::uint64_t slot;
  std::uint32_t index;
  turbine_shred_type type;
  const riptide::crypto::pubkey* leader;
};

shred_id shred_at(const std::vector<stake_entry>& nodes, std::uint64_t s) {
  const std::uint64_t slot = s / shreds_per_slot;
  const auto within = static_cast<std::uint32_t>(s % shreds_per_slot);
  const std::size_t leader = (slot / slots_per_leader * 7) % nodes.size() / 10 * 10;  // staked
  return {slot, within % 64, within < 64 ? turbine_shred_type::data : turbine_shred_type::coding,
          &nodes[leader].id};
}

void BM_sha256_seed(benchmark::State& state) {
  pin();
  const auto nodes = make_cluster(1000);
  std::uint64_t s = 0;
  for (auto _ : state) {
    const shred_id id = shred_at(nodes, s++);
    benchmark::DoNotOptimize(turbine_seed(id.slot, id.index, id.type, *id.leader));
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(s));
}

void BM_turbine_tree(benchmark::State& state) {
  pin();
  const auto nodes = make_cluster(static_cast<std::size_t>(state.range(0)));
  const turbine_cluster cluster(nodes);
  turbine_tree tree(cluster, fanout);
  std::uint64_t s = 0;
  for (auto _ : state) {
    const shred_id id = shred_at(nodes, s++);
    tree.compute(id.slot, id.index, id.type, *id.leader);
    benchmark::DoNotOptimize(tree.root());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(s));
  state.counters["depth"] = tree.depth();
}

void BM_turbine_root(benchmark::State& state) {
  pin();
  const auto nodes = make_cluster(static_cast<std::size_t>(state.range(0)));
  const turbine_cluster cluster(nodes);
  turbine_tree tree(cluster, fanout);
  std::uint64_t s = 0;
  for (auto _ : state) {
    const shred_id id = shred_at(nodes, s++);
    benchmark::DoNotOptimize(tree.root(id.slot, id.index, id.type, *id.leader));
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(s));
}

void BM_turbine_children(benchmark::State& state) {
  pin();
  const auto nodes = make_cluster(static_cast<std::size_t>(state.range(0)));
  const turbine_cluster cluster(nodes);
  turbine_tree tree(cluster, fanout);
  std::uint64_t s = 0, sent = 0;
  std::uint32_t self = 0;
  for (auto _ : state) {
    const shred_id id = shred_at(nodes, s++);
    sent += tree.children(id.slot, id.index, id.type, *id.leader, self).size();
    self = self + 1 == cluster.size() ? 0 : self + 1;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(s));
  state.counters["children_avg"] = static_cast<double>(sent) / static_cast<double>(s);
}

void BM_turbine_children_leaf(benchmark::State& state) {
  pin();
  const auto nodes = make_cluster(static_cast<std::size_t>(state.range(0)));
  const turbine_cluster cluster(nodes);
  turbine_tree tree(cluster, fanout);
  const std::uint32_t self = cluster.staked_count() - 1;
  std::uint64_t s = 0, sent = 0;
  for (auto _ : state) {
    const shred_id id = shred_at(nodes, s++);
    sent += tree.children(id.slot, id.index, id.type, *id.leader, self).size();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(s));
  state.counters["children_avg"] = static_cast<double>(sent) / static_cast<double>(s);
}

}  // namespace

BENCHMARK(BM_sha256_seed);
BENCHMARK(BM_turbine_tree)->Arg(1000)->Arg(10000);
BENCHMARK(BM_turbine_root)->Arg(10000);
BENCHMARK(BM_turbine_children)->Arg(10000);
BENCHMARK(BM_turbine_children_leaf)->Arg(10000);

BENCHMARK_MAIN();
