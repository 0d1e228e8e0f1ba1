#include <riptide/ledger/entry_codec.hpp>

#include <gtest/gtest.h>

#include <array>
#include <vector>

using namespace riptide;
using namespace riptide::ledger;

namespace {
crypto::poh_entry entry(std::uint64_t n, std::uint8_t tag, bool mixin) {
  crypto::poh_entry e{};
  e.num_hashes = n;
  e.hash.fill(tag);
  e.has_mixin = mixin;
  if (mixin) e.mixin.fill(static_cast<std::uint8_t>(tag + 1));
  return e;
}

std::vector<std::uint8_t> batch_of(const std::vector<std::pair<crypto::poh_entry, bool>>& es) {
  std::vector<std::uint8_t> buf(4096);
  std::size_t used = 0;
  for (const auto& [e, tick] : es) used = add_entry(buf, used, e, tick);
  finish_batch(buf, static_cast<std::uint32_t>(es.size()));
  buf.resize(used);
  return buf;
}
}  // namespace

TEST(entry_codec, batch_round_trip) {
  const auto bytes = batch_of({{entry(5, 1, false), true}, {entry(7, 2, true), false}, {entry(1, 3, false), false}});
  std::vector<decoded_entry> out;
  ASSERT_EQ(decode_batch(bytes, out), entry_error::none);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_TRUE(out[0].is_tick);
  EXPECT_EQ(out[0].entry.num_hashes, 5u);
  EXPECT_TRUE(out[1].entry.has_mixin);
  EXPECT_EQ(out[1].entry.mixin[0], 3);
  EXPECT_EQ(out[2].entry.hash[31], 3);
  EXPECT_EQ(out[2].tx_count, 0u);
}

TEST(entry_codec, add_entry_reports_a_full_buffer) {
  std::array<std::uint8_t, batch_header_bytes + 50> small{};
  const auto e = entry(1, 1, false);
  const std::size_t used = add_entry(small, 0, e, true);
  EXPECT_EQ(used, batch_header_bytes + 45);
  EXPECT_EQ(add_entry(small, used, e, true), 0u);
}

TEST(entry_codec, every_batch_rejection) {
  std::vector<decoded_entry> out;
  const std::vector<std::uint8_t> none;
  EXPECT_EQ(decode_batch(std::vector<std::uint8_t>{1, 0}, out), entry_error::truncated_count);
  auto good = batch_of({{entry(5, 1, false), true}});
  auto cut = good;
  cut.resize(20);
  EXPECT_EQ(decode_batch(cut, out), entry_error::truncated_entry);
  auto flags = good;
  flags[4 + 40] = 0x80;
  EXPECT_EQ(decode_batch(flags, out), entry_error::bad_flags);
  flags[4 + 40] = 0x03;  // a tick with a mixin
  EXPECT_EQ(decode_batch(flags, out), entry_error::bad_flags);
  auto zero = good;
  for (int i = 0; i < 8; ++i) zero[4 + static_cast<std::size_t>(i)] = 0;
  EXPECT_EQ(decode_batch(zero, out), entry_error::zero_hashes);
  auto txs = good;
  txs[4 + 41] = 1;  // claims one tx, none follows
  EXPECT_EQ(decode_batch(txs, out), entry_error::truncated_txs);
  auto trailing = good;
  trailing.push_back(0);
  EXPECT_EQ(decode_batch(trailing, out), entry_error::trailing_bytes);
}

TEST(entry_codec, meta_round_trip_and_rejections) {
  slot_meta m;
  m.kind = meta_kind::chain_start;
  m.hashes_per_tick = 12500;
  m.ticks_per_slot = 64;
  m.tick_height = 9;
  m.hash.fill(7);
  std::array<std::uint8_t, slot_meta_bytes> buf{};
  ASSERT_EQ(encode_meta(m, buf), slot_meta_bytes);
  slot_meta back;
  ASSERT_EQ(decode_meta(buf, back), entry_error::none);
  EXPECT_EQ(back.kind, meta_kind::chain_start);
  EXPECT_EQ(back.hashes_per_tick, 12500u);
  EXPECT_EQ(back.tick_height, 9u);
  EXPECT_EQ(back.hash, m.hash);
  EXPECT_EQ(decode_meta(std::span(buf.data(), 10), back), entry_error::bad_meta_size);
  auto v = buf;
  v[0] = 2;
  EXPECT_EQ(decode_meta(v, back), entry_error::bad_meta_version);
  auto k = buf;
  k[4] = 9;
  EXPECT_EQ(decode_meta(k, back), entry_error::bad_meta_kind);
  std::array<std::uint8_t, 4> tiny{};
  EXPECT_EQ(encode_meta(m, tiny), 0u);
}
