#include <riptide/shred/shred_store.hpp>

#include <riptide/shred/shred.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <stdexcept>
#include <tuple>
#include <vector>

using namespace riptide;
using namespace riptide::shred;

namespace {

using bytes = std::vector<std::uint8_t>;

const crypto::keypair& leader() {
  static const crypto::keypair k = crypto::keypair::generate();
  return k;
}

bytes random_bytes(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  bytes out(n);
  for (auto& x : out) x = static_cast<std::uint8_t>(rng());
  return out;
}

// One FEC set of `slot` (parent slot - 1) with num_data data and num_coding coding shreds.
std::vector<bytes> make_set(std::uint64_t slot, std::size_t num_data, std::size_t num_coding = 4,
                            std::uint32_t fec_set_index = 0, bool last = true) {
  fec_set_params p;
  p.slot = slot;
  p.parent_offset = slot == 0 ? 0 : 1;
  p.shred_version = 7;
  p.fec_set_index = fec_set_index;
  p.num_coding = num_coding;
  p.batch_complete = true;
  p.last_in_slot = last;
  const std::size_t capacity = data_capacity_bytes(num_data + num_coding);
  return make_fec_set(leader(), p, random_bytes(num_data * capacity - capacity / 2, slot));
}

shred_view view_of(const bytes& b) {
  shred_view v;
  EXPECT_EQ(parse_shred(b, v), shred_error::none);
  return v;
}

bool same(std::span<const std::uint8_t> a, const bytes& b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin());
}

TEST(ShredStore, RejectsZeroConfig) {
  EXPECT_THROW(shred_store(shred_store_config{0, 4}), std::invalid_argument);
  EXPECT_THROW(shred_store(shred_store_config{4, 0}), std::invalid_argument);
  EXPECT_THROW(shred_store(shred_store_config{(std::size_t{1} << 24) + 1, 4}),
               std::invalid_argument);
  EXPECT_NO_THROW(shred_store(shred_store_config{1, 1}));
}

TEST(ShredStore, HoldsDataAndCodingShredsByteForByte) {
  shred_store store({64, 4});
  const auto set = make_set(10, 3, 2);
  for (const bytes& b : set) EXPECT_TRUE(store.put(view_of(b)));
  EXPECT_EQ(store.counters().puts, set.size());
  EXPECT_EQ(store.shreds_held(), set.size());
  EXPECT_EQ(store.slots_held(), 1u);
  for (const bytes& b : set) {
    const shred_view v = view_of(b);
    const auto held = v.is_data() ? store.data(10, v.index()) : store.coding(10, v.index());
    EXPECT_TRUE(same(held, b)) << v.index();
  }
  // Data and coding indices overlap (coding index = fec_set_index + position): kinds are apart.
  EXPECT_FALSE(same(store.data(10, 0), set.back()));
  EXPECT_TRUE(store.data(10, 3).empty());
  EXPECT_TRUE(store.coding(10, 2).empty());
  EXPECT_TRUE(store.data(11, 0).empty());
  EXPECT_EQ(store.counters().lookups_hit, set.size() + 1);
  EXPECT_EQ(store.counters().lookups_missed, 3u);
  std::size_t visited = 0;
  store.for_each([&](std::span<const std::uint8_t> s) {
    ++visited;
    EXPECT_TRUE(std::any_of(set.begin(), set.end(), [&](const bytes& b) { return same(s, b); }));
  });
  EXPECT_EQ(visited, set.size());
}

TEST(ShredStore, DuplicatesAreNotCopied) {
  shred_store store({64, 4});
  const auto set = make_set(5, 2, 2);
  EXPECT_TRUE(store.put(view_of(set[0])));
  EXPECT_FALSE(store.put(view_of(set[0])));
  EXPECT_TRUE(store.put(view_of(set[3])));
  EXPECT_FALSE(store.put(view_of(set[3])));
  // Another shred with the same (slot, kind, index) and different bytes: the first stays.
  const auto equivocation = make_set(5, 3, 2);
  EXPECT_FALSE(store.put(view_of(equivocation[0])));
  EXPECT_TRUE(same(store.data(5, 0), set[0]));
  EXPECT_EQ(store.counters().duplicates, 3u);
  EXPECT_EQ(store.counters().puts, 2u);
  EXPECT_EQ(store.shreds_held(), 2u);
  EXPECT_FALSE(store.put(shred_view{}));
  EXPECT_EQ(store.counters().refused_empty, 1u);
}

TEST(ShredStore, HighestDataAndParent) {
  shred_store store({64, 4});
  const auto set = make_set(20, 5, 2);
  EXPECT_FALSE(store.parent_of(20));
  EXPECT_TRUE(store.highest_data(20, 0).empty());
  // Coding shreds alone tell neither the parent nor a data shred.
  EXPECT_TRUE(store.put(view_of(set[5])));
  EXPECT_FALSE(store.parent_of(20));
  EXPECT_TRUE(store.highest_data(20, 0).empty());
  EXPECT_TRUE(store.put(view_of(set[1])));
  EXPECT_TRUE(store.put(view_of(set[3])));
  EXPECT_EQ(store.parent_of(20), 19u);
  EXPECT_TRUE(same(store.highest_data(20, 0), set[3]));
  EXPECT_TRUE(same(store.highest_data(20, 3), set[3]));
  EXPECT_TRUE(store.highest_data(20, 4).empty());
  EXPECT_TRUE(store.put(view_of(set[2])));  // lower index: the highest stays
  EXPECT_TRUE(same(store.highest_data(20, 1), set[3]));
  EXPECT_TRUE(store.put(view_of(set[4])));
  EXPECT_TRUE(same(store.highest_data(20, 4), set[4]));
  EXPECT_TRUE(store.highest_data(21, 0).empty());
}

TEST(ShredStore, SlotTableFullEvictsTheOldestOtherSlot) {
  shred_store store({64, 3});
  std::map<std::uint64_t, std::vector<bytes>> sets;
  for (const std::uint64_t slot : {30u, 10u, 20u, 40u, 5u}) sets[slot] = make_set(slot, 2, 1);
  for (const std::uint64_t slot : {30u, 10u, 20u}) {
    for (const bytes& b : sets[slot]) EXPECT_TRUE(store.put(view_of(b)));
  }
  EXPECT_EQ(store.slots_held(), 3u);
  // A fourth slot evicts the oldest (10) with its three shreds.
  EXPECT_TRUE(store.put(view_of(sets[40][0])));
  EXPECT_EQ(store.counters().evicted_slots, 1u);
  EXPECT_EQ(store.counters().evicted_shreds, 3u);
  EXPECT_TRUE(store.data(10, 0).empty());
  EXPECT_FALSE(store.parent_of(10));
  EXPECT_TRUE(same(store.data(20, 1), sets[20][1]));
  // A slot older than every held one evicts the oldest other slot (20), never itself.
  EXPECT_TRUE(store.put(view_of(sets[5][0])));
  EXPECT_EQ(store.counters().evicted_slots, 2u);
  EXPECT_TRUE(store.data(20, 0).empty());
  EXPECT_TRUE(same(store.data(5, 0), sets[5][0]));
  EXPECT_TRUE(same(store.data(30, 0), sets[30][0]));
  EXPECT_TRUE(same(store.data(40, 0), sets[40][0]));
  EXPECT_EQ(store.shreds_held(), 3u + 1u + 1u);
}

TEST(ShredStore, PoolFullEvictsOtherSlotsNeverItsOwn) {
  shred_store store({8, 8});
  const auto a = make_set(1, 3, 1);  // 4 shreds
  const auto b = make_set(2, 3, 1);  // 4 shreds
  const auto c = make_set(3, 6, 3);  // 9 shreds: more than the pool
  for (const bytes& x : a) EXPECT_TRUE(store.put(view_of(x)));
  for (const bytes& x : b) EXPECT_TRUE(store.put(view_of(x)));
  EXPECT_EQ(store.shreds_held(), 8u);
  EXPECT_TRUE(store.put(view_of(c[0])));  // evicts slot 1
  EXPECT_EQ(store.counters().evicted_slots, 1u);
  EXPECT_EQ(store.counters().evicted_shreds, 4u);
  EXPECT_TRUE(store.data(1, 0).empty());
  for (std::size_t i = 1; i < 4; ++i) EXPECT_TRUE(store.put(view_of(c[i])));
  EXPECT_TRUE(store.put(view_of(c[4])));  // evicts slot 2
  EXPECT_EQ(store.counters().evicted_slots, 2u);
  EXPECT_EQ(store.counters().evicted_shreds, 8u);
  for (std::size_t i = 5; i < 8; ++i) EXPECT_TRUE(store.put(view_of(c[i])));
  // Slot 3 now holds the whole pool: its ninth shred is refused, its own shreds stay.
  EXPECT_FALSE(store.put(view_of(c[8])));
  EXPECT_EQ(store.counters().refused_full, 1u);
  for (std::size_t i = 0; i < 8; ++i) {
    const shred_view v = view_of(c[i]);
    EXPECT_TRUE(same(v.is_data() ? store.data(3, v.index()) : store.coding(3, v.index()), c[i]));
  }
  EXPECT_EQ(store.shreds_held(), 8u);
}

TEST(ShredStore, SetRootForgetsAndRefusesOlderSlots) {
  shred_store store({64, 8});
  std::map<std::uint64_t, std::vector<bytes>> sets;
  for (std::uint64_t slot = 1; slot <= 4; ++slot) {
    sets[slot] = make_set(slot, 1, 1);
    for (const bytes& x : sets[slot]) EXPECT_TRUE(store.put(view_of(x)));
  }
  store.set_root(3);
  EXPECT_EQ(store.root(), 3u);
  EXPECT_EQ(store.counters().forgotten_slots, 2u);
  EXPECT_EQ(store.counters().forgotten_shreds, 4u);
  EXPECT_EQ(store.counters().evicted_slots, 0u);
  EXPECT_TRUE(store.data(1, 0).empty());
  EXPECT_TRUE(store.data(2, 0).empty());
  EXPECT_TRUE(same(store.data(3, 0), sets[3][0]));  // the root itself stays
  EXPECT_FALSE(store.put(view_of(sets[2][0])));
  EXPECT_EQ(store.counters().refused_below_root, 1u);
  store.set_root(1);  // lower: ignored
  EXPECT_EQ(store.root(), 3u);
  EXPECT_FALSE(store.put(view_of(sets[2][0])));
  EXPECT_EQ(store.slots_held(), 2u);
  EXPECT_EQ(store.shreds_held(), 4u);
}

// Churn through a small store (many evictions of slots whose shreds share probe runs) and
// check after every put that exactly the shreds of the held slots are found, byte for byte.
TEST(ShredStore, ChurnKeepsTheTableConsistent) {
  shred_store store({24, 4});
  std::map<std::tuple<std::uint64_t, bool, std::uint32_t>, bytes> all;
  std::vector<std::vector<bytes>> slots;
  std::mt19937_64 rng(3);
  for (std::uint64_t slot = 1; slot <= 24; ++slot) {
    slots.push_back(make_set(slot, 1 + rng() % 6, 1 + rng() % 4));
    for (const bytes& b : slots.back()) {
      const shred_view v = view_of(b);
      all[{slot, v.is_coding(), v.index()}] = b;
    }
  }
  // Slots arrive interleaved and out of order.
  std::vector<const bytes*> order;
  for (std::size_t base = 0; base < slots.size(); base += 3) {
    std::vector<const bytes*> group;
    for (std::size_t s = base; s < std::min(base + 3, slots.size()); ++s) {
      for (const bytes& b : slots[s]) group.push_back(&b);
    }
    std::shuffle(group.begin(), group.end(), rng);
    order.insert(order.end(), group.begin(), group.end());
  }
  std::size_t refused = 0;
  for (const bytes* b : order) {
    if (!store.put(view_of(*b))) ++refused;
    std::size_t held = 0;
    std::map<std::uint64_t, bool> slot_held;
    store.for_each([&](std::span<const std::uint8_t> s) {
      shred_view v;
      ASSERT_EQ(parse_shred(s, v), shred_error::none);
      ++held;
      slot_held[v.slot()] = true;
      const auto it = all.find({v.slot(), v.is_coding(), v.index()});
      ASSERT_NE(it, all.end());
      EXPECT_TRUE(same(s, it->second));
      const auto found = v.is_coding() ? store.coding(v.slot(), v.index())
                                       : store.data(v.slot(), v.index());
      EXPECT_TRUE(same(found, it->second));
    });
    EXPECT_EQ(held, store.shreds_held());
    EXPECT_LE(slot_held.size(), 4u);
    // Shreds of slots not held are not found.
    for (const auto& [key, bytes_] : all) {
      if (slot_held.count(std::get<0>(key)) != 0) continue;
      EXPECT_TRUE((std::get<1>(key) ? store.coding(std::get<0>(key), std::get<2>(key))
                                    : store.data(std::get<0>(key), std::get<2>(key)))
                      .empty());
    }
  }
  EXPECT_EQ(refused, 0u);
  EXPECT_GT(store.counters().evicted_slots, 10u);
  EXPECT_EQ(store.counters().puts, order.size());
}

}  // namespace
