// The replay tile in process, fed by a real TVU tile: a leader's chain (PoH ticks and signed
// transfers, executed on the leader's bank) is cut into shreds; the test plays the net tile
// for the TVU tile (shreds in rx frames, frames back), and the TVU tile's completed slots go
// to the replay tile through the `out` / `out_release` rings, as in the node. The replay tile
// re-executes each slot on the follower's bank and appends it to a follower ledger in a temp
// dir; a background thread makes it durable.

#include <riptide/tvu/replay_tile.hpp>

#include "../support/contacts.hpp"
#include "../support/temp_dir.hpp"

#include <riptide/crypto/poh.hpp>
#include <riptide/crypto/schnorr.hpp>
#include <riptide/crypto/sha256.hpp>
#include <riptide/ledger/entry_codec.hpp>
#include <riptide/shred/shredder.hpp>
#include <riptide/txn/execution.hpp>
#include <riptide/consensus/vote_tx.hpp>

#include "../support/leader_bank.hpp"
#include <riptide/txn/transaction.hpp>
#include <riptide/util/runtime.hpp>

#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace riptide;
using bytes = std::vector<std::uint8_t>;
using desc_ring = util::spsc_ring<util::frag_desc>;
using slot_ring = util::spsc_ring<tvu::completed_slot>;
using t = tvu::replay_tile;

constexpr std::uint16_t version = 5;
constexpr std::uint64_t hashes_per_tick = 8;
constexpr std::uint64_t ticks_per_slot = 4;
constexpr std::uint64_t funding = 1'000'000;
constexpr std::uint64_t slots = 4;  // one leader's turn (4 slots per leader)
constexpr std::size_t nodes = 4;
constexpr std::uint32_t rx_frame_count = 64;

crypto::keypair key_for(std::uint64_t domain, std::uint64_t i) {
  for (std::uint64_t attempt = 0;; ++attempt) {
    std::array<std::uint8_t, 24> in{};
    for (int k = 0; k < 8; ++k) {
      in[k] = static_cast<std::uint8_t>(domain >> (8 * k));
      in[8 + k] = static_cast<std::uint8_t>(i >> (8 * k));
      in[16 + k] = static_cast<std::uint8_t>(attempt >> (8 * k));
    }
    crypto::keypair kp;
    if (crypto::keypair::try_from_secret(crypto::sha256(in), kp)) return kp;
  }
}

bank::forks_config bank_cfg() {
  bank::forks_config c;
  c.max_versions = 1 << 14;
  c.max_statuses = 1 << 14;
  c.max_accounts = 64;
  c.lock_stripes = 16;
  c.lamports_per_signature = 10;
  return c;
}

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
  h.fill(0x17);
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
  bytes payload;
};

bytes encode(const std::vector<record>& recs) {
  bytes out;
  for (const auto& r : recs) {
    const std::size_t at = out.size();
    out.resize(at + ledger::encoded_record_bytes(r.payload.size()));
    ledger::encode_record(r.type, r.slot, r.payload, std::span(out).subspan(at));
  }
  return out;
}

bytes meta_payload(const ledger::slot_meta& m) {
  bytes out(ledger::slot_meta_bytes);
  ledger::encode_meta(m, out);
  return out;
}

crypto::pubkey cluster_leader();  // the schedule's leader of every slot (cluster_fixture below)

// The leader's chain, by hand as the TPU writes it: slot 0 opens with the chain start; each
// slot has one entry of two transfers (one of them overdraws, so a failure is recorded too)
// before each tick but the last, one entry batch, and the slot end with the bank hash.
// payers[0] is a voter: from slot 1 on, but for the last slot, the slot's first entry also
// holds its vote for the slot before (its tower: every slot so far).
struct leader_chain {
  std::vector<crypto::keypair> payers;
  std::vector<std::vector<record>> by_slot;
  std::vector<crypto::hash32> bank_hashes;  // per slot
  crypto::hash32 last_hash{};

  leader_chain() {
    for (std::uint64_t i = 0; i < 3; ++i) payers.push_back(key_for(7, i));
    riptide::testing::leader_bank bank(bank_cfg(), start_hash());
    fund(bank);
    EXPECT_TRUE(bank.forks().add_voter(payers[0].public_key()));
    consensus::tower_sync vote;
    crypto::hash32 parent_bank_hash{};
    crypto::poh chain(start_hash(), hashes_per_tick);
    crypto::hash32 blockhash = start_hash();
    txn::execution_counters counters;
    std::uint64_t lamports = 1;
    for (std::uint64_t slot = 0; slot < slots; ++slot) {
      std::vector<record> recs;
      if (slot == 0) {
        ledger::slot_meta m;
        m.kind = ledger::meta_kind::chain_start;
        m.hashes_per_tick = hashes_per_tick;
        m.ticks_per_slot = ticks_per_slot;
        m.hash = start_hash();
        recs.push_back({ledger::record_type::slot_meta, 0, meta_payload(m)});
        recs.push_back({ledger::record_type::start_state, 0, ledger::encode_start_state(start_state())});
      }
      bytes batch(1 << 15);
      std::size_t used = 0;
      std::uint32_t entries = 0;
      for (std::uint64_t tick = 0; tick < ticks_per_slot; ++tick) {
        if (tick + 1 != ticks_per_slot) {
          bytes txs;
          std::vector<crypto::signature> sigs;
          for (int k = 0; k < 2; ++k) {
            const auto& from = payers[(slot + tick + k) % payers.size()];
            const auto& to = payers[(slot + tick + k + 1) % payers.size()];
            const std::uint64_t amount = k == 1 ? 10 * funding : lamports++;
            std::array<std::uint8_t, txn::max_transaction_bytes> body{};
            const std::size_t len = txn::build_transfer(from, to.public_key(), amount, blockhash, body);
            txn::transaction_view view;
            EXPECT_EQ(txn::parse_transaction(std::span(body.data(), len), view), txn::parse_error::none);
            const txn::tx_result result = bank.execute(slot, view, counters);
            txs.push_back(static_cast<std::uint8_t>(len));
            txs.push_back(static_cast<std::uint8_t>(len >> 8));
            txs.push_back(static_cast<std::uint8_t>(result));
            txs.insert(txs.end(), body.begin(), body.begin() + static_cast<std::ptrdiff_t>(len));
            sigs.push_back(view.signature(0));
          }
          if (tick == 0 && slot > 0 && slot + 1 < slots) {
            (void)vote.votes.record_vote(slot - 1);
            vote.bank_hash = parent_bank_hash;
            vote.timestamp_ms = static_cast<std::int64_t>(slot);
            std::array<std::uint8_t, txn::max_transaction_bytes> body{};
            const std::size_t len = consensus::build_vote_transaction(payers[0], vote, blockhash, body);
            txn::transaction_view view;
            EXPECT_EQ(txn::parse_transaction(std::span(body.data(), len), view), txn::parse_error::none);
            EXPECT_EQ(bank.execute(slot, view, counters), txn::tx_result::ok);
            txs.push_back(static_cast<std::uint8_t>(len));
            txs.push_back(static_cast<std::uint8_t>(len >> 8));
            txs.push_back(static_cast<std::uint8_t>(txn::tx_result::ok));
            txs.insert(txs.end(), body.begin(), body.begin() + static_cast<std::ptrdiff_t>(len));
            sigs.push_back(view.signature(0));
          }
          chain.hash(2);
          const auto entry = chain.record(crypto::entry_mixin(sigs));
          EXPECT_TRUE(entry.has_value());
          used = ledger::add_entry(batch, used, *entry, false, static_cast<std::uint32_t>(sigs.size()), txs);
          ++entries;
        }
        chain.hash(hashes_per_tick);
        const auto tick_entry = chain.tick();
        EXPECT_TRUE(tick_entry.has_value());
        used = ledger::add_entry(batch, used, *tick_entry, true, 0, {});
        ++entries;
      }
      ledger::finish_batch(batch, entries);
      batch.resize(used);
      recs.push_back({ledger::record_type::entry_batch, slot, batch});
      ledger::slot_meta end;
      end.kind = ledger::meta_kind::slot_end;
      end.hashes_per_tick = hashes_per_tick;
      end.ticks_per_slot = ticks_per_slot;
      end.tick_height = chain.tick_count();
      end.hash = chain.last_hash();
      end.bank_hash = bank.end_slot(slot, end.hash, end.tick_height);
      parent_bank_hash = end.bank_hash;
      bank_hashes.push_back(end.bank_hash);
      end.parent_slot = slot == 0 ? 0 : slot - 1;
      end.leader = cluster_leader();
      recs.push_back({ledger::record_type::slot_meta, slot, meta_payload(end)});
      blockhash = end.hash;
      by_slot.push_back(std::move(recs));
    }
    last_hash = chain.last_hash();
  }
  void fund(riptide::testing::leader_bank& b) const {
    for (const auto& k : payers) EXPECT_TRUE(b.credit(k.public_key(), funding));
  }
  void fund(bank::bank_forks& f) const {
    for (const auto& k : payers) EXPECT_TRUE(f.credit(k.public_key(), funding));
  }
  ledger::start_state start_state() const {
    ledger::start_state st;
    st.lamports_per_signature = bank_cfg().lamports_per_signature;
    for (const auto& k : payers) st.accounts.push_back({k.public_key(), funding});
    ledger::sort_start_state(st.accounts);
    st.voters = {payers[0].public_key()};
    return st;
  }
  std::uint64_t records() const {
    std::uint64_t n = 0;
    for (const auto& s : by_slot) n += s.size();
    return n;
  }
};

const leader_chain& chain() {
  static const leader_chain c;
  return c;
}

// A cluster whose schedule gives slots 0..3 to one leader; the follower is not a member, so
// its TVU tile retransmits nothing and the test needs no tx side.
struct cluster_fixture {
  std::vector<crypto::keypair> keys;
  std::vector<epoch::stake_entry> members;
  std::unique_ptr<shred::turbine_cluster> cluster;
  std::unique_ptr<epoch::leader_schedule> schedule;
  std::vector<net::endpoint> contacts;
  std::unique_ptr<net::contact_book> book;
  std::size_t leader = 0;
  crypto::pubkey follower = key_for(9, 0).public_key();

  cluster_fixture() {
    for (std::size_t i = 0; i < nodes; ++i) {
      keys.push_back(key_for(8, i));
      members.push_back({keys[i].public_key(), 1000 * (i + 1)});
      contacts.push_back({0x7f000001, static_cast<std::uint16_t>(17000 + i)});
    }
    cluster = std::make_unique<shred::turbine_cluster>(members);
    book = riptide::testing::contacts_of(contacts, net::port_kind::tvu);
    schedule = std::make_unique<epoch::leader_schedule>(epoch::stakes(members), 0, 64);
    for (std::size_t i = 0; i < nodes; ++i)
      if (keys[i].public_key() == *schedule->leader_for_slot(0)) leader = i;
    for (std::uint64_t s = 1; s < slots; ++s)
      EXPECT_EQ(*schedule->leader_for_slot(s), keys[leader].public_key());
  }
};

const cluster_fixture& cluster() {
  static const cluster_fixture f;
  return f;
}

crypto::pubkey cluster_leader() { return cluster().keys[cluster().leader].public_key(); }

struct collecting_sink final : shred::shred_sink {
  void on_shred(std::span<const std::uint8_t> s, shred::shred_kind, std::uint32_t) noexcept override {
    shreds.emplace_back(s.begin(), s.end());
  }
  std::vector<bytes> shreds;
};

// Every shred of the given slot streams, as the leader's shred tile cuts them.
std::vector<bytes> shred_streams(const std::vector<bytes>& streams) {
  shred::shredder sh(cluster().keys[cluster().leader], version, {});
  collecting_sink sink;
  for (std::uint64_t slot = 0; slot < streams.size(); ++slot) {
    EXPECT_TRUE(sh.begin_slot(slot, slot == 0 ? 0 : slot - 1));
    EXPECT_TRUE(sh.add(streams[slot], true, sink));
    EXPECT_TRUE(sh.finish_slot(sink));
  }
  return std::move(sink.shreds);
}

std::vector<bytes> good_streams() {
  std::vector<bytes> out;
  for (const auto& recs : chain().by_slot) out.push_back(encode(recs));
  return out;
}

tvu::tvu_tile_config tvu_config() {
  tvu::tvu_tile_config c;
  c.resolver.shred_version = version;
  c.resolver.max_sets = 8;
  c.resolver.completed_sets_remembered = 64;
  c.assembler.max_slots = 8;
  c.assembler.max_data_shreds_per_slot = 256;
  c.assembler.pool_payloads = 256;
  c.batch = 8;
  c.tx_frames = 16;
  c.output_slots = 2;
  c.max_slot_bytes = 64 * 1024;
  c.deliver_from = 0;
  return c;
}

// The follower: a TVU tile, the replay tile behind it, their bank and ledger.
struct follower {
  const cluster_fixture& f = cluster();
  riptide::testing::temp_dir dir{"riptide-replay-tile"};
  ledger::ledger lg;
  bank::bank_forks forks{forks_cfg(), start_hash()};
  std::unique_ptr<bank::slot_replayer> replayer;
  util::frame_pool rx{rx_frame_count};
  util::frame_stack rx_free{0, rx_frame_count};
  desc_ring in{16}, release{rx_frame_count}, tx{16}, tx_release{16};
  slot_ring out{4}, out_release{4};
  bank::chain_board board;
  std::unique_ptr<tvu::tvu_tile> tvu;
  std::unique_ptr<tvu::replay_tile> replay;

  explicit follower(const tvu::replay_tile_config& config = {})
      : lg(ledger::ledger::open({dir.path() / "lg", 1 << 20, false})) {
    chain().fund(forks);
    EXPECT_TRUE(forks.add_voter(chain().payers[0].public_key()));
    auto cfg = chain_cfg();
    cfg.start_state = chain().start_state();
    replayer = std::make_unique<bank::slot_replayer>(forks, cfg);
    tvu = std::make_unique<tvu::tvu_tile>("tvu", tvu_config(), rx, in, release, tx, tx_release, out, out_release,
                                          *f.schedule, *f.cluster, f.follower, f.book->column(net::port_kind::tvu));
    replay = std::make_unique<tvu::replay_tile>("replay", config, *replayer, lg, *tvu, out, out_release, &board);
  }

  std::uint64_t counter(std::size_t c) const { return replay->own_counter(c); }
  std::uint64_t dead(bank::replay_error e) const { return counter(t::c_dead_first + static_cast<std::size_t>(e) - 1); }

  void take_rx_back() {
    util::frag_desc d{};
    while (release.try_pop(d)) EXPECT_TRUE(rx_free.release(d.frame));
  }
  int poll_both() {
    const int w = tvu->poll() + replay->poll();
    take_rx_back();
    return w;
  }
  void feed(const bytes& shred) {
    std::uint32_t frame = 0;
    while (!rx_free.try_acquire(frame)) poll_both();
    std::memcpy(rx.frame(frame).data(), shred.data(), shred.size());
    const util::frag_desc d{frame, static_cast<std::uint16_t>(shred.size()),
                            static_cast<std::uint16_t>(net::port_kind::tvu), net::endpoint{0x7f000001, 17999}.pack()};
    while (!in.try_push(d)) poll_both();
  }
  void settle() {
    for (int i = 0; i < 10'000; ++i)
      if (poll_both() == 0 && in.empty_approx() && out.empty_approx()) return;
    ADD_FAILURE() << "tiles never went idle";
  }
  void run(const std::vector<bytes>& streams) {
    replay->on_start();
    for (const bytes& s : shred_streams(streams)) feed(s);
    settle();
    replay->on_stop();
  }
};

std::vector<std::string> lines_of(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

}  // namespace

TEST(replay_tile, counter_names_follow_the_replay_errors) {
  follower fl;
  const auto names = fl.replay->own_counter_names();
  ASSERT_EQ(names.size(), std::size_t{t::c_own_count});
  EXPECT_EQ(names[t::c_slots_stored], "slots_stored");
  EXPECT_EQ(names[t::c_bad_buffers], "bad_buffers");
  for (std::size_t e = 1; e < bank::replay_error_count; ++e)
    EXPECT_EQ(names[t::c_dead_first + e - 1],
              std::string("dead_") + bank::to_string(static_cast<bank::replay_error>(e)));
  for (const auto n : names) EXPECT_LT(n.size(), util::metrics_counter_name_bytes);
}

TEST(replay_tile, replays_each_slot_appends_the_leaders_records_and_makes_them_durable) {
  riptide::testing::temp_dir logs("riptide-replay-tile-log");
  tvu::replay_tile_config config;
  config.slot_log = (logs.path() / "slots.csv").string();
  follower fl(config);
  const auto streams = good_streams();
  fl.run(streams);

  // The follower's ledger holds the leader's records, slot by slot, byte for byte.
  for (std::uint64_t s = 0; s < slots; ++s) EXPECT_EQ(bank::slot_stream(fl.lg, s), streams[s]) << "slot " << s;
  EXPECT_EQ(fl.lg.stats().records, chain().records());
  EXPECT_EQ(fl.lg.durable_records(), chain().records());  // on_stop waited for the syncer

  EXPECT_EQ(fl.counter(t::c_slots_stored), slots);
  EXPECT_EQ(fl.counter(t::c_slots_dead), 0u);
  EXPECT_EQ(fl.counter(t::c_records), chain().records());
  EXPECT_EQ(fl.counter(t::c_txs), slots * 2 * (ticks_per_slot - 1) + (slots - 2));  // transfers, votes
  EXPECT_EQ(fl.counter(t::c_failed_txs), slots * (ticks_per_slot - 1));
  EXPECT_EQ(fl.counter(t::c_last_slot), slots - 1);
  EXPECT_EQ(fl.counter(t::c_durable_slot), slots - 1);
  EXPECT_GE(fl.counter(t::c_syncs), 1u);
  EXPECT_LE(fl.counter(t::c_syncs), slots);
  for (std::size_t c : {t::c_append_errors, t::c_sync_failures, t::c_bad_buffers})
    EXPECT_EQ(fl.counter(c), 0u) << fl.replay->own_counter_names()[c];
  for (std::size_t e = 1; e < bank::replay_error_count; ++e) EXPECT_EQ(fl.dead(static_cast<bank::replay_error>(e)), 0u);
  EXPECT_EQ(fl.replay->first_problem(), "");
  // Every buffer went back to the TVU tile, and nothing else.
  EXPECT_EQ(fl.tvu->own_counter(tvu::tvu_tile::c_slots_delivered), slots);
  EXPECT_EQ(fl.tvu->own_counter(tvu::tvu_tile::c_out_release_bad), 0u);
  EXPECT_TRUE(fl.replay->drained());

  // The chain board: how far the follower replayed, and what is durable.
  const auto s = fl.board.read();
  EXPECT_EQ(s.slot, slots);
  EXPECT_EQ(s.tick_height, slots * ticks_per_slot);
  EXPECT_EQ(s.blockhash_slot, slots - 1);
  EXPECT_EQ(s.blockhash, chain().last_hash);
  EXPECT_TRUE(s.has_durable_slot);
  EXPECT_EQ(s.durable_slot, slots - 1);

  const auto lines = lines_of(config.slot_log);
  ASSERT_EQ(lines.size(), 1 + slots);
  EXPECT_EQ(lines[0], "slot,unix_ns,bytes,received,recovered,repaired,result");
  for (std::uint64_t slot = 0; slot < slots; ++slot) {
    unsigned long long sl = 0, ns = 0, b = 0;
    unsigned received = 0, recovered = 0, repaired = 0;
    char result[32] = {};
    ASSERT_EQ(std::sscanf(lines[1 + slot].c_str(), "%llu,%llu,%llu,%u,%u,%u,%31s", &sl, &ns, &b, &received,
                          &recovered, &repaired, result),
              7)
        << lines[1 + slot];
    EXPECT_EQ(sl, slot);
    EXPECT_EQ(b, streams[slot].size());
    EXPECT_GT(received, 0u);
    EXPECT_EQ(repaired, 0u);
    EXPECT_STREQ(result, "ok");
  }
}

// A rotating validator's PoH builds on what replay stored: one reset per stored slot, the
// newest last, naming the slot's last hash and tick height; a full ring is counted.
TEST(replay_tile, each_stored_slot_resets_poh_onto_it) {
  follower fl;
  util::spsc_ring<tpu::poh_reset> resets(2);
  fl.replay->connect_resets(&resets);
  fl.run(good_streams());
  ASSERT_GE(slots, 3u);
  EXPECT_EQ(fl.counter(t::c_resets) + fl.counter(t::c_resets_dropped), slots);
  EXPECT_EQ(fl.counter(t::c_resets), 2u);  // nobody popped: the ring holds the first two
  tpu::poh_reset r;
  ASSERT_TRUE(resets.try_pop(r));
  EXPECT_EQ(r.slot, 0u);
  EXPECT_EQ(r.tick_height, ticks_per_slot);
  ASSERT_TRUE(resets.try_pop(r));
  EXPECT_EQ(r.slot, 1u);
  follower again;
  util::spsc_ring<tpu::poh_reset> roomy(64);
  again.replay->connect_resets(&roomy);
  again.run(good_streams());
  EXPECT_EQ(again.counter(t::c_resets), slots);
  EXPECT_EQ(again.counter(t::c_resets_dropped), 0u);
  std::optional<tpu::poh_reset> last;
  while (roomy.try_pop(r)) last = r;
  ASSERT_TRUE(last.has_value());
  EXPECT_EQ(last->slot, slots - 1);
  EXPECT_EQ(last->tick_height, slots * ticks_per_slot);
  EXPECT_EQ(last->hash, chain().last_hash);
}

// A voting validator's replay keeps every block it replayed off the ledger until consensus
// roots it: the verdict's root moves the forks' root, the ledger (the root's chain, records
// exactly as the leader wrote them) and the board; the verdict's reset goes to PoH.
TEST(replay_tile, with_consensus_blocks_reach_the_ledger_when_rooted_and_poh_resets_to_the_verdict) {
  ASSERT_GE(slots, 4u);
  follower fl;
  util::spsc_ring<tvu::consensus_event> events(64);
  util::spsc_ring<tvu::consensus_verdict> verdicts(4);
  util::spsc_ring<tpu::poh_reset> resets(8);
  fl.replay->connect_consensus(&events);
  fl.replay->connect_resets(&resets);
  fl.replay->follow_consensus(&verdicts);
  fl.replay->on_start();
  for (const bytes& s : shred_streams(good_streams())) fl.feed(s);
  fl.settle();
  EXPECT_EQ(fl.counter(t::c_slots_stored), slots);
  EXPECT_EQ(fl.counter(t::c_unrooted_blocks), slots);
  EXPECT_TRUE(fl.lg.empty()) << "nothing is rooted yet";
  EXPECT_EQ(fl.counter(t::c_resets), 0u) << "PoH resets where consensus says";
  EXPECT_EQ(fl.forks.info(fl.forks.root()).slot, 0u);
  EXPECT_EQ(fl.forks.stats().banks, slots + 1) << "the genesis root and one bank per block";
  EXPECT_FALSE(fl.board.read().has_root_slot);
  EXPECT_EQ(fl.board.read().slot, slots) << "processed: the highest block replayed";

  // Root slot 1, reset to the newest block.
  ASSERT_TRUE(verdicts.try_push(tvu::consensus_verdict{1, slots - 1}));
  fl.settle();
  EXPECT_EQ(fl.counter(t::c_roots), 1u);
  EXPECT_EQ(fl.counter(t::c_root_slot), 1u);
  EXPECT_EQ(fl.counter(t::c_unrooted_blocks), slots - 2);
  EXPECT_EQ(fl.forks.info(fl.forks.root()).slot, 1u);
  EXPECT_EQ(fl.lg.root(), 1u);
  EXPECT_EQ(fl.lg.last_slot(), 1u);
  EXPECT_EQ(fl.lg.stats().records, chain().by_slot[0].size() + chain().by_slot[1].size());
  EXPECT_EQ(bank::slot_stream(fl.lg, 0), good_streams()[0]);
  EXPECT_EQ(bank::slot_stream(fl.lg, 1), good_streams()[1]);
  EXPECT_TRUE(fl.board.read().has_root_slot);
  EXPECT_EQ(fl.board.read().root_slot, 1u);
  tpu::poh_reset r;
  ASSERT_TRUE(resets.try_pop(r));
  EXPECT_EQ(r.slot, slots - 1);
  EXPECT_EQ(r.tick_height, slots * ticks_per_slot);
  EXPECT_EQ(r.hash, chain().last_hash);
  EXPECT_FALSE(resets.try_pop(r));

  // The same reset is not sent twice; a reset to a slot with no bank is counted; an older
  // root than the forks' is ignored; the last root takes the rest of the chain.
  ASSERT_TRUE(verdicts.try_push(tvu::consensus_verdict{0, slots - 1}));
  fl.settle();
  EXPECT_FALSE(resets.try_pop(r));
  EXPECT_EQ(fl.counter(t::c_roots), 1u);
  ASSERT_TRUE(verdicts.try_push(tvu::consensus_verdict{1, slots + 5}));
  fl.settle();
  EXPECT_EQ(fl.counter(t::c_unknown_resets), 1u);
  ASSERT_TRUE(verdicts.try_push(tvu::consensus_verdict{slots - 1, slots - 2}));
  fl.settle();
  ASSERT_TRUE(resets.try_pop(r));
  EXPECT_EQ(r.slot, slots - 2);
  EXPECT_EQ(fl.counter(t::c_roots), 2u);
  EXPECT_EQ(fl.counter(t::c_unrooted_blocks), 0u);
  EXPECT_EQ(fl.lg.root(), slots - 1);
  EXPECT_EQ(fl.lg.stats().records, chain().records());
  for (std::uint64_t s = 0; s < slots; ++s) EXPECT_EQ(bank::slot_stream(fl.lg, s), good_streams()[s]) << s;
  EXPECT_EQ(fl.counter(t::c_append_errors), 0u);
  fl.replay->on_stop();
  EXPECT_EQ(fl.lg.durable_root(), slots - 1);
  // Rooting three blocks at once folds each into the rooted store: the balances are those
  // of a follower that rooted every block as it came.
  follower each;
  each.run(good_streams());
  for (const auto& k : chain().payers)
    EXPECT_EQ(fl.forks.rooted_balance(k.public_key()), each.forks.rooted_balance(k.public_key()));
}

// The arena bounds what waits for a root: a block that does not fit waits, popped and held,
// until a root makes room.
TEST(replay_tile, with_consensus_a_full_arena_holds_the_next_block_until_a_root) {
  tvu::replay_tile_config config;
  config.max_unrooted_blocks = 2;
  follower fl(config);
  util::spsc_ring<tvu::consensus_event> events(64);
  util::spsc_ring<tvu::consensus_verdict> verdicts(4);
  fl.replay->connect_consensus(&events);
  fl.replay->follow_consensus(&verdicts);
  fl.replay->on_start();
  for (const bytes& s : shred_streams(good_streams())) fl.feed(s);
  fl.settle();
  EXPECT_EQ(fl.counter(t::c_slots_stored), 2u);
  EXPECT_EQ(fl.counter(t::c_unrooted_full), 1u) << "counted once for the slot held";
  ASSERT_TRUE(verdicts.try_push(tvu::consensus_verdict{1, 1}));
  fl.settle();
  EXPECT_EQ(fl.counter(t::c_slots_stored), std::min<std::uint64_t>(slots, 4));
  EXPECT_EQ(fl.lg.last_slot(), 1u);
  fl.replay->on_stop();
}

// A voting validator: after each stored block, replay tells consensus of each voter whose vote
// state is newer (one vote landed in each block but the first and the last), then of the
// block itself.
TEST(replay_tile, tells_consensus_of_each_block_and_each_vote_that_landed) {
  follower fl;
  util::spsc_ring<tvu::consensus_event> events(64);
  fl.replay->connect_consensus(&events);
  fl.run(good_streams());
  std::vector<tvu::consensus_event> got;
  tvu::consensus_event e;
  while (events.try_pop(e)) got.push_back(e);
  ASSERT_EQ(got.size(), slots + (slots - 2));
  std::size_t i = 0;
  for (std::uint64_t s = 0; s < slots; ++s) {
    if (s > 0 && s + 1 < slots) {
      EXPECT_EQ(got[i].what, tvu::consensus_event::kind::vote) << s;
      EXPECT_EQ(got[i].voter, 0u);
      EXPECT_EQ(got[i].votes.last_voted_slot(), s - 1);
      EXPECT_EQ(got[i].votes.votes().size(), s);
      EXPECT_EQ(got[i].slot, s) << "the block the vote was read from";
      ++i;
    }
    EXPECT_EQ(got[i].what, tvu::consensus_event::kind::bank) << s;
    EXPECT_EQ(got[i].slot, s);
    EXPECT_EQ(got[i].parent, s == 0 ? 0 : s - 1);
    EXPECT_EQ(got[i].bank_hash, chain().bank_hashes[s]);
    ++i;
  }
  EXPECT_EQ(got.back().blockhash, chain().last_hash);
  EXPECT_EQ(fl.counter(t::c_consensus_dropped), 0u);
  // A full ring is counted, never waited on.
  follower full;
  util::spsc_ring<tvu::consensus_event> small(2);
  full.replay->connect_consensus(&small);
  full.run(good_streams());
  EXPECT_EQ(full.counter(t::c_slots_stored), slots);
  // Room for block 0 and the vote in block 1; then block 1, the vote in block 2, block 2, that
  // vote again after block 3 (a vote not told is tried again), and block 3 are dropped.
  EXPECT_EQ(full.counter(t::c_consensus_dropped), 5u);
}

// A rotating validator's own block: its bank tiles made the block's bank already (here: a
// second replayer on the same forks plays them). Replay checks the block and adopts that
// bank instead of executing it twice; the ledger and the chain are the same. Every stored
// transaction gets its status.
TEST(replay_tile, an_own_block_is_adopted_and_every_status_recorded) {
  follower fl;
  bank::tx_status_cache statuses(256);
  fl.replay->connect_statuses(&statuses);
  const auto streams = good_streams();
  auto cfg = chain_cfg();
  cfg.start_state = chain().start_state();
  bank::slot_replayer leader_side(fl.forks, cfg);
  ASSERT_TRUE(leader_side.replay(0, 0, streams[0]).ok());
  fl.run(streams);
  EXPECT_EQ(fl.counter(t::c_adopted), 1u);
  EXPECT_EQ(fl.counter(t::c_slots_stored), slots);
  for (std::uint64_t s = 0; s < slots; ++s) EXPECT_EQ(bank::slot_stream(fl.lg, s), streams[s]) << "slot " << s;
  std::uint64_t found = 0;
  for (std::uint64_t s = 0; s < slots; ++s)
    bank::for_each_landed_signature(fl.lg, s, [&](std::uint64_t slot, const crypto::signature& sig) {
      if (slot != s) return;
      const auto st = statuses.find(sig);
      ASSERT_TRUE(st.has_value());
      EXPECT_EQ(st->slot, slot);
      ++found;
    });
  EXPECT_GE(found, slots);  // every slot holds landed transactions
}

// While the node makes its next block, its own blocks before it are still adopted (they change
// no bank) and stored; a block it would have to execute waits, and so does the new root.
TEST(replay_tile, own_blocks_are_adopted_while_the_node_makes_its_next_one) {
  follower fl;
  const auto streams = good_streams();
  auto cfg = chain_cfg();
  cfg.start_state = chain().start_state();
  bank::slot_replayer leader_side(fl.forks, cfg);
  ASSERT_TRUE(leader_side.replay(0, 0, streams[0]).ok());
  ASSERT_TRUE(leader_side.replay(1, 0, streams[1]).ok());
  const bank::bank_index genesis = fl.forks.root();
  tpu::bank_gate gate(1, 0);
  fl.replay->connect_leader(&gate, nullptr);
  ASSERT_TRUE(gate.open_block(77, 9));  // the node's next block is being made
  fl.replay->on_start();
  for (const bytes& sh : shred_streams(streams)) fl.feed(sh);
  for (int i = 0; i < 2000; ++i) (void)fl.poll_both();
  EXPECT_EQ(fl.counter(t::c_adopted), 2u);
  EXPECT_EQ(fl.counter(t::c_slots_stored), 2u);
  EXPECT_GT(fl.counter(t::c_leader_waits), 0u);
  EXPECT_EQ(fl.forks.root(), genesis);  // rooting waits too
  for (std::uint64_t s = 0; s < 2; ++s) EXPECT_EQ(bank::slot_stream(fl.lg, s), streams[s]);
  gate.close(9);  // the block is done
  fl.settle();
  EXPECT_EQ(fl.counter(t::c_slots_stored), slots);
  EXPECT_NE(fl.forks.root(), genesis);
  EXPECT_EQ(fl.forks.info(fl.forks.root()).slot, slots - 1);
  fl.replay->on_stop();
}

// The node's bank tiles share the forks: nothing is replayed while the gate is open or a
// tile is inside, nor while the ledger tile writes a block of ours.
TEST(replay_tile, waits_while_the_node_makes_a_block) {
  follower fl;
  tpu::bank_gate gate(1, 0);
  riptide::testing::temp_dir dir("riptide-replay-own");
  ledger::ledger own = ledger::ledger::open({dir.path() / "own", 1 << 20, false});
  util::spsc_ring<tpu::poh_entry_record> entries(16);
  tpu::ledger_tile_config lc;
  lc.ticks_per_slot = ticks_per_slot;
  lc.chain_start = false;
  lc.rotation = true;
  tpu::ledger_tile writer("ledger", own, lc, entries);
  fl.replay->connect_leader(&gate, &writer);
  fl.replay->on_start();
  const auto streams = good_streams();
  // The TVU alone (fl.feed would poll replay too).
  auto poll_tvu = [&] {
    (void)fl.tvu->poll();
    fl.take_rx_back();
  };
  for (const bytes& sh : shred_streams({streams[0]})) {
    std::uint32_t frame = 0;
    while (!fl.rx_free.try_acquire(frame)) poll_tvu();
    std::memcpy(fl.rx.frame(frame).data(), sh.data(), sh.size());
    const util::frag_desc d{frame, static_cast<std::uint16_t>(sh.size()),
                            static_cast<std::uint16_t>(net::port_kind::tvu), 0};
    while (!fl.in.try_push(d)) poll_tvu();
  }
  for (int i = 0; i < 1000; ++i) poll_tvu();
  ASSERT_EQ(fl.tvu->own_counter(tvu::tvu_tile::c_slots_delivered), 1u);
  ASSERT_TRUE(gate.open_block(7, 3));  // a block of ours is open
  EXPECT_EQ(fl.replay->poll(), 0);
  EXPECT_EQ(fl.counter(t::c_leader_waits), 1u);
  EXPECT_EQ(gate.enter(0), 7u);
  gate.close(3);  // closed, a tile still inside
  EXPECT_EQ(fl.replay->poll(), 0);
  gate.leave(0);
  // The ledger tile has begun a block of ours (its first tick, no slot end yet).
  tpu::poh_entry_record tick{};
  tick.slot = 5;
  tick.parent = 4;
  tick.tick_height = 5 * ticks_per_slot + 1;
  tick.is_tick = true;
  tick.entry.num_hashes = 1;
  ASSERT_TRUE(entries.try_push(tick));
  (void)writer.poll();
  ASSERT_TRUE(writer.in_block());
  EXPECT_EQ(fl.replay->poll(), 0);
  EXPECT_EQ(fl.counter(t::c_leader_waits), 3u);
  EXPECT_EQ(fl.counter(t::c_slots_stored), 0u);
  // The block is written: replay goes on.
  for (std::uint64_t h = 5 * ticks_per_slot + 2; h <= 6 * ticks_per_slot; ++h) {
    tick.tick_height = h;
    ASSERT_TRUE(entries.try_push(tick));
  }
  while (!entries.empty_approx()) (void)writer.poll();
  ASSERT_FALSE(writer.in_block());
  EXPECT_EQ(fl.replay->poll(), 1);
  EXPECT_EQ(fl.counter(t::c_slots_stored), 1u);
  fl.replay->on_stop();
  writer.on_stop();
}

TEST(replay_tile, without_sync_at_slot_end_only_on_stop_makes_it_durable) {
  tvu::replay_tile_config config;
  config.sync_at_slot_end = false;
  follower fl(config);
  fl.replay->on_start();
  for (const bytes& s : shred_streams(good_streams())) fl.feed(s);
  fl.settle();
  EXPECT_EQ(fl.counter(t::c_slots_stored), slots);
  EXPECT_EQ(fl.lg.durable_records(), 0u);
  EXPECT_FALSE(fl.board.read().has_durable_slot);
  fl.replay->on_stop();
  EXPECT_EQ(fl.counter(t::c_syncs), 0u);
  EXPECT_EQ(fl.lg.durable_records(), chain().records());  // on_stop's own sync
}

// A slot the leader got wrong (its bank hash does not match what executing it gives) is
// dead: nothing of it is stored, it goes back to the TVU tile as failed, and the next slot,
// built on it, is never handed over (the chain stays at slot 1).
TEST(replay_tile, a_bad_slot_is_dead_counted_and_not_stored) {
  auto recs = chain().by_slot;
  ledger::slot_meta end;
  ASSERT_EQ(ledger::decode_meta(recs[2].back().payload, end), ledger::entry_error::none);
  end.bank_hash[0] ^= 1;
  recs[2].back().payload = meta_payload(end);
  std::vector<bytes> streams;
  for (const auto& r : recs) streams.push_back(encode(r));

  riptide::testing::temp_dir logs("riptide-replay-tile-log");
  tvu::replay_tile_config config;
  config.slot_log = (logs.path() / "slots.csv").string();
  follower fl(config);
  fl.run(streams);

  EXPECT_EQ(fl.counter(t::c_slots_stored), 2u);
  EXPECT_EQ(fl.counter(t::c_slots_dead), 1u);
  EXPECT_EQ(fl.dead(bank::replay_error::bank_hash_mismatch), 1u);
  EXPECT_EQ(fl.tvu->own_counter(tvu::tvu_tile::c_slots_rejected), 2u);  // 2, and 3 built on it
  EXPECT_FALSE(fl.replayer->dead());
  EXPECT_EQ(fl.replay->first_problem().rfind("slot 2: bank_hash_mismatch", 0), 0u) << fl.replay->first_problem();
  EXPECT_EQ(fl.counter(t::c_last_slot), 1u);
  EXPECT_EQ(fl.counter(t::c_durable_slot), 1u);
  // Only slots 0 and 1 reached the ledger.
  EXPECT_EQ(bank::slot_stream(fl.lg, 0), streams[0]);
  EXPECT_EQ(bank::slot_stream(fl.lg, 1), streams[1]);
  EXPECT_TRUE(bank::slot_stream(fl.lg, 2).empty());
  EXPECT_TRUE(bank::slot_stream(fl.lg, 3).empty());
  EXPECT_EQ(fl.lg.stats().records, chain().by_slot[0].size() + chain().by_slot[1].size());
  EXPECT_EQ(fl.board.read().slot, 2u);  // replayed up to slot 1
  // Slots 0-2 went back to the TVU tile, the dead one too; slot 3 never left it.
  EXPECT_EQ(fl.tvu->own_counter(tvu::tvu_tile::c_slots_delivered), 3u);
  EXPECT_EQ(fl.tvu->own_counter(tvu::tvu_tile::c_out_release_bad), 0u);
  EXPECT_EQ(fl.tvu->root(), 1u);

  const auto lines = lines_of(config.slot_log);
  ASSERT_EQ(lines.size(), 1 + 3u);
  EXPECT_NE(lines[2].find(",ok"), std::string::npos);
  EXPECT_NE(lines[3].find(",bank_hash_mismatch"), std::string::npos);
}

// A slot that fails before execution (a damaged record) leaves the bank untouched; the next
// slots built on it are never handed over: the chain waits at slot 0.
TEST(replay_tile, a_damaged_slot_holds_the_chain_at_its_parent) {
  auto streams = good_streams();
  streams[1][ledger::record_header_bytes + 5] ^= 1;  // the CRC no longer matches
  follower fl;
  fl.run(streams);
  EXPECT_EQ(fl.counter(t::c_slots_stored), 1u);
  EXPECT_EQ(fl.dead(bank::replay_error::bad_record), 1u);
  EXPECT_EQ(fl.counter(t::c_slots_dead), 1u);
  EXPECT_EQ(fl.tvu->own_counter(tvu::tvu_tile::c_slots_delivered), 2u);
  EXPECT_EQ(fl.replay->first_problem().rfind("slot 1: bad_record", 0), 0u) << fl.replay->first_problem();
  EXPECT_EQ(fl.lg.stats().records, chain().by_slot[0].size());
}

// A completed_slot that names no buffer of the TVU tile is counted, not replayed, and still
// handed back (the TVU tile counts it as a bad release).
TEST(replay_tile, a_slot_without_a_valid_buffer_is_counted_and_returned) {
  follower fl;
  fl.replay->on_start();
  ASSERT_TRUE(fl.out.try_push(tvu::completed_slot{.slot = 0, .parent = 0, .bytes = 100, .buffer = 77}));
  EXPECT_EQ(fl.replay->poll(), 1);
  EXPECT_EQ(fl.counter(t::c_bad_buffers), 1u);
  EXPECT_EQ(fl.counter(t::c_slots_dead) + fl.counter(t::c_slots_stored), 0u);
  EXPECT_EQ(fl.replayer->next_slot(), 0u);
  tvu::completed_slot back;
  ASSERT_TRUE(fl.out_release.try_pop(back));
  EXPECT_EQ(back.buffer, 77u);
  EXPECT_EQ(fl.replay->poll(), 0);
  fl.replay->on_stop();
}

// Contention: the TVU tile and the replay tile run on two runtime core threads, the replay
// tile reading stream() of the TVU tile's buffers on its own thread and its syncer on a third;
// the test thread feeds shreds and reads the chain board. The follower's ledger ends equal to
// the leader's. Run under ThreadSanitizer too.
TEST(replay_tile, tvu_and_replay_on_their_own_core_threads) {
  follower fl;
  const auto streams = good_streams();
  const auto shreds = shred_streams(streams);
  util::runtime_options opt;
  opt.pin = false;
  util::runtime rt({util::core_plan{-1, {fl.tvu.get()}}, util::core_plan{-1, {fl.replay.get()}}}, opt);
  rt.start();  // on_start on the core threads
  std::uint64_t board_went_back = 0, last_seen = 0;
  for (const bytes& s : shreds) {
    std::uint32_t frame = 0;
    while (!fl.rx_free.try_acquire(frame)) {
      fl.take_rx_back();
      std::this_thread::yield();
    }
    std::memcpy(fl.rx.frame(frame).data(), s.data(), s.size());
    const util::frag_desc d{frame, static_cast<std::uint16_t>(s.size()),
                            static_cast<std::uint16_t>(net::port_kind::tvu), 0};
    while (!fl.in.try_push(d)) std::this_thread::yield();
    const auto b = fl.board.read();
    if (b.slot < last_seen) ++board_went_back;
    last_seen = b.slot;
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!(fl.board.read().has_durable_slot && fl.board.read().durable_slot == slots - 1) &&
         std::chrono::steady_clock::now() < deadline) {
    fl.take_rx_back();
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_TRUE(rt.stop());  // on_stop on the core threads
  fl.take_rx_back();
  EXPECT_EQ(board_went_back, 0u);
  EXPECT_EQ(fl.board.read().durable_slot, slots - 1);
  for (std::uint64_t s = 0; s < slots; ++s) EXPECT_EQ(bank::slot_stream(fl.lg, s), streams[s]) << "slot " << s;
  EXPECT_EQ(fl.counter(t::c_slots_stored), slots);
  EXPECT_EQ(fl.counter(t::c_slots_dead), 0u);
  EXPECT_EQ(fl.rx_free.available(), rx_frame_count);
}
