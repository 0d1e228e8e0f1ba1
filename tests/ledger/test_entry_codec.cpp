#include <riptide/ledger/entry_codec.hpp>

#include <gtest/gtest.h>

#include <algorithm>
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

// A tx area as a microblock holds it: tx_count × (u16 len | u8 result | body).
std::vector<std::uint8_t> tx_area(const std::vector<std::pair<std::vector<std::uint8_t>, std::uint8_t>>& txs) {
  std::vector<std::uint8_t> a;
  for (const auto& [body, result] : txs) {
    a.push_back(static_cast<std::uint8_t>(body.size()));
    a.push_back(static_cast<std::uint8_t>(body.size() >> 8));
    a.push_back(result);
    a.insert(a.end(), body.begin(), body.end());
  }
  return a;
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

TEST(entry_codec, entries_with_transactions_round_trip) {
  const std::vector<std::uint8_t> a(300, 0xA1), b{1, 2, 3};
  const auto area = tx_area({{a, 0}, {b, 4}});
  std::vector<std::uint8_t> buf(4096);
  std::size_t used = add_entry(buf, 0, entry(3, 1, true), false, 2, area);
  ASSERT_EQ(used, batch_header_bytes + entry_bytes(true, area.size()));
  used = add_entry(buf, used, entry(2, 2, false), true);
  used = add_entry(buf, used, entry(9, 3, true), false, 1, tx_area({{b, 1}}));
  ASSERT_NE(used, 0u);
  finish_batch(buf, 3);
  buf.resize(used);
  std::vector<decoded_entry> out;
  ASSERT_EQ(decode_batch(buf, out), entry_error::none);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].tx_count, 2u);
  ASSERT_EQ(out[0].txs.size(), area.size());
  EXPECT_TRUE(std::equal(area.begin(), area.end(), out[0].txs.begin()));
  tx_reader r(out[0]);
  entry_tx t;
  ASSERT_TRUE(r.next(t));
  EXPECT_EQ(t.body.size(), 300u);
  EXPECT_EQ(t.result, 0);
  ASSERT_TRUE(r.next(t));
  EXPECT_EQ(t.body.size(), 3u);
  EXPECT_EQ(t.body[2], 3);
  EXPECT_EQ(t.result, 4);
  EXPECT_FALSE(r.next(t));
  EXPECT_EQ(out[1].tx_count, 0u);
  EXPECT_TRUE(out[1].txs.empty());
  EXPECT_EQ(out[2].tx_count, 1u);
  tx_reader r2(out[2]);
  ASSERT_TRUE(r2.next(t));
  EXPECT_EQ(t.result, 1);
  EXPECT_FALSE(r2.next(t));
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
  txs[4 + 41] = 1;  // a tick that claims a tx
  EXPECT_EQ(decode_batch(txs, out), entry_error::tick_with_txs);
  // The tx rejections: build an entry with one 3-byte tx and corrupt it.
  const std::vector<std::uint8_t> body{7, 7, 7};
  const auto area = tx_area({{body, 0}});
  std::vector<std::uint8_t> one(256);
  std::size_t used = add_entry(one, 0, entry(5, 1, true), false, 1, area);
  finish_batch(one, 1);
  one.resize(used);
  ASSERT_EQ(decode_batch(one, out), entry_error::none);
  const std::size_t count_at = 4 + 41 + 32;  // tx_count after the mixin
  std::vector<std::uint8_t> tick_txs(256);
  used = add_entry(tick_txs, 0, entry(5, 1, false), true, 1, area);
  finish_batch(tick_txs, 1);
  tick_txs.resize(used);
  EXPECT_EQ(decode_batch(tick_txs, out), entry_error::tick_with_txs);
  std::vector<std::uint8_t> no_mixin(256);
  used = add_entry(no_mixin, 0, entry(5, 1, false), false, 1, area);
  finish_batch(no_mixin, 1);
  no_mixin.resize(used);
  EXPECT_EQ(decode_batch(no_mixin, out), entry_error::txs_without_mixin);
  auto empty = one;
  empty[count_at + 4] = 0;  // len = 0: the 3 body bytes then read as the next entry's
  EXPECT_EQ(decode_batch(empty, out), entry_error::empty_tx);
  auto overrun = one;
  overrun[count_at + 4] = 4;  // len 4 with 3 bytes left
  EXPECT_EQ(decode_batch(overrun, out), entry_error::truncated_txs);
  auto too_many = one;
  too_many[count_at] = 2;  // a second tx header that is not there
  EXPECT_EQ(decode_batch(too_many, out), entry_error::truncated_txs);
  auto short_body = one;
  short_body[count_at + 4] = 2;  // lengths that do not add up leave a byte over
  EXPECT_EQ(decode_batch(short_body, out), entry_error::trailing_bytes);
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
  EXPECT_EQ(back.bank_hash, crypto::hash32{});
  EXPECT_EQ(back.parent_slot, 0u);
  EXPECT_EQ(back.leader, crypto::pubkey{});
  m.kind = meta_kind::slot_end;
  m.bank_hash.fill(0xBA);
  m.parent_slot = 0x0102030405060708ULL;
  m.leader.fill(0x1E);
  ASSERT_EQ(encode_meta(m, buf), slot_meta_bytes);
  ASSERT_EQ(decode_meta(buf, back), entry_error::none);
  EXPECT_EQ(back.kind, meta_kind::slot_end);
  EXPECT_EQ(back.bank_hash, m.bank_hash);
  EXPECT_EQ(back.parent_slot, m.parent_slot);
  EXPECT_EQ(back.leader, m.leader);
  EXPECT_EQ(decode_meta(std::span(buf.data(), 10), back), entry_error::bad_meta_size);
  auto v = buf;
  v[0] = 1;  // the first version (no bank hash)
  EXPECT_EQ(decode_meta(v, back), entry_error::bad_meta_version);
  EXPECT_EQ(decode_meta(std::span(v.data(), 64), back), entry_error::bad_meta_version);
  v[0] = 2;  // the second (no parent, no leader): 96 bytes, refused by version first
  EXPECT_EQ(decode_meta(std::span(v.data(), 96), back), entry_error::bad_meta_version);
  EXPECT_EQ(decode_meta(std::span(buf.data(), 96), back), entry_error::bad_meta_size);
  EXPECT_EQ(decode_meta(std::span(buf.data(), 3), back), entry_error::bad_meta_size);
  auto k = buf;
  k[4] = 9;
  EXPECT_EQ(decode_meta(k, back), entry_error::bad_meta_kind);
  std::array<std::uint8_t, 4> tiny{};
  EXPECT_EQ(encode_meta(m, tiny), 0u);
}

namespace {
ledger::start_state sample_state() {
  ledger::start_state st;
  st.lamports_per_signature = 5000;
  for (std::uint8_t i = 1; i <= 3; ++i) {
    crypto::pubkey k{};
    k[0] = i;
    k[31] = static_cast<std::uint8_t>(0xf0 + i);
    st.accounts.push_back({k, 1000ULL * i});
  }
  for (std::uint8_t i = 1; i <= 2; ++i) {
    crypto::pubkey v{};
    v[0] = static_cast<std::uint8_t>(0x80 + i);
    st.voters.push_back(v);
  }
  return st;
}
}  // namespace

TEST(entry_codec, start_state_round_trip) {
  const auto st = sample_state();
  const auto bytes = ledger::encode_start_state(st);
  ASSERT_EQ(bytes.size(), 24 + 3 * 40 + 2 * 32);
  // The layout: version, count, fee, voter count, then key and lamports per account
  // (little-endian), then the voters.
  EXPECT_EQ(bytes[0], 2);
  EXPECT_EQ(bytes[4], 3);
  EXPECT_EQ(bytes[8] | (bytes[9] << 8), 5000);
  EXPECT_EQ(bytes[16], 2);
  EXPECT_EQ(bytes[24], 1);
  EXPECT_EQ(bytes[24 + 32] | (bytes[24 + 33] << 8), 1000);
  EXPECT_EQ(bytes[24 + 120], 0x81);
  EXPECT_EQ(bytes[24 + 152], 0x82);
  ledger::start_state back;
  ASSERT_EQ(ledger::decode_start_state(bytes, back), ledger::entry_error::none);
  EXPECT_EQ(back, st);
  // No accounts at all is a state too.
  ledger::start_state empty;
  ASSERT_EQ(ledger::decode_start_state(ledger::encode_start_state(empty), back), ledger::entry_error::none);
  EXPECT_TRUE(back.accounts.empty());
}

TEST(entry_codec, start_state_rejections) {
  const auto good = ledger::encode_start_state(sample_state());
  ledger::start_state out;
  auto reject = [&](std::vector<std::uint8_t> b) { return ledger::decode_start_state(b, out); };
  EXPECT_EQ(reject({1, 0, 0}), ledger::entry_error::bad_state_size);
  EXPECT_EQ(reject(std::vector<std::uint8_t>(good.begin(), good.begin() + 10)), ledger::entry_error::bad_state_size);
  auto b = good;
  b[0] = 1;  // the format before voters
  EXPECT_EQ(reject(b), ledger::entry_error::bad_state_version);
  b = good;
  b.pop_back();
  EXPECT_EQ(reject(b), ledger::entry_error::bad_state_size);
  b = good;
  b[4] = 4;  // says 4 accounts, holds 3
  EXPECT_EQ(reject(b), ledger::entry_error::bad_state_size);
  b = good;
  b[16] = 3;  // says 3 voters, holds 2
  EXPECT_EQ(reject(b), ledger::entry_error::bad_state_size);
  b = good;
  std::swap_ranges(b.begin() + 24, b.begin() + 64, b.begin() + 64);  // accounts 0 and 1 swapped
  EXPECT_EQ(reject(b), ledger::entry_error::bad_state_order);
  b = good;
  std::copy(b.begin() + 24, b.begin() + 56, b.begin() + 64);  // account 1's key = account 0's
  EXPECT_EQ(reject(b), ledger::entry_error::bad_state_order);
  b = good;
  std::fill(b.begin() + 64 + 32, b.begin() + 104, 0);  // account 1 holds nothing
  EXPECT_EQ(reject(b), ledger::entry_error::zero_state_lamports);
  b = good;
  std::copy(b.begin() + 144, b.begin() + 176, b.begin() + 176);  // voter 1 = voter 0
  EXPECT_EQ(reject(b), ledger::entry_error::bad_state_voters);
  EXPECT_TRUE(out.voters.empty());
  b = good;
  b[20] = 1;  // reserved
  EXPECT_EQ(reject(b), ledger::entry_error::bad_state_voters);
  EXPECT_TRUE(out.accounts.empty());
}

TEST(entry_codec, sort_start_state_makes_credits_canonical) {
  auto st = sample_state();
  std::vector<ledger::start_account> credits = {st.accounts[2], st.accounts[0], {st.accounts[1].key, 0},
                                                st.accounts[1], st.accounts[0]};
  ledger::sort_start_state(credits);
  ASSERT_EQ(credits.size(), 3u);
  EXPECT_EQ(credits[0].key, st.accounts[0].key);
  EXPECT_EQ(credits[0].lamports, 2000u);  // credited twice
  EXPECT_EQ(credits[1], st.accounts[1]);
  EXPECT_EQ(credits[2], st.accounts[2]);
  // A sum that would overflow saturates instead of wrapping.
  std::vector<ledger::start_account> big = {{st.accounts[0].key, ~0ULL}, {st.accounts[0].key, 5}};
  ledger::sort_start_state(big);
  ASSERT_EQ(big.size(), 1u);
  EXPECT_EQ(big[0].lamports, ~0ULL);
}
