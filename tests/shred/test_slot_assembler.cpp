#include <riptide/shred/slot_assembler.hpp>

#include <riptide/shred/shred.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <map>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

using namespace riptide;
using namespace riptide::shred;

namespace {

using bytes = std::vector<std::uint8_t>;

bytes random_bytes(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  bytes out(n);
  for (auto& x : out) x = static_cast<std::uint8_t>(rng());
  return out;
}

const crypto::keypair& leader() {
  static const crypto::keypair k = crypto::keypair::generate();
  return k;
}

// One slot as a leader sends it: the stream, and its data shreds in index order (the coding
// shreds are built and dropped: the assembler sees what the FEC resolver hands on).
struct built_slot {
  std::uint64_t slot = 0;
  std::uint64_t parent = 0;
  bytes stream;
  std::vector<bytes> data;
  std::vector<bool> batch_end;  // per index: the shred ends an entry batch

  [[nodiscard]] shred_view view(std::size_t index) const {
    shred_view v;
    EXPECT_EQ(parse_shred(data.at(index), v), shred_error::none);
    return v;
  }
  [[nodiscard]] std::uint32_t last() const { return static_cast<std::uint32_t>(data.size() - 1); }
};

// Cuts a random stream into FEC sets of at most set_payload bytes (contiguous fec_set_index,
// the last set last_in_slot); every odd set and the last end an entry batch.
built_slot build_slot(std::uint64_t slot, std::uint16_t parent_offset, std::size_t stream_bytes,
                      std::uint64_t seed, std::size_t set_payload = 31712,
                      std::size_t num_coding = 8) {
  built_slot out;
  out.slot = slot;
  out.parent = slot - parent_offset;
  out.stream = random_bytes(stream_bytes, seed);
  std::size_t at = 0;
  for (std::size_t set = 0;; ++set) {
    const std::size_t n = std::min(set_payload, stream_bytes - at);
    fec_set_params p;
    p.slot = slot;
    p.parent_offset = parent_offset;
    p.shred_version = 7;
    p.fec_set_index = static_cast<std::uint32_t>(out.data.size());
    p.num_coding = num_coding;
    p.last_in_slot = at + n == stream_bytes;
    p.batch_complete = set % 2 == 1;
    const auto shreds =
        make_fec_set(leader(), p, std::span<const std::uint8_t>(out.stream).subspan(at, n));
    const std::size_t num_data = shreds.size() - num_coding;
    for (std::size_t i = 0; i < num_data; ++i) {
      out.data.push_back(shreds[i]);
      out.batch_end.push_back(i + 1 == num_data && (p.batch_complete || p.last_in_slot));
    }
    at += n;
    if (p.last_in_slot) break;
  }
  return out;
}

slot_assembler_config small_config() {
  slot_assembler_config c;
  c.max_slots = 8;
  c.max_data_shreds_per_slot = 1024;
  c.pool_payloads = 2048;
  return c;
}

std::vector<std::uint32_t> all_missing(const slot_assembler& a, std::uint64_t slot) {
  std::vector<std::uint32_t> out(a.config().max_data_shreds_per_slot);
  out.resize(a.missing(slot, out));
  return out;
}

bytes take(slot_assembler& a, std::uint64_t slot) {
  bytes out(a.received_bytes(slot));
  const auto n = a.take_slot(slot, out);
  EXPECT_TRUE(n.has_value());
  EXPECT_EQ(n.value_or(0), out.size());
  return out;
}

std::uint64_t count(const slot_assembler& a, insert_result r) {
  return a.counters().inserts[static_cast<std::size_t>(r)];
}

// ------------------------------------------------------------------------ assembly

TEST(SlotAssembler, CompletesExactlyWhenEveryIndexIsPresentInAnyOrderWithDuplicates) {
  const built_slot s = build_slot(50, 1, 70000, 1);  // 32 + 32 + 7 data shreds
  ASSERT_EQ(s.data.size(), 71u);
  for (std::uint64_t seed = 0; seed < 5; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    slot_assembler a(small_config());
    std::vector<std::size_t> order;
    for (std::size_t i = 0; i < s.data.size(); ++i) {
      order.push_back(i);
      if (i % 3 == 0) order.push_back(i);  // duplicates
    }
    std::mt19937_64 rng(seed);
    std::shuffle(order.begin(), order.end(), rng);
    std::set<std::size_t> seen;
    std::uint64_t dups = 0;
    for (const std::size_t i : order) {
      const insert_result r = a.insert(s.view(i));
      if (seen.insert(i).second) {
        EXPECT_EQ(r, insert_result::inserted);
      } else {
        EXPECT_EQ(r, insert_result::duplicate);
        ++dups;
      }
      // Complete from the last new index on; later duplicates change nothing.
      EXPECT_EQ(a.is_complete(50), seen.size() == s.data.size());
    }
    EXPECT_TRUE(a.is_complete(50));
    EXPECT_EQ(a.received(50), s.data.size());
    EXPECT_EQ(a.last_index(50), s.last());
    EXPECT_EQ(a.parent_of(50), 49u);
    EXPECT_EQ(a.received_bytes(50), s.stream.size());
    EXPECT_EQ(count(a, insert_result::inserted), s.data.size());
    EXPECT_EQ(count(a, insert_result::duplicate), dups);
    EXPECT_EQ(a.counters().slots_completed, 1u);
    EXPECT_TRUE(all_missing(a, 50).empty());
    EXPECT_FALSE(a.missing_tail(50).has_value());
    EXPECT_EQ(take(a, 50), s.stream);
    EXPECT_FALSE(a.is_tracked(50));
    EXPECT_TRUE(a.is_taken(50));
    EXPECT_EQ(a.free_payloads(), small_config().pool_payloads);
    EXPECT_EQ(a.insert(s.view(3)), insert_result::slot_taken);
  }
}

TEST(SlotAssembler, PayloadSpansInIndexOrderAreTheStream) {
  const built_slot s = build_slot(9, 2, 40000, 2);
  slot_assembler a(small_config());
  for (std::size_t i = s.data.size(); i-- > 0;) ASSERT_EQ(a.insert(s.view(i)), insert_result::inserted);
  ASSERT_TRUE(a.is_complete(9));
  bytes joined;
  for (std::uint32_t i = 0; i <= s.last(); ++i) {
    const auto p = a.payload(9, i);
    EXPECT_EQ(p.size(), s.view(i).payload().size());
    joined.insert(joined.end(), p.begin(), p.end());
  }
  EXPECT_EQ(joined, s.stream);
  EXPECT_TRUE(a.payload(9, s.last() + 1).empty());
  EXPECT_TRUE(a.payload(8, 0).empty());
  EXPECT_TRUE(a.release_slot(9));
  EXPECT_TRUE(a.payload(9, 0).empty());
  EXPECT_FALSE(a.release_slot(9));
  EXPECT_EQ(a.counters().slots_taken, 1u);
}

TEST(SlotAssembler, TakeRefusesIncompleteSlotsAndShortBuffers) {
  const built_slot s = build_slot(3, 1, 5000, 3);  // one set
  slot_assembler a(small_config());
  bytes out(s.stream.size());
  EXPECT_FALSE(a.take_slot(3, out).has_value());  // not tracked
  for (std::size_t i = 1; i < s.data.size(); ++i) ASSERT_EQ(a.insert(s.view(i)), insert_result::inserted);
  EXPECT_FALSE(a.take_slot(3, out).has_value());  // index 0 missing
  ASSERT_EQ(a.insert(s.view(0)), insert_result::inserted);
  bytes small(s.stream.size() - 1);
  EXPECT_FALSE(a.take_slot(3, small).has_value());
  EXPECT_TRUE(a.is_complete(3));
  EXPECT_EQ(a.take_slot(3, out), s.stream.size());
  EXPECT_EQ(out, s.stream);
}

TEST(SlotAssembler, EmptyStreamIsOneEmptyShred) {
  const built_slot s = build_slot(4, 1, 0, 4);
  ASSERT_EQ(s.data.size(), 1u);
  slot_assembler a(small_config());
  ASSERT_EQ(a.insert(s.view(0)), insert_result::inserted);
  EXPECT_TRUE(a.is_complete(4));
  bytes out;
  EXPECT_EQ(a.take_slot(4, out), 0u);
}

// -------------------------------------------------------------------------- repair

TEST(SlotAssembler, MissingListsExactlyTheDroppedIndices) {
  const built_slot s = build_slot(20, 1, 90000, 5);  // 91 data shreds
  for (std::uint64_t seed = 0; seed < 5; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937_64 rng(seed);
    slot_assembler a(small_config());
    std::vector<std::uint32_t> dropped;
    std::vector<std::uint32_t> order(s.data.size());
    for (std::uint32_t i = 0; i < order.size(); ++i) order[i] = i;
    std::shuffle(order.begin(), order.end(), rng);
    for (const std::uint32_t i : order) {
      if (i != s.last() && rng() % 4 == 0) {
        dropped.push_back(i);
      } else {
        ASSERT_EQ(a.insert(s.view(i)), insert_result::inserted);
      }
    }
    std::sort(dropped.begin(), dropped.end());
    EXPECT_EQ(all_missing(a, 20), dropped);
    EXPECT_FALSE(a.is_complete(20));
    EXPECT_FALSE(a.missing_tail(20).has_value());  // the last shred is here

    // Bounded output, and paging with `from`.
    if (dropped.size() >= 3) {
      std::array<std::uint32_t, 2> two{};
      ASSERT_EQ(a.missing(20, two), 2u);
      EXPECT_EQ(two[0], dropped[0]);
      EXPECT_EQ(two[1], dropped[1]);
      std::vector<std::uint32_t> rest(dropped.size());
      rest.resize(a.missing(20, rest, dropped[1] + 1));
      EXPECT_EQ(rest, std::vector<std::uint32_t>(dropped.begin() + 2, dropped.end()));
    }

    // Repairing them completes the slot with the right bytes.
    for (const std::uint32_t i : dropped) {
      EXPECT_FALSE(a.is_complete(20));
      ASSERT_EQ(a.insert(s.view(i)), insert_result::inserted);
    }
    EXPECT_TRUE(a.is_complete(20));
    EXPECT_EQ(take(a, 20), s.stream);
  }
}

TEST(SlotAssembler, MissingTailUntilTheLastShredArrives) {
  const built_slot s = build_slot(30, 1, 70000, 6);
  slot_assembler a(small_config());
  EXPECT_FALSE(a.missing_tail(30).has_value());  // not tracked: nothing to ask for yet
  // Everything but the last set (indices 64..70) arrives, with a hole at 10.
  for (std::uint32_t i = 0; i < 64; ++i) {
    if (i != 10) {
      ASSERT_EQ(a.insert(s.view(i)), insert_result::inserted);
    }
  }
  EXPECT_EQ(a.highest_received(30), 63u);
  EXPECT_EQ(a.missing_tail(30), 64u);
  EXPECT_FALSE(a.last_index(30).has_value());
  EXPECT_EQ(all_missing(a, 30), std::vector<std::uint32_t>{10});
  // A shred inside the last set raises the tail but does not end it.
  ASSERT_EQ(a.insert(s.view(66)), insert_result::inserted);
  EXPECT_EQ(a.missing_tail(30), 67u);
  EXPECT_EQ(all_missing(a, 30), (std::vector<std::uint32_t>{10, 64, 65}));
  // The slot_complete shred fixes the last index: no tail left, the gaps are all known.
  ASSERT_EQ(a.insert(s.view(s.last())), insert_result::inserted);
  EXPECT_FALSE(a.missing_tail(30).has_value());
  EXPECT_EQ(a.last_index(30), s.last());
  EXPECT_EQ(all_missing(a, 30), (std::vector<std::uint32_t>{10, 64, 65, 67, 68, 69}));
}

TEST(SlotAssembler, OrphanWhenTheParentIsUnknown) {
  const built_slot child = build_slot(12, 2, 3000, 7);   // parent 10
  const built_slot parent = build_slot(10, 1, 3000, 8);  // parent 9
  const built_slot genesis = build_slot(0, 0, 3000, 9);
  slot_assembler a(small_config());
  ASSERT_EQ(a.insert(child.view(0)), insert_result::inserted);
  EXPECT_TRUE(a.is_orphan(12));
  std::array<std::uint64_t, 4> out{};
  ASSERT_EQ(a.orphans(out), 1u);
  EXPECT_EQ(out[0], 12u);

  // The parent arrives (incomplete): the child is no orphan, the parent is one.
  ASSERT_EQ(a.insert(parent.view(1)), insert_result::inserted);
  EXPECT_FALSE(a.is_orphan(12));
  EXPECT_TRUE(a.is_orphan(10));
  ASSERT_EQ(a.orphans(out), 1u);
  EXPECT_EQ(out[0], 10u);

  // A parent at or below the root is known.
  a.set_root(9);
  EXPECT_FALSE(a.is_orphan(10));
  EXPECT_EQ(a.orphans(out), 0u);

  // A parent that was taken is known too.
  for (std::size_t i = 0; i < parent.data.size(); ++i) (void)a.insert(parent.view(i));
  ASSERT_TRUE(a.is_complete(10));
  EXPECT_TRUE(a.release_slot(10));
  EXPECT_FALSE(a.is_orphan(12));

  // Slot 0 never is one; untracked slots are not either.
  slot_assembler b(small_config());
  ASSERT_EQ(b.insert(genesis.view(0)), insert_result::inserted);
  EXPECT_FALSE(b.is_orphan(0));
  EXPECT_FALSE(b.is_orphan(77));
}

TEST(SlotAssembler, ReadyPrefixCoversLeadingCompleteBatches) {
  // Sets of 4 data shreds (5 sets, 3964 payload bytes each): batches end at sets 1, 3 and the
  // last, i.e. after indices 7, 15 and 19.
  const built_slot s = build_slot(40, 1, 5 * 3964, 10, 3964);
  ASSERT_EQ(s.data.size(), 20u);
  ASSERT_TRUE(s.batch_end[7] && s.batch_end[15] && s.batch_end[19] && !s.batch_end[3]);
  const auto bytes_before = [&](std::size_t n) {
    std::uint64_t b = 0;
    for (std::size_t i = 0; i < n; ++i) b += s.view(i).payload().size();
    return b;
  };
  slot_assembler a(small_config());
  for (std::uint32_t i = 1; i <= 7; ++i) ASSERT_EQ(a.insert(s.view(i)), insert_result::inserted);
  EXPECT_EQ(a.ready_prefix(40).shreds, 0u);  // index 0 missing
  ASSERT_EQ(a.insert(s.view(0)), insert_result::inserted);
  EXPECT_EQ(a.ready_prefix(40).shreds, 8u);
  EXPECT_EQ(a.ready_prefix(40).bytes, bytes_before(8));
  for (std::uint32_t i = 9; i <= 19; ++i) ASSERT_EQ(a.insert(s.view(i)), insert_result::inserted);
  EXPECT_EQ(a.ready_prefix(40).shreds, 8u);  // index 8 missing
  ASSERT_EQ(a.insert(s.view(8)), insert_result::inserted);
  EXPECT_EQ(a.ready_prefix(40).shreds, 20u);
  EXPECT_EQ(a.ready_prefix(40).bytes, s.stream.size());
  EXPECT_EQ(a.ready_prefix(41).shreds, 0u);
}

// ------------------------------------------------------------------------ eviction

TEST(SlotAssembler, SetRootDropsOlderSlots) {
  slot_assembler a(small_config());
  std::vector<built_slot> slots;
  for (std::uint64_t slot = 5; slot <= 8; ++slot) {
    slots.push_back(build_slot(slot, 1, 5000, slot));
    for (std::size_t i = 0; i + 1 < slots.back().data.size(); ++i) {
      ASSERT_EQ(a.insert(slots.back().view(i)), insert_result::inserted);
    }
  }
  ASSERT_EQ(a.slots_in_use(), 4u);
  const std::size_t per_slot = slots[0].data.size() - 1;
  EXPECT_EQ(a.free_payloads(), small_config().pool_payloads - 4 * per_slot);
  a.set_root(7);
  EXPECT_FALSE(a.is_tracked(5));
  EXPECT_FALSE(a.is_tracked(6));
  EXPECT_TRUE(a.is_tracked(7));
  EXPECT_TRUE(a.is_tracked(8));
  EXPECT_EQ(a.slots_in_use(), 2u);
  EXPECT_EQ(a.free_payloads(), small_config().pool_payloads - 2 * per_slot);
  EXPECT_EQ(a.counters().slots_dropped_below_root, 2u);
  EXPECT_EQ(a.counters().shreds_evicted, 2 * per_slot);
  EXPECT_EQ(a.insert(slots[1].view(slots[1].last())), insert_result::out_of_window);
  EXPECT_EQ(count(a, insert_result::out_of_window), 1u);
  a.set_root(3);  // backwards: ignored
  EXPECT_EQ(a.root(), 7u);
  ASSERT_EQ(a.insert(slots[2].view(slots[2].last())), insert_result::inserted);
  EXPECT_TRUE(a.is_complete(7));
}

TEST(SlotAssembler, FullSlotTableEvictsTheOldestIncompleteSlot) {
  slot_assembler_config c = small_config();
  c.max_slots = 3;
  slot_assembler a(c);
  std::map<std::uint64_t, built_slot> s;
  for (std::uint64_t slot = 1; slot <= 6; ++slot) s[slot] = build_slot(slot, 1, 3000, slot);

  ASSERT_EQ(a.insert(s[2].view(0)), insert_result::inserted);
  ASSERT_EQ(a.insert(s[3].view(0)), insert_result::inserted);
  ASSERT_EQ(a.insert(s[4].view(0)), insert_result::inserted);
  // Slot 1 would be the oldest incomplete slot itself: refused, nothing evicted.
  EXPECT_EQ(a.insert(s[1].view(0)), insert_result::slot_full);
  EXPECT_EQ(a.counters().slots_evicted_for_space, 0u);
  // Slot 5 evicts slot 2.
  ASSERT_EQ(a.insert(s[5].view(0)), insert_result::inserted);
  EXPECT_FALSE(a.is_tracked(2));
  EXPECT_EQ(a.counters().slots_evicted_for_space, 1u);
  EXPECT_EQ(a.counters().shreds_evicted, 1u);

  // Complete slots waiting to be taken are never evicted.
  for (const std::uint64_t slot : {3, 4, 5}) {
    for (std::size_t i = 1; i < s[slot].data.size(); ++i) {
      ASSERT_EQ(a.insert(s[slot].view(i)), insert_result::inserted);
    }
    ASSERT_TRUE(a.is_complete(slot));
  }
  EXPECT_EQ(a.insert(s[6].view(0)), insert_result::slot_full);
  EXPECT_EQ(count(a, insert_result::slot_full), 2u);
  // A taken slot's entry is reused before any incomplete slot is evicted.
  EXPECT_EQ(take(a, 3), s[3].stream);
  EXPECT_EQ(a.insert(s[3].view(0)), insert_result::slot_taken);
  ASSERT_EQ(a.insert(s[6].view(0)), insert_result::inserted);
  EXPECT_FALSE(a.is_taken(3));  // its entry went to slot 6
  EXPECT_EQ(a.counters().slots_evicted_for_space, 1u);
}

TEST(SlotAssembler, EmptyPayloadPoolEvictsTheOldestIncompleteSlot) {
  const built_slot s1 = build_slot(1, 1, 8000, 11);
  const built_slot s2 = build_slot(2, 1, 8000, 12);
  const std::size_t n1 = s1.data.size();
  ASSERT_GE(n1, 4u);
  slot_assembler_config c = small_config();
  c.pool_payloads = (n1 - 1) + 2;  // slot 1 but its last shred, and two of slot 2
  slot_assembler a(c);
  for (std::size_t i = 0; i + 1 < n1; ++i) {
    ASSERT_EQ(a.insert(s1.view(i)), insert_result::inserted);
  }
  ASSERT_EQ(a.insert(s2.view(0)), insert_result::inserted);
  ASSERT_EQ(a.insert(s2.view(1)), insert_result::inserted);
  EXPECT_EQ(a.free_payloads(), 0u);
  // Slot 1 is the oldest incomplete: its own shred is refused rather than evicting slot 2.
  EXPECT_EQ(a.insert(s1.view(n1 - 1)), insert_result::slot_full);
  EXPECT_TRUE(a.is_tracked(1));
  // Slot 2 needs room: slot 1 goes.
  ASSERT_EQ(a.insert(s2.view(2)), insert_result::inserted);
  EXPECT_FALSE(a.is_tracked(1));
  EXPECT_EQ(a.counters().slots_evicted_for_space, 1u);
  EXPECT_EQ(a.counters().shreds_evicted, n1 - 1);
  for (std::size_t i = 3; i < s2.data.size(); ++i) {
    ASSERT_EQ(a.insert(s2.view(i)), insert_result::inserted);
  }
  EXPECT_EQ(take(a, 2), s2.stream);
  EXPECT_EQ(a.free_payloads(), c.pool_payloads);
}

// keep_lowest (an in-order consumer): the highest slot gives way, complete or not, so a node
// catching up always has room for the slot it must hand over next.
TEST(SlotAssembler, KeepLowestEvictsTheHighestSlotEvenIfComplete) {
  slot_assembler_config c = small_config();
  c.max_slots = 3;
  c.keep_lowest = true;
  slot_assembler a(c);
  std::map<std::uint64_t, built_slot> s;
  for (std::uint64_t slot = 1; slot <= 6; ++slot) s[slot] = build_slot(slot, 1, 3000, slot);
  for (const std::uint64_t slot : {3, 4, 5}) {  // three complete slots waiting
    for (std::size_t i = 0; i < s[slot].data.size(); ++i) ASSERT_EQ(a.insert(s[slot].view(i)), insert_result::inserted);
    ASSERT_TRUE(a.is_complete(slot));
  }
  // A slot above every held one is refused; one below them evicts the highest (5).
  EXPECT_EQ(a.insert(s[6].view(0)), insert_result::slot_full);
  ASSERT_EQ(a.insert(s[2].view(0)), insert_result::inserted);
  EXPECT_FALSE(a.is_tracked(5));
  EXPECT_EQ(a.counters().slots_evicted_for_space, 1u);
  EXPECT_EQ(a.counters().shreds_evicted, s[5].data.size());
  std::array<std::uint64_t, 4> evicted{};
  ASSERT_EQ(a.take_evicted(evicted), 1u);  // reported once, so the caller can fetch it again
  EXPECT_EQ(evicted[0], 5u);
  EXPECT_EQ(a.take_evicted(evicted), 0u);
  // The lowest slot, incomplete, is never the one to go: slot 1 evicts 4, not 2.
  ASSERT_EQ(a.insert(s[1].view(0)), insert_result::inserted);
  EXPECT_TRUE(a.is_tracked(2));
  EXPECT_FALSE(a.is_tracked(4));
  for (std::size_t i = 1; i < s[1].data.size(); ++i) ASSERT_EQ(a.insert(s[1].view(i)), insert_result::inserted);
  EXPECT_EQ(take(a, 1), s[1].stream);
  EXPECT_EQ(take(a, 3), s[3].stream);
}

TEST(SlotAssembler, KeepLowestTakesPayloadsFromTheHighestSlot) {
  const built_slot s1 = build_slot(1, 1, 8000, 11);
  const built_slot s2 = build_slot(2, 1, 8000, 12);
  const std::size_t n1 = s1.data.size();
  slot_assembler_config c = small_config();
  c.keep_lowest = true;
  c.pool_payloads = (n1 - 1) + 2;
  slot_assembler a(c);
  ASSERT_EQ(a.insert(s2.view(0)), insert_result::inserted);
  ASSERT_EQ(a.insert(s2.view(1)), insert_result::inserted);
  for (std::size_t i = 0; i + 1 < n1; ++i) ASSERT_EQ(a.insert(s1.view(i)), insert_result::inserted);
  EXPECT_EQ(a.free_payloads(), 0u);
  // Slot 2 cannot push slot 1 out; slot 1's last shred pushes slot 2 out.
  EXPECT_EQ(a.insert(s2.view(2)), insert_result::slot_full);
  ASSERT_EQ(a.insert(s1.view(n1 - 1)), insert_result::inserted);
  EXPECT_FALSE(a.is_tracked(2));
  EXPECT_EQ(take(a, 1), s1.stream);
}

// ----------------------------------------------------------------------- rejections

TEST(SlotAssembler, RejectsEachWayAShredCannotBelong) {
  slot_assembler_config c = small_config();
  c.max_data_shreds_per_slot = 40;
  slot_assembler a(c);
  const built_slot s = build_slot(60, 1, 45000, 13);  // 46 data shreds: 0..45
  ASSERT_EQ(s.data.size(), 46u);

  // Coding shreds and empty views.
  fec_set_params p;
  p.slot = 60;
  p.parent_offset = 1;
  p.num_coding = 2;
  const auto set = make_fec_set(leader(), p, random_bytes(100, 1));
  shred_view coding;
  ASSERT_EQ(parse_shred(set.back(), coding), shred_error::none);
  EXPECT_EQ(a.insert(coding), insert_result::not_data);
  EXPECT_EQ(a.insert(shred_view{}), insert_result::not_data);

  EXPECT_EQ(a.insert(s.view(40)), insert_result::index_too_large);
  ASSERT_EQ(a.insert(s.view(39)), insert_result::inserted);

  // The same slot claimed with another parent.
  const built_slot other_parent = build_slot(60, 2, 45000, 13);
  EXPECT_EQ(a.insert(other_parent.view(5)), insert_result::parent_mismatch);

  // A shorter version of the slot: its slot_complete shred sits below index 39.
  const built_slot shorter = build_slot(60, 1, 20000, 14);  // last index 20
  EXPECT_EQ(a.insert(shorter.view(shorter.last())), insert_result::last_index_conflict);

  // Once the last index is known, nothing beyond it and no other last.
  slot_assembler b(small_config());
  ASSERT_EQ(b.insert(shorter.view(shorter.last())), insert_result::inserted);
  EXPECT_EQ(b.insert(s.view(30)), insert_result::last_index_conflict);
  const built_slot longer = build_slot(60, 1, 25000, 15);  // last index 25, not 20
  EXPECT_EQ(b.insert(longer.view(longer.last())), insert_result::last_index_conflict);
  EXPECT_EQ(b.counters().inserts[static_cast<std::size_t>(insert_result::last_index_conflict)],
            2u);

  EXPECT_EQ(count(a, insert_result::not_data), 2u);
  EXPECT_EQ(count(a, insert_result::index_too_large), 1u);
  EXPECT_EQ(count(a, insert_result::parent_mismatch), 1u);
  EXPECT_EQ(count(a, insert_result::last_index_conflict), 1u);
  EXPECT_EQ(a.received(60), 1u);
}

TEST(SlotAssembler, ConfigIsValidated) {
  slot_assembler_config c = small_config();
  c.max_slots = 0;
  EXPECT_THROW(slot_assembler{c}, std::invalid_argument);
  c = small_config();
  c.max_data_shreds_per_slot = max_shreds_per_slot + 1;
  EXPECT_THROW(slot_assembler{c}, std::invalid_argument);
  c.max_data_shreds_per_slot = 0;
  EXPECT_THROW(slot_assembler{c}, std::invalid_argument);
  c = small_config();
  c.pool_payloads = 0;
  EXPECT_THROW(slot_assembler{c}, std::invalid_argument);
  EXPECT_NO_THROW(slot_assembler{slot_assembler_config{}});
}

TEST(SlotAssembler, ResultNames) {
  for (std::size_t i = 0; i < insert_result_count; ++i) {
    EXPECT_STRNE(to_string(static_cast<insert_result>(i)), "unknown");
  }
  EXPECT_STREQ(to_string(insert_result::slot_full), "slot_full");
}

// ------------------------------------------------------------------ whole-window run

// Several slots interleaved, a third of the shreds lost (all of slot 103), duplicates; then
// repair rounds driven only by missing(), missing_tail() and orphans() until every slot is
// complete.
TEST(SlotAssembler, LossyInterleavedSlotsCompleteThroughRepairQueries) {
  std::vector<built_slot> slots;
  for (std::uint64_t slot = 101; slot <= 106; ++slot) {
    slots.push_back(build_slot(slot, 1, 20000 + 9000 * (slot - 101), 100 + slot, 9910));
  }
  slot_assembler a(small_config());
  a.set_root(100);
  std::mt19937_64 rng(42);
  std::vector<std::pair<std::size_t, std::uint32_t>> sent;
  for (std::size_t k = 0; k < slots.size(); ++k) {
    for (std::uint32_t i = 0; i <= slots[k].last(); ++i) {
      sent.emplace_back(k, i);
      if (rng() % 5 == 0) sent.emplace_back(k, i);
    }
  }
  std::shuffle(sent.begin(), sent.end(), rng);
  for (const auto& [k, i] : sent) {
    if (rng() % 3 == 0 || slots[k].slot == 103) continue;
    const insert_result r = a.insert(slots[k].view(i));
    ASSERT_TRUE(r == insert_result::inserted || r == insert_result::duplicate);
  }

  const auto find_slot = [&](std::uint64_t slot) -> const built_slot* {
    for (const auto& s : slots) {
      if (s.slot == slot) return &s;
    }
    return nullptr;
  };
  std::size_t rounds = 0;
  std::size_t orphan_requests = 0;
  for (;; ++rounds) {
    ASSERT_LT(rounds, 20u);
    std::array<std::uint64_t, 16> incomplete{};
    const std::size_t n = a.incomplete_slots(incomplete);
    std::array<std::uint64_t, 16> orphan{};
    const std::size_t m = a.orphans(orphan);
    // Orphan request: the peer answers with the parent's highest shred.
    for (std::size_t j = 0; j < m; ++j) {
      ++orphan_requests;
      const built_slot* parent = find_slot(*a.parent_of(orphan[j]));
      ASSERT_NE(parent, nullptr);
      (void)a.insert(parent->view(parent->last()));
    }
    if (n == 0 && m == 0) break;
    for (std::size_t j = 0; j < n; ++j) {
      const built_slot* s = find_slot(incomplete[j]);
      ASSERT_NE(s, nullptr);
      // Window index requests.
      for (const std::uint32_t i : all_missing(a, s->slot)) {
        ASSERT_EQ(a.insert(s->view(i)), insert_result::inserted);
      }
      // Highest index request: the peer sends the slot's highest shred.
      if (const auto tail = a.missing_tail(s->slot)) {
        ASSERT_LE(*tail, s->last());
        ASSERT_EQ(a.insert(s->view(s->last())), insert_result::inserted);
      }
    }
  }
  EXPECT_EQ(orphan_requests, 1u);  // 104's parent; then 103 is tracked and repaired
  EXPECT_LE(rounds, 3u);
  for (const auto& s : slots) {
    SCOPED_TRACE("slot " + std::to_string(s.slot));
    ASSERT_TRUE(a.is_complete(s.slot));
    EXPECT_EQ(take(a, s.slot), s.stream);
  }
  EXPECT_EQ(a.free_payloads(), small_config().pool_payloads);
}

}  // namespace
