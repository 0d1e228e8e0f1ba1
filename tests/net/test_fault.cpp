#include <riptide/net/fault.hpp>

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <limits>
#include <vector>

using namespace riptide;
using namespace riptide::net;

namespace {

constexpr std::size_t idx(port_kind k) { return static_cast<std::size_t>(k); }

util::frag_desc packet(std::uint64_t seq, port_kind port = port_kind::tvu) {
  return util::frag_desc{static_cast<std::uint32_t>(seq), 100, static_cast<std::uint16_t>(port), seq};
}

// Feeds `n` packets through the reorder stage of one port, then flushes; returns the output
// order (meta = arrival sequence) and, per packet, the arrival index at which it left.
struct reorder_run {
  std::vector<std::uint64_t> out;
  std::vector<std::uint64_t> left_at;  // arrival index that released it (n for the flush)
  std::uint64_t overtaking = 0;
};
reorder_run run_reorder(fault_injector& f, std::uint64_t n, port_kind port = port_kind::tvu) {
  reorder_run r;
  r.left_at.assign(n, std::numeric_limits<std::uint64_t>::max());
  for (std::uint64_t i = 0; i < n; ++i) {
    util::frag_desc out{};
    const auto step = f.reorder(port, packet(i, port), out);
    if (step == fault_injector::reorder_step::held) continue;
    if (step == fault_injector::reorder_step::overtaking) ++r.overtaking;
    r.out.push_back(out.meta);
    r.left_at[out.meta] = i;
  }
  util::frag_desc out{};
  while (f.flush_one(port, out)) {
    r.out.push_back(out.meta);
    r.left_at[out.meta] = n;
  }
  return r;
}

}  // namespace

TEST(fault, inactive_by_default) {
  fault_config c;
  EXPECT_FALSE(c.active());
  fault_injector f(c);
  EXPECT_FALSE(f.active());
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(f.judge(port_kind::tpu), fault_injector::verdict::deliver);
  util::frag_desc out{};
  EXPECT_EQ(f.reorder(port_kind::tpu, packet(7), out), fault_injector::reorder_step::in_order);
  EXPECT_EQ(out.meta, 7u);
  EXPECT_FALSE(f.flush_one(port_kind::tpu, out));
}

TEST(fault, drop_rate_per_port_within_tolerance) {
  fault_config c;
  c.drop[idx(port_kind::gossip)] = 0.2;
  c.drop[idx(port_kind::tpu)] = 0.5;
  c.drop[idx(port_kind::repair)] = 1.0;
  c.seed = 42;
  fault_injector f(c);
  constexpr int n = 100'000;
  std::array<int, port_kind_count> dropped{};
  for (int i = 0; i < n; ++i)
    for (std::size_t p = 0; p < port_kind_count; ++p)
      if (f.judge(static_cast<port_kind>(p)) == fault_injector::verdict::drop) ++dropped[p];
  // Binomial standard deviation at p = 0.5, n = 1e5 is 0.0016: ±0.01 is > 6 sigma.
  EXPECT_NEAR(dropped[idx(port_kind::gossip)] / double(n), 0.2, 0.01);
  EXPECT_NEAR(dropped[idx(port_kind::tpu)] / double(n), 0.5, 0.01);
  EXPECT_EQ(dropped[idx(port_kind::tpu_forwards)], 0);
  EXPECT_EQ(dropped[idx(port_kind::tvu)], 0);
  EXPECT_EQ(dropped[idx(port_kind::repair)], n);
  std::uint64_t total = 0;
  for (int d : dropped) total += static_cast<std::uint64_t>(d);
  EXPECT_EQ(f.dropped(), total);
}

TEST(fault, duplicate_rate_within_tolerance) {
  fault_config c;
  c.duplicate = 0.1;
  c.drop[idx(port_kind::tvu)] = 0.3;
  c.seed = 7;
  fault_injector f(c);
  constexpr int n = 100'000;
  int dup = 0, dropped = 0;
  for (int i = 0; i < n; ++i) {
    const auto v = f.judge(port_kind::tvu);
    dup += v == fault_injector::verdict::duplicate;
    dropped += v == fault_injector::verdict::drop;
  }
  EXPECT_NEAR(dropped / double(n), 0.3, 0.01);
  // Duplication applies to packets that survived the drop.
  EXPECT_NEAR(dup / double(n - dropped), 0.1, 0.01);
  EXPECT_EQ(f.duplicated(), static_cast<std::uint64_t>(dup));
}

TEST(fault, reorder_keeps_every_packet_once_with_bounded_displacement) {
  for (std::uint32_t window : {1u, 2u, 8u, 64u}) {
    fault_config c;
    c.reorder_window = window;
    c.seed = 1234 + window;
    fault_injector f(c);
    constexpr std::uint64_t n = 100'000;
    const reorder_run r = run_reorder(f, n);
    ASSERT_EQ(r.out.size(), n) << "window " << window;
    std::vector<bool> seen(n, false);
    std::uint64_t max_disp = 0, moved = 0, next_missing = 0, overtaking = 0;
    for (std::uint64_t pos = 0; pos < n; ++pos) {
      const std::uint64_t seq = r.out[pos];
      ASSERT_LT(seq, n);
      ASSERT_FALSE(seen[seq]) << "packet " << seq << " delivered twice";
      seen[seq] = true;
      const std::uint64_t disp = seq > pos ? seq - pos : pos - seq;
      max_disp = std::max(max_disp, disp);
      moved += disp != 0;
      // "Overtaking" = released while an older packet is still held.
      overtaking += seq != next_missing;
      while (next_missing < n && seen[next_missing]) ++next_missing;
      // Bounded delay: gone by the (W + 1)-th arrival after it (the flush counts as arrival n).
      if (r.left_at[seq] != n) {
        EXPECT_LE(r.left_at[seq] - seq, window + 1u);
      }
    }
    EXPECT_LE(max_disp, window) << "window " << window;
    EXPECT_GT(moved, n / 4) << "window " << window << " barely reordered";
    EXPECT_EQ(overtaking, r.overtaking) << "window " << window;
    EXPECT_EQ(f.reordered(), r.overtaking);
    EXPECT_EQ(f.held_total(), 0u);
  }
}

TEST(fault, flush_releases_held_packets_oldest_first) {
  fault_config c;
  c.reorder_window = 16;
  fault_injector f(c);
  util::frag_desc out{};
  for (std::uint64_t i = 0; i < 10; ++i)
    EXPECT_EQ(f.reorder(port_kind::gossip, packet(i, port_kind::gossip), out),
              fault_injector::reorder_step::held);
  EXPECT_EQ(f.held(port_kind::gossip), 10u);
  EXPECT_EQ(f.held(port_kind::tpu), 0u);
  EXPECT_FALSE(f.flush_one(port_kind::tpu, out));
  for (std::uint64_t i = 0; i < 10; ++i) {
    ASSERT_TRUE(f.flush_one(port_kind::gossip, out));
    EXPECT_EQ(out.meta, i);
    EXPECT_EQ(out.kind, idx(port_kind::gossip));
  }
  EXPECT_FALSE(f.flush_one(port_kind::gossip, out));
  EXPECT_EQ(f.held_total(), 0u);
}

TEST(fault, ports_reorder_independently) {
  fault_config c;
  c.reorder_window = 4;
  c.seed = 99;
  fault_injector f(c);
  std::vector<std::uint64_t> out_gossip, out_tvu;
  constexpr std::uint64_t n = 10'000;
  util::frag_desc out{};
  for (std::uint64_t i = 0; i < n; ++i) {
    const port_kind port = i % 3 == 0 ? port_kind::gossip : port_kind::tvu;
    if (f.reorder(port, packet(i, port), out) != fault_injector::reorder_step::held) {
      EXPECT_EQ(out.kind, idx(port));
      (port == port_kind::gossip ? out_gossip : out_tvu).push_back(out.meta);
    }
  }
  while (f.flush_one(port_kind::gossip, out)) out_gossip.push_back(out.meta);
  while (f.flush_one(port_kind::tvu, out)) out_tvu.push_back(out.meta);
  EXPECT_EQ(out_gossip.size() + out_tvu.size(), n);
  for (auto seq : out_gossip) EXPECT_EQ(seq % 3, 0u);
  for (auto seq : out_tvu) EXPECT_NE(seq % 3, 0u);
}

namespace {
std::vector<int> decisions(std::uint64_t seed) {
  fault_config c;
  c.drop.fill(0.25);
  c.duplicate = 0.2;
  c.reorder_window = 8;
  c.seed = seed;
  fault_injector f(c);
  std::vector<int> d;
  util::frag_desc out{};
  for (std::uint64_t i = 0; i < 20'000; ++i) {
    const auto port = static_cast<port_kind>(i % port_kind_count);
    const auto v = f.judge(port);
    d.push_back(static_cast<int>(v));
    if (v == fault_injector::verdict::drop) continue;
    if (f.reorder(port, packet(i, port), out) != fault_injector::reorder_step::held)
      d.push_back(static_cast<int>(out.meta));
  }
  return d;
}
}  // namespace

TEST(fault, same_seed_same_decisions_different_seed_different) {
  const auto a = decisions(2024);
  const auto b = decisions(2024);
  const auto c = decisions(2025);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
}

TEST(fault, window_zero_passes_through_in_order) {
  fault_config c;
  c.drop[0] = 0.5;  // active, but no reordering
  fault_injector f(c);
  EXPECT_FALSE(f.reordering());
  util::frag_desc out{};
  for (std::uint64_t i = 0; i < 100; ++i) {
    EXPECT_EQ(f.reorder(port_kind::gossip, packet(i), out), fault_injector::reorder_step::in_order);
    EXPECT_EQ(out.meta, i);
  }
}

TEST(fault, rejects_bad_config) {
  fault_config c;
  c.drop[idx(port_kind::tpu)] = 1.5;
  try {
    fault_injector f(c);
    FAIL() << "accepted drop 1.5";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("drop[tpu]"), std::string::npos) << e.what();
  }
  c.drop[idx(port_kind::tpu)] = std::nan("");
  EXPECT_THROW(fault_injector{c}, std::invalid_argument);
  c.drop[idx(port_kind::tpu)] = 0;
  c.duplicate = -0.1;
  EXPECT_THROW(fault_injector{c}, std::invalid_argument);
  c.duplicate = 0;
  c.reorder_window = max_reorder_window + 1;
  EXPECT_THROW(fault_injector{c}, std::invalid_argument);
  c.reorder_window = max_reorder_window;
  EXPECT_NO_THROW(fault_injector{c});
}
