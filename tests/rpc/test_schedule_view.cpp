#include <riptide/rpc/schedule_view.hpp>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include <riptide/util/hex.hpp>

namespace {

using namespace riptide;
using json = nlohmann::json;

crypto::pubkey key(std::uint8_t b) {
  crypto::pubkey k{};
  k.fill(b);
  return k;
}

epoch::stakes three() {
  const std::vector<epoch::stake_entry> e{{key(1), 300}, {key(2), 100}, {key(3), 600}};
  return epoch::stakes(e);
}

TEST(schedule_view, json_lists_the_whole_epoch_and_the_window) {
  const epoch::stakes s = three();
  const epoch::leader_schedule sched(s, 2, 64);
  const json j = json::parse(rpc::schedule_json(s, sched, 130, 8));
  EXPECT_EQ(j["epoch"], 2);
  EXPECT_EQ(j["first_slot"], 128);
  EXPECT_EQ(j["slots_per_epoch"], 64);
  EXPECT_EQ(j["slots_per_leader"], 4);
  EXPECT_EQ(j["digest"], util::to_hex(sched.digest()));
  // Validators in canonical order (stake descending) with the slots each leads.
  ASSERT_EQ(j["validators"].size(), 3u);
  EXPECT_EQ(j["validators"][0]["id"], util::to_hex(key(3)));
  EXPECT_EQ(j["validators"][0]["stake"], 600);
  EXPECT_EQ(j["validators"][2]["id"], util::to_hex(key(2)));
  ASSERT_EQ(j["group_leaders"].size(), 16u);
  std::vector<std::uint64_t> slots(3, 0);
  for (std::size_t g = 0; g < 16; ++g) {
    const std::size_t i = j["group_leaders"][g];
    ASSERT_LT(i, 3u);
    EXPECT_EQ(s.entries()[i].id, sched.group_leaders()[g]) << "group " << g;
    slots[i] += 4;
  }
  for (std::size_t i = 0; i < 3; ++i) EXPECT_EQ(j["validators"][i]["slots"], slots[i]) << i;
  // The window: slot by slot, as leader_for_slot says.
  ASSERT_EQ(j["slots"].size(), 8u);
  for (std::size_t k = 0; k < 8; ++k) {
    EXPECT_EQ(j["slots"][k]["slot"], 130 + k);
    EXPECT_EQ(j["slots"][k]["leader"], util::to_hex(*sched.leader_for_slot(130 + k)));
  }
}

TEST(schedule_view, the_window_is_clipped_to_the_epoch) {
  const epoch::stakes s = three();
  const epoch::leader_schedule sched(s, 1, 16);  // slots 16..31
  struct row {
    std::uint64_t from, count, first, size;
  };
  const row rows[] = {{0, 4, 16, 4},     {20, 100, 20, 12}, {31, 1, 31, 1},
                      {32, 5, 0, 0},     {20, 0, 0, 0},     {0, ~std::uint64_t{0}, 16, 16}};
  for (const row& r : rows) {
    const json j = json::parse(rpc::schedule_json(s, sched, r.from, r.count));
    ASSERT_EQ(j["slots"].size(), r.size) << r.from << "+" << r.count;
    if (r.size != 0) {
      EXPECT_EQ(j["slots"][0]["slot"], r.first);
    }
  }
}

TEST(schedule_view, a_last_group_cut_by_the_epoch_counts_its_slots_only) {
  const epoch::stakes s = three();
  const epoch::leader_schedule sched(s, 0, 10);  // groups of 4, 4, 2
  const json j = json::parse(rpc::schedule_json(s, sched, 0, 10));
  std::uint64_t total = 0;
  for (const auto& v : j["validators"]) total += v["slots"].get<std::uint64_t>();
  EXPECT_EQ(total, 10u);
  EXPECT_EQ(j["group_leaders"].size(), 3u);
}

TEST(schedule_view, text_merges_a_leaders_slots_into_spans) {
  const epoch::stakes s = three();
  const epoch::leader_schedule sched(s, 0, 64);
  const std::string text = rpc::schedule_text(s, sched, 0, 64);
  EXPECT_NE(text.find("epoch 0: slots 0-63, 4 slots per leader"), std::string::npos) << text;
  EXPECT_NE(text.find(util::to_hex(key(2)) + "  stake 100 (10.00 %)"), std::string::npos) << text;
  // Spans cover the window exactly, each one leader, neighbours different.
  std::uint64_t next = 0;
  std::string previous;
  for (std::size_t at = text.find("  slots "); at != std::string::npos; at = text.find("  slots ", at + 1)) {
    unsigned long long first = 0, last = 0;
    char leader[65] = {};
    ASSERT_EQ(std::sscanf(text.c_str() + at, "  slots %llu-%llu  %64s", &first, &last, leader), 3);
    EXPECT_EQ(first, next);
    for (std::uint64_t slot = first; slot <= last; ++slot) EXPECT_EQ(util::to_hex(*sched.leader_for_slot(slot)), leader);
    EXPECT_NE(previous, leader);
    previous = leader;
    next = last + 1;
  }
  EXPECT_EQ(next, 64u);
}

TEST(schedule_view, a_leader_outside_the_stakes_is_refused) {
  const epoch::stakes s = three();
  const epoch::leader_schedule sched(s, 0, 64);
  const std::vector<epoch::stake_entry> other{{key(9), 1}};
  EXPECT_THROW((void)rpc::schedule_json(epoch::stakes(other), sched, 0, 4), std::invalid_argument);
}

}  // namespace
