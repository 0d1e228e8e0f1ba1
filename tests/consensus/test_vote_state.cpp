#include <riptide/consensus/vote_state.hpp>

#include <gtest/gtest.h>

#include "../support/towers.hpp"

#include <map>
#include <string>
#include <vector>

using namespace riptide;
using consensus::tower;
using consensus::tower_sync;
using consensus::vote_error;

namespace {

crypto::hash32 hash_of(std::uint64_t slot) {
  crypto::hash32 h{};
  h[0] = static_cast<std::uint8_t>(slot);
  h[1] = 0x5a;
  return h;
}

// The executing bank's ancestors: slots 10, 11, 12, 14 (13 was skipped, 20 is another fork);
// the window starts at 10.
class fork_view final : public consensus::slot_hashes {
 public:
  std::optional<crypto::hash32> bank_hash_of(std::uint64_t slot) const noexcept override {
    for (const auto s : {10u, 11u, 12u, 14u})
      if (slot == s) return hash_of(slot);
    return std::nullopt;
  }
  std::uint64_t oldest_slot() const noexcept override { return 10; }
};

tower voted(const std::vector<std::uint64_t>& slots, std::optional<std::uint64_t> root = std::nullopt) {
  return *tower::from(riptide::testing::voted(slots).votes(), root);
}

tower_sync vote_of(const std::vector<consensus::lockout>& lockouts, std::optional<std::uint64_t> root = std::nullopt) {
  tower_sync v;
  v.votes = *tower::from(lockouts, root);
  v.bank_hash = hash_of(lockouts.back().slot);
  return v;
}

}  // namespace

TEST(vote_state, a_tower_sync_lands_only_if_it_is_newer_and_on_this_fork) {
  struct row {
    std::string name;
    tower current;
    tower_sync vote;
    vote_error error;
  };
  auto wrong_hash = vote_of({{11, 2}, {12, 1}});
  wrong_hash.bank_hash[5] ^= 1;
  const std::vector<row> rows{
      {"first vote", tower{}, vote_of({{11, 2}, {12, 1}}), vote_error::none},
      {"newer, slots below the window pass unchecked", voted({11}), vote_of({{3, 3}, {9, 2}, {12, 1}}), vote_error::none},
      {"newer, over a skipped slot", voted({11}), vote_of({{11, 3}, {12, 2}, {14, 1}}), vote_error::none},
      {"not newer", voted({11, 12}), vote_of({{11, 2}, {12, 1}}), vote_error::not_newer},
      {"older", voted({11, 14}), vote_of({{12, 1}}), vote_error::not_newer},
      {"root went back", voted({12}, 9), vote_of({{14, 1}}, 8), vote_error::root_went_back},
      {"root dropped", voted({12}, 9), vote_of({{14, 1}}), vote_error::root_went_back},
      {"a slot on another fork", tower{}, vote_of({{11, 2}, {20, 1}}), vote_error::slot_not_on_fork},
      {"a skipped slot", tower{}, vote_of({{13, 2}, {14, 1}}), vote_error::slot_not_on_fork},
      {"newest slot too old to check", tower{}, vote_of({{5, 2}, {9, 1}}), vote_error::slot_not_on_fork},
      {"wrong bank hash", tower{}, wrong_hash, vote_error::hash_mismatch},
  };
  const fork_view fork;
  for (const auto& r : rows) {
    EXPECT_EQ(consensus::check_tower_sync(r.current, r.vote, fork), r.error) << r.name;
    EXPECT_STRNE(consensus::to_string(r.error), "?");
  }
}
