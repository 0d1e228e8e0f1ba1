// Slot replay: the follower's per-slot check and re-execution vs the raw signature-verify loop.
//
// BM_schnorr_verify_raw : secp256k1_schnorrsig_verify over the chain's transactions, keys
//                         parsed once: the per-core ceiling replay's signature check meets.
// BM_slot_replay        : bank::slot_replayer over a leader-made chain of `slots` slots of
//                         `txs_per_slot` transfers (entries of 64 txs, 8 ticks of 256 hashes
//                         per slot): parse, ticks, mixins, PoH, signatures, execution, bank
//                         hash. A fresh bank per pass (outside the timing). items_per_second =
//                         transactions; both pinned to the same CPU.

#include <benchmark/benchmark.h>

#include <array>
#include <memory>
#include <span>
#include <vector>

#include "bench_support.hpp"

#include <riptide/crypto/poh.hpp>
#include <riptide/crypto/schnorr.hpp>
#include <riptide/ledger/entry_codec.hpp>
#include <riptide/ledger/ledger.hpp>
#include <riptide/bank/replay.hpp>
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

  chain() {
    for (std::size_t i = 0; i < key_count; ++i) keys.push_back(crypto::keypair::generate());
    const crypto::hash32 start{};
    riptide::testing::leader_bank bank(bank_cfg(), start);
    fund(bank);
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
          for (std::uint32_t k = 0; k < txs_per_entry; ++k, ++n) {
            std::array<std::uint8_t, txn::max_transaction_bytes> body{};
            const std::size_t len = txn::build_transfer(keys[n % key_count], keys[(n * 7 + 1) % key_count].public_key(),
                                                        1 + n % 100, start, body);
            txn::transaction_view view;
            (void)txn::parse_transaction(std::span(body.data(), len), view);
            txn::tx_result result = txn::tx_result::account_table_full;
            result = bank.execute(slot, view, counters);
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
      end.parent_slot = slot == 0 ? 0 : slot - 1;
      append_record(stream, ledger::record_type::slot_meta, slot, std::span(meta.data(), ledger::encode_meta(end, meta)));
      streams.push_back(std::move(stream));
    }
  }
  void fund(riptide::testing::leader_bank& b) const {
    for (const auto& k : keys) (void)b.credit(k.public_key(), funding);
  }
  void fund(bank::bank_forks& b) const {
    for (const auto& k : keys) (void)b.credit(k.public_key(), funding);
  }
  ledger::start_state start_state() const {
    ledger::start_state st;
    st.lamports_per_signature = bank_cfg().lamports_per_signature;
    for (const auto& k : keys) st.accounts.push_back({k.public_key(), funding});
    ledger::sort_start_state(st.accounts);
    return st;
  }
};

const chain& shared_chain() {
  static const chain c;
  return c;
}

void BM_schnorr_verify_raw(benchmark::State& state) {
  const auto& c = shared_chain();
  util::pin_current_thread(bench::cpu_at(1));
  std::vector<std::span<const std::uint8_t>> txs(c.txs.begin(), c.txs.end());
  bench::run_raw_verify(state, txs);
}
BENCHMARK(BM_schnorr_verify_raw)->UseRealTime()->MinTime(2.0);

void BM_slot_replay(benchmark::State& state) {
  const auto& c = shared_chain();
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
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(txs));
}
BENCHMARK(BM_slot_replay)->UseRealTime()->MinTime(2.0)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
