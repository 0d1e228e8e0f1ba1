// Bank throughput: transfers per second through bank::bank_forks, try_lock -> execute ->
// unlock, into one bank (a child of the root), as a leader's bank tiles execute a slot.
//   disjoint: every tx of every thread touches its own pair of accounts (no lock conflicts)
//   hot:      every tx sends to one of hot_accounts shared accounts (conflicts across threads)
// Reference in the same binary: execute without locks (one thread), the cost locking adds.
// A bank lands each signature once, so every pass (each thread's 4096 transactions, once)
// executes into a fresh child bank of the root: between passes the clock stops, every thread
// waits, and thread 0 marks the pass's bank dead (which frees its versions and statuses) and
// makes the next one. The root is the 150th of a chain of blocks and the transactions name
// the 150 recent blockhashes in turn. Threads are pinned to the allowed CPUs (thread i ->
// i-th allowed CPU, wrapping).
//
// Bank forks reads: a balance read on the tip of 32 unrooted banks, of accounts each written
// in one of those banks (bm_forks_read_unrooted_32), against the same accounts after
// everything was rooted (bm_forks_read_rooted: the reference, same table, no versions); and of
// accounts written in every one of the 32 banks (bm_forks_read_hot_32, the worst case: a walk
// of 32 versions). Bar (ARCHITECTURE.md section 8): unrooted <= 2 x rooted.
#include <riptide/bank/bank_forks.hpp>
#include <riptide/crypto/sha256.hpp>
#include <riptide/txn/account_locks.hpp>
#include <riptide/txn/execution.hpp>

#include <benchmark/benchmark.h>

#include <pthread.h>
#include <sched.h>

#include <array>
#include <barrier>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <optional>
#include <vector>

namespace {

using riptide::bank::bank_index;
using riptide::crypto::hash32;
using riptide::crypto::pubkey;
using riptide::txn::execution_counters;
using riptide::txn::transaction_view;
using riptide::txn::tx_result;

constexpr std::size_t txs_per_thread = 4096;
constexpr std::size_t max_threads = 2;
constexpr std::size_t hot_accounts = 4;
constexpr std::uint64_t genesis_lamports = 1'000'000'000'000'000;
constexpr std::size_t recent_slots = 150;

pubkey key_of(std::uint32_t n) {
  pubkey key{};
  key[0] = 0xBB;
  for (std::size_t i = 0; i < 4; ++i) key[1 + i] = static_cast<std::uint8_t>(n >> (8 * i));
  return key;
}

// A slot's blockhash: SHA-256 of the slot number, as uniform as a real PoH hash. (Slot numbers
// as the hash's first bytes made the blockhash queue's index, keyed by those bytes, one long
// probe run: lookups cost ~36 % of execute's instructions under callgrind, which no real chain
// of SHA-256 hashes would see.)
hash32 blockhash_of(std::uint64_t slot) {
  std::array<std::uint8_t, 8> bytes{};
  for (std::size_t i = 0; i < 8; ++i) bytes[i] = static_cast<std::uint8_t>(slot >> (8 * i));
  return riptide::crypto::sha256(bytes);
}

// A block id: `kind` tells the chain's, the passes' and the pruning blocks apart.
riptide::bank::block_id block_id_of(std::uint8_t kind, std::uint64_t n) {
  riptide::bank::block_id id{};
  id[0] = kind;
  for (std::size_t i = 0; i < 8; ++i) id[1 + i] = static_cast<std::uint8_t>(n >> (8 * i));
  return id;
}

// One transfer from -> to in wire format (signature bytes zero: the bank does not verify).
struct wire_tx {
  std::array<std::uint8_t, riptide::txn::transfer_transaction_bytes> bytes{};
  transaction_view view;
};

// Writes `id` into the signature bytes, so transactions differ for a status cache (the view
// reads the bytes in place: no new parse needed).
void stamp(wire_tx& tx, std::uint64_t id) {
  for (std::size_t i = 0; i < 8; ++i) tx.bytes[1 + i] = static_cast<std::uint8_t>(id >> (8 * i));
}

void build(wire_tx& tx, const pubkey& from, const pubkey& to, const hash32& blockhash, std::uint64_t id = 0) {
  std::size_t at = 0;
  const auto put = [&](std::uint8_t b) { tx.bytes[at++] = b; };
  const auto put_key = [&](const auto& k) {
    for (const std::uint8_t b : k) put(b);
  };
  put(1);
  stamp(tx, id);
  at += riptide::crypto::signature_bytes;
  for (const std::uint8_t b : {1, 1, 0, 1, 3}) put(b);  // version, R, RS, RU, A
  put_key(from);
  put_key(to);
  put_key(riptide::txn::system_program_id);
  put_key(blockhash);
  for (const std::uint8_t b : {1, 2, 2, 0, 1, 12, 0, 2, 0, 0, 0}) put(b);  // 1 ins, kind 2
  for (std::size_t i = 0; i < 8; ++i) put(i == 0 ? 1 : 0);                  // 1 lamport
  if (riptide::txn::parse_transaction(tx.bytes, tx.view) != riptide::txn::parse_error::none) {
    std::abort();
  }
}

inline void spin_pause() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

// The CPUs the process may use, read once before anything is pinned: a pinned main thread
// would otherwise report (and pass on to the threads it starts) only its own CPU.
const std::vector<int>& allowed_cpus() {
  static const std::vector<int> cpus = [] {
    std::vector<int> out;
    cpu_set_t allowed;
    CPU_ZERO(&allowed);
    if (sched_getaffinity(0, sizeof(allowed), &allowed) == 0) {
      for (int c = 0; c < CPU_SETSIZE; ++c) {
        if (CPU_ISSET(c, &allowed)) out.push_back(c);
      }
    }
    return out;
  }();
  return cpus;
}

void pin(std::size_t thread_index) {
  const std::vector<int>& cpus = allowed_cpus();
  if (cpus.empty()) return;
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(cpus[thread_index % cpus.size()], &one);
  pthread_setaffinity_np(pthread_self(), sizeof(one), &one);
}

// ---- transfers

constexpr std::uint8_t chain_block = 0xB0, pass_block = 0xB1, pruning_block = 0xB2;

// Bank forks sized like a node's (forks_config defaults: 2^14 lock words, 2^18 statuses,
// 2^20 versions, 1024 banks, fee 5000) but for a 2^16-account table. Every transaction of
// every pass has a signature of its own; the payers are funded at genesis.
struct world {
  riptide::bank::bank_forks forks;
  // A table with the same stripes and seed, for the form of unlock that hashes the keys again
  // (bank forks only unlock by held_locks).
  riptide::txn::account_locks locks;
  bank_index bank = riptide::bank::no_bank;  // the pass's bank; written between passes only
  std::uint64_t passes = 0;
  std::uint64_t last_id = 0;  // the last signature serial used
  std::optional<std::barrier<>> pass_end;  // one per benchmark run, for its threads
  std::array<std::vector<wire_tx>, max_threads> disjoint;
  std::array<std::vector<wire_tx>, max_threads> hot;

  world()
      : forks(make_config(), blockhash_of(~0ULL)),  // the chain start hash: no slot's
        locks(make_config().lock_stripes, make_config().hash_seed) {
    for (std::size_t t = 0; t < max_threads; ++t) {
      disjoint[t] = std::vector<wire_tx>(txs_per_thread);
      hot[t] = std::vector<wire_tx>(txs_per_thread);
      for (std::size_t i = 0; i < txs_per_thread; ++i)
        if (!forks.credit(payer(t, i), genesis_lamports)) std::abort();
    }
    // The root: a chain of recent_slots rooted blocks, so there are that many recent hashes.
    bank_index b = forks.root();
    for (std::uint64_t slot = 0; slot < recent_slots; ++slot) {
      b = forks.new_bank(b, slot, block_id_of(chain_block, slot));
      hash32 bank_hash{};
      if (b == riptide::bank::no_bank || !forks.freeze(b, blockhash_of(slot), 0, bank_hash) || !forks.set_root(b))
        std::abort();
    }
    build_lists();
  }

  static riptide::bank::forks_config make_config() {
    riptide::bank::forks_config config;
    config.max_accounts = 1 << 16;
    return config;
  }
  static pubkey payer(std::size_t t, std::size_t i) { return key_of(static_cast<std::uint32_t>(2 * (t * txs_per_thread + i))); }
  static pubkey receiver(std::size_t t, std::size_t i) { return key_of(static_cast<std::uint32_t>(2 * (t * txs_per_thread + i) + 1)); }

  // The transactions name the recent_slots hashes up to the root's in turn.
  void build_lists() {
    const std::uint64_t root_slot = forks.info(forks.root()).slot;
    for (std::size_t t = 0; t < max_threads; ++t) {
      for (std::size_t i = 0; i < txs_per_thread; ++i) {
        const hash32 blockhash = blockhash_of(root_slot - i % recent_slots);
        build(disjoint[t][i], payer(t, i), receiver(t, i), blockhash);
        build(hot[t][i], payer(t, i), key_of(0xFFFF'0000U + static_cast<std::uint32_t>(i % hot_accounts)), blockhash);
      }
    }
  }

  // New signatures for every transaction, as a new slot's transactions have: signatures a
  // dead bank landed would leave their tombstones where the same ones probe again.
  void sign_again() {
    for (auto* lists : {&disjoint, &hot})
      for (std::vector<wire_tx>& txs : *lists)
        for (wire_tx& tx : txs) stamp(tx, ++last_id);
  }

  // Quiescent (no thread executing): drops the pass's bank and makes a fresh child of the
  // root. An unfrozen bank is marked dead, which frees its versions and statuses at once; a
  // frozen one (bm_bank_hash), and the dead ones when the bank table is nearly full, go by
  // rooting an empty sibling block, which prunes them. The root then moves a slot, so the
  // transactions are built again for its window of recent hashes.
  void next_pass() {
    const riptide::bank::forks_stats s = forks.stats();
    bool prune = s.banks + 1 >= s.max_banks;
    if (bank != riptide::bank::no_bank) {
      if (forks.info(bank).frozen) {
        prune = true;
      } else {
        forks.mark_dead(bank);
      }
    }
    if (prune) {
      const std::uint64_t slot = forks.info(forks.root()).slot + 1;
      const bank_index empty = forks.new_bank(forks.root(), slot, block_id_of(pruning_block, slot));
      hash32 bank_hash{};
      if (empty == riptide::bank::no_bank || !forks.freeze(empty, blockhash_of(slot), 0, bank_hash) ||
          !forks.set_root(empty))
        std::abort();
      build_lists();
    }
    sign_again();
    bank = forks.new_bank(forks.root(), forks.info(forks.root()).slot + 1, block_id_of(pass_block, ++passes));
    if (bank == riptide::bank::no_bank) std::abort();
  }
};

world& the_world() {
  static world w;  // built once, before any benchmark thread enters its loop
  return w;
}

// Setup of a run (one thread, before the benchmark's threads start): a fresh bank.
void start_run(const benchmark::State& state) {
  world& w = the_world();
  w.pass_end.emplace(state.threads());
  w.next_pass();
}

// Every thread has executed its whole list: with the clock stopped, thread 0 moves to a
// fresh bank while the others wait.
void end_pass(benchmark::State& state, world& w) {
  state.PauseTiming();
  w.pass_end->arrive_and_wait();
  if (state.thread_index() == 0) w.next_pass();
  w.pass_end->arrive_and_wait();
  state.ResumeTiming();
}

void report_results(benchmark::State& state, const execution_counters& counters) {
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  if (counters.count(tx_result::ok) != counters.executed()) state.SkipWithError("a transfer failed");
}

void run_locked(benchmark::State& state, bool hot) {
  const auto t = static_cast<std::size_t>(state.thread_index());
  pin(t);
  world& w = the_world();
  const std::vector<wire_tx>& txs = hot ? w.hot[t] : w.disjoint[t];
  execution_counters counters;
  riptide::txn::held_locks held;
  std::size_t i = 0;
  for (auto _ : state) {
    const transaction_view& tx = txs[i].view;
    if (!w.forks.try_lock(tx, held)) {
      ++counters.lock_conflicts;  // counts transactions that had to wait, not retries
      while (!w.forks.try_lock(tx, held)) spin_pause();
    }
    benchmark::DoNotOptimize(w.forks.execute(w.bank, tx, counters));
    w.forks.unlock(held);
    if (++i == txs.size()) {
      i = 0;
      end_pass(state, w);
    }
  }
  state.counters["conflicted_tx_fraction"] = benchmark::Counter(
      static_cast<double>(counters.lock_conflicts) / static_cast<double>(state.iterations()),
      benchmark::Counter::kAvgThreads);
  report_results(state, counters);
}

void bm_transfer_disjoint(benchmark::State& state) { run_locked(state, false); }
void bm_transfer_hot(benchmark::State& state) { run_locked(state, true); }

// Reference: the same disjoint transfers executed without taking any lock (one thread only).
void bm_transfer_no_locks_reference(benchmark::State& state) {
  pin(0);
  world& w = the_world();
  const std::vector<wire_tx>& txs = w.disjoint[0];
  execution_counters counters;
  std::size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(w.forks.execute(w.bank, txs[i].view, counters));
    if (++i == txs.size()) {
      i = 0;
      end_pass(state, w);
    }
  }
  report_results(state, counters);
}

// Lock + unlock alone (no execution): the cost of the atomics.
void bm_lock_unlock_only(benchmark::State& state) {
  const auto t = static_cast<std::size_t>(state.thread_index());
  pin(t);
  world& w = the_world();
  const std::vector<wire_tx>& txs = w.disjoint[t];
  std::size_t i = 0;
  riptide::txn::held_locks held;
  for (auto _ : state) {
    if (w.forks.try_lock(txs[i].view, held)) w.forks.unlock(held);
    i = i + 1 == txs.size() ? 0 : i + 1;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

// The form unlock(tx) of txn::account_locks hashes the keys again: what held_locks saves.
void bm_lock_unlock_rehash(benchmark::State& state) {
  pin(0);
  world& w = the_world();
  const std::vector<wire_tx>& txs = w.disjoint[0];
  std::size_t i = 0;
  riptide::txn::held_locks held;
  for (auto _ : state) {
    if (w.locks.try_lock(txs[i].view, held)) w.locks.unlock(txs[i].view);
    i = i + 1 == txs.size() ? 0 : i + 1;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

// Slot end: freeze() of a bank that executed every list, disjoint and hot, of both threads
// (2 * 2 * 4096 + hot accounts changed): the sort and SHA-256 of the bank hash. Items are
// accounts hashed; the executions run with the clock stopped.
void bm_bank_hash(benchmark::State& state) {
  pin(0);
  world& w = the_world();
  execution_counters counters;
  std::int64_t accounts = 0;
  riptide::txn::held_locks held;
  for (auto _ : state) {
    state.PauseTiming();
    w.next_pass();
    for (const auto* lists : {&w.disjoint, &w.hot}) {
      for (const std::vector<wire_tx>& txs : *lists) {
        for (const wire_tx& tx : txs) {
          if (!w.forks.try_lock(tx.view, held)) std::abort();  // one thread: no conflict
          (void)w.forks.execute(w.bank, tx.view, counters);
          w.forks.unlock(held);
        }
      }
    }
    state.ResumeTiming();
    hash32 bank_hash{};
    if (!w.forks.freeze(w.bank, blockhash_of(0), 0, bank_hash)) state.SkipWithError("freeze failed");
    benchmark::DoNotOptimize(bank_hash);
    accounts += static_cast<std::int64_t>(w.forks.info(w.bank).changed_accounts);
  }
  state.SetItemsProcessed(accounts);
  if (counters.count(tx_result::ok) != counters.executed()) state.SkipWithError("a transfer failed");
}

// ---- reads through unrooted banks

constexpr std::size_t fork_depth = 32;
constexpr std::size_t fork_writes_per_bank = 256;
constexpr std::size_t hot_payers = 8;

struct fork_world {
  std::unique_ptr<riptide::bank::bank_forks> unrooted, rooted;
  riptide::bank::bank_index tip = riptide::bank::no_bank, rooted_tip = riptide::bank::no_bank;
  std::vector<pubkey> cold, hot;  // cold: one version each; hot: a version in every bank

  fork_world() {
    riptide::bank::forks_config c;
    c.max_accounts = 1 << 16;
    c.max_versions = 1 << 16;
    c.max_statuses = 1 << 16;
    c.lamports_per_signature = 0;
    for (std::uint32_t i = 0; i < hot_payers; ++i) hot.push_back(key_of(1'000'000 + i));
    for (std::uint32_t i = 0; i < fork_depth * fork_writes_per_bank; ++i) cold.push_back(key_of(i));
    // 32 unrooted banks above the root: bank k sends a lamport from each hot payer, in turn,
    // to its own 256 cold accounts.
    const auto make = [&](riptide::bank::bank_index& tip_out) {
      auto f = std::make_unique<riptide::bank::bank_forks>(c, blockhash_of(0));
      for (const pubkey& k : hot) (void)f->credit(k, genesis_lamports);
      for (std::size_t i = 0; i < 4 * cold.size(); ++i) (void)f->credit(key_of(2'000'000 + static_cast<std::uint32_t>(i)), 1);
      riptide::bank::bank_index b = f->root();
      execution_counters counters;
      std::uint64_t id = 1;
      for (std::size_t k = 0; k < fork_depth; ++k) {
        hash32 block{};
        block[0] = static_cast<std::uint8_t>(k + 1);
        b = f->new_bank(b, k, block);
        for (std::size_t i = 0; i < fork_writes_per_bank; ++i) {
          wire_tx tx;
          build(tx, hot[i % hot_payers], cold[k * fork_writes_per_bank + i], blockhash_of(0), id++);
          riptide::txn::held_locks held;
          if (!f->try_lock(tx.view, held)) std::abort();
          if (f->execute(b, tx.view, counters) != riptide::txn::tx_result::ok) std::abort();
          f->unlock(held);
        }
        hash32 bank_hash{};
        if (!f->freeze(b, blockhash_of(k + 1), 0, bank_hash)) std::abort();
      }
      tip_out = b;
      return f;
    };
    unrooted = make(tip);
    rooted = make(rooted_tip);
    if (!rooted->set_root(rooted_tip)) std::abort();
  }
};

fork_world& the_fork_world() {
  static fork_world w;
  return w;
}

void read_loop(benchmark::State& state, const riptide::bank::bank_forks& f, riptide::bank::bank_index b,
               const std::vector<pubkey>& keys) {
  pin(0);
  std::size_t i = 0;
  std::uint64_t sum = 0;
  for (auto _ : state) {
    sum += f.balance(b, keys[i]);
    i = i + 1 == keys.size() ? 0 : i + 1;
  }
  benchmark::DoNotOptimize(sum);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

void bm_forks_read_rooted(benchmark::State& state) {
  fork_world& w = the_fork_world();
  read_loop(state, *w.rooted, w.rooted_tip, w.cold);
}
void bm_forks_read_unrooted_32(benchmark::State& state) {
  fork_world& w = the_fork_world();
  read_loop(state, *w.unrooted, w.tip, w.cold);
}
void bm_forks_read_hot_32(benchmark::State& state) {
  fork_world& w = the_fork_world();
  read_loop(state, *w.unrooted, w.tip, w.hot);
}

}  // namespace

BENCHMARK(bm_forks_read_rooted);
BENCHMARK(bm_forks_read_unrooted_32);
BENCHMARK(bm_forks_read_hot_32);
BENCHMARK(bm_transfer_no_locks_reference)->Setup(start_run);
BENCHMARK(bm_lock_unlock_rehash);
BENCHMARK(bm_lock_unlock_only)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(bm_transfer_disjoint)->Setup(start_run)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(bm_transfer_hot)->Setup(start_run)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(bm_bank_hash);

int main(int argc, char** argv) {
  (void)allowed_cpus();  // before any benchmark pins the main thread
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
