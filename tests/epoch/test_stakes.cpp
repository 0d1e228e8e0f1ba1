// The epoch's stake list: canonical order (stake descending, id ascending as unsigned bytes)
// for any input order, zero stakes left out, total and its overflow, duplicate ids, lookup.

#include <riptide/epoch/stakes.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <vector>

using namespace riptide;
using epoch::stake_entry;

namespace {

// A key whose first byte is `first` and last byte `last`: ids that differ in their first byte
// order by it alone, whatever follows.
crypto::pubkey id(std::uint8_t first, std::uint8_t last = 0) {
  crypto::pubkey k{};
  k.front() = first;
  k.back() = last;
  return k;
}

std::vector<crypto::pubkey> ids_of(const epoch::stakes& s) {
  std::vector<crypto::pubkey> out;
  for (const auto& e : s.entries()) out.push_back(e.id);
  return out;
}

}  // namespace

TEST(stakes, canonical_order_is_stake_descending_then_id_ascending_unsigned) {
  // Ties at 500 and 200 are broken by id: byte 0x80 sorts after 0x7f (unsigned), and the
  // first byte decides before the last.
  std::vector<stake_entry> entries{{id(0x80), 500}, {id(0x01, 0xff), 200}, {id(0x7f), 500},
                                   {id(0x02, 0x00), 200}, {id(0x05), 900}, {id(0x00, 0x01), 1}};
  const std::vector<crypto::pubkey> want{id(0x05), id(0x7f), id(0x80), id(0x01, 0xff),
                                         id(0x02, 0x00), id(0x00, 0x01)};
  // Every input order (all 720) gives the same list.
  const auto by_id = [](const stake_entry& a, const stake_entry& b) { return a.id < b.id; };
  std::sort(entries.begin(), entries.end(), by_id);
  do {
    const epoch::stakes s(entries);
    ASSERT_EQ(ids_of(s), want);
    EXPECT_EQ(s.entries()[0].stake, 900u);
    EXPECT_EQ(s.entries()[5].stake, 1u);
  } while (std::next_permutation(entries.begin(), entries.end(), by_id));
}

TEST(stakes, canonical_before_is_the_order_of_the_list) {
  EXPECT_TRUE(epoch::canonical_before({id(9), 2}, {id(1), 1}));
  EXPECT_FALSE(epoch::canonical_before({id(1), 1}, {id(9), 2}));
  EXPECT_TRUE(epoch::canonical_before({id(1), 5}, {id(2), 5}));
  EXPECT_TRUE(epoch::canonical_before({id(0x7f), 5}, {id(0x80), 5}));
  EXPECT_FALSE(epoch::canonical_before({id(3), 5}, {id(3), 5}));
}

TEST(stakes, zero_stakes_are_left_out) {
  const std::vector<stake_entry> entries{{id(1), 0}, {id(2), 30}, {id(3), 0}, {id(4), 10}};
  const epoch::stakes s(entries);
  EXPECT_EQ(s.size(), 2u);
  EXPECT_FALSE(s.empty());
  EXPECT_EQ(ids_of(s), (std::vector<crypto::pubkey>{id(2), id(4)}));
  EXPECT_EQ(s.total(), 40u);
  EXPECT_FALSE(s.index_of(id(1)).has_value());
  EXPECT_FALSE(s.index_of(id(3)).has_value());

  const std::vector<stake_entry> none{{id(1), 0}, {id(2), 0}};
  const epoch::stakes nobody(none);
  EXPECT_TRUE(nobody.empty());
  EXPECT_EQ(nobody.size(), 0u);
  EXPECT_EQ(nobody.total(), 0u);
  const epoch::stakes empty(std::span<const stake_entry>{});
  EXPECT_TRUE(empty.empty());
}

TEST(stakes, total_up_to_u64_max_and_overflow_refused) {
  constexpr std::uint64_t max = std::numeric_limits<std::uint64_t>::max();
  const std::vector<stake_entry> full{{id(1), max - 5}, {id(2), 3}, {id(3), 2}};
  EXPECT_EQ(epoch::stakes(full).total(), max);
  const std::vector<stake_entry> over{{id(1), max - 5}, {id(2), 3}, {id(3), 3}};
  EXPECT_THROW(epoch::stakes{over}, std::invalid_argument);
  const std::vector<stake_entry> two_halves{{id(1), max / 2 + 1}, {id(2), max / 2 + 1}};
  EXPECT_THROW(epoch::stakes{two_halves}, std::invalid_argument);
}

TEST(stakes, an_id_listed_twice_is_refused) {
  const std::vector<stake_entry> staked_twice{{id(1), 5}, {id(2), 6}, {id(1), 7}};
  EXPECT_THROW(epoch::stakes{staked_twice}, std::invalid_argument);
  const std::vector<stake_entry> once_without{{id(1), 5}, {id(2), 6}, {id(1), 0}};
  EXPECT_THROW(epoch::stakes{once_without}, std::invalid_argument);
  const std::vector<stake_entry> twice_without{{id(1), 0}, {id(2), 6}, {id(1), 0}};
  EXPECT_THROW(epoch::stakes{twice_without}, std::invalid_argument);
}

TEST(stakes, index_of_finds_each_staked_id_at_its_canonical_index) {
  std::vector<stake_entry> entries;
  for (std::uint32_t i = 0; i < 40; ++i)  // 37 is odd: 40 different first bytes
    entries.push_back({id(static_cast<std::uint8_t>(i * 37 + 11), static_cast<std::uint8_t>(i)),
                       std::uint64_t{i % 7} * 100});
  const epoch::stakes s(entries);
  ASSERT_EQ(s.size(), 34u);  // i % 7 == 0 for 6 of the 40
  for (std::uint32_t i = 0; i < s.size(); ++i) {
    const auto found = s.index_of(s.entries()[i].id);
    ASSERT_TRUE(found.has_value()) << "index " << i;
    EXPECT_EQ(*found, i);
  }
  for (const auto& e : entries)
    EXPECT_EQ(s.index_of(e.id).has_value(), e.stake != 0);
  EXPECT_FALSE(s.index_of(id(0xff, 0xff)).has_value());
  EXPECT_FALSE(s.index_of(crypto::pubkey{}).has_value());
}
