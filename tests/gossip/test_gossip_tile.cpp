// The gossip tile in process: the test plays the net tile (datagrams in frames of a test rx
// pool, every frame back on rx_release; tx descriptors read from the tile's own frames and
// handed back on tx_release) and the HTTP API (commands in, snapshots out). Two tiles wired
// back to back, the test carrying one's tx datagrams to the other's rx ring, form a cluster
// of two. Gossip runs on the wall clock, so the intervals are short and waits are bounded.

#include <riptide/gossip/gossip_tile.hpp>

#include <riptide/crypto/sha256.hpp>
#include <riptide/net/udp.hpp>
#include <riptide/util/metrics.hpp>
#include <riptide/util/runtime.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace riptide;
using namespace std::chrono_literals;
using desc_ring = util::spsc_ring<util::frag_desc>;
using command_ring = util::spsc_ring<gossip::gossip_command>;
using t = gossip::gossip_tile;

constexpr std::uint32_t rx_frame_count = 64;
constexpr std::uint32_t loopback = 0x7f000001;
constexpr std::uint16_t gossip_kind = static_cast<std::uint16_t>(net::port_kind::gossip);

crypto::keypair key_for(std::uint64_t i) {
  for (std::uint64_t attempt = 0;; ++attempt) {
    std::array<std::uint8_t, 17> in{};
    in[0] = 0x60;
    for (int k = 0; k < 8; ++k) {
      in[1 + k] = static_cast<std::uint8_t>(i >> (8 * k));
      in[9 + k] = static_cast<std::uint8_t>(attempt >> (8 * k));
    }
    crypto::keypair kp;
    if (crypto::keypair::try_from_secret(crypto::sha256(in), kp)) return kp;
  }
}

// Fast timers: a two-node cluster converges in well under a second of wall clock.
gossip::gossip_tile_config fast_config(std::uint64_t seed) {
  gossip::gossip_tile_config c;
  c.engine.shred_version = 3;
  c.engine.push_interval_ms = 10;
  c.engine.pull_interval_ms = 40;
  c.engine.ping_retry_ms = 20;
  c.engine.heartbeat_ms = 100;
  c.seed = seed;
  c.tx_frames = 64;
  c.snapshot_interval_ms = 0;  // every housekeep publishes
  c.gossip_port_kind = gossip_kind;
  return c;
}

gossip::gossip_command command(std::string_view key, std::string_view value) {
  gossip::gossip_command c{};
  c.key_len = static_cast<std::uint8_t>(std::min(key.size(), gossip::command_key_max_bytes));
  c.value_len = static_cast<std::uint16_t>(std::min(value.size(), gossip::command_value_max_bytes));
  std::memcpy(c.key, key.data(), c.key_len);
  std::memcpy(c.value, value.data(), c.value_len);
  return c;
}

// One gossip tile with the rings and frames the net tile and the HTTP API would own.
struct node {
  crypto::keypair identity;
  gossip::socket_addr addr;
  util::frame_pool rx{rx_frame_count};
  util::frame_stack rx_free{0, rx_frame_count};
  desc_ring rx_in{64}, rx_release{64}, tx_out, tx_release{64};
  command_ring commands{16};
  gossip::snapshot_board board;
  std::unique_ptr<gossip::gossip_tile> tile;
  std::uint64_t rx_returned = 0;

  node(std::uint64_t i, const gossip::gossip_tile_config& config,
       std::vector<gossip::socket_addr> entrypoints = {}, std::size_t tx_cap = 64)
      : identity(key_for(i)), addr{loopback, static_cast<std::uint16_t>(18000 + i)}, tx_out(tx_cap) {
    gossip::contact_info self;
    self.ip = addr.ip;
    self.gossip_port = addr.port;
    self.tvu_port = static_cast<std::uint16_t>(addr.port + 100);
    self.wallclock_ms = util::unix_time_ns() / 1'000'000;
    auto c = config;
    c.entrypoints = std::move(entrypoints);
    tile = std::make_unique<gossip::gossip_tile>("gossip", identity, self, c, rx, rx_in, rx_release, tx_out,
                                                 tx_release, &commands, &board);
  }
  std::uint64_t counter(std::size_t c) const { return tile->own_counter(c); }

  // The net tile's side of the rx rings: frames back on the free list.
  void take_rx_back() {
    util::frag_desc d{};
    while (rx_release.try_pop(d)) {
      ++rx_returned;
      if (!rx.contains(d.frame)) continue;  // a bogus descriptor the test pushed
      EXPECT_TRUE(rx_free.release(d.frame)) << "rx frame released twice";
    }
  }
  // A datagram arriving on the gossip port from `from`; false if no frame or no room.
  bool deliver(std::span<const std::uint8_t> datagram, const gossip::socket_addr& from) {
    take_rx_back();
    std::uint32_t frame = 0;
    if (!rx_free.try_acquire(frame)) return false;
    std::memcpy(rx.frame(frame).data(), datagram.data(), datagram.size());
    if (!rx_in.try_push(util::frag_desc{frame, static_cast<std::uint16_t>(datagram.size()), gossip_kind,
                                        net::endpoint{from.ip, from.port}.pack()})) {
      (void)rx_free.release(frame);
      return false;
    }
    return true;
  }
  std::shared_ptr<const gossip::gossip_snapshot> snapshot() const { return board.latest(); }
};

// The net tile between two nodes: every datagram `from` sends to `to`'s address goes into
// `to`'s rx ring, and every tx frame goes back to `from`. Returns datagrams carried.
int carry(node& from, node& to) {
  int carried = 0;
  util::frag_desc d{};
  while (from.tx_out.try_pop(d)) {
    EXPECT_EQ(d.kind, gossip_kind);
    const auto dest = net::endpoint::unpack(d.meta);
    if (dest.ip == to.addr.ip && dest.port == to.addr.port &&
        to.deliver(from.tile->tx_frames().frame(d.frame).first(d.len), from.addr))
      ++carried;
    while (!from.tx_release.try_push(d)) std::this_thread::yield();
  }
  return carried;
}

bool holds_data(const gossip::gossip_snapshot& s, const crypto::pubkey& origin, std::string_view key,
                std::string_view value) {
  return std::any_of(s.data.begin(), s.data.end(), [&](const gossip::data_view& d) {
    return d.origin == origin && d.key == key && d.value == value;
  });
}

bool knows_active_peer(const gossip::gossip_snapshot& s, const crypto::pubkey& id) {
  return std::any_of(s.peers.begin(), s.peers.end(), [&](const gossip::peer_view& p) {
    return p.contact.id == id && p.health == gossip::peer_health::active;
  });
}

std::uint64_t stat(const gossip::gossip_snapshot& s, std::string_view name) {
  for (const auto& [n, v] : s.stats)
    if (n == name) return v;
  ADD_FAILURE() << "no stat " << name;
  return 0;
}

// One step of two tiles talking: a few polls each with the net between them, then housekeep.
void exchange(node& a, node& b) {
  for (int i = 0; i < 4; ++i) {
    a.tile->poll();
    b.tile->poll();
    carry(a, b);
    carry(b, a);
  }
  a.tile->housekeep(0);
  b.tile->housekeep(0);
}

// Polls (and housekeeps) until `done` or a generous deadline.
bool pump_until(const std::function<void()>& step, const std::function<bool()>& done,
                std::chrono::seconds limit = 20s) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    step();
    if (done()) return true;
    std::this_thread::sleep_for(1ms);
  }
  return false;
}

}  // namespace

TEST(gossip_tile, counter_names_match_the_enum) {
  node a(1, fast_config(1));
  const auto names = a.tile->own_counter_names();
  ASSERT_EQ(names.size(), std::size_t{t::c_contacts_changed} + 1);
  EXPECT_EQ(names[t::c_rx_packets], "rx_packets");
  EXPECT_EQ(names[t::c_commands_rejected], "commands_rejected");
  EXPECT_EQ(names[t::c_table_size], "table_size");
  EXPECT_EQ(names[t::c_contacts_changed], "contacts_changed");
}

TEST(gossip_tile, every_rx_frame_goes_back_whatever_it_held) {
  node a(1, fast_config(1));
  std::vector<std::uint8_t> garbage(300, 0xee);
  ASSERT_TRUE(a.deliver(garbage, {loopback, 9999}));
  ASSERT_TRUE(a.deliver(std::span(garbage).first(3), {loopback, 9999}));
  ASSERT_TRUE(a.rx_in.try_push(util::frag_desc{rx_frame_count + 9, 100, gossip_kind, 0}));  // no such frame
  std::uint32_t frame = 0;
  ASSERT_TRUE(a.rx_free.try_acquire(frame));
  ASSERT_TRUE(a.rx_in.try_push(util::frag_desc{frame, 5000, gossip_kind, 0}));  // longer than a frame
  a.tile->poll();
  a.take_rx_back();
  EXPECT_EQ(a.counter(t::c_rx_packets), 4u);
  EXPECT_EQ(a.rx_returned, 4u);
  EXPECT_EQ(a.rx_free.available(), rx_frame_count);
  EXPECT_EQ(a.counter(t::c_rx_release_full), 0u);
  EXPECT_TRUE(a.tile->drained());
  // The engine saw the two datagrams that were in the pool, and could parse neither.
  a.tile->housekeep(0);
  const auto s = a.snapshot();
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(stat(*s, "packets_in"), 2u);
  std::uint64_t parse_errors = 0;
  for (const auto& [n, v] : s->stats)
    if (n.rfind("parse_errors.", 0) == 0) parse_errors += v;
  EXPECT_EQ(parse_errors, 2u);
}

TEST(gossip_tile, a_full_rx_release_ring_is_counted) {
  node a(1, fast_config(1));
  desc_ring tiny_release(2);
  gossip::contact_info self;
  self.ip = loopback;
  self.gossip_port = 18100;
  gossip::gossip_tile tile("gossip", a.identity, self, fast_config(1), a.rx, a.rx_in, tiny_release, a.tx_out,
                           a.tx_release, nullptr, nullptr);
  const std::vector<std::uint8_t> garbage(50, 1);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(a.deliver(garbage, {loopback, 9999}));
  tile.poll();
  EXPECT_EQ(tile.own_counter(t::c_rx_packets), 3u);
  EXPECT_EQ(tile.own_counter(t::c_rx_release_full), 1u);
  EXPECT_EQ(tiny_release.size_approx(), 2u);
}

TEST(gossip_tile, commands_set_data_that_the_snapshot_board_shows) {
  node a(1, fast_config(1));
  ASSERT_EQ(a.snapshot(), nullptr);  // nothing before the first housekeep
  ASSERT_TRUE(a.commands.try_push(command("version", "1.2.3")));
  ASSERT_TRUE(a.commands.try_push(command("", "no key")));
  auto too_long = command("big", "");
  too_long.value_len = gossip::command_value_max_bytes + 1;
  ASSERT_TRUE(a.commands.try_push(too_long));
  ASSERT_TRUE(a.commands.try_push(command("region", std::string(gossip::command_value_max_bytes, 'x'))));
  for (int i = 0; i < 8 && !a.commands.empty_approx(); ++i) a.tile->poll();
  EXPECT_TRUE(a.commands.empty_approx());
  EXPECT_EQ(a.counter(t::c_commands), 2u);
  EXPECT_EQ(a.counter(t::c_commands_rejected), 2u);

  a.tile->housekeep(0);
  const auto s = a.snapshot();
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(a.counter(t::c_snapshots), 1u);
  EXPECT_EQ(s->self.gossip_port, a.addr.port);
  EXPECT_TRUE(holds_data(*s, a.identity.public_key(), "version", "1.2.3"));
  EXPECT_TRUE(holds_data(*s, a.identity.public_key(), "region", std::string(gossip::command_value_max_bytes, 'x')));
  EXPECT_EQ(s->data.size(), 2u);
  EXPECT_EQ(a.counter(t::c_table_size), s->table_size);
  EXPECT_GE(s->table_size, 2u);
  EXPECT_TRUE(s->peers.empty());
  EXPECT_EQ(a.counter(t::c_peers_active), 0u);

  // A later value for the same key replaces the first.
  ASSERT_TRUE(a.commands.try_push(command("version", "1.2.4")));
  a.tile->poll();
  a.tile->housekeep(0);
  EXPECT_TRUE(holds_data(*a.snapshot(), a.identity.public_key(), "version", "1.2.4"));
  EXPECT_FALSE(holds_data(*a.snapshot(), a.identity.public_key(), "version", "1.2.3"));
  EXPECT_EQ(a.counter(t::c_snapshots), 2u);
}

// A node with an entrypoint sends to it from its first polls on. With one tx frame that the
// net side keeps, the rest wait (tx_no_frame) and go once the frame is back: none is lost.
TEST(gossip_tile, tx_waits_for_a_frame_and_loses_nothing) {
  auto config = fast_config(1);
  config.tx_frames = 1;
  const gossip::socket_addr entrypoint{loopback, 18999};
  node a(1, config, {entrypoint});
  std::vector<util::frag_desc> held;
  ASSERT_TRUE(pump_until([&] { a.tile->poll(); },
                         [&] { return a.counter(t::c_tx_no_frame) >= 3; }));
  util::frag_desc d{};
  while (a.tx_out.try_pop(d)) held.push_back(d);
  ASSERT_EQ(held.size(), 1u);
  EXPECT_EQ(a.counter(t::c_tx_packets), 1u);
  EXPECT_EQ(net::endpoint::unpack(held[0].meta), (net::endpoint{entrypoint.ip, entrypoint.port}));
  EXPECT_EQ(held[0].kind, gossip_kind);
  EXPECT_GT(held[0].len, 0u);

  // The frame comes back: the packet that waited goes out in it.
  ASSERT_TRUE(a.tx_release.try_push(held[0]));
  a.tile->poll();
  ASSERT_TRUE(a.tx_out.try_pop(d));
  EXPECT_EQ(d.frame, held[0].frame);
  EXPECT_EQ(a.counter(t::c_tx_packets), 2u);
  EXPECT_EQ(a.counter(t::c_tx_ring_full), 0u);
}

TEST(gossip_tile, a_full_tx_ring_keeps_the_packet_and_the_frame) {
  const gossip::socket_addr entrypoint{loopback, 18999};
  node a(1, fast_config(1), {entrypoint}, /*tx_cap=*/2);
  ASSERT_TRUE(pump_until([&] { a.tile->poll(); },
                         [&] { return a.counter(t::c_tx_ring_full) >= 2; }));
  EXPECT_EQ(a.counter(t::c_tx_packets), 2u);
  EXPECT_EQ(a.counter(t::c_tx_no_frame), 0u);
  // The net side empties the ring: what waited goes out, in frames that were never lost.
  std::vector<util::frag_desc> out;
  util::frag_desc d{};
  while (a.tx_out.try_pop(d)) out.push_back(d);
  a.tile->poll();
  while (a.tx_out.try_pop(d)) out.push_back(d);
  EXPECT_GE(out.size(), 3u);  // the two in the ring, the one that waited, maybe one more
  EXPECT_EQ(a.counter(t::c_tx_packets), out.size());
  for (std::size_t i = 0; i < out.size(); ++i)
    for (std::size_t j = i + 1; j < out.size(); ++j) EXPECT_NE(out[i].frame, out[j].frame);
}

// Two tiles back to back: B knows A as its entrypoint. They ping, pull and push through the
// test's "net" until each sees the other as an active peer and a key set on each (through
// its commands ring) shows on the other's snapshot board.
TEST(gossip_tile, two_tiles_back_to_back_converge) {
  node a(1, fast_config(1));
  node b(2, fast_config(2), {a.addr});
  ASSERT_TRUE(a.commands.try_push(command("role", "a")));
  ASSERT_TRUE(b.commands.try_push(command("role", "b")));
  const auto& ida = a.identity.public_key();
  const auto& idb = b.identity.public_key();
  const bool converged = pump_until(
      [&] { exchange(a, b); },
      [&] {
        const auto sa = a.snapshot(), sb = b.snapshot();
        return sa && sb && knows_active_peer(*sa, idb) && knows_active_peer(*sb, ida) &&
               holds_data(*sa, idb, "role", "b") && holds_data(*sb, ida, "role", "a");
      });
  ASSERT_TRUE(converged);
  for (node* n : {&a, &b}) {
    while (!n->tile->drained()) n->tile->poll();  // what the test carried last
    EXPECT_GT(n->counter(t::c_rx_packets), 0u);
    EXPECT_GT(n->counter(t::c_tx_packets), 0u);
    EXPECT_EQ(n->counter(t::c_peers_active), 1u);
    EXPECT_EQ(n->counter(t::c_commands), 1u);
    EXPECT_EQ(n->counter(t::c_tx_no_frame) + n->counter(t::c_tx_ring_full) + n->counter(t::c_rx_release_full), 0u);
    n->take_rx_back();
    EXPECT_EQ(n->rx_free.available(), rx_frame_count);
    EXPECT_EQ(n->rx_returned, n->counter(t::c_rx_packets));
  }
  const auto sb = b.snapshot();
  EXPECT_EQ(sb->health, gossip::node_health::healthy);
  EXPECT_EQ(stat(*sb, "values_rejected.bad_signature"), 0u);
}

// learn_contacts: each peer's ContactInfo ports into its row; unknown identities, a 0 address
// and 0 ports change nothing; the count is of endpoints that changed.
TEST(gossip_tile, learn_contacts_writes_each_known_peers_ports) {
  const crypto::pubkey a = key_for(1).public_key(), b = key_for(2).public_key(), x = key_for(3).public_key();
  net::contact_book book({a, b});
  book.set(1, net::port_kind::tvu, {loopback, 14001});  // from the genesis
  std::vector<gossip::peer_view> peers(3);
  peers[0].contact.id = b;
  peers[0].contact.ip = loopback;
  peers[0].contact.gossip_port = 22001;
  peers[0].contact.tvu_port = 24001;
  peers[0].contact.repair_port = 25001;
  peers[0].contact.tpu_forwards_port = 26001;  // tpu_port 0: stays unknown
  peers[1].contact.id = x;                      // no row: ignored
  peers[1].contact.ip = loopback;
  peers[1].contact.tvu_port = 24009;
  peers[2].contact.id = a;  // no address: ignored
  peers[2].contact.tvu_port = 24000;
  EXPECT_EQ(gossip::learn_contacts(book, peers), 4u);
  EXPECT_EQ(book.get(1, net::port_kind::tvu), (net::endpoint{loopback, 24001}));
  EXPECT_EQ(book.get(1, net::port_kind::repair), (net::endpoint{loopback, 25001}));
  EXPECT_EQ(book.get(1, net::port_kind::tpu_forwards), (net::endpoint{loopback, 26001}));
  EXPECT_EQ(book.get(1, net::port_kind::gossip), (net::endpoint{loopback, 22001}));
  EXPECT_EQ(book.get(1, net::port_kind::tpu).pack(), 0u);
  EXPECT_EQ(book.get(0, net::port_kind::tvu).pack(), 0u);
  EXPECT_EQ(gossip::learn_contacts(book, peers), 0u);  // nothing new
}

// A node whose contact book has B at its genesis ports learns B's real ones (B's ContactInfo
// says tvu = gossip + 100) once the two tiles have talked; its own row is left alone.
TEST(gossip_tile, the_contact_book_follows_gossip) {
  node a(1, fast_config(1));
  node b(2, fast_config(2), {a.addr});
  const auto& ida = a.identity.public_key();
  const auto& idb = b.identity.public_key();
  net::contact_book book({ida, idb});
  book.set(0, net::port_kind::tvu, {loopback, 999});
  book.set(1, net::port_kind::tvu, {loopback, 14002});  // where the genesis put B
  a.tile->connect_contacts(book);
  const net::endpoint want{loopback, static_cast<std::uint16_t>(b.addr.port + 100)};
  const bool learned = pump_until(
      [&] { exchange(a, b); },
      [&] { return book.get(1, net::port_kind::tvu) == want; });
  ASSERT_TRUE(learned);
  EXPECT_EQ(book.get(1, net::port_kind::gossip), (net::endpoint{b.addr.ip, b.addr.port}));
  EXPECT_EQ(book.get(0, net::port_kind::tvu).port, 999);
  EXPECT_EQ(a.counter(t::c_contacts_changed), 2u);  // B's gossip and tvu ports
}

// Contention: both tiles run on runtime core threads of their own (which also call
// housekeep), a net thread carries datagrams between them, an API thread feeds keys into A's
// commands ring, and the test thread reads B's snapshot board until every key arrived. Run
// under ThreadSanitizer too.
TEST(gossip_tile, commands_and_snapshots_across_threads_with_tiles_on_core_threads) {
  constexpr int keys = 24;
  node a(1, fast_config(1));
  node b(2, fast_config(2), {a.addr});
  util::runtime_options opt;
  opt.pin = false;
  util::runtime rt({util::core_plan{-1, {a.tile.get()}}, util::core_plan{-1, {b.tile.get()}}}, opt);
  std::atomic<bool> stop_net{false};
  std::thread net_thread([&] {
    while (!stop_net.load(std::memory_order_acquire)) {
      if (carry(a, b) + carry(b, a) == 0) std::this_thread::sleep_for(100us);
    }
  });
  std::thread api_thread([&] {
    for (int k = 0; k < keys; ++k) {
      const auto cmd = command("key" + std::to_string(k), "value" + std::to_string(k));
      const auto deadline = std::chrono::steady_clock::now() + 20s;
      while (!a.commands.try_push(cmd) && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
    }
  });
  rt.start();
  const auto& ida = a.identity.public_key();
  auto all_keys_at_b = [&] {
    const auto s = b.snapshot();
    if (!s) return false;
    for (int k = 0; k < keys; ++k)
      if (!holds_data(*s, ida, "key" + std::to_string(k), "value" + std::to_string(k))) return false;
    return true;
  };
  const bool arrived = pump_until([] {}, all_keys_at_b, 30s);
  api_thread.join();
  stop_net.store(true, std::memory_order_release);
  net_thread.join();
  EXPECT_TRUE(rt.stop());
  EXPECT_TRUE(arrived);
  EXPECT_EQ(a.counter(t::c_commands), std::uint64_t{keys});
  EXPECT_EQ(a.counter(t::c_commands_rejected), 0u);
  EXPECT_GT(b.counter(t::c_snapshots), 0u);
}
