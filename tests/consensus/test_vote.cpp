#include <riptide/consensus/vote.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

using namespace riptide;
using consensus::lockout;
using consensus::tower;
using consensus::tower_sync;
using consensus::vote_parse_error;

namespace {

tower_sync sample(std::size_t votes, std::optional<std::uint64_t> root, std::optional<std::int64_t> when) {
  tower t;
  for (std::uint64_t s = 1; s <= votes; ++s) (void)t.record_vote(root.value_or(0) + s);
  tower_sync v;
  v.votes = *tower::from(t.votes(), root);
  v.bank_hash.fill(0xab);
  v.timestamp_ms = when;
  return v;
}

std::vector<std::uint8_t> encoded(const tower_sync& v) {
  std::vector<std::uint8_t> b(consensus::max_tower_sync_bytes);
  b.resize(consensus::encode_tower_sync(v, b));
  return b;
}

}  // namespace

TEST(vote, tower_sync_round_trips_and_has_the_documented_size) {
  for (const auto& v : {sample(1, std::nullopt, std::nullopt), sample(31, 40, 1'700'000'000'000),
                        sample(5, 0, std::nullopt), sample(3, std::nullopt, -5)}) {
    const auto b = encoded(v);
    ASSERT_EQ(b.size(), 54 + 9 * v.votes.votes().size());
    ASSERT_EQ(b.size(), consensus::tower_sync_size(v));
    tower_sync back;
    ASSERT_EQ(consensus::parse_tower_sync(b, back), vote_parse_error::none);
    EXPECT_TRUE(std::ranges::equal(back.votes.votes(), v.votes.votes()));
    EXPECT_EQ(back.votes.root(), v.votes.root());
    EXPECT_EQ(back.bank_hash, v.bank_hash);
    EXPECT_EQ(back.timestamp_ms, v.timestamp_ms);
    EXPECT_EQ(encoded(back), b);
  }
  // The layout, byte for byte, for one vote.
  const auto b = encoded(sample(1, 7, 9));
  const std::vector<std::uint8_t> head{1, 0, 0, 0, 3, 7, 0, 0, 0, 0, 0, 0, 0};
  EXPECT_TRUE(std::equal(head.begin(), head.end(), b.begin()));
  EXPECT_EQ(b[45], 9);
  EXPECT_EQ(b[53], 1);
  EXPECT_EQ(b[54], 8);  // slot 7 + 1
  EXPECT_EQ(b[62], 1);  // confirmation count
}

TEST(vote, encode_refuses_an_empty_tower_or_a_short_buffer) {
  std::vector<std::uint8_t> b(consensus::max_tower_sync_bytes);
  EXPECT_EQ(consensus::encode_tower_sync(tower_sync{}, b), 0u);
  const auto v = sample(4, std::nullopt, std::nullopt);
  std::vector<std::uint8_t> small(consensus::tower_sync_size(v) - 1);
  EXPECT_EQ(consensus::encode_tower_sync(v, small), 0u);
}

TEST(vote, every_malformation_has_its_reason) {
  const auto good = encoded(sample(3, 10, 5));
  struct row {
    std::string name;
    std::vector<std::uint8_t> bytes;
    vote_parse_error error;
  };
  // A copy of `good` with byte i set to v.
  const auto with = [&good](std::size_t i, std::uint8_t v) {
    std::vector<std::uint8_t> b(good);
    b.at(i) = v;
    return b;
  };
  std::vector<std::uint8_t> no_lockouts(good.begin(), good.begin() + 54);
  no_lockouts[53] = 0;
  std::vector<std::uint8_t> trailing(good);
  trailing.push_back(0);
  const std::vector<row> rows{
      {"empty", {}, vote_parse_error::truncated},
      {"header only, short", std::vector<std::uint8_t>(good.begin(), good.begin() + 53), vote_parse_error::truncated},
      {"a lockout short", std::vector<std::uint8_t>(good.begin(), good.end() - 1), vote_parse_error::truncated},
      {"kind 2", with(0, 2), vote_parse_error::unknown_kind},
      {"flag bit 2", with(4, good[4] | 4), vote_parse_error::unknown_flags},
      {"root without its flag", with(4, good[4] & ~1), vote_parse_error::root_without_flag},
      {"time without its flag", with(4, good[4] & ~2), vote_parse_error::time_without_flag},
      {"no lockouts", no_lockouts, vote_parse_error::no_lockouts},
      {"32 lockouts", with(53, 32), vote_parse_error::too_many_lockouts},
      {"slots not increasing", with(63, good[54]), vote_parse_error::not_a_tower},
      {"count 0", with(62 + 18, 0), vote_parse_error::not_a_tower},
      {"root not below the first slot", with(5, 11), vote_parse_error::not_a_tower},
      {"a byte after the last lockout", trailing, vote_parse_error::trailing_bytes},
  };
  ASSERT_EQ(rows.size(), consensus::vote_parse_error_count + 3);
  for (const auto& r : rows) {
    tower_sync out;
    out.bank_hash.fill(0x11);
    EXPECT_EQ(consensus::parse_tower_sync(r.bytes, out), r.error) << r.name;
    EXPECT_EQ(out.bank_hash[0], 0x11) << r.name << ": untouched on failure";
    EXPECT_STRNE(consensus::to_string(r.error), "?");
  }
  // Every proper prefix of a good vote is refused.
  for (std::size_t n = 0; n < good.size(); ++n) {
    tower_sync out;
    EXPECT_NE(consensus::parse_tower_sync(std::span(good.data(), n), out), vote_parse_error::none) << n;
  }
}
