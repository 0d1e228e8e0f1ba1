// Slot replay: the follower's per-slot check and re-execution vs the raw signature-verify loop.
//
// BM_schnorr_verify_raw : secp256k1_schnorrsig_verify over the chain's transactions, keys
//                         parsed once: the per-core ceiling replay's signature check meets.
// BM_slot_replay        : bank::slot_replayer over a leader-made chain of `slots` slots of
//                         `txs_per_slot` transfers (entries of 64 txs, 8 ticks of 256 hashes
//                         per slot): parse, ticks, mixins, PoH, signatures, execution, bank
//                         hash. A fresh bank per pass (outside the timing). items_per_second =
//                         transactions; both pinned to the same CPU.
// BM_slot_replay_votes  : the same with votes in the blocks: 64 validators each vote (a
//                         tower sync for the slot before, checked against the fork and landed
//                         into its vote state) in every slot but the first, the first 64
//                         transactions of the slot, so 6 % of the transactions are votes.

#include <benchmark/benchmark.h>

#include <array>
#include <cstdlib>
#include <memory>
#include <span>
#include <vector>

#include "bench_support.hpp"

#include <riptide/crypto/poh.hpp>
#include <riptide/crypto/schnorr.hpp>
#include <riptide/ledger/entry_codec.hpp>
#include <riptide/ledger/ledger.hpp>
#include <riptide/bank/replay.hpp>
#include <riptide/consensus/vote_tx.hpp>
#include <riptide/txn/execution.hpp>

#include "../tests/support/leader_bank.hpp"
#include <riptide/txn/transaction.hpp>
#include <riptide/util/cpu.hpp>

using namespace riptide;

namespace {

constexpr std::uint64_t hashes_per_tick = 256;
constexpr std::uint64_t ticks_per_slot = 8;
constexpr std::uint64_t slots = 8;
constexpr std::uint32_t txs_per_slot = 1024;
constexpr std::uint32_t txs_per_entry = 64;
constexpr std::size_t key_count = 256;
constexpr std::uint64_t funding = 1'000'000'000;
constexpr std::size_t voter_count = 64;  // BM_slot_replay_votes: keys[0..64) vote

bank::forks_config bank_cfg() {
  bank::forks_config c;
  c.max_versions = 1 << 14;
  c.max_statuses = 1 << 14;
  c.max_accounts = 1024;
  c.lock_stripes = 1024;
  return c;
}

// The replaying side: bank forks of the same size and fee.
bank::forks_config forks_cfg() {
  bank::forks_config c;
  c.max_accounts = 1024;
  c.lock_stripes = 1024;
  c.max_versions = 1 << 16;
  c.max_statuses = 1 << 18;
  c.max_banks = 64;
  c.max_voters = voter_count;
  c.lamports_per_signature = bank_cfg().lamports_per_signature;
  return c;
}

void append_record(std::vector<std::uint8_t>& stream, ledger::record_type type, std::uint64_t slot,
                   std::span<const std::uint8_t> payload) {
  const std::size_t at = stream.size();
  stream.resize(at + ledger::encoded_record_bytes(payload.size()));
  ledger::encode_record(type, slot, payload, std::span(stream).subspan(at));
}

// A leader's chain, made by hand as the TPU makes it: transfers executed on the leader's
// bank, entries with their mixins, ticks, slot ends with the bank hash.
struct chain {
  std::vector<crypto::keypair> keys;
  std::vector<std::vector<std::uint8_t>> streams;  // one per slot
  std::vector<std::vector<std::uint8_t>> txs;      // every transaction, for the raw loop

  bool votes = false;

  explicit chain(bool with_votes) : votes(with_votes) {
    for (std::size_t i = 0; i < key_count; ++i) keys.push_back(crypto::keypair::generate());
    const crypto::hash32 start{};
    auto cfg = bank_cfg();
    cfg.max_voters = voter_count;
    riptide::testing::leader_bank bank(cfg, start);
    fund(bank);
    consensus::tower_sync vote;  // every voter's tower: the same votes
    crypto::hash32 parent_bank_hash{};
    crypto::poh poh(start, hashes_per_tick);
    txn::execution_counters counters;
    std::vector<std::uint8_t> batch(1 << 20);
    std::array<std::uint8_t, ledger::slot_meta_bytes> meta{};
    std::uint64_t n = 0;
    for (std::uint64_t slot = 0; slot < slots; ++slot) {
      std::vector<std::uint8_t> stream;
      if (slot == 0) {
        ledger::slot_meta m;
        m.kind = ledger::meta_kind::chain_start;
        m.hashes_per_tick = hashes_per_tick;
        m.ticks_per_slot = ticks_per_slot;
        m.hash = start;
        append_record(stream, ledger::record_type::slot_meta, 0, std::span(meta.data(), ledger::encode_meta(m, meta)));
        append_record(stream, ledger::record_type::start_state, 0, ledger::encode_start_state(start_state()));
      }
      std::size_t used = 0;
      std::uint32_t count = 0;
      const std::uint32_t entries = txs_per_slot / txs_per_entry;
      for (std::uint64_t t = 0; t < ticks_per_slot; ++t) {
        for (std::uint32_t e = 0; e < entries / ticks_per_slot; ++e) {
          std::vector<std::uint8_t> area;
          std::vector<crypto::signature> sigs;
          const bool vote_entry = votes && slot > 0 && t == 0 && e == 0;
          if (vote_entry) {
            (void)vote.votes.record_vote(slot - 1);
            vote.bank_hash = parent_bank_hash;
            vote.timestamp_ms = static_cast<std::int64_t>(slot);
          }
          for (std::uint32_t k = 0; k < txs_per_entry; ++k, ++n) {
            std::array<std::uint8_t, txn::max_transaction_bytes> body{};
            const std::size_t len =
                vote_entry ? consensus::build_vote_transaction(keys[k], vote, start, body)
                           : txn::build_transfer(keys[n % key_count], keys[(n * 7 + 1) % key_count].public_key(),
                                                 1 + n % 100, start, body);
            txn::transaction_view view;
            (void)txn::parse_transaction(std::span(body.data(), len), view);
            txn::tx_result result = txn::tx_result::account_table_full;
            result = bank.execute(slot, view, counters);
            if (vote_entry && result != txn::tx_result::ok) std::abort();  // every vote lands
            area.push_back(static_cast<std::uint8_t>(len));
            area.push_back(static_cast<std::uint8_t>(len >> 8));
            area.push_back(static_cast<std::uint8_t>(result));
            area.insert(area.end(), body.begin(), body.begin() + static_cast<std::ptrdiff_t>(len));
            sigs.push_back(view.signature(0));
            txs.emplace_back(body.begin(), body.begin() + static_cast<std::ptrdiff_t>(len));
          }
          poh.hash(1);
          const auto rec = poh.record(crypto::entry_mixin(sigs));
          used = ledger::add_entry(batch, used, *rec, false, txs_per_entry, area);
          ++count;
        }
        poh.hash(hashes_per_tick);
        used = ledger::add_entry(batch, used, *poh.tick(), true);
        ++count;
      }
      ledger::finish_batch(batch, count);
      append_record(stream, ledger::record_type::entry_batch, slot, std::span(batch).first(used));
      ledger::slot_meta end;
      end.kind = ledger::meta_kind::slot_end;
      end.hashes_per_tick = hashes_per_tick;
      end.ticks_per_slot = ticks_per_slot;
      end.tick_height = poh.tick_count();
      end.hash = poh.last_hash();
      end.bank_hash = bank.end_slot(slot, end.hash, end.tick_height);
      parent_bank_hash = end.bank_hash;
      end.parent_slot = slot == 0 ? 0 : slot - 1;
      append_record(stream, ledger::record_type::slot_meta, slot, std::span(meta.data(), ledger::encode_meta(end, meta)));
      streams.push_back(std::move(stream));
    }
  }
  // Funding, and the voters (with votes).
  void fund(riptide::testing::leader_bank& b) const { fund(b.forks()); }
  void fund(bank::bank_forks& b) const {
    for (const auto& k : keys) (void)b.credit(k.public_key(), funding);
    if (votes)
      for (std::size_t v = 0; v < voter_count; ++v) (void)b.add_voter(keys[v].public_key());
  }
  ledger::start_state start_state() const {
    ledger::start_state st;
    st.lamports_per_signature = bank_cfg().lamports_per_signature;
    for (const auto& k : keys) st.accounts.push_back({k.public_key(), funding});
    ledger::sort_start_state(st.accounts);
    if (votes)
      for (std::size_t v = 0; v < voter_count; ++v) st.voters.push_back(keys[v].public_key());
    return st;
  }
};

const chain& shared_chain() {
  static const chain c(false);
  return c;
}
const chain& voting_chain() {
  static const chain c(true);
  return c;
}

void BM_schnorr_verify_raw(benchmark::State& state) {
  const auto& c = shared_chain();
  util::pin_current_thread(bench::cpu_at(1));
  std::vector<std::span<const std::uint8_t>> txs(c.txs.begin(), c.txs.end());
  bench::run_raw_verify(state, txs);
}
BENCHMARK(BM_schnorr_verify_raw)->UseRealTime()->MinTime(2.0);

void replay_chain(benchmark::State& state, const chain& c) {
  util::pin_current_thread(bench::cpu_at(1));
  bank::replay_chain_config cfg;
  cfg.hashes_per_tick = hashes_per_tick;
  cfg.ticks_per_slot = ticks_per_slot;
  cfg.start_state = c.start_state();
  std::uint64_t txs = 0;
  for (auto _ : state) {
    state.PauseTiming();
    auto accounts = std::make_unique<bank::bank_forks>(forks_cfg(), cfg.start_hash);
    c.fund(*accounts);
    bank::slot_replayer replayer(*accounts, cfg);
    state.ResumeTiming();
    for (std::uint64_t s = 0; s < slots; ++s) {
      const auto r = replayer.replay(s, s == 0 ? 0 : s - 1, c.streams[s]);
      if (!r.ok()) {
        state.SkipWithError(bank::to_string(r.error));
        return;
      }
      txs += r.txs;
      (void)accounts->set_root(replayer.tip());  // as the replay tile does after each slot
    }
    // With votes, the replayed vote states hold every voter's last vote (slot slots - 2).
    if (c.votes)
      for (std::size_t v = 0; v < voter_count; ++v) {
        const auto s = accounts->vote_state(replayer.tip(), v);
        if (!s || s->votes.last_voted_slot() != slots - 2) {
          state.SkipWithError("a vote did not land in replay");
          return;
        }
      }
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(txs));
}

void BM_slot_replay(benchmark::State& state) { replay_chain(state, shared_chain()); }
BENCHMARK(BM_slot_replay)->UseRealTime()->MinTime(2.0)->Unit(benchmark::kMillisecond);

void BM_slot_replay_votes(benchmark::State& state) { replay_chain(state, voting_chain()); }
BENCHMARK(BM_slot_replay_votes)->UseRealTime()->MinTime(2.0)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
