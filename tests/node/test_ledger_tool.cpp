#include <riptide/node/ledger_tool.hpp>

#include "../support/temp_dir.hpp"

#include <riptide/crypto/poh.hpp>
#include <riptide/crypto/schnorr.hpp>
#include <riptide/ledger/entry_codec.hpp>
#include <riptide/ledger/ledger.hpp>
#include <riptide/txn/execution.hpp>

#include "../support/leader_bank.hpp"
#include <riptide/txn/transaction.hpp>
#include <riptide/util/hex.hpp>

#include <gtest/gtest.h>
#include <openssl/sha.h>

#include <array>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <random>
#include <sstream>
#include <vector>

using namespace riptide;

namespace {

constexpr std::uint64_t hashes_per_tick = 8;
constexpr std::uint64_t ticks_per_slot = 2;
constexpr std::uint64_t funding = 1'000'000;

bank::forks_config bank_cfg() {
  bank::forks_config c;
  c.max_versions = 1 << 14;
  c.max_statuses = 1 << 14;
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
  bool wrong_amount = false;      // slot 1's first transfer moves another amount than it signed
  bool no_start_state = false;    // a ledger from before start-state records
};

// Writes a ledger as the leader would: a real PoH chain, transfers executed on a bank (the
// leader's), their results and the bank hashes recorded.
struct ledger_builder {
  riptide::testing::temp_dir dir{"riptide-ledger-tool"};
  std::vector<crypto::keypair> keys;
  std::vector<crypto::signature> all_sigs;
  crypto::pubkey leader_id = crypto::keypair::generate().public_key();  // named in slot ends

  ledger_builder() {
    for (int i = 0; i < 3; ++i) keys.push_back(crypto::keypair::generate());
  }
  void fund(riptide::testing::leader_bank& b) const {
    for (const auto& k : keys) ASSERT_TRUE(b.credit(k.public_key(), funding));
  }

  void build(const tamper& t) {
    ledger::ledger lg = ledger::ledger::open({dir.path(), 1 << 20, false});
    crypto::hash32 start{};
    start.fill(0x11);
    riptide::testing::leader_bank bank(bank_cfg(), start);
    fund(bank);
    crypto::poh chain(start, hashes_per_tick);
    std::array<std::uint8_t, ledger::slot_meta_bytes> meta{};
    ledger::slot_meta m;
    m.kind = ledger::meta_kind::chain_start;
    m.hashes_per_tick = hashes_per_tick;
    m.ticks_per_slot = ticks_per_slot;
    m.hash = start;
    ASSERT_EQ(lg.append(ledger::record_type::slot_meta, 0, std::span(meta.data(), ledger::encode_meta(m, meta))),
              ledger::append_error::none);
    if (!t.no_start_state) {
      ledger::start_state st;
      st.lamports_per_signature = bank_cfg().lamports_per_signature;
      for (const auto& k : keys) st.accounts.push_back({k.public_key(), funding});
      ledger::sort_start_state(st.accounts);
      ASSERT_EQ(lg.append(ledger::record_type::start_state, 0, ledger::encode_start_state(st)),
                ledger::append_error::none);
    }
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
        auto result = static_cast<std::uint8_t>(bank.execute(slot, tx, counters));
        if (t.wrong_result && slot == 0 && i == 0) result = static_cast<std::uint8_t>(txn::tx_result::insufficient_funds);
        // The transfer's lamports are the body's last 8 bytes: one more, after signing.
        if (t.wrong_amount && slot == 1 && i == 0) ++buf[len - 8];
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
      end.bank_hash = bank.end_slot(slot, end.hash, end.tick_height);
      end.parent_slot = slot == 0 ? 0 : slot - 1;
      end.leader = leader_id;
      if (t.wrong_bank_hash && slot == 1) end.bank_hash[5] ^= 0x80;
      ASSERT_EQ(lg.append(ledger::record_type::slot_meta, slot, std::span(meta.data(), ledger::encode_meta(end, meta))),
                ledger::append_error::none);
      blockhash = end.hash;
    }
    ASSERT_TRUE(lg.sync().ok);
  }
};

TEST(ledger_tool, verify_checks_txs_and_counts_them) {
  ledger_builder b;
  b.build({});
  const auto r = node::verify_ledger(b.dir.path(), {}, {});
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
  const auto r = node::verify_ledger(b.dir.path(), {}, {});
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("mixin"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("slot 1"), std::string::npos) << r.error;
}

TEST(ledger_tool, verify_re_executes_and_rebuilds_the_bank_from_the_start_state) {
  ledger_builder b;
  b.build({});
  // Two slots, each one transfer and one overdraft: every result and bank hash re-made.
  const auto r = node::verify_ledger(b.dir.path(), {}, {});
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.records, 6u);  // chain start, start state, and a batch and a slot end per slot
  EXPECT_EQ(r.bank_hashes, 2u);
  EXPECT_FALSE(r.partial_tail);
}

TEST(ledger_tool, verify_rejects_a_recorded_result_that_does_not_re_execute) {
  ledger_builder b;
  b.build({.wrong_result = true});
  const auto r = node::verify_ledger(b.dir.path(), {}, {});
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("result_mismatch"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("slot 0"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("recorded insufficient_funds, re-executed ok"), std::string::npos) << r.error;
}

TEST(ledger_tool, verify_rejects_a_bank_hash_that_does_not_re_execute) {
  ledger_builder b;
  b.build({.wrong_bank_hash = true});
  const auto r = node::verify_ledger(b.dir.path(), {}, {});
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("bank_hash_mismatch: slot 1"), std::string::npos) << r.error;
  EXPECT_EQ(r.slots, 1u);
}

TEST(ledger_tool, verify_rejects_a_transfer_whose_amount_was_changed) {
  ledger_builder b;
  b.build({.wrong_amount = true});
  const auto r = node::verify_ledger(b.dir.path(), {}, {});
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("bad_signature: slot 1"), std::string::npos) << r.error;
}

TEST(ledger_tool, verify_refuses_a_ledger_without_a_start_state) {
  ledger_builder b;
  b.build({.no_start_state = true});
  const auto r = node::verify_ledger(b.dir.path(), {}, {});
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("bad_start_state"), std::string::npos) << r.error;
}

TEST(ledger_tool, verify_reports_a_partial_last_slot_without_failing) {
  ledger_builder b;
  b.build({.partial_slot = true});
  const auto r = node::verify_ledger(b.dir.path(), {}, {});
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.slots, 2u);
  EXPECT_TRUE(r.partial_tail);
  EXPECT_EQ(r.partial_slot, 2u);
  EXPECT_EQ(r.partial_records, 1u);
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
  EXPECT_TRUE(node::verify_ledger(b.dir.path(), {}, {}).ok);
  auto lg = ledger::ledger::open({b.dir.path(), 1 << 20, false});
  const auto again = node::find_resume_point(lg);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->truncated_records, 0u);
  EXPECT_EQ(again->next_slot, 2u);
}

// A restarted validator drops the blocks of its own at the end of its chain that no other
// leader built on; a block of another leader after them keeps them all.
TEST(ledger_tool, trim_own_tail_cuts_only_own_blocks_nobody_built_on) {
  crypto::pubkey me{}, other{};
  me.fill(0xAA);
  other.fill(0xBB);
  auto meta = [](ledger::meta_kind kind, std::uint64_t tick_height, const crypto::pubkey& leader,
                 std::uint64_t parent) {
    ledger::slot_meta m;
    m.kind = kind;
    m.ticks_per_slot = 4;
    m.hashes_per_tick = 1;
    m.tick_height = tick_height;
    m.parent_slot = parent;
    m.leader = leader;
    m.hash.fill(static_cast<std::uint8_t>(tick_height + 1));
    std::array<std::uint8_t, ledger::slot_meta_bytes> buf{};
    const std::size_t n = ledger::encode_meta(m, buf);
    return std::vector<std::uint8_t>(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n));
  };
  // Slots with their leaders; the chain head (chain start, start state) opens slot 0.
  auto build = [&](const std::filesystem::path& dir, const std::vector<crypto::pubkey>& leaders) {
    auto lg = ledger::ledger::open({dir, 1 << 20, false});
    EXPECT_EQ(lg.append(ledger::record_type::slot_meta, 0, meta(ledger::meta_kind::chain_start, 0, {}, 0)),
              ledger::append_error::none);
    EXPECT_EQ(lg.append(ledger::record_type::start_state, 0, ledger::encode_start_state({})),
              ledger::append_error::none);
    for (std::uint64_t slot = 0; slot < leaders.size(); ++slot)
      EXPECT_EQ(lg.append(ledger::record_type::slot_meta, slot,
                          meta(ledger::meta_kind::slot_end, (slot + 1) * 4, leaders[slot], slot == 0 ? 0 : slot - 1)),
                ledger::append_error::none);
    (void)lg.sync();
  };
  riptide::testing::temp_dir d;
  build(d.path() / "tail", {other, me, me});
  {
    auto lg = ledger::ledger::open({d.path() / "tail", 1 << 20, false});
    EXPECT_EQ(node::trim_own_tail(lg, me), 2u);
    const auto rp = node::find_resume_point(lg);
    ASSERT_TRUE(rp.has_value());
    EXPECT_EQ(rp->next_slot, 1u);  // slots 1 and 2 are gone, slot 0 stays
    EXPECT_EQ(node::trim_own_tail(lg, me), 0u);
  }
  build(d.path() / "built_on", {me, me, other});
  {
    auto lg = ledger::ledger::open({d.path() / "built_on", 1 << 20, false});
    EXPECT_EQ(node::trim_own_tail(lg, me), 0u);
    EXPECT_EQ(node::find_resume_point(lg)->next_slot, 3u);
  }
  build(d.path() / "all_own", {me, me});
  {
    auto lg = ledger::ledger::open({d.path() / "all_own", 1 << 20, false});
    EXPECT_EQ(node::trim_own_tail(lg, me), 2u);
    EXPECT_TRUE(lg.empty());  // slot 0 with the chain head: the chain starts over
  }
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

// docs/protocol.md, "Slot digest", recomputed with OpenSSL from the segment files and the
// record layout of the "Ledger" section, without the ledger code: per slot, SHA-256 over each
// record's type u16 ‖ slot u64 ‖ length u32 ‖ payload, in ledger order.
namespace doc {

struct slot_line {
  std::uint64_t records = 0;
  std::vector<std::uint8_t> hashed;
  crypto::hash32 bank_hash{};
  bool complete = false;
  std::uint64_t parent = 0;
  crypto::pubkey leader{};
  bool rooted = false;
};

std::uint64_t le(const std::vector<std::uint8_t>& b, std::size_t at, std::size_t width) {
  std::uint64_t v = 0;
  for (std::size_t i = width; i-- > 0;) v = v << 8 | b[at + i];
  return v;
}

std::map<std::uint64_t, slot_line> digest_from_segments(const std::filesystem::path& dir) {
  std::map<std::uint64_t, slot_line> slots;
  for (std::uint64_t index = 0;; ++index) {
    char name[32];
    std::snprintf(name, sizeof name, "segment-%08llu.log", static_cast<unsigned long long>(index));
    std::ifstream in(dir / name, std::ios::binary);
    if (!in) break;
    const std::vector<std::uint8_t> seg((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::size_t at = 32;  // the segment header
    while (at + 24 <= seg.size() && le(seg, at + 4, 4) == 0x524C5452) {  // "RTLR"
      const std::uint64_t type = le(seg, at + 8, 2);
      const std::uint64_t length = le(seg, at + 12, 4);
      const std::uint64_t slot = le(seg, at + 16, 8);
      slot_line& line = slots[slot];
      ++line.records;
      auto hash_bytes = [&](std::size_t from, std::size_t n) {
        line.hashed.insert(line.hashed.end(), seg.begin() + static_cast<std::ptrdiff_t>(from),
                           seg.begin() + static_cast<std::ptrdiff_t>(from + n));
      };
      hash_bytes(at + 8, 2);        // type u16
      hash_bytes(at + 16, 8);       // slot u64
      hash_bytes(at + 12, 4);       // length u32
      hash_bytes(at + 24, length);  // payload
      line.complete = type == 3 && le(seg, at + 24 + 4, 4) == 2;  // slot_meta, kind slot end
      if (line.complete) {
        std::memcpy(line.bank_hash.data(), seg.data() + at + 24 + 64, 32);
        line.parent = le(seg, at + 24 + 96, 8);
        std::memcpy(line.leader.data(), seg.data() + at + 24 + 104, 32);
      } else {
        line.bank_hash = {};
        line.parent = 0;
        line.leader = {};
      }
      at += 24 + (length + 7) / 8 * 8;
    }
  }
  // The durable file's root (u64 at 32 of the 48-byte file), then its parents down.
  std::ifstream in(dir / "durable", std::ios::binary);
  const std::vector<std::uint8_t> durable((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (durable.size() == 48) {
    auto it = slots.find(le(durable, 32, 8));
    while (it != slots.end() && !it->second.rooted) {
      it->second.rooted = true;
      if (!it->second.complete || it->second.parent >= it->first) break;
      it = slots.find(it->second.parent);
    }
  }
  return slots;
}

void expect_digests_match(const std::filesystem::path& dir) {
  const auto expected = digest_from_segments(dir);
  const auto got = node::ledger_slot_digests(dir);
  ASSERT_EQ(got.size(), expected.size());
  auto it = expected.begin();
  for (const node::slot_digest& d : got) {
    SCOPED_TRACE("slot " + std::to_string(d.slot));
    EXPECT_EQ(d.slot, it->first);
    EXPECT_EQ(d.records, it->second.records);
    crypto::hash32 h;
    SHA256(it->second.hashed.data(), it->second.hashed.size(), h.data());
    EXPECT_EQ(d.digest, h);
    EXPECT_EQ(d.bank_hash, it->second.bank_hash);
    EXPECT_EQ(d.complete, it->second.complete);
    EXPECT_EQ(d.parent, it->second.parent);
    EXPECT_EQ(d.leader, it->second.leader);
    EXPECT_EQ(d.rooted, it->second.rooted);
    ++it;
  }
}

}  // namespace doc

TEST(ledger_tool, slot_digest_as_protocol_md_states) {
  // The worked example: slot 7, one entry batch with payload 00000000.
  {
    riptide::testing::temp_dir dir{"riptide-digest"};
    {
      ledger::ledger lg = ledger::ledger::open({dir.path(), 1 << 20, false});
      const std::uint8_t payload[4] = {};
      ASSERT_EQ(lg.append(ledger::record_type::entry_batch, 7, payload), ledger::append_error::none);
      ASSERT_TRUE(lg.sync().ok);
    }
    const auto d = node::ledger_slot_digests(dir.path());
    ASSERT_EQ(d.size(), 1u);
    EXPECT_EQ(d[0].slot, 7u);
    EXPECT_EQ(d[0].records, 1u);
    EXPECT_EQ(util::to_hex(d[0].digest), "666c3c7e891076322a1775ac890b1dfa1c9bc49eff93d3b66edc266282782ff4");
    EXPECT_EQ(d[0].bank_hash, crypto::hash32{});
    EXPECT_FALSE(d[0].complete);
    doc::expect_digests_match(dir.path());
  }
  // A leader's ledger (chain start, entries with transactions, slot ends, a partial last slot).
  {
    ledger_builder b;
    b.build({.partial_slot = true});
    doc::expect_digests_match(b.dir.path());
    // Rooted at slot 1: slots 1 and 0 (its parent) are rooted, the partial slot 2 is not.
    {
      ledger::ledger lg = ledger::ledger::open({b.dir.path(), 1 << 20, false});
      ASSERT_TRUE(lg.set_root(1));
      ASSERT_TRUE(lg.sync().ok);
    }
    doc::expect_digests_match(b.dir.path());
    const auto d = node::ledger_slot_digests(b.dir.path());
    ASSERT_EQ(d.size(), 3u);
    EXPECT_TRUE(d[0].rooted);
    EXPECT_TRUE(d[1].rooted);
    EXPECT_FALSE(d[2].rooted);
    EXPECT_EQ(d[1].parent, 0u);
    EXPECT_EQ(d[1].leader, b.leader_id);
  }
  // The same records in 8 KiB and in 1 MiB segments: the digests follow the records only.
  riptide::testing::temp_dir small{"riptide-digest-small"}, large{"riptide-digest-large"};
  for (const auto* dir : {&small, &large}) {
    ledger::ledger lg = ledger::ledger::open({dir->path(), dir == &small ? 8192u : 1u << 20, false});
    std::mt19937_64 rng(5);
    for (std::uint64_t slot : {3, 3, 3, 4, 4, 9}) {
      std::vector<std::uint8_t> payload(1 + rng() % 3000);
      for (auto& x : payload) x = static_cast<std::uint8_t>(rng());
      ASSERT_EQ(lg.append(ledger::record_type::entry_batch, slot, payload), ledger::append_error::none);
    }
    ledger::slot_meta end;
    end.kind = ledger::meta_kind::slot_end;
    end.hashes_per_tick = 1;
    end.ticks_per_slot = 1;
    end.bank_hash.fill(0x5a);
    std::array<std::uint8_t, ledger::slot_meta_bytes> meta{};
    ASSERT_EQ(lg.append(ledger::record_type::slot_meta, 9, std::span(meta.data(), ledger::encode_meta(end, meta))),
              ledger::append_error::none);
    ASSERT_TRUE(lg.sync().ok);
  }
  EXPECT_TRUE(std::filesystem::exists(small.path() / "segment-00000001.log")) << "records span segments";
  doc::expect_digests_match(small.path());
  doc::expect_digests_match(large.path());
  const auto a = node::ledger_slot_digests(small.path());
  const auto c = node::ledger_slot_digests(large.path());
  ASSERT_EQ(a.size(), 3u);
  ASSERT_EQ(c.size(), 3u);
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i].digest, c[i].digest);
  EXPECT_TRUE(a[2].complete);
}
