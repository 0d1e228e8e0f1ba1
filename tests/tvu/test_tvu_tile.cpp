// The TVU tile in process: a leader's shreds for two slots go through `in` frames of a test
// frame pool (standing in for the net tile's rx pool), shuffled, with loss, duplicates and
// forgeries; the test plays the net tile (takes tx descriptors, gives their frames back) and
// the consumer (reads completed slots, gives their buffers back).

#include <riptide/tvu/tvu_tile.hpp>
#include <riptide/bank/chain_board.hpp>

#include <riptide/crypto/schnorr.hpp>
#include <riptide/crypto/sha256.hpp>
#include <riptide/shred/repair.hpp>
#include <riptide/shred/shred_archive.hpp>
#include <riptide/shred/shredder.hpp>

#include "../support/contacts.hpp"
#include "../support/temp_dir.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <initializer_list>
#include <map>
#include <set>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace {

using namespace riptide;
using bytes = std::vector<std::uint8_t>;
using desc_ring = util::spsc_ring<util::frag_desc>;
using slot_ring = util::spsc_ring<tvu::completed_slot>;

constexpr std::uint16_t version = 7;
constexpr std::size_t nodes = 6;
constexpr std::uint32_t fanout = 2;
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

struct collecting_sink final : shred::shred_sink {
  void on_shred(std::span<const std::uint8_t> s, shred::shred_kind, std::uint32_t) noexcept override {
    shreds.emplace_back(s.begin(), s.end());
  }
  std::vector<bytes> shreds;
};

shred::turbine_shred_type type_of(const shred::shred_view& v) {
  return v.is_coding() ? shred::turbine_shred_type::coding : shred::turbine_shred_type::data;
}

// A cluster of six staked nodes, its schedule and contact table, and a leader's two slots.
struct cluster_fixture {
  std::vector<crypto::keypair> keys;
  std::vector<epoch::stake_entry> members;
  std::unique_ptr<shred::turbine_cluster> cluster;
  std::unique_ptr<epoch::leader_schedule> schedule;
  std::vector<net::endpoint> contacts;  // by cluster index
  std::unique_ptr<net::contact_book> book;  // the same, as tiles read it
  crypto::pubkey leader{};
  std::size_t leader_node = 0;          // node number of the leader of slots 0-3
  std::size_t self = 0;                 // node number of the follower under test
  std::vector<bytes> streams;           // slots 1 and 2
  std::vector<bytes> shreds;            // every shred of both slots

  cluster_fixture() {
    for (std::size_t i = 0; i < nodes; ++i) {
      keys.push_back(key_for(1, i));
      members.push_back({keys[i].public_key(), 1000 * (i + 1)});
    }
    cluster = std::make_unique<shred::turbine_cluster>(members);
    schedule = std::make_unique<epoch::leader_schedule>(epoch::stakes(members), 0, 64);
    contacts.resize(nodes);
    for (std::uint32_t c = 0; c < nodes; ++c) contacts[c] = {0x7f000001, static_cast<std::uint16_t>(14000 + c)};
    book = riptide::testing::contacts_of(contacts, net::port_kind::tvu);
    leader = *schedule->leader_for_slot(1);
    EXPECT_EQ(*schedule->leader_for_slot(2), leader);  // 4 slots per leader
    for (std::size_t i = 0; i < nodes; ++i) {
      if (keys[i].public_key() == leader) leader_node = i;
    }

    shred::shredder sh(keys[leader_node], version, {});
    std::mt19937_64 rng(3);
    const std::size_t sizes[] = {40'000, 5'000};
    for (std::uint64_t slot = 1; slot <= 2; ++slot) {
      bytes stream(sizes[slot - 1]);
      for (auto& b : stream) b = static_cast<std::uint8_t>(rng());
      collecting_sink sink;
      EXPECT_TRUE(sh.begin_slot(slot, slot - 1));
      EXPECT_TRUE(sh.add({stream.data(), stream.size() / 3}, false, sink));
      EXPECT_TRUE(sh.add({stream.data() + stream.size() / 3, stream.size() - stream.size() / 3},
                         true, sink));
      EXPECT_TRUE(sh.finish_slot(sink));
      streams.push_back(std::move(stream));
      for (auto& s : sink.shreds) shreds.push_back(std::move(s));
    }

    // The follower with the most Turbine children over these shreds, so retransmit is tested.
    shred::turbine_tree tree(*cluster, fanout);
    std::size_t best = 0;
    for (std::size_t i = 0; i < nodes; ++i) {
      if (i == leader_node) continue;
      const std::uint32_t ci = cluster->index_of(keys[i].public_key());
      std::size_t total = 0;
      for (const bytes& b : shreds) {
        shred::shred_view v;
        EXPECT_EQ(shred::parse_shred(b, v), shred::shred_error::none);
        total += tree.children(v.slot(), v.index(), type_of(v), leader, ci).size();
      }
      if (total > best) {
        best = total;
        self = i;
      }
    }
    EXPECT_GT(best, 0u);
  }

  // (destination packed, shred bytes) -> copies the follower must send.
  std::map<std::pair<std::uint64_t, bytes>, int> expected_retransmits() const {
    shred::turbine_tree tree(*cluster, fanout);
    const std::uint32_t ci = cluster->index_of(keys[self].public_key());
    std::map<std::pair<std::uint64_t, bytes>, int> out;
    for (const bytes& b : shreds) {
      shred::shred_view v;
      (void)shred::parse_shred(b, v);
      for (const std::uint32_t child : tree.children(v.slot(), v.index(), type_of(v), leader, ci)) {
        ++out[{contacts[child].pack(), b}];
      }
    }
    return out;
  }
};

const cluster_fixture& fixture() {
  static const cluster_fixture f;
  return f;
}

tvu::tvu_tile_config small_config() {
  tvu::tvu_tile_config c;
  c.resolver.shred_version = version;
  c.resolver.max_sets = 8;
  c.resolver.completed_sets_remembered = 64;
  c.assembler.max_slots = 8;
  c.assembler.max_data_shreds_per_slot = 256;
  c.assembler.pool_payloads = 256;
  c.fanout = fanout;
  c.batch = 8;
  c.tx_frames = 512;
  c.output_slots = 2;
  c.max_slot_bytes = 64 * 1024;
  return c;
}

// In order along the chain, which so far ends at slot 0.
tvu::tvu_tile_config in_order_config() {
  auto c = small_config();
  c.deliver_from = 1;
  return c;
}

// The tile with its rings, the test acting as net tile and consumer.
struct harness {
  const cluster_fixture& f = fixture();
  util::frame_pool rx{rx_frame_count};
  util::frame_stack rx_free{0, rx_frame_count};
  desc_ring in, release{rx_frame_count}, tx, tx_release{1024};
  slot_ring out{4}, out_release{4};
  tvu::tvu_tile tile;

  std::uint64_t pushed = 0, released = 0;
  bool drain_tx = true;     // act as the net tile after every poll
  bool release_slots = true;
  std::vector<util::frag_desc> held_tx;
  std::map<std::pair<std::uint64_t, bytes>, int> sent;
  std::map<std::uint64_t, bytes> delivered;  // slot -> stream
  std::map<std::uint64_t, std::uint64_t> parents;
  std::vector<tvu::completed_slot> held_slots;
  std::uint64_t wrong_kind = 0;  // tx descriptors not sent from the tvu port

  // `self`: the node under test (default: the follower with the most Turbine children).
  explicit harness(const tvu::tvu_tile_config& config, std::size_t in_cap = 16,
                   std::size_t tx_cap = 1024, const tvu::tvu_repair_links* repair = nullptr,
                   const crypto::pubkey* self = nullptr)
      : in(in_cap), tx(tx_cap),
        tile("tvu0", config, rx, in, release, tx, tx_release, out, out_release, *f.schedule,
             *f.cluster, self != nullptr ? *self : f.keys[f.self].public_key(), f.book->column(net::port_kind::tvu), repair) {}

  std::uint64_t counter(std::size_t c) const { return tile.own_counter(c); }

  void take_outputs() {
    util::frag_desc d;
    while (release.try_pop(d)) {
      ++released;
      if (!rx.contains(d.frame)) continue;  // a bogus descriptor the test pushed
      EXPECT_TRUE(rx_free.release(d.frame)) << "rx frame released twice";
    }
    while (tx.try_pop(d)) {
      if (d.kind != static_cast<std::uint16_t>(net::port_kind::tvu)) ++wrong_kind;
      const auto frame = tile.tx_frames().frame(d.frame);
      ++sent[{d.meta, bytes(frame.begin(), frame.begin() + d.len)}];
      held_tx.push_back(d);
    }
    if (drain_tx) give_back_tx();
    tvu::completed_slot c;
    while (out.try_pop(c)) {
      const auto s = tile.stream(c);
      EXPECT_EQ(s.size(), c.bytes);
      EXPECT_FALSE(delivered.contains(c.slot)) << "slot " << c.slot << " delivered twice";
      delivered[c.slot] = bytes(s.begin(), s.end());
      parents[c.slot] = c.parent;
      held_slots.push_back(c);
    }
    if (release_slots) give_back_slots();
  }
  void give_back_tx() {
    for (const auto& d : held_tx) ASSERT_TRUE(tx_release.try_push(d));
    held_tx.clear();
  }
  std::set<std::uint64_t> fail;  // slots the consumer releases as failed (replay refused them)
  void give_back_slots() {
    for (auto c : held_slots) {
      c.failed = fail.contains(c.slot);
      ASSERT_TRUE(out_release.try_push(c));
    }
    held_slots.clear();
  }
  void feed_all(std::initializer_list<const std::vector<bytes>*> sets) {
    for (const auto* set : sets)
      for (const bytes& b : *set) feed(b);
  }
  void settle() {
    for (int i = 0; i < 10'000; ++i) {
      const int w = tile.poll();
      take_outputs();
      if (w == 0 && in.empty_approx()) return;
    }
    ADD_FAILURE() << "tile never went idle";
  }

  void feed(const bytes& packet) {
    std::uint32_t frame = 0;
    while (!rx_free.try_acquire(frame)) {
      tile.poll();
      take_outputs();
    }
    std::memcpy(rx.frame(frame).data(), packet.data(), packet.size());
    const util::frag_desc d{frame, static_cast<std::uint16_t>(packet.size()),
                            static_cast<std::uint16_t>(net::port_kind::tvu),
                            net::endpoint{0x7f000001, 14999}.pack()};
    while (!in.try_push(d)) {
      tile.poll();
      take_outputs();
    }
    ++pushed;
    if (pushed % 3 == 0) {
      tile.poll();
      take_outputs();
    }
  }
};

// The honest shreds in a shuffled order, every 7th one lost, every 5th one kept twice.
// `lost` gets the shreds left out.
std::vector<bytes> shuffled_feed(const cluster_fixture& f, std::vector<bytes>& lost) {
  std::vector<bytes> order = f.shreds;
  std::mt19937_64 rng(11);
  std::shuffle(order.begin(), order.end(), rng);
  std::vector<bytes> feed;
  for (std::size_t i = 0; i < order.size(); ++i) {
    if (i % 7 == 3) {
      lost.push_back(order[i]);
      continue;
    }
    feed.push_back(order[i]);
  }
  for (std::size_t i = 0; i < feed.size(); i += 5) {
    const std::size_t at = std::min(feed.size(), i + 1 + rng() % 40);
    feed.insert(feed.begin() + static_cast<std::ptrdiff_t>(at), feed[i]);
  }
  return feed;
}

void flip_payload_byte(bytes& b) {
  shred::shred_view v;
  ASSERT_EQ(shred::parse_shred(b, v), shred::shred_error::none);
  b[v.is_coding() ? shred::coding_headers_end + 10 : shred::data_headers_end + 1] ^= 0x01;
}

TEST(tvu_tile, counter_names_follow_the_resolver_and_assembler) {
  harness h(small_config());
  const auto names = h.tile.own_counter_names();
  ASSERT_EQ(names.size(), tvu::tvu_tile::c_own_count);
  for (std::size_t r = 1; r < shred::drop_reason_count; ++r) {
    const auto reason = static_cast<shred::drop_reason>(r);
    EXPECT_EQ(names[tvu::tvu_tile::drop_counter(reason)], std::string("drop_") + to_string(reason));
  }
  for (std::size_t r = 1; r < shred::insert_result_count; ++r) {
    const auto result = static_cast<shred::insert_result>(r);
    EXPECT_EQ(names[tvu::tvu_tile::assembler_counter(result)],
              std::string("asm_") + to_string(result));
  }
  EXPECT_EQ(names[tvu::tvu_tile::c_retransmitted], "retransmitted");
  EXPECT_EQ(names[tvu::tvu_tile::c_out_release_bad], "out_release_bad");
  for (const auto n : names) EXPECT_LT(n.size(), util::metrics_counter_name_bytes);
}

TEST(tvu_tile, assembles_retransmits_to_turbine_children_and_rejects_forgeries) {
  const cluster_fixture& f = fixture();
  harness h(small_config());
  std::vector<bytes> lost;
  std::vector<bytes> feed = shuffled_feed(f, lost);

  // Forgeries: a shred of slot 1 signed by a node that does not lead it, and an honest
  // shred with a flipped byte, both first of their set (bad_signature); and a lost shred with
  // a flipped byte right after the first honest shred of its set (wrong_root).
  shred::fec_set_params p;
  p.slot = 1;
  p.parent_offset = 1;
  p.shred_version = version;
  p.last_in_slot = true;
  p.batch_complete = true;
  const bytes payload(2000, 0x5a);
  const auto impostor = shred::make_fec_set(f.keys[(f.self + 1) % nodes].public_key() == f.leader
                                                ? f.keys[(f.self + 2) % nodes]
                                                : f.keys[(f.self + 1) % nodes],
                                            p, payload);
  bytes flipped_first = feed.front();
  flip_payload_byte(flipped_first);
  bytes flipped_lost = lost.front();
  flip_payload_byte(flipped_lost);
  shred::shred_view lv;
  ASSERT_EQ(shred::parse_shred(lost.front(), lv), shred::shred_error::none);
  std::size_t first_of_set = feed.size();
  for (std::size_t i = 0; i < feed.size(); ++i) {
    shred::shred_view v;
    ASSERT_EQ(shred::parse_shred(feed[i], v), shred::shred_error::none);
    if (v.slot() == lv.slot() && v.fec_set_index() == lv.fec_set_index()) {
      first_of_set = i;
      break;
    }
  }
  ASSERT_LT(first_of_set, feed.size());
  feed.insert(feed.begin() + static_cast<std::ptrdiff_t>(first_of_set) + 1, flipped_lost);
  feed.insert(feed.begin(), flipped_first);
  feed.insert(feed.begin(), impostor.front());
  feed.push_back(impostor.back());  // late: its set position already holds the honest shred

  for (const bytes& b : feed) h.feed(b);
  h.settle();

  // Streams, byte for byte.
  ASSERT_EQ(h.delivered.size(), 2u);
  EXPECT_EQ(h.delivered[1], f.streams[0]);
  EXPECT_EQ(h.delivered[2], f.streams[1]);
  EXPECT_EQ(h.parents[1], 0u);
  EXPECT_EQ(h.parents[2], 1u);

  // Retransmits: every shred of both slots, received or rebuilt, to exactly this node's
  // children in that shred's tree, with the leader's bytes; nothing forged.
  const auto expected = f.expected_retransmits();
  EXPECT_EQ(h.sent, expected);
  std::uint64_t expected_total = 0;
  for (const auto& [k, n] : expected) expected_total += static_cast<std::uint64_t>(n);
  EXPECT_EQ(h.counter(tvu::tvu_tile::c_retransmitted), expected_total);
  EXPECT_EQ(h.wrong_kind, 0u);
  EXPECT_GT(expected_total, 0u);
  std::printf("shreds %zu, fed %zu (lost %zu), retransmits %llu, recovered %llu, dropped: bad_signature %llu wrong_root %llu duplicate %llu\n",
              f.shreds.size(), feed.size(), lost.size(), static_cast<unsigned long long>(expected_total),
              static_cast<unsigned long long>(h.counter(tvu::tvu_tile::c_recovered)),
              static_cast<unsigned long long>(h.counter(tvu::tvu_tile::drop_counter(shred::drop_reason::bad_signature))),
              static_cast<unsigned long long>(h.counter(tvu::tvu_tile::drop_counter(shred::drop_reason::wrong_root))),
              static_cast<unsigned long long>(h.counter(tvu::tvu_tile::drop_counter(shred::drop_reason::duplicate))));

  // Counters.
  using t = tvu::tvu_tile;
  EXPECT_EQ(h.counter(t::c_received), feed.size());
  std::uint64_t drops = 0;
  for (std::size_t r = 1; r < shred::drop_reason_count; ++r) {
    drops += h.counter(t::drop_counter(static_cast<shred::drop_reason>(r)));
  }
  EXPECT_EQ(h.counter(t::c_accepted) + drops, feed.size());
  EXPECT_GE(h.counter(t::drop_counter(shred::drop_reason::bad_signature)), 2u);
  EXPECT_GE(h.counter(t::drop_counter(shred::drop_reason::wrong_root)), 1u);
  EXPECT_GT(h.counter(t::drop_counter(shred::drop_reason::duplicate)), 0u);
  EXPECT_GT(h.counter(t::c_recovered), 0u);
  EXPECT_EQ(h.counter(t::c_accepted) + h.counter(t::c_recovered), f.shreds.size());
  EXPECT_EQ(h.counter(t::c_slots_completed), 2u);
  EXPECT_EQ(h.counter(t::c_slots_delivered), 2u);
  for (std::size_t r = 1; r < shred::insert_result_count; ++r) {
    EXPECT_EQ(h.counter(t::assembler_counter(static_cast<shred::insert_result>(r))), 0u);
  }
  EXPECT_EQ(h.counter(t::c_tx_no_frame) + h.counter(t::c_tx_ring_full) +
                h.counter(t::c_tx_no_contact) + h.counter(t::c_tx_release_bad) +
                h.counter(t::c_rx_release_full) + h.counter(t::c_bad_frame),
            0u);

  // Frames: every rx frame back, every tx frame back.
  EXPECT_EQ(h.released, h.pushed);
  EXPECT_EQ(h.rx_free.available(), rx_frame_count);
  EXPECT_EQ(h.tile.free_tx_frames(), small_config().tx_frames);
}

TEST(tvu_tile, tx_pressure_drops_copies_but_loses_no_frame) {
  const cluster_fixture& f = fixture();
  std::uint64_t expected_total = 0;
  for (const auto& [k, n] : f.expected_retransmits()) expected_total += static_cast<std::uint64_t>(n);
  using t = tvu::tvu_tile;
  {  // Few tx frames, none given back while shreds flow: tx_no_frame.
    auto config = small_config();
    config.tx_frames = 4;
    harness h(config);
    h.drain_tx = false;
    for (const bytes& b : f.shreds) h.feed(b);
    h.settle();
    EXPECT_EQ(h.counter(t::c_retransmitted), 4u);
    EXPECT_GT(h.counter(t::c_tx_no_frame), 0u);
    EXPECT_EQ(h.counter(t::c_retransmitted) + h.counter(t::c_tx_no_frame), expected_total);
    EXPECT_EQ(h.tile.free_tx_frames(), 0u);
    h.give_back_tx();
    h.settle();
    EXPECT_EQ(h.tile.free_tx_frames(), 4u);
    EXPECT_EQ(h.delivered.size(), 2u);
  }
  {  // A tiny tx ring that the net side never empties: tx_ring_full, frames stay home.
    auto config = small_config();
    harness h(config, 16, 2);
    h.drain_tx = false;
    for (const bytes& b : f.shreds) {
      h.feed(b);
    }
    h.tile.poll();
    EXPECT_GT(h.counter(t::c_tx_ring_full), 0u);
    EXPECT_EQ(h.counter(t::c_retransmitted) + h.counter(t::c_tx_ring_full), expected_total);
    h.take_outputs();
    h.give_back_tx();
    h.settle();
    EXPECT_EQ(h.tile.free_tx_frames(), config.tx_frames);
    EXPECT_EQ(h.delivered.size(), 2u);
  }
}

TEST(tvu_tile, complete_slots_wait_for_a_free_buffer) {
  const cluster_fixture& f = fixture();
  auto config = small_config();
  config.output_slots = 1;
  harness h(config);
  h.release_slots = false;
  for (const bytes& b : f.shreds) h.feed(b);
  h.settle();
  ASSERT_EQ(h.delivered.size(), 1u);  // slot 1; slot 2 waits for the one buffer
  EXPECT_GT(h.counter(tvu::tvu_tile::c_out_backpressure), 0u);
  EXPECT_TRUE(h.tile.assembler().is_complete(2));
  h.give_back_slots();
  h.settle();
  ASSERT_EQ(h.delivered.size(), 2u);
  EXPECT_EQ(h.delivered[1], f.streams[0]);
  EXPECT_EQ(h.delivered[2], f.streams[1]);
  EXPECT_EQ(h.counter(tvu::tvu_tile::c_slots_delivered), 2u);
}

// Repair links for the follower under test: every node's repair port, rings the test drives.
struct repair_setup {
  std::vector<crypto::pubkey> ids;
  std::vector<net::endpoint> endpoints;
  desc_ring in{16}, release{64};
  std::unique_ptr<net::contact_book> book;
  tvu::tvu_repair_links links;

  repair_setup() {
    const cluster_fixture& f = fixture();
    for (std::size_t i = 0; i < nodes; ++i) {
      ids.push_back(f.keys[i].public_key());
      endpoints.push_back({0x7f000001, static_cast<std::uint16_t>(15000 + i)});
    }
    book = riptide::testing::contacts_of(endpoints, net::port_kind::repair, ids);
    links.identity = &f.keys[f.self];
    links.peer_ids = ids;
    links.peer_repair = book->column(net::port_kind::repair);
    links.self_index = static_cast<std::uint32_t>(f.self);
    links.in = &in;
    links.release = &release;
    links.server.shred_version = version;
    links.client.shred_version = version;
  }
};

// With repair links and an archive: every data shred of each slot handed over goes to the
// archive, byte for byte, as the slot is delivered (and not before).
TEST(tvu_tile, archives_the_data_shreds_of_each_slot_it_hands_over) {
  const cluster_fixture& f = fixture();
  riptide::testing::temp_dir dir;
  shred::shred_archive_config ac;
  ac.dir = dir.path() / "shreds";
  ac.segment_bytes = 1 << 20;
  shred::shred_archive archive(ac);
  repair_setup repair;
  tvu::tvu_repair_links& links = repair.links;
  links.store = {4096, 16};
  links.archive = &archive;
  auto config = small_config();
  config.output_slots = 1;
  harness h(config, 16, 1024, &links);
  h.release_slots = false;  // slot 2 waits for the one buffer
  std::map<std::pair<std::uint64_t, std::uint32_t>, bytes> data;
  for (const bytes& b : f.shreds) {
    shred::shred_view v;
    ASSERT_EQ(shred::parse_shred(b, v), shred::shred_error::none);
    if (v.is_data()) data[{v.slot(), v.index()}] = b;
    h.feed(b);
  }
  h.settle();
  ASSERT_EQ(h.delivered.size(), 1u);
  EXPECT_EQ(archive.newest_slot(), 1u);  // slot 2 is complete but not handed over yet
  EXPECT_TRUE(archive.data(2, 0).empty());
  h.give_back_slots();
  h.settle();
  ASSERT_EQ(h.delivered.size(), 2u);
  for (const auto& [key, b] : data) {
    const auto held = archive.data(key.first, key.second);
    EXPECT_TRUE(std::equal(held.begin(), held.end(), b.begin(), b.end()) && held.size() == b.size())
        << key.first << "/" << key.second;
  }
  EXPECT_EQ(archive.shreds(), data.size());
  EXPECT_EQ(h.counter(tvu::tvu_tile::c_archived), data.size());
  EXPECT_EQ(h.counter(tvu::tvu_tile::c_archive_incomplete), 0u);
  EXPECT_EQ(h.counter(tvu::tvu_tile::c_archive_refused), 0u);
}

// In order (deliver_from), a node far behind: later slots must not crowd out the next one,
// and a slot the assembler evicted for room is taken again when its shreds come back (the
// resolver forgets its sets) instead of being dropped as duplicates forever.
TEST(tvu_tile, in_order_a_later_slot_gives_way_and_comes_back) {
  const cluster_fixture& f = fixture();
  auto config = small_config();
  config.assembler.max_slots = 1;
  config.deliver_from = 1;
  harness h(config);
  std::map<std::uint64_t, std::vector<bytes>> by_slot;
  for (const bytes& b : f.shreds) {
    shred::shred_view v;
    ASSERT_EQ(shred::parse_shred(b, v), shred::shred_error::none);
    by_slot[v.slot()].push_back(b);
  }
  for (const bytes& b : by_slot[2]) h.feed(b);  // slot 2 first: complete, but 1 comes first
  h.settle();
  EXPECT_TRUE(h.delivered.empty());
  EXPECT_TRUE(h.tile.assembler().is_complete(2));
  for (const bytes& b : by_slot[1]) h.feed(b);  // slot 1 pushes slot 2 out
  h.settle();
  ASSERT_EQ(h.delivered.size(), 1u);
  EXPECT_EQ(h.delivered[1], f.streams[0]);
  EXPECT_GT(h.counter(tvu::tvu_tile::c_sets_forgotten), 0u);
  for (const bytes& b : by_slot[2]) h.feed(b);  // what repair would bring back
  h.settle();
  ASSERT_EQ(h.delivered.size(), 2u);
  EXPECT_EQ(h.delivered[2], f.streams[1]);
}

// In completion order the root stays put: slots handed over are not arriving any more.
TEST(tvu_tile, arriving_names_the_lowest_slot_not_yet_handed_over) {
  const cluster_fixture& f = fixture();
  harness h(small_config());
  h.release_slots = false;
  h.tile.housekeep(0);
  EXPECT_EQ(h.tile.arriving().load(), 0u);
  std::vector<bytes> two;
  for (const bytes& b : f.shreds) {
    shred::shred_view v;
    ASSERT_EQ(shred::parse_shred(b, v), shred::shred_error::none);
    if (v.slot() == 1) h.feed(b);
    else two.push_back(b);
  }
  h.feed(two.front());
  h.settle();
  ASSERT_EQ(h.delivered.size(), 1u);
  h.tile.housekeep(0);
  EXPECT_EQ(h.tile.arriving().load(), 3u) << "slot 1 is handed over, slot 2 has begun";
  for (const bytes& b : two) h.feed(b);
  h.settle();
  ASSERT_EQ(h.delivered.size(), 2u);
  h.tile.housekeep(0);
  EXPECT_EQ(h.tile.arriving().load(), 0u);
}

// Node `node` shreds one block for `slot` on `parent` (random bytes as entries).
std::pair<bytes, std::vector<bytes>> block_shreds_by(std::size_t node, std::uint64_t slot, std::uint64_t parent,
                                                     std::size_t size) {
  const cluster_fixture& f = fixture();
  shred::shredder sh(f.keys[node], version, {});
  std::mt19937_64 rng(slot * 131 + parent);
  bytes stream(size);
  for (auto& b : stream) b = static_cast<std::uint8_t>(rng());
  collecting_sink sink;
  EXPECT_TRUE(sh.begin_slot(slot, parent));
  EXPECT_TRUE(sh.add({stream.data(), stream.size()}, true, sink));
  EXPECT_TRUE(sh.finish_slot(sink));
  return {std::move(stream), std::move(sink.shreds)};
}

// The leader of slots 0-3 shreds one block for `slot` on `parent`.
std::pair<bytes, std::vector<bytes>> block_shreds(std::uint64_t slot, std::uint64_t parent, std::size_t size) {
  return block_shreds_by(fixture().leader_node, slot, parent, size);
}

// In order along the chain: slot 2 was skipped (slot 3 names slot 1 as its parent) and slot 3
// arrives before its parent. A rival block for slot 2 built on slot 0, arriving once slot 1 is
// handed over, is not on the chain: it is never handed over and goes when the root passes it.
// (A rival complete before slot 1 would be handed over instead: one chain has no fork choice.)
TEST(tvu_tile, in_order_steps_over_skipped_slots_along_the_chain) {
  auto config = in_order_config();
  harness h(config);
  const auto [one, one_shreds] = block_shreds(1, 0, 3000);
  const auto [rival, rival_shreds] = block_shreds(2, 0, 2000);
  const auto [three, three_shreds] = block_shreds(3, 1, 4000);
  h.tile.housekeep(0);
  EXPECT_EQ(h.tile.arriving().load(), 0u);
  for (const bytes& b : three_shreds) h.feed(b);
  h.settle();
  EXPECT_TRUE(h.delivered.empty()) << "slot 3 waits for its parent";
  EXPECT_TRUE(h.tile.assembler().is_complete(3));
  h.tile.housekeep(0);
  EXPECT_EQ(h.tile.arriving().load(), 4u) << "slot 3 is arriving";
  h.feed(one_shreds.front());  // one shred of slot 1 (of several data shreds): not complete
  h.settle();
  EXPECT_TRUE(h.delivered.empty());
  h.tile.housekeep(0);
  EXPECT_EQ(h.tile.arriving().load(), 2u) << "slot 1, lower, has begun";
  for (const bytes& b : one_shreds) h.feed(b);
  h.settle();
  ASSERT_EQ(h.delivered.size(), 2u);
  EXPECT_EQ(h.delivered[1], one);
  EXPECT_EQ(h.delivered[3], three);
  EXPECT_EQ(h.parents[3], 1u);
  EXPECT_EQ(h.tile.root(), 3u);
  h.tile.housekeep(0);
  EXPECT_EQ(h.tile.arriving().load(), 0u) << "both handed over";
  for (const bytes& b : rival_shreds) h.feed(b);
  h.settle();
  EXPECT_FALSE(h.delivered.contains(2));
  EXPECT_FALSE(h.tile.assembler().is_complete(2));
}

// A rotating validator's own blocks come from its shred tile (connect_own): they join the
// chain like anyone's (a later leader's block built on them follows), are never retransmitted
// (the shred tile sent them to the tree's root), and every frame goes back. highest_seen
// names the highest slot of any shred.
TEST(tvu_tile, own_blocks_join_the_chain_and_are_not_retransmitted) {
  const auto& f = fixture();
  harness h(in_order_config(), 16, 1024, nullptr, &f.leader);  // this node leads slots 0-3
  util::frame_pool own_frames(64);
  util::frame_stack own_free(0, 64);
  desc_ring own(64), own_release(64);
  h.tile.connect_own(own_frames, own, own_release);
  const auto [one, one_shreds] = block_shreds(1, 0, 3000);
  const auto [two, two_shreds] = block_shreds(2, 1, 2000);
  std::uint64_t own_pushed = 0, own_back = 0;
  auto feed_own = [&](const bytes& b) {
    std::uint32_t frame = 0;
    while (!own_free.try_acquire(frame)) {
      h.tile.poll();
      h.take_outputs();
      util::frag_desc d{};
      while (own_release.try_pop(d)) {
        ++own_back;
        ASSERT_TRUE(own_free.release(d.frame));
      }
    }
    std::memcpy(own_frames.frame(frame).data(), b.data(), b.size());
    ASSERT_TRUE(own.try_push(util::frag_desc{frame, static_cast<std::uint16_t>(b.size()), 0, 0}));
    ++own_pushed;
  };
  EXPECT_EQ(h.tile.highest_seen().load(), 0u);
  for (const bytes& b : one_shreds) feed_own(b);
  for (const bytes& b : two_shreds) h.feed(b);  // as if from the network: also ours, not resent
  h.settle();
  util::frag_desc d{};
  while (own_release.try_pop(d)) ++own_back;
  EXPECT_EQ(own_back, own_pushed);
  EXPECT_EQ(h.counter(tvu::tvu_tile::c_own_received), one_shreds.size());
  EXPECT_EQ(h.counter(tvu::tvu_tile::c_retransmitted), 0u);
  EXPECT_TRUE(h.sent.empty());
  ASSERT_EQ(h.delivered.size(), 2u);
  EXPECT_EQ(h.delivered[1], one);
  EXPECT_EQ(h.delivered[2], two);
  EXPECT_EQ(h.tile.highest_seen().load(), 3u);
}

// The consumer refuses slot 2: the chain stays at slot 1, slot 2 is not the root, and slot 3,
// built on slot 1 (it skips the bad block), is handed over next. One slot is out at a time.
TEST(tvu_tile, in_order_a_refused_slot_leaves_the_chain_at_its_parent) {
  auto config = in_order_config();
  harness h(config);
  h.fail = {2};
  h.release_slots = false;
  const auto [one, one_shreds] = block_shreds(1, 0, 3000);
  const auto [two, two_shreds] = block_shreds(2, 1, 2000);
  const auto [three, three_shreds] = block_shreds(3, 1, 4000);
  h.feed_all({&one_shreds, &two_shreds});
  h.settle();
  ASSERT_EQ(h.delivered.size(), 1u) << "slot 2 waits until slot 1 comes back";
  EXPECT_EQ(h.tile.root(), 0u);
  h.tile.housekeep(0);
  EXPECT_EQ(h.tile.arriving().load(), 2u) << "slot 1 is out, not replayed yet";
  h.give_back_slots();
  h.settle();
  ASSERT_EQ(h.delivered.size(), 2u);
  EXPECT_EQ(h.tile.root(), 1u);
  h.give_back_slots();  // slot 2, refused
  h.settle();
  EXPECT_EQ(h.counter(tvu::tvu_tile::c_slots_rejected), 1u);
  EXPECT_EQ(h.tile.root(), 1u);
  for (const bytes& b : three_shreds) h.feed(b);
  h.settle();
  ASSERT_EQ(h.delivered.size(), 3u);
  EXPECT_EQ(h.delivered[3], three);
  EXPECT_EQ(h.parents[3], 1u);
  h.give_back_slots();
  h.settle();
  EXPECT_EQ(h.tile.root(), 3u);
}

// Two blocks on slot 0 (slot 2 skips slot 1): slot 1, complete first, goes alone and slot 2
// waits for its verdict; refused, it leaves the chain at slot 0 and slot 2 goes next.
TEST(tvu_tile, in_order_siblings_wait_for_the_verdict_on_the_lower_one) {
  auto config = in_order_config();
  harness h(config);
  h.fail = {1};
  h.release_slots = false;
  const auto [one, one_shreds] = block_shreds(1, 0, 3000);
  const auto [two, two_shreds] = block_shreds(2, 0, 2000);
  h.feed_all({&one_shreds, &two_shreds});
  h.settle();
  ASSERT_EQ(h.delivered.size(), 1u);
  EXPECT_TRUE(h.delivered.contains(1));
  EXPECT_TRUE(h.tile.assembler().is_complete(2));
  h.give_back_slots();  // slot 1, refused
  h.settle();
  ASSERT_EQ(h.delivered.size(), 2u);
  EXPECT_EQ(h.parents[2], 0u);
  h.give_back_slots();
  h.settle();
  EXPECT_EQ(h.tile.root(), 2u);
  EXPECT_EQ(h.counter(tvu::tvu_tile::c_slots_rejected), 1u);
}

// A block built on a refused one is never handed over: released unseen and counted, and
// nothing is reported arriving for it.
TEST(tvu_tile, in_order_children_of_a_refused_slot_are_released_unseen) {
  auto config = in_order_config();
  harness h(config);
  h.fail = {2};
  const auto [one, one_shreds] = block_shreds(1, 0, 3000);
  const auto [two, two_shreds] = block_shreds(2, 1, 2000);
  const auto [three, three_shreds] = block_shreds(3, 2, 2500);
  h.feed_all({&one_shreds, &two_shreds, &three_shreds});
  h.settle();
  EXPECT_EQ(h.delivered.size(), 2u);  // 1 and 2
  EXPECT_FALSE(h.delivered.contains(3));
  EXPECT_EQ(h.counter(tvu::tvu_tile::c_slots_rejected), 2u);  // 2 refused, 3 built on it
  EXPECT_FALSE(h.tile.assembler().is_complete(3));
  EXPECT_EQ(h.tile.root(), 1u);
  h.tile.housekeep(0);
  EXPECT_EQ(h.tile.arriving().load(), 0u);
}

// With forks (a voting validator): every block whose parent replay kept goes, on any fork,
// the lowest first; none becomes the root: the root comes from the chain board. (The test
// leader leads slots 1..3 only.)
TEST(tvu_tile, with_forks_every_block_on_a_kept_parent_goes_and_the_root_comes_from_the_board) {
  auto config = in_order_config();
  config.forks = true;
  harness h(config);
  bank::chain_board board;
  h.tile.follow_roots(&board);
  //   0 ─ 1 ─ 3
  //   └── 2
  const auto [one, one_shreds] = block_shreds(1, 0, 3000);
  const auto [two, two_shreds] = block_shreds(2, 0, 2000);
  const auto [three, three_shreds] = block_shreds(3, 1, 2500);
  h.feed_all({&three_shreds, &two_shreds, &one_shreds});
  h.settle();
  ASSERT_EQ(h.delivered.size(), 3u);
  EXPECT_EQ(h.delivered[2], two);
  EXPECT_EQ(h.delivered[3], three);
  EXPECT_EQ(h.parents[2], 0u);
  EXPECT_EQ(h.parents[3], 1u) << "on the fork the newest block left";
  EXPECT_EQ(h.tile.root(), 0u) << "a block replay kept is not a root";
  h.tile.housekeep(0);
  EXPECT_EQ(h.tile.root(), 0u);
  board.set_root_slot(1);
  h.tile.housekeep(0);
  EXPECT_EQ(h.tile.root(), 1u);
}

// With forks, a block built below the root is on a fork the root left: refused unseen.
TEST(tvu_tile, with_forks_a_block_below_the_root_is_released_unseen) {
  auto config = in_order_config();
  config.forks = true;
  harness h(config);
  bank::chain_board board;
  h.tile.follow_roots(&board);
  const auto [one, one_shreds] = block_shreds(1, 0, 3000);
  const auto [two, two_shreds] = block_shreds(2, 0, 2000);
  const auto [three, three_shreds] = block_shreds(3, 1, 2500);
  h.feed_all({&one_shreds, &two_shreds});
  h.settle();
  ASSERT_EQ(h.delivered.size(), 2u);
  board.set_root_slot(2);
  h.tile.housekeep(0);
  ASSERT_EQ(h.tile.root(), 2u);
  h.feed_all({&three_shreds});
  h.settle();
  EXPECT_FALSE(h.delivered.contains(3)) << "built on slot 1, below the root";
  EXPECT_EQ(h.counter(tvu::tvu_tile::c_slots_rejected), 1u);
}

// With forks, a refused block's children never go; its siblings do.
TEST(tvu_tile, with_forks_children_of_a_refused_block_are_released_unseen) {
  auto config = in_order_config();
  config.forks = true;
  harness h(config);
  h.fail = {1};
  const auto [one, one_shreds] = block_shreds(1, 0, 2000);
  const auto [two, two_shreds] = block_shreds(2, 1, 2500);
  const auto [three, three_shreds] = block_shreds(3, 0, 1500);
  h.feed_all({&one_shreds, &two_shreds, &three_shreds});
  h.settle();
  EXPECT_TRUE(h.delivered.contains(1));
  EXPECT_FALSE(h.delivered.contains(2));
  EXPECT_TRUE(h.delivered.contains(3));
  EXPECT_EQ(h.counter(tvu::tvu_tile::c_slots_rejected), 2u);
  EXPECT_EQ(h.tile.root(), 0u);
}

// Like block_shreds, by whichever node the schedule names for `slot`.
std::pair<bytes, std::vector<bytes>> led_block_shreds(std::uint64_t slot, std::uint64_t parent, std::size_t size) {
  const cluster_fixture& f = fixture();
  std::size_t node = f.keys.size();
  for (std::size_t i = 0; i < f.keys.size(); ++i)
    if (f.keys[i].public_key() == *f.schedule->leader_for_slot(slot)) node = i;
  EXPECT_LT(node, f.keys.size());
  return block_shreds_by(node, slot, parent, size);
}

// With forks, while the root stands still (a partition: no fork has 2/3 of the votes), the
// blocks replay kept pile up above it, more of them than the assembler holds. The repair
// window steps over them to the slots still missing, the lowest first: a window fixed at the
// root's next max_slots slots would never ask for the chain the node must switch to after the
// heal. A kept block whose shreds come back later is not handed over a second time.
TEST(tvu_tile, with_forks_repair_looks_past_the_kept_blocks_above_a_standing_root) {
  repair_setup repair;
  tvu::tvu_repair_links& links = repair.links;
  links.store = {4096, 32};
  links.interval_ms = 0;  // a plan at every poll, asking every target again
  links.defer_ms = 0;
  links.client.retry_ms = 0;
  links.client.peer_rate_per_second = 0;
  auto config = in_order_config();
  config.forks = true;
  config.resolver.completed_sets_remembered = 1;  // so a kept block's shreds are taken again
  ASSERT_EQ(config.assembler.max_slots, 8u);
  harness h(config, 16, 1024, &links);
  auto run = [&h] {  // settle() waits for an idle poll, which a plan at every poll never gives
    for (int i = 0; i < 64; ++i) {
      (void)h.tile.poll();
      h.take_outputs();
    }
  };
  std::map<std::uint64_t, std::vector<bytes>> shreds;
  for (std::uint64_t slot = 1; slot <= 12; ++slot) {
    if (slot == 11) continue;  // missing: slot 12 is built on it
    shreds[slot] = led_block_shreds(slot, slot - 1, 1500).second;
    h.feed_all({&shreds[slot]});
    run();
  }
  ASSERT_EQ(h.delivered.size(), 10u);  // 1..10; 12 waits for its parent
  EXPECT_EQ(h.tile.root(), 0u);
  h.sent.clear();
  run();
  EXPECT_EQ(h.counter(tvu::tvu_tile::c_repair_first), 11u);
  EXPECT_EQ(h.counter(tvu::tvu_tile::c_repair_last), 12u);
  std::set<std::uint64_t> asked;
  for (const auto& [key, copies] : h.sent) {
    shred::repair_request_view v;
    if (shred::parse_repair_request(key.second, v) == shred::repair_error::none) asked.insert(v.slot());
  }
  EXPECT_TRUE(asked.contains(11)) << "the missing parent of slot 12";

  // Late copies of a kept block: while they are a part, nothing is asked for it; once all
  // came, it is released, not handed over again. A part of a new block on a kept parent the
  // assembler forgot (slot 13 on slot 3) is no orphan: its chain is known.
  h.feed(shreds[2].front());
  const auto thirteen = led_block_shreds(13, 3, 1500).second;
  h.feed(thirteen.front());
  h.sent.clear();
  run();
  asked.clear();
  std::set<std::uint64_t> orphans;
  for (const auto& [key, copies] : h.sent) {
    shred::repair_request_view v;
    if (shred::parse_repair_request(key.second, v) != shred::repair_error::none) continue;
    asked.insert(v.slot());
    if (v.kind() == shred::repair_kind::orphan) orphans.insert(v.slot());
  }
  EXPECT_TRUE(asked.contains(11));
  EXPECT_FALSE(asked.contains(2)) << "kept by replay already";
  EXPECT_TRUE(asked.contains(13)) << "its missing shreds";
  EXPECT_FALSE(orphans.contains(13)) << "its parent is kept by replay";
  h.feed_all({&shreds[2]});
  run();
  EXPECT_EQ(h.delivered.size(), 10u);
  EXPECT_EQ(h.counter(tvu::tvu_tile::c_slots_again), 1u);
  EXPECT_EQ(h.counter(tvu::tvu_tile::c_slots_rejected), 0u);
}

// A complete slot waiting for its parent gives way to a lower slot (keep_lowest) in the same
// batch as that slot completes: the waiting list still names the evicted slot, and the new
// one must find room there, not be dropped (and with it the chain through it).
TEST(tvu_tile, a_slot_completing_beside_an_evicted_one_is_not_dropped) {
  auto config = in_order_config();
  config.forks = true;
  config.assembler.max_slots = 2;  // and a waiting list of 2
  harness h(config);
  std::vector<bytes> feed;
  for (const auto& [slot, parent] : {std::pair<std::uint64_t, std::uint64_t>{5, 4}, {6, 5}, {1, 0}}) {
    for (bytes& b : led_block_shreds(slot, parent, 500).second) {
      shred::shred_view v;
      ASSERT_EQ(shred::parse_shred(b, v), shred::shred_error::none);
      if (v.is_data()) feed.push_back(std::move(b));
    }
  }
  ASSERT_EQ(feed.size(), 3u);  // one data shred each: 5 and 6 complete, then 1 evicts 6
  h.feed_all({&feed});         // the third push polls once: all three in one batch
  h.settle();
  EXPECT_TRUE(h.delivered.contains(1));
  EXPECT_EQ(h.counter(tvu::tvu_tile::c_slots_dropped), 0u);
}

// A block too large to hand over is refused like one replay refused: the chain stays at its
// parent and a sibling that skips it goes next.
TEST(tvu_tile, in_order_an_oversized_slot_leaves_the_chain_at_its_parent) {
  auto config = in_order_config();
  config.max_slot_bytes = 2500;
  harness h(config);
  const auto [one, one_shreds] = block_shreds(1, 0, 4000);
  const auto [two, two_shreds] = block_shreds(2, 0, 2000);
  h.feed_all({&one_shreds, &two_shreds});
  h.settle();
  EXPECT_EQ(h.counter(tvu::tvu_tile::c_slots_dropped), 1u);
  ASSERT_EQ(h.delivered.size(), 1u);
  EXPECT_EQ(h.delivered[2], two);
  EXPECT_EQ(h.parents[2], 0u);
}

TEST(tvu_tile, bad_descriptors_and_old_slots_are_counted_and_released) {
  const cluster_fixture& f = fixture();
  auto config = small_config();
  config.root_slot = 2;
  harness h(config);
  ASSERT_TRUE(h.in.try_push(util::frag_desc{rx_frame_count + 5, 100, 3, 0}));  // no such frame
  ++h.pushed;
  for (const bytes& b : f.shreds) h.feed(b);
  h.settle();
  using t = tvu::tvu_tile;
  EXPECT_EQ(h.counter(t::c_bad_frame), 1u);
  EXPECT_GT(h.counter(t::drop_counter(shred::drop_reason::too_old)), 0u);  // slot 1
  ASSERT_EQ(h.delivered.size(), 1u);
  EXPECT_EQ(h.delivered[2], f.streams[1]);
  // The bogus descriptor came back as well (its frame is not the test pool's to take).
  EXPECT_EQ(h.released, h.pushed);

  // Moving the root past slot 2 makes its shreds too old.
  const std::uint64_t too_old = h.counter(t::drop_counter(shred::drop_reason::too_old));
  h.tile.set_root(3);
  EXPECT_EQ(h.tile.root(), 3u);
  h.feed(f.shreds.back());
  h.settle();
  EXPECT_EQ(h.counter(t::drop_counter(shred::drop_reason::too_old)), too_old + 1);
  EXPECT_EQ(h.released, h.pushed);
}

}  // namespace
