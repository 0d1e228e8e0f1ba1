#include <riptide/node/topology.hpp>

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace {

using riptide::node::link_kind;
using riptide::node::link_mode;
using riptide::node::link_set;
using riptide::node::placement;
using riptide::node::topology;
using riptide::node::topology_error;
using riptide::util::frag_desc;

// net ─► verify0 ─► dedup, verify1 ─► dedup; poh; outside: api ─► gossip
topology small() {
  topology t;
  t.add_tile("net", "net", placement::light);
  t.add_tile("poh", "poh", placement::first);
  t.add_tile("verify0", "verify", placement::heavy);
  t.add_tile("verify1", "verify", placement::heavy);
  t.add_tile("dedup", "dedup", placement::light);
  t.add_link("net>verify0", link_kind::frags, link_mode::lossy, 64, "net", "verify0");
  t.add_link("net>verify1", link_kind::frags, link_mode::lossy, 64, "net", "verify1");
  t.add_link("verify0>dedup", link_kind::frags, link_mode::reliable, 64, "verify0", "dedup");
  t.add_link("verify1>dedup", link_kind::frags, link_mode::reliable, 64, "verify1", "dedup");
  return t;
}

using cores = std::vector<std::vector<std::string>>;

TEST(topology, declaration_errors_name_what_is_wrong) {
  struct row {
    const char* what;
    void (*declare)(topology&);
    const char* message_part;
  };
  const row rows[] = {
      {"tile twice", [](topology& t) { t.add_tile("net", "net", placement::light); }, "'net' is declared twice"},
      {"outside named like a tile", [](topology& t) { t.add_outside("poh"); }, "'poh' is declared twice"},
      {"link twice",
       [](topology& t) { t.add_link("net>verify0", link_kind::frags, link_mode::lossy, 64, "net", "verify0"); },
       "link 'net>verify0' is declared twice"},
      {"depth not a power of two",
       [](topology& t) { t.add_link("x", link_kind::frags, link_mode::lossy, 48, "net", "poh"); }, "depth 48"},
      {"depth 1", [](topology& t) { t.add_link("x", link_kind::frags, link_mode::lossy, 1, "net", "poh"); }, "depth 1"},
      {"unknown consumer",
       [](topology& t) { t.add_link("x", link_kind::frags, link_mode::lossy, 64, "net", "bank0"); }, "'bank0'"},
      {"unknown producer",
       [](topology& t) { t.add_link("x", link_kind::frags, link_mode::lossy, 64, "bank0", "net"); }, "'bank0'"},
      {"one party at both ends",
       [](topology& t) { t.add_link("x", link_kind::frags, link_mode::lossy, 64, "net", "net"); }, "at both ends"},
      {"tile without a kind", [](topology& t) { t.add_tile("z", "", placement::light); }, "a name and a kind"},
  };
  for (const row& r : rows) {
    topology t = small();
    try {
      r.declare(t);
      ADD_FAILURE() << r.what << ": accepted";
    } catch (const topology_error& e) {
      EXPECT_NE(std::string(e.what()).find(r.message_part), std::string::npos) << r.what << ": " << e.what();
    }
  }
}

TEST(topology, place_follows_the_layout_by_kind_in_declaration_order) {
  topology t = small();
  t.place(cores{{"poh", "verify"}, {"verify", "dedup", "net"}});
  t.check();
  EXPECT_EQ(t.cores(), (cores{{"poh", "verify0"}, {"verify1", "dedup", "net"}}));
}

TEST(topology, place_skips_kinds_without_a_tile_and_puts_unnamed_tiles_on_the_first_core) {
  topology t = small();
  // "bank" and a third "verify": this node has none (left); dedup and net: not named.
  t.place(cores{{"poh", "bank"}, {"verify", "verify", "verify"}});
  t.check();
  EXPECT_EQ(t.cores(), (cores{{"poh", "net", "dedup"}, {"verify0", "verify1"}}));
}

TEST(topology, place_drops_core_threads_left_empty) {
  topology t = small();
  t.place(cores{{"bank"}, {"poh", "verify", "verify", "dedup", "net"}});
  EXPECT_EQ(t.cores(), (cores{{"poh", "verify0", "verify1", "dedup", "net"}}));
}

TEST(topology, place_auto_rules) {
  struct row {
    std::size_t cpus;
    bool first_alone;
    cores expected;
  };
  const row rows[] = {
      // One core thread: the first and light tiles, then the heavy ones.
      {1, false, {{"net", "poh", "dedup", "verify0", "verify1"}}},
      {2, false, {{"net", "poh", "dedup"}, {"verify0", "verify1"}}},
      {3, false, {{"net", "poh", "dedup"}, {"verify0"}, {"verify1"}}},
      {2, true, {{"poh"}, {"net", "verify0", "verify1", "dedup"}}},
      {3, true, {{"poh"}, {"net", "verify1"}, {"verify0", "dedup"}}},
      {1, true, {{"net", "poh", "dedup", "verify0", "verify1"}}},  // one CPU: nothing is alone
      {0, false, {{"net", "poh", "dedup", "verify0", "verify1"}}},
  };
  for (const row& r : rows) {
    topology t = small();
    t.place_auto(r.cpus, r.first_alone);
    t.check();
    EXPECT_EQ(t.cores(), r.expected) << r.cpus << " cpus, first alone " << r.first_alone;
  }
}

// Two tiles that share state without locks: auto placement puts the second on the first's
// core thread; a layout that splits them is refused; names must be tiles.
TEST(topology, tiles_kept_together_share_a_core_thread) {
  topology t = small();
  t.keep_together("dedup", "verify1");
  t.place_auto(3, false);
  EXPECT_NO_THROW(t.check());
  EXPECT_EQ(t.cores(), (cores{{"net", "poh", "dedup", "verify1"}, {"verify0"}}));
  t.place({{"net", "poh", "dedup", "verify"}, {"verify"}});  // verify1 away from dedup
  EXPECT_THROW(t.check(), topology_error);
  EXPECT_THROW(t.keep_together("dedup", "nobody"), topology_error);
}

TEST(topology, check_refuses_an_unplaced_topology) {
  topology t = small();
  EXPECT_THROW(t.check(), topology_error);
}

TEST(topology, a_ring_goes_to_its_declared_ends_once_with_its_type) {
  topology t = small();
  t.add_tile("ledger", "ledger", placement::light);
  t.add_link("poh>ledger", link_kind::entries, link_mode::reliable, 16, "poh", "ledger");
  link_set rings(t);
  auto& out = rings.out<frag_desc>("verify0", "verify0>dedup");
  auto& in = rings.in<frag_desc>("dedup", "verify0>dedup");
  EXPECT_EQ(&out, &in);
  EXPECT_EQ(out.capacity(), 64u);
  ASSERT_TRUE(out.try_push(frag_desc{7, 1, 0, 0}));
  EXPECT_EQ(rings.pushed(2), 1u);
  EXPECT_EQ(rings.popped(2), 0u);
  auto& entries = rings.out<riptide::tpu::poh_entry_record>("poh", "poh>ledger");
  EXPECT_EQ(entries.capacity(), 16u);

  EXPECT_THROW((void)rings.out<frag_desc>("verify0", "verify0>dedup"), std::logic_error);  // taken twice
  EXPECT_THROW((void)rings.out<frag_desc>("verify1", "verify0>dedup"), std::logic_error);  // not its producer
  EXPECT_THROW((void)rings.in<frag_desc>("net", "net>verify1"), std::logic_error);         // not its consumer
  EXPECT_THROW((void)rings.in<frag_desc>("ledger", "poh>ledger"), std::logic_error);       // wrong type
  EXPECT_THROW((void)rings.in<frag_desc>("dedup", "verify2>dedup"), std::logic_error);     // not declared
}

TEST(topology, check_bound_names_every_end_never_taken) {
  topology t = small();
  link_set rings(t);
  (void)rings.out<frag_desc>("net", "net>verify0");
  (void)rings.in<frag_desc>("verify0", "net>verify0");
  (void)rings.out<frag_desc>("net", "net>verify1");
  (void)rings.in<frag_desc>("verify1", "net>verify1");
  (void)rings.out<frag_desc>("verify0", "verify0>dedup");
  (void)rings.in<frag_desc>("dedup", "verify0>dedup");
  (void)rings.out<frag_desc>("verify1", "verify1>dedup");
  try {
    rings.check_bound();
    ADD_FAILURE() << "a ring without a consumer passed";
  } catch (const std::logic_error& e) {
    EXPECT_NE(std::string(e.what()).find("verify1>dedup (consumer dedup)"), std::string::npos) << e.what();
  }
  (void)rings.in<frag_desc>("dedup", "verify1>dedup");
  EXPECT_NO_THROW(rings.check_bound());
}

struct named_tile final : riptide::util::tile {
  explicit named_tile(std::string name) : tile(std::move(name)) {}
  int poll() noexcept override { return 0; }
};

TEST(topology, make_plan_maps_placed_names_to_built_tiles) {
  topology t = small();
  t.place(cores{{"poh", "net"}, {"verify", "verify", "dedup"}});
  named_tile net("net"), poh("poh"), v0("verify0"), v1("verify1"), dedup("dedup");
  const auto plan = riptide::node::make_plan(t, {&v1, &net, &dedup, &poh, &v0},
                                             [](std::size_t c) { return static_cast<int>(c) + 10; });
  ASSERT_EQ(plan.size(), 2u);
  EXPECT_EQ(plan[0].cpu, 10);
  EXPECT_EQ(plan[1].cpu, 11);
  EXPECT_EQ(plan[0].tiles, (std::vector<riptide::util::tile*>{&poh, &net}));
  EXPECT_EQ(plan[1].tiles, (std::vector<riptide::util::tile*>{&v0, &v1, &dedup}));

  auto cpu = [](std::size_t) { return -1; };
  EXPECT_THROW((void)riptide::node::make_plan(t, {&net, &poh, &v0, &v1}, cpu), std::logic_error);  // dedup missing
  named_tile extra("bank0");
  EXPECT_THROW((void)riptide::node::make_plan(t, {&net, &poh, &v0, &v1, &dedup, &extra}, cpu), std::logic_error);
  named_tile twin("net");
  EXPECT_THROW((void)riptide::node::make_plan(t, {&net, &twin, &poh, &v0, &v1, &dedup}, cpu), std::logic_error);
}

}  // namespace
