#include <riptide/node/ledger_tool.hpp>

#include "../support/temp_dir.hpp"

#include <riptide/crypto/poh.hpp>
#include <riptide/crypto/schnorr.hpp>
#include <riptide/ledger/entry_codec.hpp>
#include <riptide/ledger/ledger.hpp>
#include <riptide/txn/bank.hpp>
#include <riptide/txn/transaction.hpp>
#include <riptide/util/hex.hpp>

#include <gtest/gtest.h>

#include <array>
#include <cstring>
#include <sstream>
#include <vector>

using namespace riptide;

namespace {

constexpr std::uint64_t hashes_per_tick = 8;
constexpr std::uint64_t ticks_per_slot = 2;
constexpr std::uint64_t funding = 1'000'000;

txn::bank_config bank_cfg() {
  txn::bank_config c;
  c.max_accounts = 64;
  c.lock_stripes = 16;
  c.lamports_per_signature = 10;
  return c;
}

// What can go wrong on purpose.
struct tamper {
  bool wrong_mixin = false;       // slot 1's entry mixes in a hash that is not its txs'
  bool wrong_result = false;      // slot 0's first tx records a failure it did not have
  bool wrong_bank_hash = false;   // slot 1's slot end carries another bank hash
  bool partial_slot = false;      // an entry batch of slot 2 with no slot end
};

// Writes a ledger as the leader would: a real PoH chain, transfers executed on a bank (the
// leader's), their results and the bank hashes recorded.
struct ledger_builder {
  riptide::testing::temp_dir dir{"riptide-ledger-tool"};
  std::vector<crypto::keypair> keys;
  std::vector<crypto::signature> all_sigs;

  ledger_builder() {
    for (int i = 0; i < 3; ++i) keys.push_back(crypto::keypair::generate());
  }
  void fund(txn::bank& b) const {
    for (const auto& k : keys) ASSERT_TRUE(b.credit(k.public_key(), funding));
  }

  void build(const tamper& t) {
    ledger::ledger lg = ledger::ledger::open({dir.path(), 1 << 20, false});
    txn::bank bank(bank_cfg());
    fund(bank);
    bank.begin_slot();  // genesis funding is not a change made in slot 0 (as the leader sees it)
    crypto::hash32 start{};
    start.fill(0x11);
    bank.register_blockhash(0, start);
    crypto::poh chain(start, hashes_per_tick);
    std::array<std::uint8_t, ledger::slot_meta_bytes> meta{};
    ledger::slot_meta m;
    m.kind = ledger::meta_kind::chain_start;
    m.hashes_per_tick = hashes_per_tick;
    m.ticks_per_slot = ticks_per_slot;
    m.hash = start;
    ASSERT_EQ(lg.append(ledger::record_type::slot_meta, 0, std::span(meta.data(), ledger::encode_meta(m, meta))),
              ledger::append_error::none);
    crypto::hash32 blockhash = start;
    const std::uint64_t slots = t.partial_slot ? 3 : 2;
    for (std::uint64_t slot = 0; slot < slots; ++slot) {
      std::vector<std::uint8_t> batch(65536);
      std::size_t used = 0;
      std::uint32_t count = 0;
      // One entry with two transfers (the second overdraws: a recorded failure).
      std::vector<std::uint8_t> area;
      std::vector<crypto::signature> sigs;
      for (int i = 0; i < 2; ++i) {
        std::array<std::uint8_t, 512> buf{};
        const std::uint64_t lamports = i == 0 ? 1000 + slot : funding * 10;
        const std::size_t len = txn::build_transfer(keys[(slot + i) % 3], keys[(slot + i + 1) % 3].public_key(),
                                                    lamports, blockhash, buf);
        txn::transaction_view tx;
        EXPECT_EQ(txn::parse_transaction({buf.data(), len}, tx), txn::parse_error::none);
        txn::execution_counters counters;
        EXPECT_TRUE(bank.try_lock(tx));
        auto result = static_cast<std::uint8_t>(bank.execute(tx, counters));
        bank.unlock(tx);
        if (t.wrong_result && slot == 0 && i == 0) result = static_cast<std::uint8_t>(txn::tx_result::insufficient_funds);
        area.push_back(static_cast<std::uint8_t>(len));
        area.push_back(static_cast<std::uint8_t>(len >> 8));
        area.push_back(result);
        area.insert(area.end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(len));
        sigs.push_back(tx.signature(0));
        all_sigs.push_back(tx.signature(0));
      }
      crypto::hash32 mixin = crypto::entry_mixin(sigs);
      if (t.wrong_mixin && slot == 1) mixin[0] ^= 1;
      (void)chain.hash(2);
      const auto e = chain.record(mixin);
      ASSERT_TRUE(e.has_value());
      used = ledger::add_entry(batch, used, *e, false, 2, area);
      ++count;
      for (std::uint64_t k = 0; k < ticks_per_slot; ++k) {
        while (!chain.hash(1000)) {
        }
        const auto tick = chain.tick();
        ASSERT_TRUE(tick.has_value());
        used = ledger::add_entry(batch, used, *tick, true);
        ++count;
      }
      ASSERT_NE(used, 0u);
      ledger::finish_batch(batch, count);
      ASSERT_EQ(lg.append(ledger::record_type::entry_batch, slot, std::span(batch.data(), used)),
                ledger::append_error::none);
      if (slot == 2) break;  // the partial slot: no slot end
      ledger::slot_meta end;
      end.kind = ledger::meta_kind::slot_end;
      end.hashes_per_tick = hashes_per_tick;
      end.ticks_per_slot = ticks_per_slot;
      end.tick_height = chain.tick_count();
      end.hash = chain.last_hash();
      end.bank_hash = bank.bank_hash(end.hash);
      if (t.wrong_bank_hash && slot == 1) end.bank_hash[5] ^= 0x80;
      ASSERT_EQ(lg.append(ledger::record_type::slot_meta, slot, std::span(meta.data(), ledger::encode_meta(end, meta))),
                ledger::append_error::none);
      bank.begin_slot();
      bank.register_blockhash(slot, end.hash);
      blockhash = end.hash;
    }
    ASSERT_TRUE(lg.sync().ok);
  }
};

TEST(ledger_tool, verify_checks_txs_and_counts_them) {
  ledger_builder b;
  b.build({});
  const auto r = node::verify_ledger(b.dir.path(), 1, {});
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.slots, 2u);
  EXPECT_EQ(r.txs, 4u);
  EXPECT_EQ(r.txs_by_result[0], 2u);
  EXPECT_EQ(r.txs_by_result[static_cast<std::size_t>(txn::tx_result::insufficient_funds)], 2u);
  EXPECT_EQ(r.bank_hashes, 2u);
  EXPECT_EQ(r.tx_summary(), "4 txs (2 ok, 2 insufficient_funds)");
}

TEST(ledger_tool, verify_detects_a_mixin_that_is_not_the_txs_signatures) {
  ledger_builder b;
  b.build({.wrong_mixin = true});
  const auto r = node::verify_ledger(b.dir.path(), 1, {});
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("mixin"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("slot 1"), std::string::npos) << r.error;
}

TEST(ledger_tool, replay_rebuilds_the_bank_and_matches_every_result_and_bank_hash) {
  ledger_builder b;
  b.build({});
  auto lg = ledger::ledger::open({b.dir.path(), 1 << 20, false});
  txn::bank bank(bank_cfg());
  b.fund(bank);
  const auto r = node::replay_ledger(lg, bank);
  EXPECT_TRUE(r.ok()) << r.first_problem;
  EXPECT_EQ(r.slots, 2u);
  EXPECT_EQ(r.txs, 4u);
  EXPECT_EQ(r.bank_hashes_checked, 2u);
  EXPECT_EQ(bank.total_lamports() + 4 * 10, 3 * funding);  // four fees burnt
}

TEST(ledger_tool, replay_detects_a_recorded_result_that_does_not_re_execute) {
  ledger_builder b;
  b.build({.wrong_result = true});
  auto lg = ledger::ledger::open({b.dir.path(), 1 << 20, false});
  txn::bank bank(bank_cfg());
  b.fund(bank);
  const auto r = node::replay_ledger(lg, bank);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.result_mismatches, 1u);
  EXPECT_NE(r.first_problem.find("slot 0"), std::string::npos) << r.first_problem;
  EXPECT_NE(r.first_problem.find("recorded insufficient_funds, re-executed ok"), std::string::npos)
      << r.first_problem;
}

TEST(ledger_tool, replay_detects_a_bank_hash_mismatch) {
  ledger_builder b;
  b.build({.wrong_bank_hash = true});
  auto lg = ledger::ledger::open({b.dir.path(), 1 << 20, false});
  txn::bank bank(bank_cfg());
  b.fund(bank);
  const auto r = node::replay_ledger(lg, bank);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.result_mismatches, 0u);
  EXPECT_EQ(r.bank_hash_mismatches, 1u);
  EXPECT_NE(r.first_problem.find("slot 1: bank hash"), std::string::npos) << r.first_problem;
}

TEST(ledger_tool, find_resume_point_cuts_a_partial_slot) {
  ledger_builder b;
  b.build({.partial_slot = true});
  ledger::slot_meta last_end;
  {
    auto lg = ledger::ledger::open({b.dir.path(), 1 << 20, false});
    const auto rp = node::find_resume_point(lg);
    ASSERT_TRUE(rp.has_value());
    EXPECT_EQ(rp->next_slot, 2u);
    EXPECT_EQ(rp->tick_height, 2 * ticks_per_slot);
    EXPECT_EQ(rp->hashes_per_tick, hashes_per_tick);
    EXPECT_EQ(rp->ticks_per_slot, ticks_per_slot);
    EXPECT_EQ(rp->truncated_records, 1u);
    EXPECT_EQ(rp->chain_start_hash[0], 0x11);
    EXPECT_EQ(lg.last_slot(), 1u);
    lg.for_each([&](const ledger::record_view& v) {
      if (v.type == ledger::record_type::slot_meta) {
        ASSERT_EQ(ledger::decode_meta(v.payload, last_end), ledger::entry_error::none);
      }
    });
    EXPECT_EQ(rp->last_hash, last_end.hash);
  }
  // The cut is durable and the ledger verifies; a second look finds nothing to cut.
  EXPECT_TRUE(node::verify_ledger(b.dir.path(), 1, {}).ok);
  auto lg = ledger::ledger::open({b.dir.path(), 1 << 20, false});
  const auto again = node::find_resume_point(lg);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->truncated_records, 0u);
  EXPECT_EQ(again->next_slot, 2u);
}

TEST(ledger_tool, find_resume_point_of_an_empty_ledger_is_empty) {
  riptide::testing::temp_dir d;
  auto lg = ledger::ledger::open({d.path(), 1 << 20, false});
  EXPECT_FALSE(node::find_resume_point(lg).has_value());
}

TEST(ledger_tool, show_lists_each_tx) {
  ledger_builder b;
  b.build({});
  std::ostringstream out;
  ASSERT_TRUE(node::show_ledger_slot(b.dir.path(), 0, out)) << out.str();
  const std::string s = out.str();
  EXPECT_NE(s.find("1000 lamports  ok"), std::string::npos) << s;
  EXPECT_NE(s.find("insufficient_funds"), std::string::npos) << s;
  EXPECT_NE(s.find(" -> "), std::string::npos) << s;
  EXPECT_NE(s.find("tx " + util::to_hex(std::span<const std::uint8_t>(b.all_sigs[0]).first(8))), std::string::npos) << s;
  EXPECT_NE(s.find("bank_hash "), std::string::npos) << s;
}

}  // namespace
