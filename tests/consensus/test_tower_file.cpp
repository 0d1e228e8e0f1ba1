#include <riptide/consensus/tower_file.hpp>
#include <riptide/crypto/sha256.hpp>

#include "../support/temp_dir.hpp"

#include "../support/filled_key.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

using namespace riptide;
using consensus::tower_file_error;
using consensus::tower_sync;

namespace {

tower_sync sample(std::uint64_t last) {
  consensus::tower t;
  for (std::uint64_t s = 1; s <= last; ++s) (void)t.record_vote(s);
  tower_sync v;
  v.votes = t;
  v.bank_hash.fill(static_cast<std::uint8_t>(last));
  v.timestamp_ms = 1'000 + static_cast<std::int64_t>(last);
  return v;
}

std::vector<std::uint8_t> file_of(const crypto::pubkey& who, const tower_sync& v) {
  std::vector<std::uint8_t> b(consensus::max_tower_file_bytes);
  b.resize(consensus::encode_tower_file(who, v, b));
  return b;
}

bool same(const tower_sync& a, const tower_sync& b) {
  return std::ranges::equal(a.votes.votes(), b.votes.votes()) && a.votes.root() == b.votes.root() &&
         a.bank_hash == b.bank_hash && a.timestamp_ms == b.timestamp_ms;
}

void write_raw(const std::filesystem::path& p, const std::vector<std::uint8_t>& b) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

}  // namespace

TEST(tower_file, round_trips_and_refuses_each_malformation) {
  const auto good = file_of(riptide::testing::filled_key(1), sample(40));  // 31 votes and a root
  ASSERT_EQ(good.size(), 46 + consensus::tower_sync_size(sample(40)) + 32);
  tower_sync back;
  ASSERT_EQ(consensus::parse_tower_file(good, riptide::testing::filled_key(1), back), tower_file_error::none);
  EXPECT_TRUE(same(back, sample(40)));
  EXPECT_EQ(back.votes.root(), 9u);

  const auto with = [&good](std::size_t i, std::uint8_t v) {
    auto b = good;
    b.at(i) = v;
    return b;
  };
  auto trailing = good;
  trailing.push_back(0);
  struct row {
    std::string name;
    std::vector<std::uint8_t> bytes;
    tower_file_error error;
  };
  const std::vector<row> rows{
      {"empty", {}, tower_file_error::truncated},
      {"header short", std::vector<std::uint8_t>(good.begin(), good.begin() + 45), tower_file_error::truncated},
      {"checksum short", std::vector<std::uint8_t>(good.begin(), good.end() - 1), tower_file_error::truncated},
      {"magic", with(0, 'R'), tower_file_error::bad_magic},
      {"version 2", with(8, 2), tower_file_error::unsupported_version},
      {"another validator's", with(12, 9), tower_file_error::wrong_identity},
      {"a byte after the checksum", trailing, tower_file_error::trailing_bytes},
      {"a changed vote byte", with(60, good[60] ^ 1), tower_file_error::bad_checksum},
      {"a changed checksum byte", with(good.size() - 1, good.back() ^ 1), tower_file_error::bad_checksum},
  };
  for (const auto& r : rows) {
    tower_sync out = sample(3);
    EXPECT_EQ(consensus::parse_tower_file(r.bytes, riptide::testing::filled_key(1), out), r.error) << r.name;
    EXPECT_TRUE(same(out, sample(3))) << r.name << ": untouched";
    EXPECT_STRNE(consensus::to_string(r.error), "?");
  }
  // A vote that does not parse under a checksum that matches it (written by a broken saver).
  auto broken = good;
  broken.at(46) = 7;  // the tower sync's kind
  const crypto::hash32 sum = crypto::sha256(std::span(broken.data(), broken.size() - 32));
  std::copy(sum.begin(), sum.end(), broken.end() - 32);
  tower_sync out;
  EXPECT_EQ(consensus::parse_tower_file(broken, riptide::testing::filled_key(1), out), tower_file_error::bad_vote);
  std::vector<std::uint8_t> small(10);
  EXPECT_EQ(consensus::encode_tower_file(riptide::testing::filled_key(1), sample(4), small), 0u);
  std::vector<std::uint8_t> roomy(consensus::max_tower_file_bytes);
  EXPECT_EQ(consensus::encode_tower_file(riptide::testing::filled_key(1), tower_sync{}, roomy), 0u);
}

TEST(tower_file, save_and_load_through_the_file_system) {
  riptide::testing::temp_dir dir;
  const auto path = dir.path() / "tower.bin";
  EXPECT_FALSE(consensus::load_tower(path, riptide::testing::filled_key(1)).has_value());  // never voted
  consensus::save_tower(path, riptide::testing::filled_key(1), sample(5));
  auto loaded = consensus::load_tower(path, riptide::testing::filled_key(1));
  ASSERT_TRUE(loaded.has_value());
  EXPECT_TRUE(same(*loaded, sample(5)));
  consensus::save_tower(path, riptide::testing::filled_key(1), sample(40));  // replaces
  loaded = consensus::load_tower(path, riptide::testing::filled_key(1));
  ASSERT_TRUE(loaded.has_value());
  EXPECT_TRUE(same(*loaded, sample(40)));
  EXPECT_THROW(consensus::save_tower(path, riptide::testing::filled_key(1), tower_sync{}), std::invalid_argument);
  // Another validator's file, and a torn one: refused with the path and the reason.
  try {
    (void)consensus::load_tower(path, riptide::testing::filled_key(2));
    FAIL() << "loaded another validator's tower";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("wrong_identity"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(path.string()), std::string::npos) << e.what();
  }
  auto torn = file_of(riptide::testing::filled_key(1), sample(40));
  torn.resize(torn.size() / 2);
  write_raw(path, torn);
  EXPECT_THROW((void)consensus::load_tower(path, riptide::testing::filled_key(1)), std::runtime_error);
}
