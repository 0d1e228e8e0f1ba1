#include <riptide/bank/replay.hpp>

#include "../support/temp_dir.hpp"

#include <riptide/crypto/poh.hpp>
#include <riptide/crypto/schnorr.hpp>
#include <riptide/ledger/entry_codec.hpp>
#include <riptide/ledger/ledger.hpp>
#include <riptide/txn/execution.hpp>

#include "../support/leader_bank.hpp"
#include <riptide/txn/transaction.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <functional>
#include <memory>
#include <new>
#include <set>
#include <string>
#include <vector>

// Counts heap allocations while armed, so a test can show a successful replay allocates nothing.
namespace {
std::atomic<bool> g_count_allocs{false};
std::atomic<std::uint64_t> g_allocs{0};
}  // namespace

// GCC pairs the replaced operator new with malloc and warns on free() in the replaced delete.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void* operator new(std::size_t n) {
  if (g_count_allocs.load(std::memory_order_relaxed)) g_allocs.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
#pragma GCC diagnostic pop

using namespace riptide;
using bank::replay_error;

namespace {

constexpr std::uint64_t hashes_per_tick = 8;
constexpr std::uint64_t ticks_per_slot = 4;
constexpr std::uint64_t funding = 1'000'000;
constexpr std::uint64_t slots = 4;
constexpr std::size_t entries_per_batch = 3;  // several batch records per slot

bank::forks_config bank_cfg() {
  bank::forks_config c;
  c.max_versions = 1 << 14;
  c.max_statuses = 1 << 14;
  c.max_accounts = 64;
  c.lock_stripes = 16;
  c.lamports_per_signature = 10;
  return c;
}

// The replaying side's bank forks: the leader's bank's size and fee, small tables.
bank::forks_config forks_cfg() {
  bank::forks_config c;
  c.max_accounts = 64;
  c.max_banks = 64;
  c.max_versions = 4096;
  c.max_statuses = 4096;
  c.lock_stripes = 16;
  c.lamports_per_signature = bank_cfg().lamports_per_signature;
  return c;
}

crypto::hash32 start_hash() {
  crypto::hash32 h{};
  h.fill(0x5a);
  return h;
}

bank::replay_chain_config chain_cfg() {
  bank::replay_chain_config c;
  c.hashes_per_tick = hashes_per_tick;
  c.ticks_per_slot = ticks_per_slot;
  c.start_hash = start_hash();
  return c;
}

struct record {
  ledger::record_type type;
  std::uint64_t slot;
  std::vector<std::uint8_t> payload;
};
using slot_records = std::vector<record>;

std::vector<std::uint8_t> encode(const slot_records& recs) {
  std::vector<std::uint8_t> out;
  for (const auto& r : recs) {
    const std::size_t at = out.size();
    out.resize(at + ledger::encoded_record_bytes(r.payload.size()));
    ledger::encode_record(r.type, r.slot, r.payload, std::span(out).subspan(at));
  }
  return out;
}

std::vector<std::uint8_t> meta_payload(const ledger::slot_meta& m) {
  std::vector<std::uint8_t> out(ledger::slot_meta_bytes);
  ledger::encode_meta(m, out);
  return out;
}

ledger::slot_meta decode_meta(const record& r) {
  ledger::slot_meta m;
  EXPECT_EQ(ledger::decode_meta(r.payload, m), ledger::entry_error::none);
  return m;
}

// An entry that can be edited and encoded again.
struct entry {
  crypto::poh_entry e;
  bool tick = false;
  std::uint32_t tx_count = 0;
  std::vector<std::uint8_t> txs;  // u16 len | u8 result | body, per tx
};

std::vector<entry> decode_entries(const record& r) {
  std::vector<ledger::decoded_entry> d;
  EXPECT_EQ(ledger::decode_batch(r.payload, d), ledger::entry_error::none);
  std::vector<entry> out;
  for (const auto& x : d) out.push_back({x.entry, x.is_tick, x.tx_count, {x.txs.begin(), x.txs.end()}});
  return out;
}

std::vector<std::uint8_t> batch_payload(const std::vector<entry>& entries) {
  std::vector<std::uint8_t> buf(1 << 16);
  std::size_t used = 0;
  for (const auto& e : entries) used = ledger::add_entry(buf, used, e.e, e.tick, e.tx_count, e.txs);
  ledger::finish_batch(buf, static_cast<std::uint32_t>(entries.size()));
  buf.resize(used);
  return buf;
}

// Plays the leader by hand: a PoH chain, transfers executed on the leader's bank between
// ticks (one of each entry's overdraws, so failures are recorded too), entries packed in
// batches of entries_per_batch, and slot ends with the bank hash, as the TPU writes them. Every
// record also goes to a real ledger so slot_stream() can be checked against it.
struct leader {
  riptide::testing::temp_dir dir{"riptide-slot-replay"};
  ledger::ledger lg = ledger::ledger::open({dir.path(), 1 << 20, false});
  std::vector<crypto::keypair> keys;
  std::vector<slot_records> by_slot;
  std::vector<std::uint64_t> balances;  // after the last slot

  crypto::keypair identity = crypto::keypair::generate();  // the leader's: named in slot ends
  leader() {
    for (int i = 0; i < 4; ++i) keys.push_back(crypto::keypair::generate());
    riptide::testing::leader_bank bank(bank_cfg(), start_hash());
    fund(bank);
    crypto::poh chain(start_hash(), hashes_per_tick);
    crypto::hash32 blockhash = start_hash();
    txn::execution_counters counters;
    std::uint64_t lamports = 1;
    for (std::uint64_t slot = 0; slot < slots; ++slot) {
      slot_records recs;
      if (slot == 0) {
        ledger::slot_meta m;
        m.kind = ledger::meta_kind::chain_start;
        m.hashes_per_tick = hashes_per_tick;
        m.ticks_per_slot = ticks_per_slot;
        m.hash = start_hash();
        recs.push_back({ledger::record_type::slot_meta, 0, meta_payload(m)});
        recs.push_back({ledger::record_type::start_state, 0, ledger::encode_start_state(start_state())});
      }
      std::vector<entry> pending;
      auto flush = [&] {
        if (pending.empty()) return;
        recs.push_back({ledger::record_type::entry_batch, slot, batch_payload(pending)});
        pending.clear();
      };
      auto add = [&](entry e) {
        pending.push_back(std::move(e));
        if (pending.size() == entries_per_batch) flush();
      };
      for (std::uint64_t t = 0; t < ticks_per_slot; ++t) {
        if (t != ticks_per_slot - 1) {  // an entry of 3 txs before every tick but the last
          entry e;
          std::vector<crypto::signature> sigs;
          for (int k = 0; k < 3; ++k) {
            const auto& from = keys[(slot + t + k) % keys.size()];
            const auto& to = keys[(slot + t + k + 1) % keys.size()];
            const std::uint64_t amount = k == 2 ? 10 * funding : lamports++;  // k == 2 overdraws
            std::array<std::uint8_t, txn::max_transaction_bytes> body{};
            const std::size_t len = txn::build_transfer(from, to.public_key(), amount, blockhash, body);
            txn::transaction_view view;
            EXPECT_EQ(txn::parse_transaction(std::span(body.data(), len), view), txn::parse_error::none);
            const txn::tx_result result = bank.execute(slot, view, counters);
            EXPECT_EQ(result, k == 2 ? txn::tx_result::insufficient_funds : txn::tx_result::ok);
            e.txs.push_back(static_cast<std::uint8_t>(len));
            e.txs.push_back(static_cast<std::uint8_t>(len >> 8));
            e.txs.push_back(static_cast<std::uint8_t>(result));
            e.txs.insert(e.txs.end(), body.begin(), body.begin() + static_cast<std::ptrdiff_t>(len));
            sigs.push_back(view.signature(0));
            ++e.tx_count;
          }
          chain.hash(2);
          const auto rec = chain.record(crypto::entry_mixin(sigs));
          EXPECT_TRUE(rec.has_value());
          e.e = *rec;
          add(std::move(e));
        }
        chain.hash(hashes_per_tick);
        const auto tick = chain.tick();
        EXPECT_TRUE(tick.has_value());
        add(entry{*tick, true, 0, {}});
      }
      flush();
      ledger::slot_meta end;
      end.kind = ledger::meta_kind::slot_end;
      end.hashes_per_tick = hashes_per_tick;
      end.ticks_per_slot = ticks_per_slot;
      end.tick_height = chain.tick_count();
      end.hash = chain.last_hash();
      end.bank_hash = bank.end_slot(slot, end.hash, end.tick_height);
      end.parent_slot = slot == 0 ? 0 : slot - 1;
      end.leader = identity.public_key();
      recs.push_back({ledger::record_type::slot_meta, slot, meta_payload(end)});
      blockhash = end.hash;
      for (const auto& r : recs) EXPECT_EQ(lg.append(r.type, r.slot, r.payload), ledger::append_error::none);
      by_slot.push_back(std::move(recs));
    }
    for (const auto& k : keys) balances.push_back(bank.balance(k.public_key()));
  }

  void fund(riptide::testing::leader_bank& b) const {
    for (const auto& k : keys) ASSERT_TRUE(b.credit(k.public_key(), funding));
  }
  void fund(bank::bank_forks& f) const {
    for (const auto& k : keys) ASSERT_TRUE(f.credit(k.public_key(), funding));
  }
  // What fund() credits, as the start-state record says it.
  ledger::start_state start_state() const {
    ledger::start_state st;
    st.lamports_per_signature = bank_cfg().lamports_per_signature;
    for (const auto& k : keys) st.accounts.push_back({k.public_key(), funding});
    ledger::sort_start_state(st.accounts);
    st.voters = {keys[1].public_key(), keys[0].public_key()};
    return st;
  }
  bank::replay_chain_config config() const {
    auto c = chain_cfg();
    c.start_state = start_state();
    return c;
  }
};

// A follower: its own bank forks with the genesis funding, and a replayer.
struct follower {
  bank::bank_forks forks{forks_cfg(), start_hash()};
  std::unique_ptr<bank::slot_replayer> replayer;
  explicit follower(const leader& l) {
    l.fund(forks);
    replayer = std::make_unique<bank::slot_replayer>(forks, l.config());
  }
  // As the last replayed block sees it.
  std::uint64_t balance(const crypto::pubkey& key) const { return forks.balance(replayer->tip(), key); }
  bank::slot_replay_result replay(std::uint64_t slot, const std::vector<std::uint8_t>& stream) {
    return replayer->replay(slot, slot == 0 ? 0 : slot - 1, stream);
  }
  // Replays slots [0, n) of the leader unchanged.
  void replay_good(const leader& l, std::uint64_t n) {
    for (std::uint64_t s = 0; s < n; ++s) {
      const auto r = replay(s, encode(l.by_slot[s]));
      ASSERT_TRUE(r.ok()) << bank::to_string(r.error) << ": " << r.detail;
    }
  }
};

// The one leader chain every test replays (signing is the slow part; build it once).
const leader& the_leader() {
  static const leader l;
  return l;
}

// A block without transactions for `slot` on a parent at `parent_slot` whose chain ends at
// (from_hash, from_height): `ticks` ticks, a slot end with a zero bank hash (not compared).
slot_records tick_block(std::uint64_t slot, std::uint64_t parent_slot, const crypto::hash32& from_hash,
                        std::uint64_t from_height, std::uint64_t ticks) {
  crypto::poh chain(from_hash, hashes_per_tick);
  std::vector<entry> entries;
  for (std::uint64_t t = 0; t < ticks; ++t) {
    chain.hash(hashes_per_tick);
    const auto tick = chain.tick();
    EXPECT_TRUE(tick.has_value());
    entries.push_back(entry{*tick, true, 0, {}});
  }
  slot_records recs;
  recs.push_back({ledger::record_type::entry_batch, slot, batch_payload(entries)});
  ledger::slot_meta end;
  end.kind = ledger::meta_kind::slot_end;
  end.hashes_per_tick = hashes_per_tick;
  end.ticks_per_slot = ticks_per_slot;
  end.tick_height = from_height + chain.tick_count();
  end.hash = chain.last_hash();
  end.parent_slot = parent_slot;
  end.leader = the_leader().identity.public_key();
  recs.push_back({ledger::record_type::slot_meta, slot, meta_payload(end)});
  return recs;
}

// tick_block on the bank `parent` of `f`.
slot_records tick_block_on(const follower& f, bank::bank_index parent, std::uint64_t slot, std::uint64_t ticks) {
  const bank::bank_info& p = f.forks.info(parent);
  return tick_block(slot, p.slot, p.blockhash, p.tick_height, ticks);
}

// Replays slots before `slot` unchanged, then `slot` with `stream`, and checks the error and
// that the chain state did not advance.
void expect_rejected(std::uint64_t slot, const std::vector<std::uint8_t>& stream, replay_error want,
                     bool dead = false, std::uint64_t parent_override = ~std::uint64_t{0}) {
  const leader& l = the_leader();
  follower f(l);
  f.replay_good(l, slot);
  const auto before_hash = f.replayer->last_hash();
  const auto before_height = f.replayer->tick_height();
  const std::uint64_t parent = parent_override != ~std::uint64_t{0} ? parent_override : (slot == 0 ? 0 : slot - 1);
  const auto r = f.replayer->replay(slot, parent, stream);
  EXPECT_EQ(r.error, want) << "got " << bank::to_string(r.error) << ": " << r.detail;
  EXPECT_FALSE(r.detail.empty());
  EXPECT_TRUE(f.replayer->records().empty());
  EXPECT_EQ(f.replayer->next_slot(), slot);
  EXPECT_EQ(f.replayer->last_hash(), before_hash);
  EXPECT_EQ(f.replayer->tick_height(), before_height);
  EXPECT_FALSE(f.replayer->dead()) << "a bad block never ends the chain";
  if (dead) {
    // It failed in execution: its bank (the block's id is its last PoH hash, which the
    // damage did not change) is dead, so the same block cannot replay again; the chain is
    // still at the parent, where a block built on it replays.
    const auto again = f.replay(slot, encode(l.by_slot[slot]));
    EXPECT_FALSE(again.ok());
    const auto sibling = f.replayer->replay(
        slot + 1, parent, encode(tick_block_on(f, f.replayer->tip(), slot + 1, 2 * ticks_per_slot)));
    EXPECT_TRUE(sibling.ok()) << bank::to_string(sibling.error) << ": " << sibling.detail;
  } else {
    // Nothing changed: the untouched slot replays afterwards.
    const auto again = f.replay(slot, encode(l.by_slot[slot]));
    EXPECT_TRUE(again.ok()) << bank::to_string(again.error) << ": " << again.detail;
  }
}

// The leader's records of `slot`, edited.
slot_records edited(std::uint64_t slot, const std::function<void(slot_records&)>& edit) {
  slot_records recs = the_leader().by_slot[slot];
  edit(recs);
  return recs;
}

// Edits the entries of the first batch record of `slot` that satisfies `pick` on one entry;
// `fn` edits that entry.
slot_records edit_entry(std::uint64_t slot, const std::function<bool(const entry&)>& pick,
                        const std::function<void(std::vector<entry>&, std::size_t)>& fn) {
  return edited(slot, [&](slot_records& recs) {
    for (auto& r : recs) {
      if (r.type != ledger::record_type::entry_batch) continue;
      auto entries = decode_entries(r);
      for (std::size_t i = 0; i < entries.size(); ++i) {
        if (!pick(entries[i])) continue;
        fn(entries, i);
        r.payload = batch_payload(entries);
        return;
      }
    }
    ADD_FAILURE() << "no entry picked";
  });
}

bool has_txs(const entry& e) { return e.tx_count != 0; }
bool is_tick(const entry& e) { return e.tick; }

// Offset of tx k's header in an entry's tx area.
std::size_t tx_offset(const entry& e, std::uint32_t k) {
  std::size_t off = 0;
  for (std::uint32_t i = 0; i < k; ++i) off += ledger::tx_header_bytes + (e.txs[off] | (e.txs[off + 1] << 8));
  return off;
}

// ------------------------------------------------------------------------------- tests

TEST(slot_replay, good_chain_replays_and_the_follower_ledger_is_byte_identical) {
  const leader& l = the_leader();
  follower f(l);
  riptide::testing::temp_dir dir{"riptide-slot-replay-follower"};
  auto lg = ledger::ledger::open({dir.path(), 1 << 20, false});
  for (std::uint64_t s = 0; s < slots; ++s) {
    const auto stream = bank::slot_stream(l.lg, s);
    EXPECT_EQ(stream, encode(l.by_slot[s])) << "slot_stream differs from the records written, slot " << s;
    const auto r = f.replay(s, stream);
    ASSERT_TRUE(r.ok()) << bank::to_string(r.error) << ": " << r.detail;
    EXPECT_TRUE(r.detail.empty());
    EXPECT_EQ(r.records, l.by_slot[s].size());
    EXPECT_EQ(r.ticks, ticks_per_slot);
    EXPECT_EQ(r.entries, 2 * ticks_per_slot - 1);
    EXPECT_EQ(r.txs, 3 * (ticks_per_slot - 1));
    EXPECT_EQ(r.failed_txs, ticks_per_slot - 1);
    EXPECT_EQ(r.bank_hash, decode_meta(l.by_slot[s].back()).bank_hash);
    EXPECT_NE(r.bank_hash, crypto::hash32{});
    ASSERT_EQ(f.replayer->records().size(), l.by_slot[s].size());
    for (const auto& v : f.replayer->records())
      ASSERT_EQ(lg.append(v.type, v.slot, v.payload), ledger::append_error::none);
    EXPECT_EQ(f.replayer->next_slot(), s + 1);
    EXPECT_EQ(f.replayer->tick_height(), (s + 1) * ticks_per_slot);
    EXPECT_EQ(f.replayer->last_hash(), decode_meta(l.by_slot[s].back()).hash);
  }
  EXPECT_FALSE(f.replayer->dead());
  // The follower's ledger equals the leader's, record by record, byte for byte.
  for (std::uint64_t s = 0; s < slots; ++s) EXPECT_EQ(bank::slot_stream(lg, s), bank::slot_stream(l.lg, s));
  EXPECT_EQ(lg.stats().records, l.lg.stats().records);
  EXPECT_EQ(lg.stats().bytes, l.lg.stats().bytes);
  // Both banks agree.
  for (std::size_t i = 0; i < l.keys.size(); ++i) EXPECT_EQ(f.balance(l.keys[i].public_key()), l.balances[i]);
}

TEST(slot_replay, successful_replay_does_not_allocate) {
  const leader& l = the_leader();
  follower f(l);
  std::vector<std::vector<std::uint8_t>> streams;
  for (std::uint64_t s = 0; s < slots; ++s) streams.push_back(encode(l.by_slot[s]));
  f.replay_good(l, 1);
  g_allocs = 0;
  g_count_allocs = true;
  bool ok = true;
  for (std::uint64_t s = 1; s < slots; ++s) {
    const auto r = f.replay(s, streams[s]);
    ok = ok && r.ok();
  }
  g_count_allocs = false;
  EXPECT_TRUE(ok);
  EXPECT_EQ(g_allocs.load(), 0u);
  // The counter works: a failure's detail string allocates.
  g_count_allocs = true;
  const auto r = f.replay(slots + 1, streams[1]);
  g_count_allocs = false;
  EXPECT_EQ(r.error, replay_error::wrong_parent);
  EXPECT_GT(g_allocs.load(), 0u);
}

// --------------------------------------------------------------------- the start state

TEST(slot_replay, start_state_must_be_what_the_node_funded) {
  const leader& l = the_leader();
  const auto stream0 = encode(l.by_slot[0]);
  auto rejected = [&](const std::function<void(bank::replay_chain_config&)>& edit) {
    bank::bank_forks b(forks_cfg(), start_hash());
    l.fund(b);
    auto cfg = l.config();
    edit(cfg);
    bank::slot_replayer r(b, cfg);
    const auto res = r.replay(0, 0, stream0);
    EXPECT_FALSE(r.dead());
    return res;
  };
  // Unchanged: accepted.
  EXPECT_TRUE(rejected([](bank::replay_chain_config&) {}).ok());
  // Another balance, one account fewer, one more, another fee: slot 0 is refused, and says why.
  auto r = rejected([](bank::replay_chain_config& c) { ++c.start_state.accounts[1].lamports; });
  EXPECT_EQ(r.error, replay_error::bad_start_state) << r.detail;
  EXPECT_NE(r.detail.find("first difference at account 1"), std::string::npos) << r.detail;
  EXPECT_EQ(rejected([](bank::replay_chain_config& c) { c.start_state.accounts.pop_back(); }).error,
            replay_error::bad_start_state);
  EXPECT_EQ(rejected([](bank::replay_chain_config& c) {
              c.start_state.accounts.push_back({crypto::pubkey{}, 1});
              ledger::sort_start_state(c.start_state.accounts);
            }).error,
            replay_error::bad_start_state);
  r = rejected([](bank::replay_chain_config& c) { ++c.start_state.lamports_per_signature; });
  EXPECT_EQ(r.error, replay_error::bad_start_state);
  EXPECT_NE(r.detail.find("lamports per signature"), std::string::npos) << r.detail;
  // Other voters, or the same in another order (each voter's vote state is kept by its place).
  r = rejected([](bank::replay_chain_config& c) { c.start_state.voters.pop_back(); });
  EXPECT_EQ(r.error, replay_error::bad_start_state);
  EXPECT_NE(r.detail.find("voters"), std::string::npos) << r.detail;
  EXPECT_EQ(rejected([](bank::replay_chain_config& c) {
              std::swap(c.start_state.voters[0], c.start_state.voters[1]);
            }).error,
            replay_error::bad_start_state);
}

TEST(slot_replay, slot_zero_without_a_start_state_is_refused) {
  // A ledger written before start-state records: its slot 0 goes from the chain start to entries.
  expect_rejected(0, encode(edited(0, [](slot_records& r) { r.erase(r.begin() + 1); })),
                  replay_error::bad_start_state);
  // A start state that does not decode.
  expect_rejected(0, encode(edited(0, [](slot_records& r) { r[1].payload.push_back(0); })),
                  replay_error::bad_start_state);
  // A start state anywhere else is a record that does not belong in a slot.
  expect_rejected(1, encode(edited(1, [](slot_records& r) {
                    record state = the_leader().by_slot[0][1];
                    state.slot = 1;
                    r.insert(r.begin(), state);
                  })),
                  replay_error::bad_record);
}

TEST(slot_replay, a_replayer_that_credits_the_start_state_needs_only_the_ledger) {
  // `ledger verify`: an empty bank, timing and start hash taken from the chain start, the
  // balances from the start state; the same bank hashes come out.
  const leader& l = the_leader();
  bank::bank_forks b(forks_cfg(), start_hash());
  bank::replay_chain_config cfg;
  cfg.any_start_hash = true;
  cfg.credit_start_state = true;
  cfg.start_state.lamports_per_signature = bank_cfg().lamports_per_signature;
  bank::slot_replayer r(b, cfg);
  for (std::uint64_t s = 0; s < slots; ++s) {
    const auto res = r.replay(s, s == 0 ? 0 : s - 1, encode(l.by_slot[s]));
    ASSERT_TRUE(res.ok()) << bank::to_string(res.error) << ": " << res.detail;
    EXPECT_EQ(res.bank_hash, decode_meta(l.by_slot[s].back()).bank_hash);
    EXPECT_TRUE(res.bank_hash_checked);
  }
  for (std::size_t i = 0; i < l.keys.size(); ++i)
    EXPECT_EQ(b.balance(r.tip(), l.keys[i].public_key()), l.balances[i]);
  // The voters, registered in the start state's order.
  EXPECT_EQ(b.voter_index(l.keys[1].public_key()), 0u);
  EXPECT_EQ(b.voter_index(l.keys[0].public_key()), 1u);
  EXPECT_FALSE(b.voter_index(l.keys[2].public_key()).has_value());
}

// ------------------------------------------------------------------- a whole ledger

TEST(replay_ledger, replays_every_slot_of_a_ledger_through_one_replayer) {
  const leader& l = the_leader();
  follower f(l);
  const auto r = bank::replay_ledger(l.lg, *f.replayer);
  ASSERT_TRUE(r.ok()) << bank::to_string(r.error) << ": " << r.detail;
  EXPECT_EQ(r.slots, slots);
  EXPECT_EQ(r.ticks, slots * ticks_per_slot);
  EXPECT_EQ(r.txs, slots * 3 * (ticks_per_slot - 1));
  EXPECT_EQ(r.txs_by_result[static_cast<std::size_t>(txn::tx_result::insufficient_funds)], slots * (ticks_per_slot - 1));
  EXPECT_EQ(r.bank_hashes, slots);
  EXPECT_FALSE(r.partial_tail);
  EXPECT_EQ(f.replayer->next_slot(), slots);
  for (std::size_t i = 0; i < l.keys.size(); ++i) EXPECT_EQ(f.balance(l.keys[i].public_key()), l.balances[i]);
  // The replayer goes on with the next slot as a follower would.
  EXPECT_EQ(f.replay(slots, {}).error, replay_error::missing_slot_end);
}

TEST(replay_ledger, a_partial_last_slot_is_reported_not_replayed) {
  const leader& l = the_leader();
  riptide::testing::temp_dir dir{"riptide-replay-partial"};
  auto lg = ledger::ledger::open({dir.path(), 1 << 20, false});
  for (std::uint64_t s = 0; s < 2; ++s)
    for (const auto& rec : l.by_slot[s]) ASSERT_EQ(lg.append(rec.type, rec.slot, rec.payload), ledger::append_error::none);
  const auto& third = l.by_slot[2];
  for (std::size_t i = 0; i + 1 < third.size(); ++i)
    ASSERT_EQ(lg.append(third[i].type, third[i].slot, third[i].payload), ledger::append_error::none);
  follower f(l);
  const auto r = bank::replay_ledger(lg, *f.replayer);
  ASSERT_TRUE(r.ok()) << r.detail;
  EXPECT_EQ(r.slots, 2u);
  EXPECT_TRUE(r.partial_tail);
  EXPECT_EQ(r.partial_slot, 2u);
  EXPECT_EQ(r.partial_records, third.size() - 1);
  EXPECT_EQ(f.replayer->next_slot(), 2u);
}

TEST(replay_ledger, stops_at_the_first_bad_slot_and_says_which) {
  const leader& l = the_leader();
  riptide::testing::temp_dir dir{"riptide-replay-bad"};
  auto lg = ledger::ledger::open({dir.path(), 1 << 20, false});
  for (std::uint64_t s = 0; s < slots; ++s) {
    auto recs = l.by_slot[s];
    if (s == 2) {
      auto m = decode_meta(recs.back());
      m.bank_hash[5] ^= 1;  // a slot's bank hash changed, the record's CRC made good
      recs.back().payload = meta_payload(m);
    }
    for (const auto& rec : recs) ASSERT_EQ(lg.append(rec.type, rec.slot, rec.payload), ledger::append_error::none);
  }
  follower f(l);
  const auto r = bank::replay_ledger(lg, *f.replayer);
  EXPECT_EQ(r.error, replay_error::bank_hash_mismatch);
  EXPECT_EQ(r.slots, 2u);
  EXPECT_NE(r.detail.find("slot 2"), std::string::npos) << r.detail;
}

TEST(slot_replay, error_names_are_distinct) {
  std::set<std::string> names;
  for (std::size_t i = 0; i < bank::replay_error_count; ++i)
    names.insert(bank::to_string(static_cast<replay_error>(i)));
  EXPECT_EQ(names.size(), bank::replay_error_count);
  EXPECT_EQ(names.count("unknown"), 0u);
}

TEST(slot_replay, bad_record) {
  // A flipped payload byte: the CRC no longer matches.
  auto stream = encode(the_leader().by_slot[1]);
  stream[ledger::record_header_bytes + 5] ^= 1;
  expect_rejected(1, stream, replay_error::bad_record);
  // Bytes that are not a record (bytes after the slot end are records_after_slot_end).
  stream = encode(the_leader().by_slot[1]);
  stream.insert(stream.begin(), 8, 0);
  expect_rejected(1, stream, replay_error::bad_record);
  // A record type that does not belong in a slot (a shred).
  expect_rejected(1, encode(edited(1, [](slot_records& r) { r[0].type = ledger::record_type::shred; })),
                  replay_error::bad_record);
}

TEST(slot_replay, wrong_slot) {
  expect_rejected(1, encode(edited(1, [](slot_records& r) { r[1].slot = 2; })), replay_error::wrong_slot);
}

TEST(slot_replay, unexpected_chain_start) {
  const record start = the_leader().by_slot[0][0];
  expect_rejected(1, encode(edited(1, [&](slot_records& r) {
                    record s = start;
                    s.slot = 1;
                    r.insert(r.begin(), s);
                  })),
                  replay_error::unexpected_chain_start);
  expect_rejected(0, encode(edited(0, [&](slot_records& r) { r.insert(r.begin() + 2, start); })),
                  replay_error::unexpected_chain_start);
}

TEST(slot_replay, missing_chain_start) {
  expect_rejected(0, encode(edited(0, [](slot_records& r) { r.erase(r.begin()); })),
                  replay_error::missing_chain_start);
}

TEST(slot_replay, bad_chain_start) {
  auto with = [](const std::function<void(ledger::slot_meta&)>& fn) {
    return encode(edited(0, [&](slot_records& r) {
      auto m = decode_meta(r[0]);
      fn(m);
      r[0].payload = meta_payload(m);
    }));
  };
  expect_rejected(0, with([](ledger::slot_meta& m) { m.hash[0] ^= 1; }), replay_error::bad_chain_start);
  expect_rejected(0, with([](ledger::slot_meta& m) { ++m.hashes_per_tick; }), replay_error::bad_chain_start);
  expect_rejected(0, with([](ledger::slot_meta& m) { ++m.ticks_per_slot; }), replay_error::bad_chain_start);
}

TEST(slot_replay, bad_entry_batch) {
  expect_rejected(1, encode(edited(1, [](slot_records& r) { r[0].payload.push_back(0); })),
                  replay_error::bad_entry_batch);
}

TEST(slot_replay, poh_mismatch) {
  expect_rejected(1, encode(edit_entry(1, has_txs, [](std::vector<entry>& e, std::size_t i) { e[i].e.hash[3] ^= 1; })),
                  replay_error::poh_mismatch);
}

TEST(slot_replay, bad_tick) {
  // A tick passed off as an entry: it would run past the due tick.
  expect_rejected(1, encode(edit_entry(1, is_tick, [](std::vector<entry>& e, std::size_t i) { e[i].tick = false; })),
                  replay_error::bad_tick);
  // A tick one hash early.
  expect_rejected(1, encode(edit_entry(1, is_tick, [](std::vector<entry>& e, std::size_t i) { --e[i].e.num_hashes; })),
                  replay_error::bad_tick);
  // The slot's last tick missing (the batch holding it ends the entries).
  expect_rejected(1, encode(edited(1, [](slot_records& r) {
                    auto& batch = r[r.size() - 2];
                    auto entries = decode_entries(batch);
                    ASSERT_TRUE(entries.back().tick);
                    entries.pop_back();
                    if (entries.empty()) {
                      r.erase(r.end() - 2);
                    } else {
                      batch.payload = batch_payload(entries);
                    }
                  })),
                  replay_error::bad_tick);
  // An entry after the slot's last tick.
  expect_rejected(1, encode(edited(1, [](slot_records& r) {
                    auto& batch = r[r.size() - 2];
                    auto entries = decode_entries(batch);
                    entries.push_back(entries.back());
                    batch.payload = batch_payload(entries);
                  })),
                  replay_error::bad_tick);
}

TEST(slot_replay, bad_mixin) {
  expect_rejected(1, encode(edit_entry(1, has_txs, [](std::vector<entry>& e, std::size_t i) { e[i].e.mixin[0] ^= 1; })),
                  replay_error::bad_mixin);
}

TEST(slot_replay, tx_parse) {
  expect_rejected(1, encode(edit_entry(1, has_txs, [](std::vector<entry>& e, std::size_t i) {
                    e[i].txs[tx_offset(e[i], 1) + ledger::tx_header_bytes] = 0;  // no signatures
                  })),
                  replay_error::tx_parse);
}

TEST(slot_replay, bad_signature) {
  // The last byte of tx 0 (its lamports' high byte) changed: it parses, the mixin (over the
  // signatures) still matches, the signature does not.
  expect_rejected(1, encode(edit_entry(1, has_txs, [](std::vector<entry>& e, std::size_t i) {
                    e[i].txs[tx_offset(e[i], 1) - 1] ^= 0x40;
                  })),
                  replay_error::bad_signature);
}

TEST(slot_replay, result_mismatch) {
  // A result byte that is no tx_result: caught before execution.
  expect_rejected(1, encode(edit_entry(1, has_txs, [](std::vector<entry>& e, std::size_t i) { e[i].txs[2] = 200; })),
                  replay_error::result_mismatch);
  // A recorded failure the transaction did not have: found by execution, the block dies.
  expect_rejected(1, encode(edit_entry(1, has_txs, [](std::vector<entry>& e, std::size_t i) {
                    e[i].txs[2] = static_cast<std::uint8_t>(txn::tx_result::insufficient_funds);
                  })),
                  replay_error::result_mismatch, /*dead=*/true);
}

TEST(slot_replay, missing_slot_end) {
  expect_rejected(1, encode(edited(1, [](slot_records& r) { r.pop_back(); })), replay_error::missing_slot_end);
  expect_rejected(1, {}, replay_error::missing_slot_end);
}

TEST(slot_replay, bad_slot_end) {
  auto with = [](const std::function<void(ledger::slot_meta&)>& fn) {
    return encode(edited(1, [&](slot_records& r) {
      auto m = decode_meta(r.back());
      fn(m);
      r.back().payload = meta_payload(m);
    }));
  };
  expect_rejected(1, with([](ledger::slot_meta& m) { m.hash[0] ^= 1; }), replay_error::bad_slot_end);
  expect_rejected(1, with([](ledger::slot_meta& m) { ++m.tick_height; }), replay_error::bad_slot_end);
  expect_rejected(1, with([](ledger::slot_meta& m) { ++m.hashes_per_tick; }), replay_error::bad_slot_end);
  expect_rejected(1, with([](ledger::slot_meta& m) { ++m.parent_slot; }), replay_error::bad_slot_end);
  expect_rejected(2, encode(edited(2, [](slot_records& r) {
                    auto m = decode_meta(r.back());
                    m.parent_slot = 0;  // a block that says it builds on slot 0, replayed on 1
                    r.back().payload = meta_payload(m);
                  })),
                  replay_error::bad_slot_end);
  expect_rejected(1, encode(edited(1, [](slot_records& r) { r.back().payload.push_back(0); })),
                  replay_error::bad_slot_end);
}

TEST(slot_replay, the_slot_end_must_name_the_leader_the_caller_expects) {
  const leader& l = the_leader();
  follower f(l);
  const crypto::pubkey right = l.identity.public_key();
  crypto::pubkey wrong = right;
  wrong[5] ^= 1;
  ASSERT_TRUE(f.replayer->replay(0, 0, encode(l.by_slot[0]), &right).ok());
  const auto r = f.replayer->replay(1, 0, encode(l.by_slot[1]), &wrong);
  EXPECT_EQ(r.error, replay_error::wrong_leader) << r.detail;
  EXPECT_EQ(f.replayer->next_slot(), 1u);  // nothing changed: the right leader's slot still replays
  const auto ok = f.replayer->replay(1, 0, encode(l.by_slot[1]), &right);
  EXPECT_TRUE(ok.ok()) << bank::to_string(ok.error) << ": " << ok.detail;
  // Without a leader (a tool with no genesis) the field is not checked.
  EXPECT_TRUE(f.replay(2, encode(l.by_slot[2])).ok());
}

TEST(slot_replay, records_after_slot_end) {
  expect_rejected(1, encode(edited(1, [](slot_records& r) { r.push_back(r.front()); })),
                  replay_error::records_after_slot_end);
}

TEST(slot_replay, bank_hash_mismatch_kills_the_block) {
  expect_rejected(1, encode(edited(1, [](slot_records& r) {
                    auto m = decode_meta(r.back());
                    m.bank_hash[7] ^= 1;
                    r.back().payload = meta_payload(m);
                  })),
                  replay_error::bank_hash_mismatch, /*dead=*/true);
}

TEST(slot_replay, zero_bank_hash_is_not_compared) {
  const leader& l = the_leader();
  follower f(l);
  for (std::uint64_t s = 0; s < slots; ++s) {
    auto recs = l.by_slot[s];
    auto m = decode_meta(recs.back());
    m.bank_hash = {};
    recs.back().payload = meta_payload(m);
    const auto r = f.replay(s, encode(recs));
    ASSERT_TRUE(r.ok()) << bank::to_string(r.error) << ": " << r.detail;
    EXPECT_EQ(r.bank_hash, decode_meta(l.by_slot[s].back()).bank_hash);
  }
}

TEST(slot_replay, wrong_parent) {
  const auto good = encode(the_leader().by_slot[1]);
  expect_rejected(1, good, replay_error::wrong_parent, false, /*parent=*/5);
  // A slot that is not the chain's next one.
  const leader& l = the_leader();
  follower f(l);
  EXPECT_EQ(f.replay(1, good).error, replay_error::wrong_parent);
  f.replay_good(l, 1);
  EXPECT_EQ(f.replayer->replay(2, 1, encode(l.by_slot[2])).error, replay_error::wrong_parent);
}

// A dead block is dead on its fork only: the leader's next block, built on it, fails with
// dead_chain... (replay_on) while replay()'s chain stays at the parent and goes on with a
// block that skips the dead slot.
TEST(slot_replay, a_dead_block_does_not_end_the_chain) {
  const leader& l = the_leader();
  follower f(l);
  f.replay_good(l, 1);
  const bank::bank_index zero = f.replayer->tip();
  auto recs = l.by_slot[1];
  auto m = decode_meta(recs.back());
  m.bank_hash[0] ^= 1;
  recs.back().payload = meta_payload(m);
  const auto bad = f.replay(1, encode(recs));
  EXPECT_EQ(bad.error, replay_error::bank_hash_mismatch);
  EXPECT_FALSE(f.replayer->dead());
  EXPECT_EQ(f.replayer->tip(), zero);
  EXPECT_EQ(f.replayer->replay_on(bad.bank, 2, encode(l.by_slot[2])).error, replay_error::dead_chain);
  EXPECT_EQ(f.replayer->replay(2, 1, encode(l.by_slot[2])).error, replay_error::wrong_parent);
  const auto skip = f.replayer->replay(2, 0, encode(tick_block_on(f, zero, 2, 2 * ticks_per_slot)));
  EXPECT_TRUE(skip.ok()) << skip.detail;
  EXPECT_EQ(f.replayer->next_slot(), 3u);
}


// ---- blocks on any parent: forks and skipped slots

TEST(fork_replay, a_block_after_skipped_slots_carries_their_ticks) {
  const leader& l = the_leader();
  struct row {
    std::uint64_t ticks;
    replay_error want;
  };
  // Slot 4 on slot 1 (slots 2 and 3 skipped): 3 slots of ticks, not 1 or 2 or 4.
  const row rows[] = {{3 * ticks_per_slot, replay_error::none},
                      {ticks_per_slot, replay_error::bad_tick},
                      {2 * ticks_per_slot, replay_error::bad_tick},
                      {4 * ticks_per_slot, replay_error::bad_tick}};
  for (const row& r : rows) {
    follower f(l);
    f.replay_good(l, 2);
    const bank::bank_index one = f.replayer->tip();
    const auto before = f.forks.info(one);
    const auto got = f.replayer->replay(4, 1, encode(tick_block_on(f, one, 4, r.ticks)));
    EXPECT_EQ(got.error, r.want) << r.ticks << " ticks: " << got.detail;
    if (r.want != replay_error::none) {
      EXPECT_EQ(got.bank, bank::no_bank);
      EXPECT_EQ(f.replayer->next_slot(), 2u);
      continue;
    }
    ASSERT_NE(got.bank, bank::no_bank);
    const auto& b = f.forks.info(got.bank);
    EXPECT_EQ(b.slot, 4u);
    EXPECT_EQ(b.parent, one);
    EXPECT_EQ(b.parent_slot, 1u);
    EXPECT_EQ(b.tick_height, before.tick_height + 3 * ticks_per_slot);
    EXPECT_TRUE(b.frozen);
    EXPECT_EQ(f.replayer->next_slot(), 5u);
    EXPECT_EQ(f.replayer->tip(), got.bank);
    // The chain goes on from the block after the gap.
    const auto next = f.replayer->replay(5, 4, encode(tick_block_on(f, got.bank, 5, ticks_per_slot)));
    EXPECT_TRUE(next.ok()) << next.detail;
  }
}

TEST(fork_replay, two_blocks_on_one_parent_are_two_forks) {
  const leader& l = the_leader();
  follower f(l);
  f.replay_good(l, 2);
  const bank::bank_index one = f.replayer->tip();
  // The leader's slot 2 (with transfers) and a block for slot 3 that skipped slot 2.
  const auto with_txs = f.replayer->replay_on(one, 2, encode(l.by_slot[2]));
  ASSERT_TRUE(with_txs.ok()) << with_txs.detail;
  const auto empty = f.replayer->replay_on(one, 3, encode(tick_block_on(f, one, 3, 2 * ticks_per_slot)));
  ASSERT_TRUE(empty.ok()) << empty.detail;
  EXPECT_NE(with_txs.bank, empty.bank);
  EXPECT_EQ(f.forks.info(with_txs.bank).parent, one);
  EXPECT_EQ(f.forks.info(empty.bank).parent, one);
  EXPECT_FALSE(f.forks.is_ancestor(with_txs.bank, empty.bank));
  // The transfers of slot 2 are on its fork only.
  std::size_t differ = 0;
  for (const auto& k : l.keys)
    if (f.forks.balance(with_txs.bank, k.public_key()) != f.forks.balance(empty.bank, k.public_key())) ++differ;
  EXPECT_GT(differ, 0u);
  for (const auto& k : l.keys) EXPECT_EQ(f.forks.balance(empty.bank, k.public_key()), f.balance(k.public_key()));
  // replay_on leaves replay()'s chain where it was.
  EXPECT_EQ(f.replayer->tip(), one);
  EXPECT_EQ(f.replayer->next_slot(), 2u);
  // Each fork extends on its own.
  EXPECT_TRUE(f.replayer->replay_on(with_txs.bank, 3, encode(l.by_slot[3])).ok());
  EXPECT_TRUE(f.replayer->replay_on(empty.bank, 4, encode(tick_block_on(f, empty.bank, 4, ticks_per_slot))).ok());
}

TEST(fork_replay, a_block_that_fails_in_execution_is_dead_on_its_fork_only) {
  const leader& l = the_leader();
  follower f(l);
  f.replay_good(l, 2);
  const bank::bank_index one = f.replayer->tip();
  auto recs = l.by_slot[2];
  auto m = decode_meta(recs.back());
  m.bank_hash[0] ^= 1;
  recs.back().payload = meta_payload(m);
  const auto bad = f.replayer->replay_on(one, 2, encode(recs));
  EXPECT_EQ(bad.error, replay_error::bank_hash_mismatch);
  ASSERT_NE(bad.bank, bank::no_bank);
  EXPECT_TRUE(f.forks.info(bad.bank).dead);
  EXPECT_FALSE(f.replayer->dead());  // replay()'s chain (tip: slot 1) is not this fork
  const auto child = f.replayer->replay_on(bad.bank, 3, encode(l.by_slot[3]));
  EXPECT_EQ(child.error, replay_error::dead_chain) << child.detail;
  const auto sibling = f.replayer->replay_on(one, 3, encode(tick_block_on(f, one, 3, 2 * ticks_per_slot)));
  EXPECT_TRUE(sibling.ok()) << sibling.detail;
}

TEST(fork_replay, parents_a_block_cannot_follow_are_refused) {
  const leader& l = the_leader();
  follower f(l);
  const bank::bank_index genesis = f.forks.root();
  // The genesis root's only child is slot 0.
  EXPECT_EQ(f.replayer->replay_on(genesis, 1, encode(l.by_slot[1])).error, replay_error::wrong_parent);
  f.replay_good(l, 2);
  const bank::bank_index one = f.replayer->tip();
  // Not after the parent's slot.
  EXPECT_EQ(f.replayer->replay_on(one, 1, encode(l.by_slot[1])).error, replay_error::wrong_parent);
  // Not a live bank.
  EXPECT_EQ(f.replayer->replay_on(bank::no_bank, 2, encode(l.by_slot[2])).error, replay_error::wrong_parent);
  // Not frozen: a bank still being filled.
  bank::block_id id{};
  id.fill(0x77);
  const bank::bank_index open = f.forks.new_bank(one, 5, id);
  ASSERT_NE(open, bank::no_bank);
  EXPECT_EQ(f.replayer->replay_on(open, 6, encode(tick_block(6, 5, id, 0, ticks_per_slot))).error,
            replay_error::wrong_parent);
  // Nothing of those changed the chain: the leader's slot 2 still replays on slot 1.
  EXPECT_TRUE(f.replay(2, encode(l.by_slot[2])).ok());
}

}  // namespace
