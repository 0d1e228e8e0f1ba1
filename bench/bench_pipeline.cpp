// The leader pipeline end to end, against the signature-verify ceiling of its verify cores.
//
// BM_schnorr_verify_raw        : secp256k1_schnorrsig_verify over the same transactions, one
//                                thread pinned to the CPU verify tile 0 uses: the per-core
//                                ceiling.
// BM_tpu_end_to_end/V          : signed transfers injected where the net tile's output rings
//                                are (the benchmark thread plays net: it feeds V verify rings
//                                round-robin and takes the frames back), through V verify
//                                tiles → dedup → bank tile → PoH → ledger tile (a real ledger
//                                in a temporary directory, synced at slot ends). A transfer
//                                counts when the ledger tile has written its entry. Each
//                                iteration builds a fresh pipeline and bank (set-up is not
//                                timed) and times K transfers from start to the last one in
//                                the ledger. Bar: items_per_second ≥ 0.8 × raw × V.
//   Layout on a 2-CPU machine: verify0 alone on CPU 1; dedup, bank, PoH (sleep mode), ledger
//   and any further verify tiles on CPU 0 with the feeder.

#include <benchmark/benchmark.h>

#include <sched.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <random>
#include <vector>

#include "bench_support.hpp"

#include <riptide/bank/bank_forks.hpp>
#include <riptide/bank/chain_board.hpp>
#include <riptide/bank/tx_status.hpp>
#include <riptide/epoch/rotation.hpp>
#include <riptide/ledger/ledger.hpp>
#include <riptide/net/contact_book.hpp>
#include <riptide/node/topology.hpp>
#include <riptide/node/tpu_pipeline.hpp>
#include <riptide/tpu/microblock.hpp>
#include <riptide/txn/execution.hpp>
#include <riptide/txn/transaction.hpp>
#include <riptide/util/frame_pool.hpp>
#include <riptide/util/runtime.hpp>

using namespace riptide;
using bench::cpu_at;

namespace {

constexpr std::uint32_t per_iteration = 6000;  // transfers timed per iteration
constexpr std::uint32_t payers = 512;
constexpr std::size_t txs_per_microblock = 64;

const std::vector<crypto::keypair>& payer_keys() {
  static const std::vector<crypto::keypair> keys = [] {
    std::vector<crypto::keypair> k;
    for (std::uint32_t i = 0; i < payers; ++i) k.push_back(crypto::keypair::generate());
    return k;
  }();
  return keys;
}

// Fresh transfers every call (a new pipeline has an empty dedup cache, but the amounts vary
// anyway so no two transactions are alike).
void sign_transfers(util::frame_pool& pool, std::vector<std::uint16_t>& lens,
                    const crypto::hash32& blockhash, std::uint64_t salt) {
  const auto& keys = payer_keys();
  lens.resize(per_iteration);
  for (std::uint32_t i = 0; i < per_iteration; ++i) {
    const auto& from = keys[i % payers];
    const auto& to = keys[(i * 7 + 3) % payers].public_key();
    lens[i] = static_cast<std::uint16_t>(
        txn::build_transfer(from, to, 1 + (salt * per_iteration + i) % 100'000, blockhash, pool.frame(i)));
  }
}

void BM_schnorr_verify_raw(benchmark::State& state) {
  util::pin_current_thread(cpu_at(1));
  util::frame_pool pool(per_iteration);
  std::vector<std::uint16_t> lens;
  sign_transfers(pool, lens, crypto::hash32{}, 0);
  std::vector<std::span<const std::uint8_t>> txs;
  for (std::uint32_t i = 0; i < 1024; ++i) txs.push_back(pool.frame(i).first(lens[i]));
  bench::run_raw_verify(state, txs);
}
BENCHMARK(BM_schnorr_verify_raw)->UseRealTime()->MinTime(2.0);

// The benchmark's thread plays the net tile: an outside party of the topology that feeds
// the verify rings and owns the frames (node::declare_tpu, the node's own declaration).
constexpr const char* driver = "driver";

struct pipeline {
  std::filesystem::path dir;
  util::frame_pool pool{per_iteration};
  std::vector<std::uint16_t> lens;
  std::unique_ptr<bank::bank_forks> forks;
  tpu::bank_gate gate{1, 0};
  bank::chain_board board;
  bank::tx_status_cache statuses{1 << 16};
  std::unique_ptr<tpu::microblock_store> store;
  std::unique_ptr<ledger::ledger> lg;
  node::topology topo;
  std::unique_ptr<node::link_set> rings;
  std::vector<util::spsc_ring<util::frag_desc>*> to_verify;
  node::tpu_tiles tiles;
  std::unique_ptr<util::runtime> rt;
  // forward: a rotating validator's path, the forward tile between dedup and the bank tile;
  // this node leads every slot of the timeline, so it keeps every transfer for its bank.
  crypto::pubkey self{};
  std::vector<crypto::pubkey> groups;
  epoch::leader_timeline timeline;
  std::unique_ptr<net::contact_book> contacts;

  pipeline(std::size_t v, std::uint64_t salt, bool forward = false) {
    dir = std::filesystem::temp_directory_path() /
          ("riptide-bench-pipeline-" + std::to_string(::getpid()) + "-" + std::to_string(salt));
    std::filesystem::remove_all(dir);
    const crypto::hash32 start{};  // the chain's start hash is slot 0's blockhash
    sign_transfers(pool, lens, start, salt);
    bank::forks_config fc;
    fc.max_accounts = 1 << 16;
    fc.max_versions = 1 << 14;
    fc.max_statuses = 1 << 13;
    fc.lock_stripes = 1 << 14;
    fc.hash_seed = 0x5eed;
    forks = std::make_unique<bank::bank_forks>(fc, start);
    for (const auto& k : payer_keys())
      if (!forks->credit(k.public_key(), 1'000'000'000'000)) throw std::runtime_error("credit");
    store = std::make_unique<tpu::microblock_store>(
        64, txs_per_microblock * (txn::max_transaction_bytes + tpu::microblock_tx_overhead_bytes));
    ledger::ledger_config lc;
    lc.dir = dir;
    lc.segment_bytes = 64u << 20;
    lg = std::make_unique<ledger::ledger>(ledger::ledger::open(lc));

    node::tpu_shape shape;
    shape.source = driver;
    shape.verify_tiles = v;
    shape.bank_tiles = 1;
    shape.free_ring = 8192;  // the driver never takes frames back: room for every one
    shape.forward = forward;
    topo.add_outside(driver);
    node::declare_tpu(topo, shape);
    // verify0 alone on CPU 1; everything else on CPU 0 with the driver.
    std::vector<std::vector<std::string>> cores{{"verify"}, {}};
    for (std::size_t i = 1; i < v; ++i) cores[1].push_back("verify");
    for (const char* kind : {"dedup", "bank", "poh", "ledger"}) cores[1].push_back(kind);
    if (forward) cores[1].push_back("forward");
    topo.place(cores);
    topo.check();
    rings = std::make_unique<node::link_set>(topo);

    node::tpu_resources res;
    res.frames = &pool;
    res.forks = forks.get();
    res.gate = &gate;
    res.stores = {store.get()};
    res.ledger = lg.get();
    res.board = &board;
    res.start_hash = start;
    res.dedup.cache_entries = 1 << 16;
    res.bank.max_txs_per_microblock = txs_per_microblock;
    res.poh.hashes_per_tick = 1250;
    res.poh.ticks_per_slot = 64;
    res.poh.target_tick_ns = 6'250'000;  // sleep mode: 200 k hashes/s, PoH must not eat a core here
    res.ledger_tile.statuses = &statuses;
    res.ledger_tile.max_microblock_tx_bytes =
        txs_per_microblock * (txn::max_transaction_bytes + tpu::microblock_tx_overhead_bytes);
    if (forward) {
      self.fill(0x5e);
      groups.assign(1 << 12, self);
      timeline = epoch::leader_timeline(epoch::leader_timeline::segment{0, groups.size() * 4, 4, groups});
      contacts = std::make_unique<net::contact_book>(std::vector<crypto::pubkey>{self});
      res.forward.identity = self;
      res.timeline = &timeline;
      res.contacts = contacts.get();
      res.forward_board = &board;
    }
    tiles = node::build_tpu(shape, *rings, res);
    if (forward) {
      (void)rings->in<util::frag_desc>(driver, node::tpu_forward_tx);
      (void)rings->out<util::frag_desc>(driver, node::tpu_forward_tx_free);
    }
    for (std::size_t i = 0; i < v; ++i) {
      to_verify.push_back(&rings->out<util::frag_desc>(driver, node::tpu_verify_in(shape, i)));
      (void)rings->in<util::frag_desc>(driver, node::tpu_verify_free(shape, i));
    }
    for (const std::string& link : node::tpu_release_links(shape)) (void)rings->in<util::frag_desc>(driver, link);
    rings->check_bound();
    rt = std::make_unique<util::runtime>(
        node::make_plan(topo, tiles.all(), [](std::size_t c) { return cpu_at(c == 0 ? 1 : 0); }),
        util::runtime_options{});
  }
  ~pipeline() {
    rt.reset();
    tiles = {};
    lg.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
};

// Args: verify tiles, and 1 for a rotating validator's path (the forward tile before the bank).
void BM_tpu_end_to_end(benchmark::State& state) {
  const std::size_t v = static_cast<std::size_t>(state.range(0));
  const bool forward = state.range(1) != 0;
  std::uint64_t salt = 0, total = 0, microblocks = 0, conflicts = 0;
  double seconds = 0;
  for (auto _ : state) {
    pipeline p(v, ++salt, forward);
    util::pin_current_thread(cpu_at(0));
    const auto t0 = std::chrono::steady_clock::now();
    p.rt->start();
    std::uint32_t sent = 0;
    std::uint64_t spins = 0;
    while (p.statuses.recorded() < per_iteration) {
      // Feed as fast as the verify rings take it; yield so tiles sharing this CPU run.
      while (sent < per_iteration && p.to_verify[sent % v]->try_push(util::frag_desc{sent, p.lens[sent], 0, sent}))
        ++sent;
      sched_yield();
      if (++spins > 50'000'000) break;
    }
    const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    state.SetIterationTime(dt);
    p.rt->stop();
    if (p.statuses.recorded() != per_iteration) {
      state.SkipWithError("not every transfer reached the ledger");
      return;
    }
    if (p.tiles.banks[0]->execution().count(txn::tx_result::ok) != per_iteration) {
      state.SkipWithError("a transfer failed in the bank");
      return;
    }
    total += per_iteration;
    seconds += dt;
    if (forward && p.tiles.forward->own_counter(tpu::forward_tile::c_kept) != per_iteration) {
      state.SkipWithError("the forward tile did not keep every transfer for the bank");
      return;
    }
    microblocks += p.tiles.banks[0]->own_counter(tpu::bank_tile::c_microblocks);
    conflicts += p.tiles.banks[0]->own_counter(tpu::bank_tile::c_lock_conflicts);
  }
  state.counters["txs_per_entry"] = static_cast<double>(total) / static_cast<double>(std::max<std::uint64_t>(microblocks, 1));
  state.counters["lock_conflicts_per_tx"] = static_cast<double>(conflicts) / static_cast<double>(std::max<std::uint64_t>(total, 1));
  state.SetItemsProcessed(static_cast<std::int64_t>(total));
  state.counters["per_verify_core"] =
      benchmark::Counter(static_cast<double>(total) / static_cast<double>(v) / seconds);
}
BENCHMARK(BM_tpu_end_to_end)
    ->ArgNames({"verify", "forward"})
    ->Args({1, 0})
    ->Args({1, 1})
    ->Args({2, 0})
    ->Args({2, 1})
    ->UseManualTime()
    ->Iterations(4);

}  // namespace

BENCHMARK_MAIN();
