#include <riptide/shred/shred_archive.hpp>

#include <riptide/shred/shred.hpp>

#include "../support/temp_dir.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
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

// A whole slot as the leader cut it (one FEC set): its data shreds by index, and its coding.
struct slot_shreds {
  std::map<std::uint32_t, bytes> data;
  std::vector<bytes> coding;
};

slot_shreds make_slot(std::uint64_t slot, std::uint64_t parent, std::size_t num_data = 5) {
  fec_set_params p;
  p.slot = slot;
  p.parent_offset = static_cast<std::uint16_t>(slot - parent);
  p.shred_version = 7;
  p.num_coding = 3;
  p.batch_complete = true;
  p.last_in_slot = true;
  const std::size_t capacity = data_capacity_bytes(num_data + 3);
  slot_shreds out;
  for (bytes& b : make_fec_set(leader(), p, random_bytes(num_data * capacity - capacity / 2, slot))) {
    shred_view v;
    EXPECT_EQ(parse_shred(b, v), shred_error::none);
    if (v.is_data()) {
      out.data[v.index()] = std::move(b);
    } else {
      out.coding.push_back(std::move(b));
    }
  }
  return out;
}

shred_view view_of(const bytes& b) {
  shred_view v;
  EXPECT_EQ(parse_shred(b, v), shred_error::none);
  return v;
}

bool same(std::span<const std::uint8_t> a, const bytes& b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin());
}

shred_archive_config config_in(const std::filesystem::path& dir) {
  shred_archive_config c;
  c.dir = dir / "shreds";
  c.segment_bytes = 1 << 20;
  return c;
}

void put_slot(shred_archive& a, const slot_shreds& s) {
  for (const auto& [index, b] : s.data) ASSERT_TRUE(a.put(view_of(b))) << index;
}

TEST(ShredArchive, ServesEachLookupByteForByte) {
  riptide::testing::temp_dir dir;
  shred_archive a(config_in(dir.path()));
  EXPECT_FALSE(a.newest_slot());
  const slot_shreds s10 = make_slot(10, 9), s12 = make_slot(12, 10, 7);
  put_slot(a, s10);
  put_slot(a, s12);
  EXPECT_EQ(a.newest_slot(), 12u);
  EXPECT_EQ(a.slots(), 2u);
  EXPECT_EQ(a.shreds(), s10.data.size() + s12.data.size());
  EXPECT_EQ(a.counters().shreds_archived, a.shreds());
  for (const auto* s : {&s10, &s12}) {
    const std::uint64_t slot = s == &s10 ? 10 : 12;
    for (const auto& [index, b] : s->data) EXPECT_TRUE(same(a.data(slot, index), b)) << slot << "/" << index;
    const std::uint32_t last = s->data.rbegin()->first;
    EXPECT_TRUE(same(a.highest_data(slot, 0), s->data.rbegin()->second));
    EXPECT_TRUE(same(a.highest_data(slot, last), s->data.rbegin()->second));
    EXPECT_TRUE(a.highest_data(slot, last + 1).empty());
  }
  EXPECT_EQ(a.parent_of(10), 9u);
  EXPECT_EQ(a.parent_of(12), 10u);
  EXPECT_FALSE(a.parent_of(11));
  EXPECT_TRUE(a.data(11, 0).empty());
  EXPECT_TRUE(a.data(10, 99).empty());
  EXPECT_TRUE(a.highest_data(13, 0).empty());
  EXPECT_EQ(a.counters().lookups_missed, 6u);
  EXPECT_GT(a.counters().lookups_hit, 0u);
}

TEST(ShredArchive, KeepsOnlyDataAndRefusesAnOlderSlot) {
  riptide::testing::temp_dir dir;
  shred_archive a(config_in(dir.path()));
  const slot_shreds s5 = make_slot(5, 4), s6 = make_slot(6, 5);
  put_slot(a, s6);
  EXPECT_FALSE(a.put(view_of(s6.coding.front())));
  EXPECT_FALSE(a.put(shred_view{}));
  EXPECT_EQ(a.counters().not_data, 2u);
  EXPECT_FALSE(a.put(view_of(s5.data.begin()->second)));  // slot 5 < newest 6
  EXPECT_EQ(a.counters().out_of_order, 1u);
  EXPECT_TRUE(a.data(5, 0).empty());
  // The newest slot again (a slot delivered again after a restart) is taken.
  EXPECT_TRUE(a.put(view_of(s6.data.begin()->second)));
  EXPECT_TRUE(same(a.data(6, s6.data.begin()->first), s6.data.begin()->second));
  EXPECT_EQ(a.shreds(), s6.data.size() + 1);
}

TEST(ShredArchive, SurvivesAReopenAndGoesOn) {
  riptide::testing::temp_dir dir;
  const slot_shreds s1 = make_slot(1, 0), s2 = make_slot(2, 1), s3 = make_slot(3, 2);
  {
    shred_archive a(config_in(dir.path()));
    put_slot(a, s1);
    put_slot(a, s2);
  }
  shred_archive a(config_in(dir.path()));
  EXPECT_FALSE(a.repair_report().cut);
  EXPECT_EQ(a.newest_slot(), 2u);
  EXPECT_TRUE(same(a.data(1, 2), s1.data.at(2)));
  EXPECT_FALSE(a.put(view_of(s1.data.at(0))));  // still ordered after the reopen
  put_slot(a, s3);
  EXPECT_TRUE(same(a.highest_data(3, 0), s3.data.rbegin()->second));
  EXPECT_EQ(a.parent_of(3), 2u);
}

TEST(ShredArchive, ADamagedTailIsCutAndTheRestServed) {
  riptide::testing::temp_dir dir;
  const slot_shreds s1 = make_slot(1, 0), s2 = make_slot(2, 1);
  {
    shred_archive a(config_in(dir.path()));
    put_slot(a, s1);
    put_slot(a, s2);
  }
  // Flip a byte inside the last record's payload: its CRC no longer matches.
  const std::filesystem::path seg = dir.path() / "shreds" / "segment-00000000.log";
  std::fstream f(seg, std::ios::in | std::ios::out | std::ios::binary);
  std::vector<char> all((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  std::size_t end = all.size();
  while (end > 0 && all[end - 1] == 0) --end;
  ASSERT_GT(end, 100u);
  f.seekp(static_cast<std::streamoff>(end - 50));
  const char flipped = static_cast<char>(all[end - 50] ^ 0x5a);
  f.write(&flipped, 1);
  f.close();

  shred_archive a(config_in(dir.path()));
  EXPECT_TRUE(a.repair_report().cut);
  EXPECT_EQ(a.newest_slot(), 2u);
  EXPECT_EQ(a.shreds(), s1.data.size() + s2.data.size() - 1);
  EXPECT_TRUE(same(a.data(1, 0), s1.data.at(0)));
  EXPECT_TRUE(a.data(2, s2.data.rbegin()->first).empty());  // the damaged record is gone
  EXPECT_TRUE(same(a.data(2, 0), s2.data.at(0)));
}

TEST(ShredArchive, DropFromForgetsLaterSlotsDurably) {
  riptide::testing::temp_dir dir;
  const slot_shreds s1 = make_slot(1, 0), s2 = make_slot(2, 1), s4 = make_slot(4, 2);
  {
    shred_archive a(config_in(dir.path()));
    put_slot(a, s1);
    put_slot(a, s2);
    put_slot(a, s4);
    EXPECT_EQ(a.drop_from(5), 0u);
    EXPECT_EQ(a.drop_from(2), s2.data.size() + s4.data.size());
    EXPECT_EQ(a.newest_slot(), 1u);
    EXPECT_TRUE(a.data(2, 0).empty());
    put_slot(a, s2);  // a slot made again goes in after the cut
  }
  shred_archive a(config_in(dir.path()));
  EXPECT_EQ(a.newest_slot(), 2u);
  EXPECT_TRUE(a.data(4, 0).empty());
  EXPECT_EQ(a.shreds(), s1.data.size() + s2.data.size());
  EXPECT_EQ(a.drop_from(0), s1.data.size() + s2.data.size());
  EXPECT_FALSE(a.newest_slot());
}

TEST(ShredArchive, ASecondWriterIsRefused) {
  riptide::testing::temp_dir dir;
  shred_archive a(config_in(dir.path()));
  EXPECT_ANY_THROW(shred_archive b(config_in(dir.path())));
}

}  // namespace
