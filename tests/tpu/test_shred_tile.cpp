// The shred tile in process: the test plays the ledger tile (appends records to a real
// ledger in a temp dir and pushes their ledger_record_refs), the net tile (takes tx
// descriptors, reads the tile's frames, gives them back) and, for repair, a peer (signed
// requests in frames of a test rx pool, handed back on repair_release).

#include <riptide/tpu/shred_tile.hpp>

#include "../support/contacts.hpp"
#include "../support/temp_dir.hpp"

#include <riptide/crypto/schnorr.hpp>
#include <riptide/crypto/sha256.hpp>
#include <riptide/shred/repair.hpp>
#include <riptide/shred/shred.hpp>
#include <riptide/util/metrics.hpp>
#include <riptide/util/runtime.hpp>

#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace riptide;
using bytes = std::vector<std::uint8_t>;
using desc_ring = util::spsc_ring<util::frag_desc>;
using record_ring = util::spsc_ring<tpu::ledger_record_ref>;
using t = tpu::shred_tile;

constexpr std::uint16_t version = 9;
constexpr std::size_t nodes = 5;
constexpr std::uint32_t fanout = 2;
constexpr std::uint32_t rx_frame_count = 16;

crypto::keypair key_for(std::uint64_t i) {
  for (std::uint64_t attempt = 0;; ++attempt) {
    std::array<std::uint8_t, 16> in{};
    for (int k = 0; k < 8; ++k) {
      in[k] = static_cast<std::uint8_t>(i >> (8 * k));
      in[8 + k] = static_cast<std::uint8_t>(attempt >> (8 * k));
    }
    crypto::keypair kp;
    if (crypto::keypair::try_from_secret(crypto::sha256(in), kp)) return kp;
  }
}

// Five staked nodes; node 0 leads. Contacts are by cluster index, repair endpoints by node.
struct cluster_fixture {
  std::vector<crypto::keypair> keys;
  std::vector<crypto::pubkey> ids;
  std::vector<epoch::stake_entry> members;
  std::unique_ptr<shred::turbine_cluster> cluster;
  std::vector<net::endpoint> contacts;  // by cluster index
  std::vector<net::endpoint> repair;    // by ids
  std::unique_ptr<net::contact_book> tvu_book, repair_book;

  cluster_fixture() {
    for (std::size_t i = 0; i < nodes; ++i) {
      keys.push_back(key_for(i));
      ids.push_back(keys[i].public_key());
      members.push_back({ids[i], 1000 * (i + 1)});
      repair.push_back({0x7f000001, static_cast<std::uint16_t>(16000 + i)});
    }
    cluster = std::make_unique<shred::turbine_cluster>(members);
    for (std::uint32_t c = 0; c < nodes; ++c) contacts.push_back({0x7f000001, static_cast<std::uint16_t>(15000 + c)});
    tvu_book = riptide::testing::contacts_of(contacts, net::port_kind::tvu);
    repair_book = riptide::testing::contacts_of(repair, net::port_kind::repair, ids);
  }
  tpu::shred_peers peers() const { return {ids, repair_book->column(net::port_kind::repair)}; }
  const crypto::keypair& leader() const { return keys[0]; }
};

const cluster_fixture& fixture() {
  static const cluster_fixture f;
  return f;
}

tpu::shred_tile_config small_config() {
  tpu::shred_tile_config c;
  c.shred_version = version;
  c.fanout = fanout;
  c.tx_frames = 512;
  c.batch = 4;
  c.store.max_shreds = 1024;
  c.store.max_slots = 8;
  c.repair.shred_version = version;
  return c;
}

bytes random_bytes(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  bytes b(n);
  for (auto& x : b) x = static_cast<std::uint8_t>(rng());
  return b;
}

struct sent_datagram {
  util::frag_desc desc;
  bytes data;
};

// The tile with its rings and a fresh ledger; the test acts as ledger tile, net tile and peer.
struct harness {
  const cluster_fixture& f = fixture();
  riptide::testing::temp_dir dir{"riptide-shred-tile"};
  ledger::ledger lg;
  record_ring records{64};
  util::frame_pool rx{rx_frame_count};
  util::frame_stack rx_free{0, rx_frame_count};
  desc_ring repair_in{16}, repair_release{16};
  desc_ring tx, tx_release{1024};
  std::vector<net::endpoint> contacts;
  std::unique_ptr<net::contact_book> book;
  tpu::shred_tile tile;

  bool drain_tx = true;  // give frames back right after reading them
  std::vector<util::frag_desc> held_tx;
  std::vector<sent_datagram> sent;
  std::map<std::uint64_t, bytes> streams;  // slot -> its records as written
  std::uint64_t released = 0;

  explicit harness(const tpu::shred_tile_config& config, std::size_t tx_cap = 256,
                   std::vector<net::endpoint> tvu_contacts = fixture().contacts)
      : lg(ledger::ledger::open({dir.path() / "lg", 1 << 20, false})),
        tx(tx_cap),
        contacts(std::move(tvu_contacts)),
        book(riptide::testing::contacts_of(contacts, net::port_kind::tvu)),
        tile("shred", config, f.leader(), lg, records, *f.cluster, book->column(net::port_kind::tvu), f.peers(), rx, &repair_in, &repair_release, tx, tx_release) {}

  std::uint64_t counter(std::size_t c) const { return tile.own_counter(c); }

  // The ledger tile's part: append, then hand the record over.
  void append(ledger::record_type type, std::uint64_t slot, const bytes& payload, bool slot_end = false,
              std::optional<std::uint64_t> parent = std::nullopt) {
    ASSERT_EQ(lg.append(type, slot, payload), ledger::append_error::none);
    const tpu::ledger_record_ref ref{lg.last_appended(), slot, parent.value_or(slot == 0 ? 0 : slot - 1),
                                     static_cast<std::uint32_t>(ledger::encoded_record_bytes(payload.size())),
                                     static_cast<std::uint16_t>(type), static_cast<std::uint16_t>(slot_end ? 1 : 0)};
    const auto encoded = lg.encoded_at(ref.position, ref.bytes);
    streams[slot].insert(streams[slot].end(), encoded.begin(), encoded.end());
    while (!records.try_push(ref)) poll_once();
  }
  // Slots 0..2: a chain start, batches of a few sizes (slot 1 spans several FEC sets), and
  // a slot with nothing but its end.
  void append_three_slots() {
    append(ledger::record_type::slot_meta, 0, random_bytes(88, 1));
    append(ledger::record_type::entry_batch, 0, random_bytes(3000, 2));
    append(ledger::record_type::entry_batch, 0, random_bytes(700, 3));
    append(ledger::record_type::slot_meta, 0, random_bytes(88, 4), true);
    append(ledger::record_type::entry_batch, 1, random_bytes(40'000, 5));
    append(ledger::record_type::entry_batch, 1, random_bytes(9'000, 6));
    append(ledger::record_type::slot_meta, 1, random_bytes(88, 7), true);
    append(ledger::record_type::slot_meta, 2, random_bytes(88, 8), true);
  }

  void take_outputs() {
    util::frag_desc d{};
    while (tx.try_pop(d)) {
      const auto frame = tile.tx_frames().frame(d.frame);
      sent.push_back({d, bytes(frame.begin(), frame.begin() + d.len)});
      held_tx.push_back(d);
    }
    if (drain_tx) give_back_tx();
    while (repair_release.try_pop(d)) {
      ++released;
      if (!rx.contains(d.frame)) continue;  // a bogus descriptor the test pushed
      EXPECT_TRUE(rx_free.release(d.frame)) << "rx frame released twice";
    }
  }
  void give_back_tx() {
    for (const auto& d : held_tx) ASSERT_TRUE(tx_release.try_push(d));
    held_tx.clear();
  }
  int poll_once() {
    const int w = tile.poll();
    take_outputs();
    return w;
  }
  void settle() {
    for (int i = 0; i < 10'000; ++i) {
      if (poll_once() == 0 && records.empty_approx() && repair_in.empty_approx()) return;
    }
    ADD_FAILURE() << "tile never went idle";
  }

  // A peer's datagram on the repair port.
  void deliver_repair(const bytes& datagram, std::size_t from_node) {
    std::uint32_t frame = 0;
    ASSERT_TRUE(rx_free.try_acquire(frame));
    std::memcpy(rx.frame(frame).data(), datagram.data(), datagram.size());
    ASSERT_TRUE(repair_in.try_push(util::frag_desc{frame, static_cast<std::uint16_t>(datagram.size()),
                                                   static_cast<std::uint16_t>(net::port_kind::repair),
                                                   f.repair[from_node].pack()}));
  }
  bytes request(std::size_t from_node, shred::repair_kind kind, std::uint64_t slot, std::uint32_t index,
                std::uint32_t nonce) const {
    shred::repair_request_fields fields;
    fields.kind = kind;
    fields.recipient = f.leader().public_key();
    fields.wallclock_ms = util::unix_time_ns() / 1'000'000;
    fields.nonce = nonce;
    fields.shred_version = version;
    fields.slot = slot;
    fields.index = index;
    bytes out(shred::max_repair_response_bytes);
    out.resize(shred::build_repair_request(f.keys[from_node], fields, out));
    EXPECT_FALSE(out.empty());
    return out;
  }
};

shred::turbine_shred_type type_of(const shred::shred_view& v) {
  return v.is_coding() ? shred::turbine_shred_type::coding : shred::turbine_shred_type::data;
}

// A slot's stream rebuilt from its data shreds, in index order.
std::map<std::uint64_t, bytes> reassemble(const std::vector<sent_datagram>& sent) {
  std::map<std::uint64_t, std::map<std::uint32_t, bytes>> data;
  for (const auto& s : sent) {
    shred::shred_view v;
    if (shred::parse_shred(s.data, v) != shred::shred_error::none || !v.is_data()) continue;
    const auto p = v.payload();
    EXPECT_TRUE(data[v.slot()].emplace(v.index(), bytes(p.begin(), p.end())).second)
        << "data shred " << v.slot() << "/" << v.index() << " sent twice";
  }
  std::map<std::uint64_t, bytes> out;
  for (const auto& [slot, by_index] : data) {
    std::uint32_t expect = 0;
    for (const auto& [index, payload] : by_index) {
      EXPECT_EQ(index, expect++) << "slot " << slot << " has a gap";
      out[slot].insert(out[slot].end(), payload.begin(), payload.end());
    }
  }
  return out;
}

TEST(shred_tile, counter_names_match_the_enum) {
  harness h(small_config());
  const auto names = h.tile.own_counter_names();
  ASSERT_EQ(names.size(), std::size_t{t::c_own_dropped} + 1);
  EXPECT_EQ(names[t::c_records], "records");
  EXPECT_EQ(names[t::c_send_ring_full], "send_ring_full");
  EXPECT_EQ(names[t::c_repair_dropped], "repair_dropped");
  EXPECT_EQ(names[t::c_store_evicted], "store_evicted");
  EXPECT_EQ(names[t::c_repair_from_archive], "repair_from_archive");
  for (const auto n : names) EXPECT_LT(n.size(), util::metrics_counter_name_bytes);
}

TEST(shred_tile, shreds_each_slot_and_sends_every_shred_once_to_its_turbine_root) {
  auto config = small_config();
  riptide::testing::temp_dir logs("riptide-shred-tile-log");
  config.slot_log = (logs.path() / "slots.csv").string();
  harness h(config);
  h.append_three_slots();
  h.settle();
  h.tile.on_stop();

  // The data shreds carry each slot's records byte for byte, in order, and nothing else.
  const auto rebuilt = reassemble(h.sent);
  ASSERT_EQ(rebuilt.size(), 3u);
  for (std::uint64_t slot = 0; slot < 3; ++slot) EXPECT_EQ(rebuilt.at(slot), h.streams[slot]) << "slot " << slot;

  // Each shred: signed by the leader, parent slot - 1 (slot 0 its own), sent once from the
  // tvu port to the root of its tree, and kept in the store.
  const auto& f = fixture();
  shred::turbine_tree tree(*f.cluster, fanout);
  std::map<std::uint64_t, std::uint64_t> data_of, coding_of;
  std::map<std::uint64_t, int> last_in_slot;
  for (const auto& s : h.sent) {
    shred::shred_view v;
    ASSERT_EQ(shred::parse_shred(s.data, v), shred::shred_error::none);
    const auto root_hash = shred::shred_merkle_root(v);
    ASSERT_TRUE(root_hash.has_value());
    EXPECT_TRUE(shred::verify_shred_signature(v, f.leader().public_key(), *root_hash));
    EXPECT_EQ(v.shred_version(), version);
    if (v.is_data()) {  // only data shreds carry the parent
      EXPECT_EQ(v.parent_slot(), v.slot() == 0 ? 0 : v.slot() - 1);
    }
    EXPECT_EQ(s.desc.kind, static_cast<std::uint16_t>(net::port_kind::tvu));
    const std::uint32_t root = tree.root(v.slot(), v.index(), type_of(v), f.leader().public_key());
    ASSERT_LT(root, nodes);
    EXPECT_NE(f.cluster->index_of(f.leader().public_key()), root);
    EXPECT_EQ(s.desc.meta, f.contacts[root].pack());
    ++(v.is_coding() ? coding_of : data_of)[v.slot()];
    if (v.is_data() && v.slot_complete()) ++last_in_slot[v.slot()];
    if (v.is_data()) {
      const auto stored = h.tile.store().data(v.slot(), v.index());
      EXPECT_EQ(bytes(stored.begin(), stored.end()), s.data);
    }
  }
  for (std::uint64_t slot = 0; slot < 3; ++slot) EXPECT_EQ(last_in_slot[slot], 1) << "slot " << slot;
  EXPECT_GT(data_of[1], 32u);  // slot 1 spans more than one set

  std::uint64_t data = 0, coding = 0;
  for (const auto& [slot, n] : data_of) data += n;
  for (const auto& [slot, n] : coding_of) coding += n;
  EXPECT_EQ(h.counter(t::c_records), 8u);
  EXPECT_EQ(h.counter(t::c_slots), 3u);
  EXPECT_EQ(h.counter(t::c_data_shreds), data);
  EXPECT_EQ(h.counter(t::c_coding_shreds), coding);
  EXPECT_EQ(h.counter(t::c_sent), data + coding);
  EXPECT_EQ(h.sent.size(), data + coding);
  for (std::size_t c : {t::c_send_no_frame, t::c_send_ring_full, t::c_no_root, t::c_shredder_refused,
                        t::c_bad_record, t::c_store_evicted})
    EXPECT_EQ(h.counter(c), 0u) << h.tile.own_counter_names()[c];
  EXPECT_EQ(h.tile.tx_frames().count(), config.tx_frames);

  // The slot log: a header, then one line per slot with what that slot sent.
  std::ifstream in(config.slot_log);
  std::string line;
  ASSERT_TRUE(std::getline(in, line));
  EXPECT_EQ(line, "slot,unix_ns,data_shreds,coding_shreds");
  for (std::uint64_t slot = 0; slot < 3; ++slot) {
    ASSERT_TRUE(std::getline(in, line));
    unsigned long long s = 0, ns = 0, d = 0, c = 0;
    ASSERT_EQ(std::sscanf(line.c_str(), "%llu,%llu,%llu,%llu", &s, &ns, &d, &c), 4) << line;
    EXPECT_EQ(s, slot);
    EXPECT_GT(ns, 0u);
    EXPECT_EQ(d, data_of[slot]);
    EXPECT_EQ(c, coding_of[slot]);
  }
  EXPECT_FALSE(std::getline(in, line));
}

TEST(shred_tile, answers_repair_from_its_store_and_releases_every_frame) {
  harness h(small_config());
  h.append_three_slots();
  h.settle();
  std::map<std::pair<std::uint64_t, std::uint32_t>, bytes> data_shreds;
  for (const auto& s : h.sent) {
    shred::shred_view v;
    ASSERT_EQ(shred::parse_shred(s.data, v), shred::shred_error::none);
    if (v.is_data()) data_shreds[{v.slot(), v.index()}] = s.data;
  }
  h.sent.clear();

  // Node 3 asks for slot 1's data shred 5, then for a slot the leader never made; node 2
  // sends garbage; and a descriptor names no frame of the rx pool.
  h.deliver_repair(h.request(3, shred::repair_kind::window_index, 1, 5, 0xabc), 3);
  h.deliver_repair(h.request(3, shred::repair_kind::window_index, 40, 0, 0xabd), 3);
  h.deliver_repair(random_bytes(200, 11), 2);
  ASSERT_TRUE(h.repair_in.try_push(util::frag_desc{rx_frame_count + 2, 100, 0, 0}));
  h.settle();

  ASSERT_EQ(h.sent.size(), 1u);
  const auto& response = h.sent[0];
  EXPECT_EQ(response.desc.kind, static_cast<std::uint16_t>(net::port_kind::repair));
  EXPECT_EQ(response.desc.meta, fixture().repair[3].pack());
  shred::repair_response_view r;
  ASSERT_EQ(shred::parse_repair_response(response.data, r), shred::repair_error::none);
  EXPECT_EQ(r.nonce, 0xabcu);
  EXPECT_EQ(bytes(r.shred.begin(), r.shred.end()), (data_shreds[{1, 5}]));

  EXPECT_EQ(h.counter(t::c_repair_requests), 3u);
  EXPECT_EQ(h.counter(t::c_repair_responses), 1u);
  EXPECT_EQ(h.counter(t::c_repair_dropped), 2u);
  EXPECT_EQ(h.counter(t::c_bad_frame), 1u);
  EXPECT_EQ(h.counter(t::c_rx_release_full), 0u);
  EXPECT_EQ(h.released, 4u);  // the bogus descriptor too
  EXPECT_EQ(h.rx_free.available(), rx_frame_count);
}

TEST(shred_tile, send_failures_are_counted_not_retried_and_the_store_still_answers) {
  {  // Four frames that the net side keeps: the rest find no frame.
    auto config = small_config();
    config.tx_frames = 4;
    harness h(config);
    h.drain_tx = false;
    h.append_three_slots();
    h.settle();
    const std::uint64_t shreds = h.counter(t::c_data_shreds) + h.counter(t::c_coding_shreds);
    EXPECT_EQ(h.counter(t::c_sent), 4u);
    EXPECT_EQ(h.counter(t::c_send_no_frame), shreds - 4);
    EXPECT_EQ(h.counter(t::c_send_ring_full), 0u);
    // Frames come back: nothing is sent again, but the store answers repair for any shred.
    h.give_back_tx();
    h.sent.clear();
    h.drain_tx = true;
    h.deliver_repair(h.request(1, shred::repair_kind::window_index, 1, 40, 7), 1);
    h.settle();
    EXPECT_EQ(h.counter(t::c_sent), 4u);
    ASSERT_EQ(h.sent.size(), 1u);
    EXPECT_EQ(h.sent[0].desc.meta, fixture().repair[1].pack());
    EXPECT_EQ(h.counter(t::c_repair_responses), 1u);
  }
  {  // A tx ring of two that the net side never empties: ring_full, for repair responses too.
    harness h(small_config(), 2);
    h.drain_tx = false;
    h.append_three_slots();
    for (int i = 0; i < 100; ++i) h.tile.poll();  // outputs left in the ring
    const std::uint64_t shreds = h.counter(t::c_data_shreds) + h.counter(t::c_coding_shreds);
    EXPECT_EQ(h.counter(t::c_sent), 2u);
    EXPECT_EQ(h.counter(t::c_send_ring_full), shreds - 2);
    EXPECT_EQ(h.counter(t::c_send_no_frame), 0u);
    const std::uint64_t full = h.counter(t::c_send_ring_full);
    h.deliver_repair(h.request(1, shred::repair_kind::window_index, 0, 0, 8), 1);
    h.tile.poll();
    EXPECT_EQ(h.counter(t::c_repair_requests), 1u);
    EXPECT_EQ(h.counter(t::c_repair_responses), 0u);
    EXPECT_EQ(h.counter(t::c_send_ring_full), full + 1);
    EXPECT_EQ(h.counter(t::c_send_no_frame), 0u);
    // Every frame whose push failed went straight back: only the two in the ring are out.
    h.take_outputs();
    h.give_back_tx();
    h.settle();
    h.sent.clear();
    for (std::uint32_t i = 0; i < 2; ++i) h.deliver_repair(h.request(1, shred::repair_kind::window_index, 1, i, 20 + i), 1);
    h.settle();
    EXPECT_EQ(h.sent.size(), 2u);
  }
}

// A rotating validator: every shred also goes, byte for byte, to its own TVU; a copy with no
// room is counted and the send to the tree's root still happens.
TEST(shred_tile, a_copy_of_every_shred_goes_to_its_own_tvu) {
  harness h(small_config());
  desc_ring own(64), own_release(64);
  h.tile.connect_own(64, own, own_release);
  ASSERT_NE(h.tile.own_frames(), nullptr);
  std::vector<bytes> copies;
  auto take_own = [&] {
    util::frag_desc d{};
    while (own.try_pop(d)) {
      const auto frame = h.tile.own_frames()->frame(d.frame);
      copies.emplace_back(frame.begin(), frame.begin() + d.len);
      ASSERT_TRUE(own_release.try_push(d));
    }
  };
  // Slot 0 with the consumer keeping up: one copy per shred sent.
  h.append(ledger::record_type::slot_meta, 0, random_bytes(88, 1));
  h.append(ledger::record_type::entry_batch, 0, random_bytes(3000, 2));
  h.append(ledger::record_type::slot_meta, 0, random_bytes(88, 4), true);
  for (int i = 0; i < 100; ++i) {
    h.poll_once();
    take_own();
  }
  ASSERT_FALSE(h.sent.empty());
  ASSERT_EQ(copies.size(), h.sent.size());
  for (std::size_t i = 0; i < copies.size(); ++i) EXPECT_EQ(copies[i], h.sent[i].data);
  EXPECT_EQ(h.counter(t::c_own_sent), copies.size());
  EXPECT_EQ(h.counter(t::c_own_dropped), 0u);
  // Slot 1 spans several FEC sets and nobody takes the copies: 64 frames, the rest counted.
  h.append(ledger::record_type::entry_batch, 1, random_bytes(40'000, 5));
  h.append(ledger::record_type::slot_meta, 1, random_bytes(88, 7), true);
  h.settle();
  const std::uint64_t made = h.counter(t::c_data_shreds) + h.counter(t::c_coding_shreds);
  EXPECT_EQ(h.counter(t::c_sent), made);
  ASSERT_GT(made, copies.size() + 64);
  EXPECT_EQ(h.counter(t::c_own_sent), copies.size() + 64);
  EXPECT_EQ(h.counter(t::c_own_dropped), made - copies.size() - 64);
}

// Gossip moves every node to other ports after slot 0: the shreds of slots 1 and 2 go to the
// new addresses, those of slot 0 went to the old ones (the book is read at every send).
TEST(shred_tile, shreds_go_where_the_contact_book_says_at_send_time) {
  harness h(small_config());
  const auto& f = fixture();
  h.append(ledger::record_type::slot_meta, 0, random_bytes(88, 1));
  h.append(ledger::record_type::entry_batch, 0, random_bytes(3000, 2));
  h.append(ledger::record_type::slot_meta, 0, random_bytes(88, 4), true);
  h.settle();
  const std::size_t before = h.sent.size();
  ASSERT_GT(before, 0u);
  for (std::size_t c = 0; c < nodes; ++c)
    h.book->set(c, net::port_kind::tvu, {0x0a000001, static_cast<std::uint16_t>(25000 + c)});
  h.append(ledger::record_type::entry_batch, 1, random_bytes(9'000, 6));
  h.append(ledger::record_type::slot_meta, 1, random_bytes(88, 7), true);
  h.append(ledger::record_type::slot_meta, 2, random_bytes(88, 8), true);
  h.settle();
  ASSERT_GT(h.sent.size(), before);
  shred::turbine_tree tree(*f.cluster, fanout);
  for (std::size_t i = 0; i < h.sent.size(); ++i) {
    shred::shred_view v;
    ASSERT_EQ(shred::parse_shred(h.sent[i].data, v), shred::shred_error::none);
    const std::uint32_t root = tree.root(v.slot(), v.index(), type_of(v), f.leader().public_key());
    const net::endpoint want = v.slot() == 0 ? f.contacts[root] : net::endpoint{0x0a000001, static_cast<std::uint16_t>(25000 + root)};
    EXPECT_EQ(h.sent[i].desc.meta, want.pack()) << "slot " << v.slot() << " shred " << v.index();
  }
}

TEST(shred_tile, a_root_without_a_contact_is_counted) {
  std::vector<net::endpoint> none(nodes);  // every endpoint 0
  harness h(small_config(), 256, none);
  h.append_three_slots();
  h.settle();
  const std::uint64_t shreds = h.counter(t::c_data_shreds) + h.counter(t::c_coding_shreds);
  EXPECT_GT(shreds, 0u);
  EXPECT_EQ(h.counter(t::c_no_root), shreds);
  EXPECT_EQ(h.counter(t::c_sent), 0u);
  EXPECT_TRUE(h.sent.empty());
}

TEST(shred_tile, store_evictions_show_in_its_counter) {
  auto config = small_config();
  config.store.max_slots = 1;  // each new slot pushes the previous one out
  harness h(config);
  h.append_three_slots();
  h.settle();
  EXPECT_GT(h.tile.store().counters().evicted_shreds, 0u);
  EXPECT_EQ(h.counter(t::c_store_evicted), h.tile.store().counters().evicted_shreds);
}

// With an archive and a store of one slot: every data shred made is archived, and a repair
// request for an evicted slot is answered from the archive.
TEST(shred_tile, archives_every_data_shred_and_answers_repair_from_it) {
  auto config = small_config();
  config.store.max_slots = 1;
  riptide::testing::temp_dir dir;
  shred::shred_archive_config ac;
  ac.dir = dir.path() / "shreds";
  ac.segment_bytes = 1 << 20;
  shred::shred_archive archive(ac);
  config.archive = &archive;
  harness h(config);
  h.append_three_slots();
  h.settle();
  std::map<std::pair<std::uint64_t, std::uint32_t>, bytes> data_shreds;
  for (const auto& s : h.sent) {
    shred::shred_view v;
    ASSERT_EQ(shred::parse_shred(s.data, v), shred::shred_error::none);
    if (v.is_data()) data_shreds[{v.slot(), v.index()}] = s.data;
  }
  EXPECT_EQ(h.counter(t::c_archived), data_shreds.size());
  EXPECT_EQ(h.counter(t::c_archive_refused), 0u);
  EXPECT_EQ(archive.shreds(), data_shreds.size());
  for (const auto& [key, b] : data_shreds) {
    const auto held = archive.data(key.first, key.second);
    EXPECT_EQ(bytes(held.begin(), held.end()), b) << key.first << "/" << key.second;
  }
  ASSERT_TRUE(h.tile.store().data(1, 5).empty());  // evicted from the store
  h.sent.clear();
  h.deliver_repair(h.request(3, shred::repair_kind::window_index, 1, 5, 0xabc), 3);
  h.settle();
  ASSERT_EQ(h.sent.size(), 1u);
  shred::repair_response_view r;
  ASSERT_EQ(shred::parse_repair_response(h.sent[0].data, r), shred::repair_error::none);
  EXPECT_EQ(bytes(r.shred.begin(), r.shred.end()), (data_shreds[{1, 5}]));
  EXPECT_EQ(h.counter(t::c_repair_from_archive), 1u);
  EXPECT_EQ(h.counter(t::c_repair_dropped), 0u);
}

// After skipped slots the block names its real parent: slot 5 on slot 1.
TEST(shred_tile, a_block_after_skipped_slots_names_its_parent) {
  harness h(small_config());
  h.append(ledger::record_type::entry_batch, 1, random_bytes(300, 1));
  h.append(ledger::record_type::slot_meta, 1, random_bytes(88, 2), true);
  h.append(ledger::record_type::entry_batch, 5, random_bytes(700, 3), false, 1);
  h.append(ledger::record_type::slot_meta, 5, random_bytes(88, 4), true, 1);
  h.settle();
  std::map<std::uint64_t, std::uint64_t> parents;
  for (const auto& sent : h.sent) {
    shred::shred_view v;
    ASSERT_EQ(shred::parse_shred(sent.data, v), shred::shred_error::none);
    if (v.is_data()) parents[v.slot()] = v.parent_slot();
  }
  EXPECT_EQ(parents, (std::map<std::uint64_t, std::uint64_t>{{1, 0}, {5, 1}}));
  EXPECT_EQ(h.counter(t::c_slots), 2u);
}

TEST(shred_tile, a_slot_left_open_is_closed_when_the_next_one_starts) {
  harness h(small_config());
  h.append(ledger::record_type::entry_batch, 4, random_bytes(500, 1));  // no slot end
  h.append(ledger::record_type::entry_batch, 5, random_bytes(600, 2));
  h.append(ledger::record_type::slot_meta, 5, random_bytes(88, 3), true);
  h.settle();
  EXPECT_EQ(h.counter(t::c_bad_record), 1u);
  EXPECT_EQ(h.counter(t::c_slots), 1u);  // only slot 5 ended properly
  const auto rebuilt = reassemble(h.sent);
  ASSERT_EQ(rebuilt.size(), 2u);
  EXPECT_EQ(rebuilt.at(4), h.streams[4]);
  EXPECT_EQ(rebuilt.at(5), h.streams[5]);
  int complete = 0;
  for (const auto& s : h.sent) {
    shred::shred_view v;
    ASSERT_EQ(shred::parse_shred(s.data, v), shred::shred_error::none);
    complete += v.is_data() && v.slot_complete() ? 1 : 0;
  }
  EXPECT_EQ(complete, 2);
}

TEST(shred_tile, bad_wiring_and_config_are_refused_at_construction) {
  const auto& f = fixture();
  riptide::testing::temp_dir dir("riptide-shred-tile");
  auto lg = ledger::ledger::open({dir.path() / "lg", 1 << 20, false});
  record_ring records(8);
  util::frame_pool rx(4);
  desc_ring in(8), release(8), tx(8), tx_release(8);
  const tpu::shred_peers peers = f.peers();
  auto make = [&](const tpu::shred_tile_config& c, desc_ring* repair_in, desc_ring* repair_release,
                  const tpu::shred_peers& p) {
    return std::make_unique<tpu::shred_tile>("shred", c, f.leader(), lg, records, *f.cluster, f.tvu_book->column(net::port_kind::tvu), p,
                                             rx, repair_in, repair_release, tx, tx_release);
  };
  EXPECT_NO_THROW(make(small_config(), &in, &release, peers));
  EXPECT_NO_THROW(make(small_config(), nullptr, nullptr, peers));
  auto c = small_config();
  c.batch = 0;
  EXPECT_THROW(make(c, &in, &release, peers), std::invalid_argument);
  c.batch = 65;
  EXPECT_THROW(make(c, &in, &release, peers), std::invalid_argument);
  EXPECT_THROW(make(small_config(), &in, nullptr, peers), std::invalid_argument);
  EXPECT_THROW(make(small_config(), nullptr, &release, peers), std::invalid_argument);
  const auto two = riptide::testing::contacts_of(std::span(f.repair).first(2), net::port_kind::repair, f.ids);
  EXPECT_THROW(make(small_config(), &in, &release, tpu::shred_peers{f.ids, two->column(net::port_kind::repair)}),
               std::invalid_argument);
  c = small_config();
  c.slot_log = (dir.path() / "no-such-dir" / "slots.csv").string();
  EXPECT_THROW(make(c, &in, &release, peers), std::runtime_error);
}

// Contention: a ledger-tile thread appends slots and pushes their refs while the shred tile
// runs on a runtime core thread and reads the records straight from the ledger's mapping; a
// net thread takes the shreds and gives the frames back. Every slot arrives whole, byte for
// byte. Run under ThreadSanitizer too.
TEST(shred_tile, records_from_a_ledger_thread_and_shreds_to_a_net_thread) {
  constexpr std::uint64_t slots = 12;
  // Room in the tx ring and frames for every shred, so the net thread's pace cannot drop any.
  auto config = small_config();
  config.tx_frames = 512;
  harness h(config, 512);
  util::runtime_options opt;
  opt.pin = false;
  util::runtime rt({util::core_plan{-1, {&h.tile}}}, opt);

  // Everything the ledger thread will write, made up front.
  std::vector<std::vector<std::pair<bool, bytes>>> plan(slots);  // (slot end, payload)
  std::map<std::uint64_t, bytes> expected;
  for (std::uint64_t s = 0; s < slots; ++s) {
    for (std::uint64_t k = 0; k < s % 3; ++k) plan[s].push_back({false, random_bytes(500 + 1500 * k + 97 * s, s * 10 + k)});
    plan[s].push_back({true, random_bytes(88, s * 10 + 9)});
  }
  std::atomic<bool> ledger_done{false}, net_done{false};
  std::map<std::uint64_t, bytes> written;
  std::thread ledger_thread([&] {
    for (std::uint64_t s = 0; s < slots; ++s)
      for (const auto& [end, payload] : plan[s]) {
        const auto type = end ? ledger::record_type::slot_meta : ledger::record_type::entry_batch;
        if (h.lg.append(type, s, payload) != ledger::append_error::none) return;
        const tpu::ledger_record_ref ref{h.lg.last_appended(), s, s == 0 ? 0 : s - 1,
                                         static_cast<std::uint32_t>(ledger::encoded_record_bytes(payload.size())),
                                         static_cast<std::uint16_t>(type), static_cast<std::uint16_t>(end ? 1 : 0)};
        const auto encoded = h.lg.encoded_at(ref.position, ref.bytes);
        written[s].insert(written[s].end(), encoded.begin(), encoded.end());
        while (!h.records.try_push(ref)) std::this_thread::yield();
      }
    ledger_done.store(true, std::memory_order_release);
  });
  std::vector<sent_datagram> received;
  std::thread net_thread([&] {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    std::uint64_t slot_ends = 0;
    while (slot_ends < slots && std::chrono::steady_clock::now() < deadline) {
      util::frag_desc d{};
      if (!h.tx.try_pop(d)) {
        std::this_thread::yield();
        continue;
      }
      const auto frame = h.tile.tx_frames().frame(d.frame);
      received.push_back({d, bytes(frame.begin(), frame.begin() + d.len)});
      shred::shred_view v;
      if (shred::parse_shred(received.back().data, v) == shred::shred_error::none && v.is_coding() &&
          v.last_in_slot() && v.position() + 1 == v.num_coding())
        ++slot_ends;  // the slot's very last shred
      while (!h.tx_release.try_push(d)) std::this_thread::yield();
    }
    net_done.store(true, std::memory_order_release);
  });
  rt.start();
  ledger_thread.join();
  net_thread.join();
  EXPECT_TRUE(rt.stop());

  ASSERT_TRUE(ledger_done.load());
  EXPECT_EQ(reassemble(received), written);
  EXPECT_EQ(h.counter(t::c_slots), slots);
  EXPECT_EQ(h.counter(t::c_sent), received.size());
  EXPECT_EQ(h.counter(t::c_send_no_frame) + h.counter(t::c_send_ring_full) + h.counter(t::c_bad_record), 0u);
}

}  // namespace
