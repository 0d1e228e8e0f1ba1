#include <riptide/txn/execution.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace {

using riptide::crypto::hash32;
using riptide::txn::blockhash_age;
using riptide::txn::blockhash_queue;
using riptide::txn::tx_result;
using riptide::txn::tx_result_count;

hash32 hash_of(std::uint64_t n) {
  hash32 h{};
  for (std::size_t i = 0; i < 8; ++i) h[i] = static_cast<std::uint8_t>(n >> (8 * i));
  h[31] = 0x55;
  return h;
}

TEST(tx_result, names_are_distinct) {
  std::vector<std::string> names;
  for (std::size_t i = 0; i < tx_result_count; ++i) {
    names.emplace_back(riptide::txn::to_string(static_cast<tx_result>(i)));
  }
  std::sort(names.begin(), names.end());
  EXPECT_EQ(std::unique(names.begin(), names.end()), names.end());
}

// ----------------------------------------------------------------------- blockhash queue

TEST(blockhash_queue, keeps_the_last_150_slots) {
  blockhash_queue q;
  for (std::uint64_t slot = 0; slot < 200; ++slot) q.register_hash(slot, hash_of(slot + 100));
  EXPECT_EQ(q.size(), blockhash_queue::max_age_slots);
  EXPECT_TRUE(q.is_recent(hash_of(199 + 100)));
  EXPECT_TRUE(q.is_recent(hash_of(50 + 100)));
  EXPECT_FALSE(q.is_recent(hash_of(49 + 100)));
  EXPECT_FALSE(q.is_recent(hash_of(5000)));
}

TEST(blockhash_queue, expires_by_slot_age_when_slots_are_skipped) {
  blockhash_queue q;
  q.register_hash(10, hash_of(10));
  q.register_hash(159, hash_of(159));
  EXPECT_TRUE(q.is_recent(hash_of(10)));  // 159 - 10 = 149 < 150
  q.register_hash(160, hash_of(160));
  EXPECT_FALSE(q.is_recent(hash_of(10)));
  EXPECT_TRUE(q.is_recent(hash_of(160)));
}

TEST(blockhash_queue, tells_a_too_old_hash_from_an_unknown_one_within_its_history) {
  blockhash_queue q(400);
  EXPECT_EQ(q.history_slots(), 400u);
  for (std::uint64_t slot = 0; slot < 1000; ++slot) q.register_hash(slot, hash_of(slot + 100));
  EXPECT_EQ(q.size(), 400u);
  EXPECT_EQ(q.age(hash_of(999 + 100)), blockhash_age::recent);
  EXPECT_EQ(q.age(hash_of(850 + 100)), blockhash_age::recent);   // 149 behind
  EXPECT_EQ(q.age(hash_of(849 + 100)), blockhash_age::too_old);  // 150 behind
  EXPECT_EQ(q.age(hash_of(600 + 100)), blockhash_age::too_old);  // the oldest remembered
  EXPECT_EQ(q.age(hash_of(599 + 100)), blockhash_age::unknown);  // forgotten
  EXPECT_EQ(q.age(hash_of(5000)), blockhash_age::unknown);       // never registered
  EXPECT_FALSE(q.is_recent(hash_of(849 + 100)));
  // The default keeps 150 slots: an aged-out hash is forgotten at once.
  blockhash_queue short_queue;
  EXPECT_EQ(short_queue.history_slots(), blockhash_queue::max_age_slots);
  EXPECT_EQ(blockhash_queue(1).history_slots(), blockhash_queue::max_age_slots);
  EXPECT_EQ(blockhash_queue(1 << 20).history_slots(), blockhash_queue::max_history_slots);
  // A hash registered again for a later slot is recent while its latest slot is.
  blockhash_queue r(300);
  r.register_hash(0, hash_of(1));
  for (std::uint64_t slot = 1; slot < 200; ++slot) r.register_hash(slot, hash_of(slot + 1000));
  r.register_hash(200, hash_of(1));
  EXPECT_EQ(r.age(hash_of(1)), blockhash_age::recent);
}

TEST(blockhash_queue, random_hashes_over_many_slots_match_a_reference) {
  blockhash_queue q;
  std::mt19937_64 rng(3);
  std::vector<hash32> registered;
  for (std::uint64_t slot = 0; slot < 2000; ++slot) {
    hash32 h{};
    for (auto& byte : h) byte = static_cast<std::uint8_t>(rng());
    if (slot % 7 == 0) h[0] = 0x11;  // clustered index homes
    if (slot % 11 == 0 && !registered.empty()) h = registered.back();  // a repeated hash
    q.register_hash(slot, h);
    registered.push_back(h);
    if (slot % 97 != 0 || slot < blockhash_queue::max_age_slots) continue;
    for (std::size_t s = 0; s < registered.size(); ++s) {
      const bool recent = slot - s < blockhash_queue::max_age_slots;
      // A repeated hash counts as recent if any of its registrations is.
      bool expected = false;
      for (std::size_t k = slot + 1 - blockhash_queue::max_age_slots; k <= slot; ++k) {
        if (registered[k] == registered[s]) {
          expected = true;
        }
      }
      EXPECT_EQ(q.is_recent(registered[s]), expected) << "slot " << slot << " s " << s;
      if (recent) {
        EXPECT_TRUE(expected);
      }
    }
  }
}

}  // namespace
