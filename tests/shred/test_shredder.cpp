#include <riptide/shred/shredder.hpp>

#include <riptide/shred/fec.hpp>
#include <riptide/shred/shred.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

using namespace riptide;
using namespace riptide::shred;

namespace {

using bytes = std::vector<std::uint8_t>;

const std::size_t full = max_fec_set_payload_bytes(32);  // 31 712

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

struct emitted {
  bytes data;
  shred_kind kind;
  std::uint32_t index;
};

struct collecting_sink final : shred_sink {
  void on_shred(std::span<const std::uint8_t> shred, shred_kind kind,
                std::uint32_t index) noexcept override {
    shreds.push_back({bytes(shred.begin(), shred.end()), kind, index});
  }
  std::vector<emitted> shreds;
};

// One FEC set as received: its shreds in emission order and what they say about the set.
struct set_record {
  std::uint32_t fec_set_index = 0;
  std::size_t num_data = 0;
  std::size_t num_coding = 0;
  bool last_in_slot = false;
  bool batch_complete = false;  // on its last data shred
  bytes payload;                // its data shreds' payloads in index order
  std::vector<bytes> shreds;    // data (index order) then coding (position order)
};

// Parses and verifies every shred of one slot and splits them into sets; checks everything
// that holds for every slot (indices, shapes, roots, signatures, flags on non-last shreds).
std::vector<set_record> check_slot(const std::vector<emitted>& shreds, std::uint64_t slot,
                                   std::uint64_t parent, std::uint16_t version,
                                   std::size_t num_coding) {
  std::vector<set_record> sets;
  std::optional<merkle_node> root;
  std::uint32_t next_data = 0;
  std::size_t coding_seen = 0;
  for (std::size_t k = 0; k < shreds.size(); ++k) {
    SCOPED_TRACE("shred " + std::to_string(k));
    const emitted& e = shreds[k];
    shred_view v;
    EXPECT_EQ(parse_shred(e.data, v), shred_error::none);
    if (v.empty()) continue;
    EXPECT_LE(e.data.size(), max_shred_bytes);
    EXPECT_EQ(v.slot(), slot);
    EXPECT_EQ(v.shred_version(), version);
    EXPECT_EQ(v.index(), e.index);
    EXPECT_EQ(v.is_coding(), e.kind == shred_kind::coding);
    EXPECT_EQ(v.num_coding(), num_coding);
    const auto r = shred_merkle_root(v);
    EXPECT_TRUE(r.has_value());
    if (!r) continue;
    EXPECT_TRUE(verify_shred_signature(v, leader().public_key(), *r));

    const bool starts_set = v.is_data() && v.position() == 0;
    if (starts_set) {
      // The previous set is complete: all its coding shreds came.
      if (!sets.empty()) {
        EXPECT_EQ(coding_seen, sets.back().num_coding);
      }
      sets.emplace_back();
      set_record& s = sets.back();
      s.fec_set_index = v.fec_set_index();
      s.num_data = v.num_data();
      s.num_coding = v.num_coding();
      s.last_in_slot = v.last_in_slot();
      root = r;
      coding_seen = 0;
      EXPECT_EQ(v.fec_set_index(), next_data);  // sets follow each other without gaps
    }
    if (sets.empty()) {
      ADD_FAILURE() << "a set does not start with its first data shred";
      continue;
    }
    set_record& s = sets.back();
    EXPECT_EQ(*r, *root);
    EXPECT_EQ(v.fec_set_index(), s.fec_set_index);
    EXPECT_EQ(v.num_data(), s.num_data);
    EXPECT_EQ(v.last_in_slot(), s.last_in_slot);
    s.shreds.push_back(e.data);
    if (v.is_data()) {
      EXPECT_EQ(coding_seen, 0u);  // data shreds come before coding shreds
      EXPECT_EQ(v.index(), next_data);
      ++next_data;
      EXPECT_EQ(v.parent_slot(), parent);
      const bool last = v.position() + 1 == v.num_data();
      if (!last) {
        EXPECT_FALSE(v.batch_complete());
        EXPECT_EQ(v.payload().size(), data_capacity_bytes(v.leaf_count()));
      }
      EXPECT_EQ(v.slot_complete(), last && v.last_in_slot());
      if (last) s.batch_complete = v.batch_complete();
      s.payload.insert(s.payload.end(), v.payload().begin(), v.payload().end());
    } else {
      EXPECT_EQ(v.position(), coding_seen);
      ++coding_seen;
    }
  }
  if (!sets.empty()) {
    EXPECT_EQ(coding_seen, sets.back().num_coding);
  }
  // Only the last set is marked last; full sets everywhere before it.
  for (std::size_t i = 0; i < sets.size(); ++i) {
    EXPECT_EQ(sets[i].last_in_slot, i + 1 == sets.size());
    if (i + 1 < sets.size()) {
      EXPECT_EQ(sets[i].num_data, max_data_shreds_per_set);
    }
  }
  if (!sets.empty()) {
    EXPECT_TRUE(sets.back().batch_complete);
  }
  return sets;
}

bytes join(const std::vector<set_record>& sets) {
  bytes out;
  for (const auto& s : sets) out.insert(out.end(), s.payload.begin(), s.payload.end());
  return out;
}

// Feeds the stream in pieces of random length (1 .. max_piece bytes) and finishes the slot.
std::vector<emitted> shred_stream(shredder& sh, std::uint64_t slot, std::uint64_t parent,
                                  const bytes& stream, std::size_t max_piece, std::uint64_t seed) {
  collecting_sink sink;
  EXPECT_TRUE(sh.begin_slot(slot, parent));
  std::mt19937_64 rng(seed);
  std::size_t at = 0;
  while (at < stream.size()) {
    const std::size_t n = std::min(stream.size() - at, 1 + rng() % max_piece);
    EXPECT_TRUE(sh.add(std::span<const std::uint8_t>(stream).subspan(at, n), false, sink));
    at += n;
  }
  EXPECT_TRUE(sh.finish_slot(sink));
  return sink.shreds;
}

std::size_t expected_sets(std::size_t n, std::size_t full_bytes) {
  return n == 0 ? 1 : (n + full_bytes - 1) / full_bytes;
}

// ----------------------------------------------------------------------------- streams

TEST(Shredder, StreamsOfEverySizeComeBackWhole) {
  shredder sh(leader(), 9, shredder_config{});
  EXPECT_EQ(sh.full_set_payload_bytes(), full);
  std::uint64_t slot = 40;
  for (const std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{990}, std::size_t{991},
                              std::size_t{992}, full - 1, full, full + 1, 2 * full,
                              3 * full + 17, 5 * full - 1}) {
    SCOPED_TRACE(std::to_string(n) + " bytes");
    const bytes stream = random_bytes(n, n + 1);
    const auto shreds = shred_stream(sh, slot, slot - 3, stream, 5000, n);
    const auto sets = check_slot(shreds, slot, slot - 3, 9, 32);
    ASSERT_EQ(sets.size(), expected_sets(n, full));
    EXPECT_EQ(join(sets), stream);
    const std::size_t rest = n - (sets.size() - 1) * full;
    EXPECT_EQ(sets.back().num_data, std::max<std::size_t>(1, data_shreds_for(rest, 32)));
    for (const auto& s : sets) EXPECT_EQ(s.num_coding, 32u);
    EXPECT_FALSE(sh.in_slot());
    ++slot;
  }
  EXPECT_EQ(sh.metrics().slots_begun, 11u);
  EXPECT_EQ(sh.metrics().slots_finished, 11u);
}

TEST(Shredder, OneAddOfManySets) {
  shredder sh(leader(), 1, shredder_config{});
  const bytes stream = random_bytes(7 * full + 123, 5);
  collecting_sink sink;
  ASSERT_TRUE(sh.begin_slot(1000, 999));
  ASSERT_TRUE(sh.add(stream, false, sink));
  EXPECT_EQ(sh.buffered_bytes(), 123u);
  EXPECT_EQ(sh.next_fec_set_index(), 7u * 32u);
  ASSERT_TRUE(sh.finish_slot(sink));
  const auto sets = check_slot(sink.shreds, 1000, 999, 1, 32);
  ASSERT_EQ(sets.size(), 8u);
  EXPECT_EQ(join(sets), stream);
  EXPECT_EQ(sh.metrics().fec_sets, 8u);
  EXPECT_EQ(sh.metrics().data_shreds, 7u * 32u + 1u);
  EXPECT_EQ(sh.metrics().coding_shreds, 8u * 32u);
  EXPECT_EQ(sh.metrics().payload_bytes, stream.size());
}

TEST(Shredder, EmptySlotEmitsOneSetOfOneEmptyDataShred) {
  shredder sh(leader(), 2, shredder_config{});
  collecting_sink sink;
  ASSERT_TRUE(sh.begin_slot(0, 0));  // slot 0: parent offset 0
  ASSERT_TRUE(sh.finish_slot(sink));
  const auto sets = check_slot(sink.shreds, 0, 0, 2, 32);
  ASSERT_EQ(sets.size(), 1u);
  EXPECT_EQ(sets[0].num_data, 1u);
  EXPECT_TRUE(sets[0].payload.empty());
  EXPECT_EQ(sink.shreds.size(), 33u);
  shred_view v;
  ASSERT_EQ(parse_shred(sink.shreds[0].data, v), shred_error::none);
  EXPECT_TRUE(v.slot_complete());
  EXPECT_TRUE(v.batch_complete());
}

TEST(Shredder, ExactlyOneFullSetIsTheLastSet) {
  shredder sh(leader(), 2, shredder_config{});
  const bytes stream = random_bytes(full, 3);
  collecting_sink sink;
  ASSERT_TRUE(sh.begin_slot(5, 4));
  ASSERT_TRUE(sh.add(stream, false, sink));
  EXPECT_TRUE(sink.shreds.empty());  // held: the slot may end here
  ASSERT_TRUE(sh.finish_slot(sink));
  const auto sets = check_slot(sink.shreds, 5, 4, 2, 32);
  ASSERT_EQ(sets.size(), 1u);
  EXPECT_EQ(sets[0].num_data, 32u);
  EXPECT_TRUE(sets[0].last_in_slot);
  EXPECT_EQ(sink.shreds.size(), 64u);
  EXPECT_EQ(join(sets), stream);
}

TEST(Shredder, SlotsFollowEachOtherWithIndicesFromZero) {
  shredder sh(leader(), 3, shredder_config{});
  for (std::uint64_t slot = 10; slot < 13; ++slot) {
    const bytes stream = random_bytes(full + 500 * slot, slot);
    const auto shreds = shred_stream(sh, slot, slot - 1, stream, 4000, slot);
    const auto sets = check_slot(shreds, slot, slot - 1, 3, 32);
    ASSERT_EQ(sets.size(), 2u);
    EXPECT_EQ(sets[0].fec_set_index, 0u);
    EXPECT_EQ(sets[1].fec_set_index, 32u);
    EXPECT_EQ(join(sets), stream);
  }
}

// ------------------------------------------------------------------------- batch flags

TEST(Shredder, BatchCompleteMarksABatchEndThatEndsASet) {
  shredder sh(leader(), 4, shredder_config{});
  const bytes stream = random_bytes(2 * full + 700, 11);
  const auto s = std::span<const std::uint8_t>(stream);
  collecting_sink sink;
  ASSERT_TRUE(sh.begin_slot(50, 49));
  ASSERT_TRUE(sh.add(s.subspan(0, 1000), true, sink));          // ends inside set 0
  ASSERT_TRUE(sh.add(s.subspan(1000, full - 1000), true, sink));  // ends with set 0
  ASSERT_TRUE(sh.add(s.subspan(full, full), false, sink));       // ends with set 1, no batch end
  ASSERT_TRUE(sh.add({}, false, sink));                           // changes nothing
  ASSERT_TRUE(sh.add(s.subspan(2 * full, 300), false, sink));
  ASSERT_TRUE(sh.add(s.subspan(2 * full + 300, 400), true, sink));
  ASSERT_TRUE(sh.finish_slot(sink));
  const auto sets = check_slot(sink.shreds, 50, 49, 4, 32);
  ASSERT_EQ(sets.size(), 3u);
  EXPECT_TRUE(sets[0].batch_complete);
  EXPECT_FALSE(sets[1].batch_complete);
  EXPECT_TRUE(sets[2].batch_complete);  // and slot_complete (check_slot)
  EXPECT_EQ(join(sets), stream);
}

TEST(Shredder, EmptyAddCanEndABatch) {
  shredder sh(leader(), 4, shredder_config{});
  const bytes stream = random_bytes(full + 1, 12);
  collecting_sink sink;
  ASSERT_TRUE(sh.begin_slot(50, 49));
  ASSERT_TRUE(sh.add(std::span<const std::uint8_t>(stream).first(full), false, sink));
  ASSERT_TRUE(sh.add({}, true, sink));
  ASSERT_TRUE(sh.add(std::span<const std::uint8_t>(stream).subspan(full), false, sink));
  ASSERT_TRUE(sh.finish_slot(sink));
  const auto sets = check_slot(sink.shreds, 50, 49, 4, 32);
  ASSERT_EQ(sets.size(), 2u);
  EXPECT_TRUE(sets[0].batch_complete);
  EXPECT_EQ(sets[1].num_data, 1u);
}

// ------------------------------------------------------------- same bytes as make_fec_set

// Bytes after the signature equal; both signatures verify over the same root.
void expect_same_set(const std::vector<bytes>& ours, const std::vector<bytes>& reference) {
  ASSERT_EQ(ours.size(), reference.size());
  std::optional<merkle_node> root;
  for (std::size_t i = 0; i < ours.size(); ++i) {
    SCOPED_TRACE("shred " + std::to_string(i));
    ASSERT_EQ(ours[i].size(), reference[i].size());
    EXPECT_TRUE(std::equal(ours[i].begin() + shred_signature_bytes, ours[i].end(),
                           reference[i].begin() + shred_signature_bytes));
    shred_view a, b;
    ASSERT_EQ(parse_shred(ours[i], a), shred_error::none);
    ASSERT_EQ(parse_shred(reference[i], b), shred_error::none);
    const auto ra = shred_merkle_root(a);
    const auto rb = shred_merkle_root(b);
    ASSERT_TRUE(ra && rb);
    EXPECT_EQ(*ra, *rb);
    EXPECT_TRUE(verify_shred_signature(a, leader().public_key(), *ra));
    EXPECT_TRUE(verify_shred_signature(b, leader().public_key(), *rb));
  }
}

TEST(Shredder, EverySetEqualsMakeFecSet) {
  for (const std::size_t num_coding : {std::size_t{32}, std::size_t{1}, std::size_t{7}}) {
    SCOPED_TRACE(std::to_string(num_coding) + " coding");
    shredder sh(leader(), 77, shredder_config{num_coding, 0});
    const std::size_t set_bytes = sh.full_set_payload_bytes();
    const bytes stream = random_bytes(3 * set_bytes + 4321, num_coding);
    const auto shreds = shred_stream(sh, 300, 200, stream, 9000, 4);
    const auto sets = check_slot(shreds, 300, 200, 77, num_coding);
    ASSERT_EQ(sets.size(), 4u);
    for (const auto& s : sets) {
      fec_set_params p;
      p.slot = 300;
      p.parent_offset = 100;
      p.shred_version = 77;
      p.fec_set_index = s.fec_set_index;
      p.num_coding = num_coding;
      p.batch_complete = s.batch_complete;
      p.last_in_slot = s.last_in_slot;
      expect_same_set(s.shreds, make_fec_set(leader(), p, s.payload));
    }
  }
}

TEST(FecSetBuilder, EqualsMakeFecSetAndSignsDeterministically) {
  struct shape {
    std::size_t payload_bytes, num_coding;
  };
  crypto::aux_rand aux{};
  aux[3] = 0x5a;
  for (const shape s : {shape{0, 32}, shape{1, 32}, shape{5000, 32}, shape{full, 32},
                        shape{7000, 3}, shape{max_fec_set_payload_bytes(1), 1},
                        shape{1000, 17}, shape{12345, 5}}) {
    SCOPED_TRACE(std::to_string(s.payload_bytes) + " bytes, " + std::to_string(s.num_coding) +
                 " coding");
    fec_set_builder builder(s.num_coding);
    fec_set_params p;
    p.slot = 1234;
    p.parent_offset = 2;
    p.shred_version = 0xBEEF;
    p.fec_set_index = 96;
    p.num_coding = s.num_coding;
    p.batch_complete = s.payload_bytes % 2 == 1;
    p.last_in_slot = s.payload_bytes % 3 == 0;
    const bytes payload = random_bytes(s.payload_bytes, s.payload_bytes + 9);
    // Build twice, something else in between: reused buffers carry nothing over.
    ASSERT_TRUE(builder.build(leader(), p, random_bytes(s.payload_bytes / 2 + 3000, 1), aux));
    ASSERT_TRUE(builder.build(leader(), p, payload, aux));
    std::vector<bytes> ours;
    for (std::size_t i = 0; i < builder.size(); ++i) {
      ours.emplace_back(builder.shred(i).begin(), builder.shred(i).end());
    }
    EXPECT_EQ(builder.num_data(), data_shreds_for(payload.size(), s.num_coding));
    expect_same_set(ours, make_fec_set(leader(), p, payload));
    // The signature is exactly keypair::sign over the set's message with the given aux.
    shred_view v;
    ASSERT_EQ(parse_shred(ours[0], v), shred_error::none);
    const auto root = shred_merkle_root(v);
    ASSERT_TRUE(root);
    EXPECT_EQ(v.signature(), leader().sign(shred_signed_message(*root, p.slot, p.fec_set_index), aux));
  }
}

TEST(FecSetBuilder, RefusesWhatMakeFecSetRejects) {
  fec_set_builder builder(32);
  const crypto::aux_rand aux{};
  const bytes small(10, 1);
  fec_set_params p;
  p.slot = 100;
  p.parent_offset = 1;
  p.num_coding = 31;  // not the builder's
  EXPECT_FALSE(builder.build(leader(), p, small, aux));
  p.num_coding = 32;
  EXPECT_TRUE(builder.build(leader(), p, small, aux));
  EXPECT_EQ(builder.size(), 33u);
  EXPECT_FALSE(builder.build(leader(), p, bytes(full + 1), aux));
  EXPECT_EQ(builder.size(), 0u);
  p.parent_offset = 0;
  EXPECT_FALSE(builder.build(leader(), p, small, aux));
  p.parent_offset = 1;
  p.fec_set_index = max_shreds_per_slot - 31;
  EXPECT_FALSE(builder.build(leader(), p, small, aux));
  p.fec_set_index = 0;
  EXPECT_FALSE(builder.build(crypto::keypair{}, p, small, aux));
  EXPECT_THROW(fec_set_builder(0), std::invalid_argument);
  EXPECT_THROW(fec_set_builder(33), std::invalid_argument);
}

// ----------------------------------------------------------------------------- recovery

TEST(Shredder, HalfOfASetRecoversItsShardsExactly) {
  shredder sh(leader(), 5, shredder_config{});
  const bytes stream = random_bytes(full + 5000, 21);
  const auto shreds = shred_stream(sh, 77, 76, stream, 3000, 8);
  const auto sets = check_slot(shreds, 77, 76, 5, 32);
  ASSERT_EQ(sets.size(), 2u);
  std::mt19937_64 rng(99);
  for (const set_record& s : sets) {
    SCOPED_TRACE("set " + std::to_string(s.fec_set_index));
    const std::size_t n = s.num_data + s.num_coding;
    ASSERT_EQ(s.shreds.size(), n);
    fec_codec codec(s.num_data, s.num_coding);
    const std::size_t shard = shard_bytes(n);
    for (int round = 0; round < 20; ++round) {
      // Keep exactly num_data shreds at random, lose every other one.
      std::vector<std::size_t> order(n);
      for (std::size_t i = 0; i < n; ++i) order[i] = i;
      std::shuffle(order.begin(), order.end(), rng);
      std::uint64_t present = 0;
      for (std::size_t i = 0; i < s.num_data; ++i) present |= std::uint64_t{1} << order[i];
      std::vector<bytes> shards(n, bytes(shard, 0xEE));
      std::vector<bytes> original(n);
      for (std::size_t i = 0; i < n; ++i) {
        shred_view v;
        ASSERT_EQ(parse_shred(s.shreds[i], v), shred_error::none);
        original[i].assign(v.erasure_shard().begin(), v.erasure_shard().end());
        if (present >> i & 1) shards[i] = original[i];
      }
      std::vector<std::uint8_t*> ptrs(n);
      for (std::size_t i = 0; i < n; ++i) ptrs[i] = shards[i].data();
      ASSERT_TRUE(codec.recover(ptrs, present, shard));
      EXPECT_EQ(shards, original);
    }
  }
  // Recovered data shards of the last set still give the stream's tail.
  const set_record& last = sets.back();
  EXPECT_TRUE(std::equal(last.payload.begin(), last.payload.end(), stream.begin() + full));
}

// ------------------------------------------------------------------- limits and refusals

TEST(Shredder, RefusesCallsOutOfOrderAndCountsThem) {
  shredder sh(leader(), 6, shredder_config{});
  collecting_sink sink;
  const bytes b(10, 1);
  EXPECT_FALSE(sh.add(b, false, sink));
  EXPECT_FALSE(sh.finish_slot(sink));
  EXPECT_FALSE(sh.begin_slot(5, 5));      // parent not before the slot
  EXPECT_FALSE(sh.begin_slot(5, 6));
  EXPECT_FALSE(sh.begin_slot(0, 1));      // slot 0 has parent 0
  EXPECT_FALSE(sh.begin_slot(70000, 1));  // parent offset above 65535
  EXPECT_TRUE(sh.begin_slot(70000, 70000 - 65535));
  EXPECT_FALSE(sh.begin_slot(70001, 70000));  // slot still open
  EXPECT_TRUE(sh.add(b, true, sink));
  EXPECT_TRUE(sh.finish_slot(sink));
  const auto& m = sh.metrics();
  EXPECT_EQ(m.add_refused_no_slot, 1u);
  EXPECT_EQ(m.finish_refused_no_slot, 1u);
  EXPECT_EQ(m.begin_refused_bad_parent, 4u);
  EXPECT_EQ(m.begin_refused_slot_open, 1u);
  EXPECT_EQ(m.slots_begun, 1u);
  EXPECT_EQ(m.slots_finished, 1u);
  const auto sets = check_slot(sink.shreds, 70000, 70000 - 65535, 6, 32);
  ASSERT_EQ(sets.size(), 1u);
  EXPECT_EQ(sets[0].payload, b);
}

TEST(Shredder, RefusesBytesPastMaxSlotBytes) {
  shredder sh(leader(), 6, shredder_config{32, 2 * full + 10});
  collecting_sink sink;
  ASSERT_TRUE(sh.begin_slot(9, 8));
  const bytes stream = random_bytes(2 * full + 10, 3);
  ASSERT_TRUE(sh.add(std::span<const std::uint8_t>(stream).first(2 * full), false, sink));
  EXPECT_FALSE(sh.add(bytes(11, 0), false, sink));  // refused whole, nothing taken
  EXPECT_EQ(sh.metrics().add_refused_slot_full, 1u);
  EXPECT_EQ(sh.metrics().bytes_refused_slot_full, 11u);
  ASSERT_TRUE(sh.add(std::span<const std::uint8_t>(stream).subspan(2 * full), false, sink));
  EXPECT_FALSE(sh.add(bytes(1, 0), false, sink));
  ASSERT_TRUE(sh.finish_slot(sink));
  const auto sets = check_slot(sink.shreds, 9, 8, 6, 32);
  EXPECT_EQ(join(sets), stream);
}

// The largest slot uses every data index below max_shreds_per_slot and no more.
TEST(Shredder, LargestSlotStaysBelowTheIndexLimit) {
  struct last_set_sink final : shred_sink {
    void on_shred(std::span<const std::uint8_t> shred, shred_kind kind,
                  std::uint32_t index) noexcept override {
      ++count;
      max_index = std::max(max_index, index);
      shred_view v;
      ok &= parse_shred(shred, v) == shred_error::none && v.index() == index &&
            v.is_coding() == (kind == shred_kind::coding);
      if (kind == shred_kind::data) {
        ok &= index == next_data++;
        last_in_slot = v.last_in_slot();
      }
    }
    std::size_t count = 0;
    std::uint32_t max_index = 0;
    std::uint32_t next_data = 0;
    bool last_in_slot = false;
    bool ok = true;
  } sink;
  shredder sh(leader(), 1, shredder_config{});
  EXPECT_EQ(sh.max_slot_bytes(), 1024u * full);
  EXPECT_EQ(shredder::max_slot_bytes_limit(32), 32473088u);
  ASSERT_TRUE(sh.begin_slot(3, 2));
  const bytes chunk = random_bytes(full / 4, 4);
  for (std::size_t i = 0; i < 4 * 1024; ++i) ASSERT_TRUE(sh.add(chunk, false, sink));
  EXPECT_FALSE(sh.add(bytes(1, 0), false, sink));
  ASSERT_TRUE(sh.finish_slot(sink));
  EXPECT_TRUE(sink.ok);
  EXPECT_TRUE(sink.last_in_slot);
  EXPECT_EQ(sink.count, 1024u * 64u);
  EXPECT_EQ(sink.next_data, max_shreds_per_slot);
  EXPECT_EQ(sink.max_index, max_shreds_per_slot - 1);
}

TEST(Shredder, ConstructorRejectsBadConfig) {
  EXPECT_THROW(shredder(leader(), 0, shredder_config{0, 0}), std::invalid_argument);
  EXPECT_THROW(shredder(leader(), 0, shredder_config{33, 0}), std::invalid_argument);
  EXPECT_THROW(shredder(leader(), 0, shredder_config{32, 1024 * full + 1}), std::invalid_argument);
  EXPECT_THROW(shredder(crypto::keypair{}, 0, shredder_config{}), std::invalid_argument);
  EXPECT_NO_THROW(shredder(leader(), 0, shredder_config{32, 1024 * full}));
}

}  // namespace
