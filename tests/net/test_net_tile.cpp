#include <riptide/net/net_tile.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <riptide/util/runtime.hpp>

using namespace riptide;
using namespace riptide::net;
using namespace std::chrono_literals;

namespace {

using ring = util::spsc_ring<util::frag_desc>;
constexpr std::uint32_t localhost = 0x7f000001;

constexpr std::size_t idx(port_kind k) { return static_cast<std::size_t>(k); }

std::uint16_t random_port() {
  static std::mt19937 rng{std::random_device{}()};
  return static_cast<std::uint16_t>(std::uniform_int_distribution<int>(20000, 60000)(rng));
}

// Opens a tile with random high ports for `open`, retrying when a port is taken.
std::unique_ptr<net_tile> make_tile(net_tile_config cfg, std::initializer_list<port_kind> open) {
  cfg.log_backend = false;
  for (int attempt = 0; attempt < 50; ++attempt) {
    for (auto k : open) cfg.ports[idx(k)] = random_port();
    try {
      return std::make_unique<net_tile>("net", cfg);
    } catch (const std::runtime_error& e) {
      if (std::string(e.what()).find("Address already in use") == std::string::npos) throw;
    }
  }
  throw std::runtime_error("no free port after 50 attempts");
}

udp_socket plain_socket() {
  udp_socket_options o;
  o.nonblocking = false;
  o.recv_buffer_bytes = 4u << 20;
  return udp_socket::open_bound({localhost, 0}, "test socket", o);
}

template <typename Pred>
bool poll_until(net_tile& tile, Pred done, std::chrono::milliseconds timeout = 5s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (tile.poll() == 0) std::this_thread::yield();
    if (std::chrono::steady_clock::now() > deadline) return done();
  }
  return true;
}

std::vector<std::uint8_t> payload(std::size_t len, std::uint32_t tag) {
  std::vector<std::uint8_t> p(len);
  for (std::size_t i = 0; i < len; ++i) p[i] = static_cast<std::uint8_t>(tag * 31 + i);
  return p;
}

class net_tile_backend : public ::testing::TestWithParam<backend_kind> {
 protected:
  void SetUp() override {
    if (GetParam() == backend_kind::io_uring && !io_uring_unavailable_reason().empty())
      GTEST_SKIP() << "io_uring unavailable: " << io_uring_unavailable_reason();
  }
  net_tile_config config() const {
    net_tile_config c;
    c.backend = GetParam();
    c.rx_frames = 256;
    return c;
  }
};

std::string backend_name(const ::testing::TestParamInfo<backend_kind>& info) {
  return to_string(info.param);
}

}  // namespace

TEST(endpoint, packs_parses_and_prints) {
  const endpoint e{0x7f000001, 12000};
  EXPECT_EQ(e.pack(), (std::uint64_t{0x7f000001} << 16) | 12000);
  EXPECT_EQ(endpoint::unpack(e.pack()), e);
  EXPECT_EQ(e.to_string(), "127.0.0.1:12000");
  EXPECT_EQ(endpoint::parse("127.0.0.1:12000"), e);
  EXPECT_EQ(endpoint::parse("255.255.255.255:65535"), (endpoint{0xffffffff, 65535}));
  EXPECT_EQ(endpoint::unpack(endpoint{0xffffffff, 65535}.pack()), (endpoint{0xffffffff, 65535}));
  for (const char* bad : {"", "127.0.0.1", "127.0.0.1:", "127.0.0:1", "127.0.0.1:65536",
                          "256.0.0.1:1", "1.2.3.4.5:1", "a.b.c.d:1", "1.2.3.4:-1", " 1.2.3.4:1",
                          "1.2.3.4:1 ", "1..3.4:1", "1.2.3.4:0x10"})
    EXPECT_FALSE(endpoint::parse(bad).has_value()) << bad;
  EXPECT_STREQ(to_string(port_kind::tpu_forwards), "tpu_forwards");
  EXPECT_EQ(parse_port_kind("repair"), port_kind::repair);
  EXPECT_FALSE(parse_port_kind("nope").has_value());
}

TEST(net_tile_setup, bind_conflict_names_the_port) {
  udp_socket taken = plain_socket();
  net_tile_config c;
  c.backend = backend_kind::recvmmsg;
  c.log_backend = false;
  c.ports[idx(port_kind::gossip)] = taken.local().port;
  try {
    net_tile tile("net", c);
    FAIL() << "bound a port that is in use";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()), "udp 127.0.0.1:" + std::to_string(taken.local().port) +
                                         " (gossip): bind: Address already in use");
  }
}

TEST(net_tile_setup, automatic_prefers_io_uring_when_it_works) {
  net_tile_config c;
  c.log_backend = false;
  net_tile tile("net", c);  // no ports: nothing to bind
  EXPECT_EQ(tile.backend(), io_uring_unavailable_reason().empty() ? backend_kind::io_uring
                                                                  : backend_kind::recvmmsg);
  c.backend = backend_kind::recvmmsg;
  net_tile fallback("net", c);
  EXPECT_EQ(fallback.backend(), backend_kind::recvmmsg);
}

TEST(net_tile_setup, rejects_bad_config_and_wiring) {
  net_tile_config c;
  c.log_backend = false;
  c.rx_batch = 0;
  EXPECT_THROW(net_tile("net", c), std::invalid_argument);
  c.rx_batch = 64;
  c.uring_provided_frames = 1000;
  EXPECT_THROW(net_tile("net", c), std::invalid_argument);
  c.uring_provided_frames = 1024;
  c.faults.drop[0] = 2;
  EXPECT_THROW(net_tile("net", c), std::invalid_argument);
  c.faults.drop[0] = 0;
  net_tile tile("net", c);
  ring out(8), rel(8);
  EXPECT_THROW(tile.connect_rx(port_kind::tpu, &out, &rel), std::invalid_argument);  // not open
  EXPECT_THROW(tile.add_release(nullptr), std::invalid_argument);
}

TEST(net_tile_setup, several_rings_per_port_and_closed_ports_still_refused) {
  net_tile_config c;
  c.backend = backend_kind::recvmmsg;
  auto tile = make_tile(c, {port_kind::tpu});
  ring out0(8), out1(8), rel0(8), rel1(8), downstream(8);
  tile->connect_rx(port_kind::tpu, &out0, &rel0);
  tile->connect_rx(port_kind::tpu, &out1, &rel1);  // a second consumer of the same port
  tile->connect_rx(port_kind::tpu, &downstream, &rel0);  // release rings may be shared
  tile->add_release(&downstream);
  tile->add_release(&rel1);  // already reclaimed from: nothing changes
  EXPECT_THROW(tile->connect_rx(port_kind::tpu, &out0, &rel0), std::invalid_argument);  // twice
  EXPECT_THROW(tile->connect_rx(port_kind::gossip, &out0, &rel0), std::invalid_argument);
  EXPECT_THROW(tile->connect_rx(port_kind::tvu, &out1, &rel1), std::invalid_argument);
  EXPECT_THROW(tile->connect_rx(port_kind::tpu, nullptr, &rel0), std::invalid_argument);
  EXPECT_THROW(tile->connect_rx(port_kind::tpu, &out1, nullptr), std::invalid_argument);
}

TEST_P(net_tile_backend, receives_on_the_right_port_with_source_and_bytes) {
  auto tile = make_tile(config(), {port_kind::gossip, port_kind::tpu});
  ASSERT_EQ(tile->backend(), GetParam());
  ring gossip_out(64), tpu_out(64), release(512);
  tile->connect_rx(port_kind::gossip, &gossip_out, &release);
  tile->connect_rx(port_kind::tpu, &tpu_out, &release);  // a shared release ring
  udp_socket sender = plain_socket();
  constexpr std::uint32_t n = 40;
  for (std::uint32_t i = 0; i < n; ++i) {
    const auto kind = i % 2 == 0 ? port_kind::gossip : port_kind::tpu;
    const auto p = payload(100 + i * 28, i);  // up to 1192 bytes
    ASSERT_EQ(sender.send_to(tile->local_endpoint(kind), p), static_cast<int>(p.size()));
  }
  std::uint32_t got = 0;
  std::uint64_t bytes = 0;
  std::vector<std::uint32_t> seen;
  auto drain = [&](ring& r, port_kind kind) {
    util::frag_desc d;
    while (r.try_pop(d)) {
      EXPECT_EQ(d.kind, idx(kind));
      EXPECT_EQ(endpoint::unpack(d.meta), sender.local());
      ASSERT_TRUE(tile->rx_frames().contains(d.frame));
      // Recover the tag from the length and compare every byte.
      const std::uint32_t i = (d.len - 100u) / 28u;
      EXPECT_EQ(i % 2 == 0, kind == port_kind::gossip);
      const auto want = payload(100 + i * 28, i);
      ASSERT_EQ(d.len, want.size());
      EXPECT_EQ(std::memcmp(tile->rx_frames().frame(d.frame).data(), want.data(), d.len), 0);
      seen.push_back(i);
      bytes += d.len;
      ++got;
      ASSERT_TRUE(release.try_push(d));
    }
  };
  ASSERT_TRUE(poll_until(*tile, [&] {
    drain(gossip_out, port_kind::gossip);
    drain(tpu_out, port_kind::tpu);
    return got == n;
  }));
  std::sort(seen.begin(), seen.end());
  for (std::uint32_t i = 0; i < n; ++i) EXPECT_EQ(seen[i], i);
  EXPECT_EQ(tile->own_counter(net_tile::c_rx_gossip), n / 2);
  EXPECT_EQ(tile->own_counter(net_tile::c_rx_tpu), n / 2);
  EXPECT_EQ(tile->own_counter(net_tile::c_rx_bytes), bytes);
  // Released frames come back to the tile.
  ASSERT_TRUE(poll_until(*tile, [&] { return tile->free_rx_frames() == 256; }));
  EXPECT_EQ(tile->own_counter(net_tile::c_io_errors), 0u);
}

TEST_P(net_tile_backend, transmits_and_releases_the_frame) {
  auto tile = make_tile(config(), {port_kind::repair});
  util::frame_pool pool(8);
  ring tx(16), tx_release(16);
  tile->add_tx(&tx, &pool, &tx_release);
  udp_socket receiver = plain_socket();
  const auto p = payload(1232, 5);
  std::memcpy(pool.frame(3).data(), p.data(), p.size());
  const util::frag_desc d{3, 1232, static_cast<std::uint16_t>(port_kind::repair),
                          receiver.local().pack()};
  ASSERT_TRUE(tx.try_push(d));
  util::frag_desc back{};
  ASSERT_TRUE(poll_until(*tile, [&] { return tx_release.try_pop(back); }));
  EXPECT_EQ(back.frame, 3u);
  EXPECT_EQ(back.len, 1232u);
  EXPECT_EQ(back.meta, d.meta);
  EXPECT_TRUE(tile->drained());
  std::vector<std::uint8_t> buf(2048);
  endpoint from;
  ASSERT_EQ(receiver.recv_from(buf, from), 1232);
  EXPECT_EQ(std::memcmp(buf.data(), p.data(), p.size()), 0);
  EXPECT_EQ(from, tile->local_endpoint(port_kind::repair));
  EXPECT_EQ(tile->own_counter(net_tile::c_tx_packets), 1u);
  EXPECT_EQ(tile->own_counter(net_tile::c_tx_bytes), 1232u);

  // Descriptors that cannot be sent are counted and still released.
  const util::frag_desc bad[] = {
      {1, 10, static_cast<std::uint16_t>(port_kind::repair), 0},                     // no dest
      {1, 10, static_cast<std::uint16_t>(port_kind::gossip), receiver.local().pack()},  // closed
      {99, 10, static_cast<std::uint16_t>(port_kind::repair), receiver.local().pack()},  // frame
      {1, 1233, static_cast<std::uint16_t>(port_kind::repair), receiver.local().pack()},  // len
  };
  for (const auto& b : bad) ASSERT_TRUE(tx.try_push(b));
  int released = 0;
  ASSERT_TRUE(poll_until(*tile, [&] {
    while (tx_release.try_pop(back)) ++released;
    return released == 4;
  }));
  EXPECT_EQ(tile->own_counter(net_tile::c_tx_errors), 4u);
  EXPECT_EQ(tile->own_counter(net_tile::c_tx_packets), 1u);
}

TEST_P(net_tile_backend, many_sends_in_batches_all_arrive) {
  auto tile = make_tile(config(), {port_kind::tvu});
  util::frame_pool pool(64);
  ring tx(64), tx_release(64);
  tile->add_tx(&tx, &pool, &tx_release);
  udp_socket receiver = plain_socket();
  std::vector<std::uint32_t> free_frames;
  for (std::uint32_t i = 0; i < 64; ++i) free_frames.push_back(i);
  constexpr std::uint32_t n = 2000;
  std::uint32_t queued = 0, received = 0;
  std::vector<std::uint8_t> buf(2048);
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (received < n && std::chrono::steady_clock::now() < deadline) {
    while (queued < n && !free_frames.empty()) {
      const std::uint32_t f = free_frames.back();
      free_frames.pop_back();
      std::memcpy(pool.frame(f).data(), &queued, sizeof queued);
      ASSERT_TRUE(tx.try_push({f, 200, static_cast<std::uint16_t>(port_kind::tvu),
                               receiver.local().pack()}));
      ++queued;
    }
    tile->poll();
    util::frag_desc back;
    while (tx_release.try_pop(back)) free_frames.push_back(back.frame);
    endpoint from;
    while (received < queued) {
      // The receiver is blocking; only read what has certainly been sent.
      if (tile->own_counter(net_tile::c_tx_packets) <= received) break;
      ASSERT_EQ(receiver.recv_from(buf, from), 200);
      ++received;
    }
  }
  EXPECT_EQ(received, n);
  EXPECT_EQ(tile->own_counter(net_tile::c_tx_packets), n);
  EXPECT_EQ(tile->own_counter(net_tile::c_tx_errors), 0u);
  EXPECT_TRUE(poll_until(*tile, [&] { return tile->drained(); }));
}

TEST_P(net_tile_backend, full_out_ring_counts_drops_and_leaks_no_frame) {
  auto tile = make_tile(config(), {port_kind::tpu});
  ring out(4), release(256);
  tile->connect_rx(port_kind::tpu, &out, &release);
  udp_socket sender = plain_socket();
  const auto p = payload(500, 1);
  for (int i = 0; i < 20; ++i) ASSERT_EQ(sender.send_to(tile->local_endpoint(port_kind::tpu), p), 500);
  ASSERT_TRUE(poll_until(*tile, [&] { return tile->own_counter(net_tile::c_rx_tpu) == 20; }));
  EXPECT_EQ(out.size_approx(), 4u);
  EXPECT_EQ(tile->own_counter(net_tile::c_rx_dropped_ring_full), 16u);
  EXPECT_EQ(tile->own_counter(net_tile::c_rx_drop_ring_full_first + idx(port_kind::tpu)), 16u);
  EXPECT_EQ(tile->free_rx_frames(), 256u - 4u);
  util::frag_desc d;
  while (out.try_pop(d)) ASSERT_TRUE(release.try_push(d));
  ASSERT_TRUE(poll_until(*tile, [&] { return tile->free_rx_frames() == 256; }));
}

TEST_P(net_tile_backend, datagrams_wait_in_the_kernel_while_consumers_hold_every_frame) {
  auto cfg = config();
  cfg.rx_frames = 8;
  auto tile = make_tile(cfg, {port_kind::tpu});
  ring out(64), release(64);
  tile->connect_rx(port_kind::tpu, &out, &release);
  udp_socket sender = plain_socket();
  const auto p = payload(64, 1);
  for (int i = 0; i < 12; ++i) ASSERT_EQ(sender.send_to(tile->local_endpoint(port_kind::tpu), p), 64);
  // The consumer holds every frame: 8 packets are delivered, the other 4 stay in the socket
  // buffer (nothing is dropped, the tile just stops taking datagrams) …
  ASSERT_TRUE(poll_until(*tile, [&] { return out.size_approx() == 8; }));
  for (int i = 0; i < 100; ++i) tile->poll();
  EXPECT_EQ(out.size_approx(), 8u);
  EXPECT_EQ(tile->free_rx_frames(), 0u);
  // … until frames come back.
  std::vector<util::frag_desc> held(8);
  ASSERT_EQ(out.try_pop_batch(held), 8u);
  for (const auto& d : held) ASSERT_TRUE(release.try_push(d));
  std::uint64_t delivered = 8;
  ASSERT_TRUE(poll_until(*tile, [&] {
    util::frag_desc d;
    while (out.try_pop(d)) {
      ++delivered;
      EXPECT_EQ(d.len, 64u);
      EXPECT_TRUE(release.try_push(d));
    }
    return delivered == 12;
  }));
  EXPECT_EQ(tile->own_counter(net_tile::c_rx_tpu), 12u);
  EXPECT_EQ(tile->own_counter(net_tile::c_rx_dropped_no_frame), 0u);
  tile->housekeep(0);
  EXPECT_EQ(tile->own_counter(net_tile::c_rx_kernel_drops), 0u);
  ASSERT_TRUE(poll_until(*tile, [&] { return tile->free_rx_frames() == 8; }));
}

// A port whose consumers hold their quota of frames loses its own datagrams (counted per
// port) and nothing else: the gossip port keeps receiving while the tpu port is flooded, and
// the tpu gets frames again as soon as its consumer releases some.
TEST_P(net_tile_backend, a_port_over_its_quota_drops_its_own_datagrams_only) {
  auto cfg = config();
  cfg.rx_frames = 64;
  cfg.rx_quota[idx(port_kind::tpu)] = 8;
  auto tile = make_tile(cfg, {port_kind::tpu, port_kind::gossip});
  ring tpu_out(256), gossip_out(256), release(256);
  tile->connect_rx(port_kind::tpu, &tpu_out, &release);
  tile->connect_rx(port_kind::gossip, &gossip_out, &release);
  udp_socket sender = plain_socket();
  const auto p = payload(200, 3);
  for (int i = 0; i < 40; ++i) ASSERT_EQ(sender.send_to(tile->local_endpoint(port_kind::tpu), p), 200);
  ASSERT_TRUE(poll_until(*tile, [&] { return tile->own_counter(net_tile::c_rx_tpu) == 40; }));
  EXPECT_EQ(tpu_out.size_approx(), 8u);  // the quota, held by a consumer that is behind
  EXPECT_EQ(tile->own_counter(net_tile::c_rx_drop_quota_first + idx(port_kind::tpu)), 32u);
  EXPECT_EQ(tile->own_counter(net_tile::c_rx_dropped_ring_full), 0u);
  EXPECT_EQ(tile->own_counter(net_tile::c_rx_dropped_no_frame), 0u);
  tile->housekeep(0);
  EXPECT_EQ(tile->own_counter(net_tile::c_rx_held_first + idx(port_kind::tpu)), 8u);
  // Gossip is not affected: all of its datagrams arrive, none counted against its quota.
  for (int i = 0; i < 20; ++i) ASSERT_EQ(sender.send_to(tile->local_endpoint(port_kind::gossip), p), 200);
  ASSERT_TRUE(poll_until(*tile, [&] { return gossip_out.size_approx() == 20; }));
  EXPECT_EQ(tile->own_counter(net_tile::c_rx_drop_quota_first + idx(port_kind::gossip)), 0u);
  // Three tpu frames come back: three more tpu datagrams fit, the rest is dropped again.
  for (int i = 0; i < 3; ++i) {
    util::frag_desc d;
    ASSERT_TRUE(tpu_out.try_pop(d));
    ASSERT_TRUE(release.try_push(d));
  }
  ASSERT_TRUE(poll_until(*tile, [&] { return release.empty_approx(); }));
  for (int i = 0; i < 5; ++i) ASSERT_EQ(sender.send_to(tile->local_endpoint(port_kind::tpu), p), 200);
  ASSERT_TRUE(poll_until(*tile, [&] { return tile->own_counter(net_tile::c_rx_tpu) == 45; }));
  EXPECT_EQ(tpu_out.size_approx(), 8u);
  EXPECT_EQ(tile->own_counter(net_tile::c_rx_drop_quota_first + idx(port_kind::tpu)), 34u);
  // Everything returned: no frame is lost and nothing counts as held any more.
  util::frag_desc d;
  while (tpu_out.try_pop(d)) ASSERT_TRUE(release.try_push(d));
  while (gossip_out.try_pop(d)) ASSERT_TRUE(release.try_push(d));
  ASSERT_TRUE(poll_until(*tile, [&] { return tile->free_rx_frames() == 64; }));
  tile->housekeep(0);
  EXPECT_EQ(tile->own_counter(net_tile::c_rx_held_first + idx(port_kind::tpu)), 0u);
  EXPECT_EQ(tile->own_counter(net_tile::c_rx_held_first + idx(port_kind::gossip)), 0u);
}

TEST_P(net_tile_backend, kernel_drops_are_counted_when_the_socket_buffer_overflows) {
  auto cfg = config();
  cfg.rx_frames = 8;
  cfg.socket_buffer_bytes = 64 * 1024;  // small, so a burst overflows it
  auto tile = make_tile(cfg, {port_kind::tvu});
  ring out(64), release(64);
  tile->connect_rx(port_kind::tvu, &out, &release);
  for (int i = 0; i < 4; ++i) tile->poll();
  udp_socket sender = plain_socket();
  const auto p = payload(1200, 1);
  for (int i = 0; i < 400; ++i) ASSERT_EQ(sender.send_to(tile->local_endpoint(port_kind::tvu), p), 1200);
  tile->housekeep(0);
  EXPECT_GT(tile->own_counter(net_tile::c_rx_kernel_drops), 0u);
  EXPECT_EQ(tile->own_counter(net_tile::c_rx_kernel_drops_first + idx(port_kind::tvu)),
            tile->own_counter(net_tile::c_rx_kernel_drops));  // all of them on the tvu port
}

TEST_P(net_tile_backend, oversize_datagrams_are_dropped_and_counted) {
  auto tile = make_tile(config(), {port_kind::tvu});
  ring out(64), release(64);
  tile->connect_rx(port_kind::tvu, &out, &release);
  udp_socket sender = plain_socket();
  const auto to = tile->local_endpoint(port_kind::tvu);
  for (std::size_t len : {1400u, 1233u, 4000u, 1232u, 0u})
    ASSERT_EQ(sender.send_to(to, payload(len, 9)), static_cast<int>(len));
  ASSERT_TRUE(poll_until(*tile, [&] { return tile->own_counter(net_tile::c_rx_tvu) == 5; }));
  EXPECT_EQ(tile->own_counter(net_tile::c_rx_oversize), 3u);
  util::frag_desc d;
  ASSERT_TRUE(out.try_pop(d));
  EXPECT_EQ(d.len, 1232u);
  EXPECT_EQ(std::memcmp(tile->rx_frames().frame(d.frame).data(), payload(1232, 9).data(), 1232), 0);
  ASSERT_TRUE(out.try_pop(d));
  EXPECT_EQ(d.len, 0u);
  EXPECT_FALSE(out.try_pop(d));
}

TEST_P(net_tile_backend, unconnected_port_counts_unrouted) {
  auto tile = make_tile(config(), {port_kind::gossip});
  udp_socket sender = plain_socket();
  ASSERT_EQ(sender.send_to(tile->local_endpoint(port_kind::gossip), payload(10, 1)), 10);
  ASSERT_TRUE(poll_until(*tile, [&] { return tile->own_counter(net_tile::c_rx_unrouted) == 1; }));
  EXPECT_EQ(tile->free_rx_frames(), 256u);
}

namespace {

// Sends `n` datagrams of 100 + i bytes to `port`, a burst the socket buffer holds.
void send_burst(udp_socket& sender, const net_tile& tile, port_kind port, std::uint32_t n) {
  for (std::uint32_t i = 0; i < n; ++i) {
    const auto p = payload(100 + i, i);
    ASSERT_EQ(sender.send_to(tile.local_endpoint(port), p), static_cast<int>(p.size()));
  }
}

}  // namespace

TEST_P(net_tile_backend, three_out_rings_on_one_port_share_round_robin) {
  auto tile = make_tile(config(), {port_kind::tpu});
  ring out[3] = {ring(64), ring(64), ring(64)};
  ring release[3] = {ring(64), ring(64), ring(64)};
  for (int i = 0; i < 3; ++i) tile->connect_rx(port_kind::tpu, &out[i], &release[i]);
  udp_socket sender = plain_socket();
  constexpr std::uint32_t n = 30;
  send_burst(sender, *tile, port_kind::tpu, n);
  ASSERT_TRUE(poll_until(*tile, [&] { return tile->own_counter(net_tile::c_rx_tpu) == n; }));
  // One datagram at a time in turn: with no ring full, each gets exactly a third, and every
  // datagram arrives once.
  std::vector<int> seen(n, 0);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(out[i].size_approx(), n / 3) << "ring " << i;
    util::frag_desc d;
    while (out[i].try_pop(d)) {
      ASSERT_GE(d.len, 100u);
      ASSERT_LT(d.len, 100u + n);
      const std::uint32_t tag = d.len - 100u;
      EXPECT_EQ(std::memcmp(tile->rx_frames().frame(d.frame).data(), payload(d.len, tag).data(),
                            d.len), 0);
      ++seen[tag];
      ASSERT_TRUE(release[i].try_push(d));  // each consumer hands back on its own ring
    }
  }
  for (std::uint32_t i = 0; i < n; ++i) EXPECT_EQ(seen[i], 1) << i;
  EXPECT_EQ(tile->own_counter(net_tile::c_rx_dropped_ring_full), 0u);
  ASSERT_TRUE(poll_until(*tile, [&] { return tile->free_rx_frames() == 256; }));
  EXPECT_EQ(tile->own_counter(net_tile::c_io_errors), 0u);
}

TEST_P(net_tile_backend, a_full_out_ring_passes_its_share_to_the_others) {
  auto tile = make_tile(config(), {port_kind::tpu});
  ring small(4), big0(64), big1(64), release(256);
  tile->connect_rx(port_kind::tpu, &small, &release);
  tile->connect_rx(port_kind::tpu, &big0, &release);
  tile->connect_rx(port_kind::tpu, &big1, &release);
  udp_socket sender = plain_socket();
  constexpr std::uint32_t n = 60;
  send_burst(sender, *tile, port_kind::tpu, n);
  ASSERT_TRUE(poll_until(*tile, [&] { return tile->own_counter(net_tile::c_rx_tpu) == n; }));
  EXPECT_EQ(small.size_approx(), 4u);
  EXPECT_EQ(big0.size_approx() + big1.size_approx(), n - 4);
  EXPECT_GE(big0.size_approx(), (n - 4) / 3);  // both others took part of the share
  EXPECT_GE(big1.size_approx(), (n - 4) / 3);
  EXPECT_EQ(tile->own_counter(net_tile::c_rx_dropped_ring_full), 0u);
  EXPECT_EQ(tile->free_rx_frames(), 256u - n);
  // Only when every ring is full is a datagram dropped.
  ring tiny0(2), tiny1(2);
  auto tile2 = make_tile(config(), {port_kind::tvu});
  tile2->connect_rx(port_kind::tvu, &tiny0, &release);
  tile2->connect_rx(port_kind::tvu, &tiny1, &release);
  send_burst(sender, *tile2, port_kind::tvu, 7);
  ASSERT_TRUE(poll_until(*tile2, [&] { return tile2->own_counter(net_tile::c_rx_tvu) == 7; }));
  EXPECT_EQ(tiny0.size_approx() + tiny1.size_approx(), 4u);
  EXPECT_EQ(tile2->own_counter(net_tile::c_rx_dropped_ring_full), 3u);
  EXPECT_EQ(tile2->free_rx_frames(), 256u - 4u);
  util::frag_desc d;
  for (ring* r : {&small, &big0, &big1})
    while (r->try_pop(d)) ASSERT_TRUE(release.try_push(d));
  ASSERT_TRUE(poll_until(*tile, [&] { return tile->free_rx_frames() == 256; }));
  EXPECT_EQ(tile->own_counter(net_tile::c_io_errors), 0u);
}

TEST_P(net_tile_backend, frames_come_back_through_an_added_release_ring) {
  auto tile = make_tile(config(), {port_kind::tpu});
  // verify consumes the port; dedup, further down, ends up owning some frames and hands them
  // back on its own ring.
  ring verify_in(64), verify_release(64), dedup_release(64);
  tile->connect_rx(port_kind::tpu, &verify_in, &verify_release);
  tile->add_release(&dedup_release);
  const std::size_t start = tile->free_rx_frames();
  EXPECT_EQ(start, 256u);
  udp_socket sender = plain_socket();
  constexpr std::uint32_t n = 20;
  send_burst(sender, *tile, port_kind::tpu, n);
  ASSERT_TRUE(poll_until(*tile, [&] { return verify_in.size_approx() == n; }));
  EXPECT_EQ(tile->free_rx_frames(), start - n);
  util::frag_desc d;
  for (std::uint32_t i = 0; verify_in.try_pop(d); ++i)
    ASSERT_TRUE((i % 4 == 0 ? verify_release : dedup_release).try_push(d));
  ASSERT_TRUE(poll_until(*tile, [&] { return tile->free_rx_frames() == start; }));
  EXPECT_EQ(tile->own_counter(net_tile::c_io_errors), 0u);
}

TEST_P(net_tile_backend, twenty_percent_loss_gives_about_twenty_percent_drops) {
  auto cfg = config();
  cfg.rx_frames = 1024;
  cfg.faults.drop[idx(port_kind::tpu)] = 0.2;
  cfg.faults.seed = 77;
  auto tile = make_tile(cfg, {port_kind::tpu});
  ring out(1024), release(1024);
  tile->connect_rx(port_kind::tpu, &out, &release);
  udp_socket sender = plain_socket();
  constexpr std::uint64_t n = 5000;
  std::uint64_t delivered = 0;
  auto consume = [&] {
    util::frag_desc d;
    while (out.try_pop(d)) {
      ++delivered;
      EXPECT_TRUE(release.try_push(d));
    }
  };
  const auto p = payload(1000, 3);
  for (std::uint64_t i = 0; i < n; ++i) {
    ASSERT_EQ(sender.send_to(tile->local_endpoint(port_kind::tpu), p), 1000);
    if (i % 256 == 255) {  // keep the socket buffer from overflowing
      ASSERT_TRUE(poll_until(*tile, [&] {
        consume();
        return tile->own_counter(net_tile::c_rx_tpu) == i + 1;
      }));
    }
  }
  ASSERT_TRUE(poll_until(*tile, [&] {
    consume();
    return tile->own_counter(net_tile::c_rx_tpu) == n;
  }));
  consume();
  const auto dropped = tile->own_counter(net_tile::c_fault_dropped);
  EXPECT_EQ(dropped + delivered, n);
  // Binomial sd = sqrt(5000 × 0.16) ≈ 28: ±150 is > 5 sigma.
  EXPECT_NEAR(static_cast<double>(dropped), 0.2 * n, 150.0);
}

TEST_P(net_tile_backend, duplicates_and_reorder_deliver_everything_and_flush_when_quiet) {
  auto cfg = config();
  cfg.faults.duplicate = 0.5;
  cfg.faults.reorder_window = 4;
  cfg.reorder_flush_housekeeps = 2;
  auto tile = make_tile(cfg, {port_kind::gossip});
  ring out(256), release(256);
  tile->connect_rx(port_kind::gossip, &out, &release);
  udp_socket sender = plain_socket();
  constexpr std::uint32_t n = 100;
  for (std::uint32_t i = 0; i < n; ++i) {
    std::uint8_t b[4];
    std::memcpy(b, &i, 4);
    ASSERT_EQ(sender.send_to(tile->local_endpoint(port_kind::gossip), b), 4);
  }
  ASSERT_TRUE(poll_until(*tile, [&] { return tile->own_counter(net_tile::c_rx_gossip) == n; }));
  // Up to `window` packets are still held; two quiet housekeeping intervals release them
  // (the first interval saw traffic, so it takes three calls).
  tile->housekeep(0);
  tile->housekeep(0);
  EXPECT_EQ(out.size_approx() + 4, n + tile->own_counter(net_tile::c_fault_duplicated))
      << "a full window holds exactly 4 packets";
  tile->housekeep(0);
  std::vector<int> copies(n, 0);
  util::frag_desc d;
  std::uint32_t total = 0;
  while (out.try_pop(d)) {
    std::uint32_t i;
    std::memcpy(&i, tile->rx_frames().frame(d.frame).data(), 4);
    ASSERT_LT(i, n);
    ++copies[i];
    ++total;
    ASSERT_TRUE(release.try_push(d));
  }
  for (std::uint32_t i = 0; i < n; ++i) EXPECT_TRUE(copies[i] == 1 || copies[i] == 2) << i;
  EXPECT_EQ(total, n + tile->own_counter(net_tile::c_fault_duplicated));
  EXPECT_GT(tile->own_counter(net_tile::c_fault_duplicated), 20u);
  EXPECT_GT(tile->own_counter(net_tile::c_fault_reordered), 0u);
  ASSERT_TRUE(poll_until(*tile, [&] { return tile->free_rx_frames() == 256; }));
}

TEST_P(net_tile_backend, drain_stops_receiving_and_finishes_sends) {
  auto tile = make_tile(config(), {port_kind::gossip});
  ring out(64), release(64), tx(16), tx_release(16);
  util::frame_pool pool(4);
  tile->connect_rx(port_kind::gossip, &out, &release);
  tile->add_tx(&tx, &pool, &tx_release);
  udp_socket peer = plain_socket();
  for (int i = 0; i < 3; ++i) tile->poll();  // started
  ASSERT_TRUE(tx.try_push({0, 10, static_cast<std::uint16_t>(port_kind::gossip), peer.local().pack()}));
  tile->begin_drain();
  EXPECT_FALSE(tile->drained());
  ASSERT_TRUE(poll_until(*tile, [&] { return tile->drained(); }));
  util::frag_desc d;
  EXPECT_TRUE(tx_release.try_pop(d));
  for (int i = 0; i < 20; ++i) tile->poll();
  ASSERT_EQ(peer.send_to(tile->local_endpoint(port_kind::gossip), payload(10, 1)), 10);
  for (int i = 0; i < 200; ++i) tile->poll();
  EXPECT_EQ(tile->own_counter(net_tile::c_rx_gossip), 0u);
  EXPECT_TRUE(out.empty_approx());
}

TEST(net_tile_uring, idle_poll_makes_no_syscall) {
  if (!io_uring_unavailable_reason().empty())
    GTEST_SKIP() << "io_uring unavailable: " << io_uring_unavailable_reason();
  net_tile_config c;
  c.backend = backend_kind::io_uring;
  auto tile = make_tile(c, {port_kind::gossip, port_kind::tvu});
  ring out(64), release(64), tx(16), tx_release(16);
  util::frame_pool pool(4);
  tile->connect_rx(port_kind::gossip, &out, &release);
  tile->add_tx(&tx, &pool, &tx_release);
  for (int i = 0; i < 10; ++i) tile->poll();  // arms the receives
  const auto before = tile->own_counter(net_tile::c_syscalls);
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(tile->poll(), 0);
  EXPECT_EQ(tile->own_counter(net_tile::c_syscalls), before);
  // One datagram: the kernel flags pending work, the next poll enters once and delivers it.
  udp_socket sender = plain_socket();
  ASSERT_EQ(sender.send_to(tile->local_endpoint(port_kind::gossip), payload(32, 2)), 32);
  ASSERT_TRUE(poll_until(*tile, [&] { return !out.empty_approx(); }));
  EXPECT_LE(tile->own_counter(net_tile::c_syscalls), before + 2);
}

TEST(net_tile_uring, polling_from_a_second_thread_is_refused_and_counted) {
  if (!io_uring_unavailable_reason().empty())
    GTEST_SKIP() << "io_uring unavailable: " << io_uring_unavailable_reason();
  net_tile_config c;
  c.backend = backend_kind::io_uring;
  auto tile = make_tile(c, {port_kind::gossip});
  tile->poll();  // this thread owns the ring now
  std::thread([&] { EXPECT_EQ(tile->poll(), 0); }).join();
  EXPECT_EQ(tile->own_counter(net_tile::c_io_errors), 1u);
  EXPECT_EQ(tile->poll(), 0);  // the owner still polls normally
  EXPECT_EQ(tile->own_counter(net_tile::c_io_errors), 1u);
}

INSTANTIATE_TEST_SUITE_P(backends, net_tile_backend,
                         ::testing::Values(backend_kind::io_uring, backend_kind::recvmmsg),
                         backend_name);

// ---- under the runtime (run under ThreadSanitizer: net/net_tile in tools/dev.sh) ----------

namespace {

// Consumes one port's packets on the net tile's core: checks them and hands frames back.
class checking_sink final : public util::tile {
 public:
  checking_sink(const util::frame_pool& frames, ring& in, ring& release)
      : util::tile("sink"), frames_(frames), in_(in), release_(release) {}
  int poll() noexcept override {
    util::frag_desc batch[32];
    const std::size_t n = in_.try_pop_batch(batch);
    for (std::size_t i = 0; i < n; ++i) {
      std::uint32_t seq = 0;
      std::memcpy(&seq, frames_.frame(batch[i].frame).data(), sizeof seq);
      bool ok = batch[i].len == 600;
      for (std::size_t b = sizeof seq; ok && b < batch[i].len; ++b)
        ok = frames_.frame(batch[i].frame)[b] == static_cast<std::uint8_t>(seq + b);
      if (!ok) bad_.fetch_add(1, std::memory_order_relaxed);
      if (!release_.try_push(batch[i])) bad_.fetch_add(1, std::memory_order_relaxed);
    }
    received_.fetch_add(n, std::memory_order_release);
    return static_cast<int>(n);
  }
  bool drained() const noexcept override { return in_.empty_approx(); }
  std::atomic<std::uint64_t> received_{0};
  std::atomic<std::uint64_t> bad_{0};

 private:
  const util::frame_pool& frames_;
  ring& in_;
  ring& release_;
};

}  // namespace

TEST_P(net_tile_backend, runs_under_the_runtime_while_another_thread_sends) {
  auto cfg = config();
  cfg.rx_frames = 512;
  auto tile = make_tile(cfg, {port_kind::tvu, port_kind::gossip});
  ring out(512), release(512), tx(64), tx_release(64);
  util::frame_pool tx_pool(32);
  tile->connect_rx(port_kind::tvu, &out, &release);
  tile->add_tx(&tx, &tx_pool, &tx_release);
  checking_sink sink(tile->rx_frames(), out, release);

  util::runtime_options opts;
  opts.pin = false;
  util::runtime rt({util::core_plan{-1, {tile.get(), &sink}}}, opts);
  rt.start();

  constexpr std::uint32_t n = 3000;
  const endpoint to = tile->local_endpoint(port_kind::tvu);
  std::thread sender([&] {
    udp_socket s = plain_socket();
    std::vector<std::uint8_t> p(600);
    for (std::uint32_t seq = 0; seq < n; ++seq) {
      std::memcpy(p.data(), &seq, sizeof seq);
      for (std::size_t b = sizeof seq; b < p.size(); ++b) p[b] = static_cast<std::uint8_t>(seq + b);
      // Flow control so a slow (sanitized, sleeping) core cannot overflow the socket buffer.
      while (seq > sink.received_.load(std::memory_order_acquire) + 256) std::this_thread::sleep_for(50us);
      ASSERT_EQ(s.send_to(to, p), 600);
    }
  });

  // Meanwhile this thread is a TX producer through the tile.
  udp_socket peer = plain_socket();
  constexpr std::uint32_t m = 200;
  std::uint32_t queued = 0, released = 0, next_frame = 0;
  std::vector<std::uint32_t> free_frames;
  for (std::uint32_t i = 0; i < 32; ++i) free_frames.push_back(i);
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (released < m && std::chrono::steady_clock::now() < deadline) {
    if (queued < m && !free_frames.empty()) {
      next_frame = free_frames.back();
      free_frames.pop_back();
      std::memcpy(tx_pool.frame(next_frame).data(), &queued, sizeof queued);
      if (tx.try_push({next_frame, 64, static_cast<std::uint16_t>(port_kind::gossip), peer.local().pack()}))
        ++queued;
      else
        free_frames.push_back(next_frame);
    }
    util::frag_desc d;
    while (tx_release.try_pop(d)) {
      free_frames.push_back(d.frame);
      ++released;
    }
    std::this_thread::sleep_for(10us);
  }
  sender.join();
  while (sink.received_.load(std::memory_order_acquire) < n && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(1ms);
  EXPECT_TRUE(rt.stop());
  EXPECT_EQ(released, m);
  EXPECT_EQ(sink.received_.load(), n);
  EXPECT_EQ(sink.bad_.load(), 0u);
  std::vector<std::uint8_t> buf(2048);
  endpoint from;
  for (std::uint32_t i = 0; i < m; ++i) ASSERT_EQ(peer.recv_from(buf, from), 64);
  EXPECT_EQ(tile->own_counter(net_tile::c_tx_packets), m);
  EXPECT_EQ(tile->own_counter(net_tile::c_rx_tvu), n);
  EXPECT_EQ(tile->own_counter(net_tile::c_rx_dropped_ring_full), 0u);
}

// A port sharded over two consumers on another core thread; one hands frames back on its
// connect_rx ring, the other on a ring given to add_release (as a tile further down would).
TEST_P(net_tile_backend, shards_a_port_over_consumers_on_another_core) {
  auto cfg = config();
  cfg.rx_frames = 512;
  auto tile = make_tile(cfg, {port_kind::tvu});
  ring out0(256), out1(256), release0(512), downstream_release(512);
  tile->connect_rx(port_kind::tvu, &out0, &release0);
  tile->connect_rx(port_kind::tvu, &out1, &release0);
  tile->add_release(&downstream_release);
  checking_sink sink0(tile->rx_frames(), out0, release0);
  checking_sink sink1(tile->rx_frames(), out1, downstream_release);

  util::runtime_options opts;
  opts.pin = false;
  util::runtime rt({util::core_plan{-1, {tile.get()}}, util::core_plan{-1, {&sink0, &sink1}}},
                   opts);
  rt.start();
  constexpr std::uint32_t n = 3000;
  auto received = [&] {
    return sink0.received_.load(std::memory_order_acquire) +
           sink1.received_.load(std::memory_order_acquire);
  };
  {
    udp_socket s = plain_socket();
    std::vector<std::uint8_t> p(600);
    for (std::uint32_t seq = 0; seq < n; ++seq) {
      std::memcpy(p.data(), &seq, sizeof seq);
      for (std::size_t b = sizeof seq; b < p.size(); ++b) p[b] = static_cast<std::uint8_t>(seq + b);
      while (seq > received() + 256) std::this_thread::sleep_for(50us);
      ASSERT_EQ(s.send_to(tile->local_endpoint(port_kind::tvu), p), 600);
    }
  }
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (received() < n && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(1ms);
  EXPECT_TRUE(rt.stop());
  EXPECT_EQ(received(), n);
  EXPECT_GT(sink0.received_.load(), 0u);
  EXPECT_GT(sink1.received_.load(), 0u);
  EXPECT_EQ(sink0.bad_.load() + sink1.bad_.load(), 0u);
  EXPECT_EQ(tile->own_counter(net_tile::c_rx_tvu), n);
  EXPECT_EQ(tile->own_counter(net_tile::c_rx_dropped_ring_full), 0u);
  // The runtime has stopped: this thread may poll the recvmmsg tile now to reclaim what the
  // sinks released last (io_uring is bound to the stopped core thread; its frames were
  // counted above).
  if (GetParam() == backend_kind::recvmmsg) {
    ASSERT_TRUE(poll_until(*tile, [&] { return tile->free_rx_frames() == 512; }));
  }
}
