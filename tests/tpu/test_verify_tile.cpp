#include <riptide/tpu/verify_tile.hpp>

#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <riptide/crypto/xxh3.hpp>
#include <riptide/txn/transaction.hpp>

using namespace riptide;
using ring = util::spsc_ring<util::frag_desc>;

namespace {
struct fixture {
  util::frame_pool pool{16};
  ring in{16}, out{16}, release{16};
  crypto::keypair alice = crypto::keypair::generate();
  crypto::keypair bob = crypto::keypair::generate();

  util::frag_desc put(std::uint32_t frame, std::uint64_t lamports) {
    const auto n = txn::build_transfer(alice, bob.public_key(), lamports, crypto::hash32{}, pool.frame(frame));
    return {frame, static_cast<std::uint16_t>(n), 0, 0};
  }
  std::uint64_t own(const tpu::verify_tile& t, std::size_t c) {
    return t.own_counter(c);
  }
};
}  // namespace

TEST(verify_tile, passes_valid_drops_bad_signature_and_garbage) {
  fixture f;
  tpu::verify_tile t("verify0", f.pool, f.in, f.out, &f.release, {});
  const auto good = f.put(0, 5);
  auto bad = f.put(1, 6);
  f.pool.frame(1)[10] ^= 0x40;  // inside the signature
  auto garbage = util::frag_desc{2, 100, 0, 0};
  std::memset(f.pool.frame(2).data(), 0xAB, 100);
  auto truncated = f.put(3, 7);
  truncated.len -= 1;
  ASSERT_TRUE(f.in.try_push(good));
  ASSERT_TRUE(f.in.try_push(bad));
  ASSERT_TRUE(f.in.try_push(garbage));
  ASSERT_TRUE(f.in.try_push(truncated));
  ASSERT_TRUE(f.in.try_push(util::frag_desc{9999, 10, 0, 0}));  // frame index out of range
  int work = 0;
  while (int w = t.poll()) work += w;
  EXPECT_EQ(work, 5);
  util::frag_desc d;
  ASSERT_TRUE(f.out.try_pop(d));
  EXPECT_EQ(d.frame, 0u);
  txn::transaction_view tx;
  ASSERT_EQ(txn::parse_transaction(f.pool.frame(0).first(good.len), tx), txn::parse_error::none);
  EXPECT_EQ(d.meta, crypto::xxh3_64(tx.signature(0)));  // dedup tag travels in meta
  EXPECT_FALSE(f.out.try_pop(d));
  std::size_t released = 0;
  while (f.release.try_pop(d)) ++released;
  EXPECT_EQ(released, 4u);
  EXPECT_EQ(f.own(t, tpu::verify_tile::c_received), 5u);
  EXPECT_EQ(f.own(t, tpu::verify_tile::c_verified), 1u);
  EXPECT_EQ(f.own(t, tpu::verify_tile::c_sig_failed), 1u);
  EXPECT_EQ(f.own(t, tpu::verify_tile::c_parse_failed), 2u);
  EXPECT_EQ(f.own(t, tpu::verify_tile::c_bad_frame), 1u);  // not a parse failure: a bad descriptor
}

TEST(verify_tile, full_output_holds_input_back) {
  fixture f;
  ring small_out(2);
  tpu::verify_tile t("verify0", f.pool, f.in, small_out, nullptr, {});
  for (std::uint32_t i = 0; i < 4; ++i) ASSERT_TRUE(f.in.try_push(f.put(i, i + 1)));
  EXPECT_EQ(t.poll(), 2);
  EXPECT_EQ(t.poll(), 0);
  EXPECT_EQ(f.in.size_approx(), 2u);  // not dropped: still waiting upstream
  EXPECT_GT(f.own(t, tpu::verify_tile::c_backpressure), 0u);
  util::frag_desc d;
  while (small_out.try_pop(d)) {
  }
  EXPECT_EQ(t.poll(), 2);
  EXPECT_TRUE(t.drained());
  EXPECT_EQ(f.own(t, tpu::verify_tile::c_verified), 4u);
}

namespace {

// The counter name rule of verify_tile.hpp, applied to the enumerator's name.
std::string expected_counter_name(txn::parse_error e) {
  std::string name = std::string("parse_") + txn::to_string(e);
  const std::pair<std::string, std::string> words[] = {
      {"truncated", "trunc"}, {"instruction", "ix"}, {"account", "acct"}, {"readonly", "ro"},
      {"index", "idx"}};
  for (const auto& [from, to] : words)
    for (std::size_t at; (at = name.find(from)) != std::string::npos;) name.replace(at, from.size(), to);
  return name;
}

}  // namespace

TEST(verify_tile, one_counter_per_parse_error_named_by_its_reason) {
  fixture f;
  tpu::verify_tile t("verify0", f.pool, f.in, f.out, &f.release, {});
  const auto names = t.own_counter_names();
  ASSERT_EQ(names.size(), std::size_t{tpu::verify_tile::c_own_count});
  EXPECT_EQ(names[tpu::verify_tile::c_parse_failed], "parse_failed");
  EXPECT_EQ(names[tpu::verify_tile::c_sig_failed], "sig_failed");
  std::set<std::string_view> unique(names.begin(), names.end());
  EXPECT_EQ(unique.size(), names.size());
  for (auto n : names) EXPECT_LT(n.size(), util::metrics_counter_name_bytes) << n;
  for (std::size_t i = 1; i < txn::parse_error_count; ++i) {
    const auto e = static_cast<txn::parse_error>(i);
    EXPECT_EQ(names[tpu::verify_tile::parse_counter(e)], expected_counter_name(e));
  }
}

namespace {

// A valid transfer with one byte changed or a different length, and the reason it fails.
// Transfer layout (transaction.hpp): S at 0, signature 1..64, message header at 65 (version,
// R, RS, RU, A), 3 keys at 70, blockhash at 166, I at 198, then one instruction: program
// index 199, K 200, indices 201..202, data_len 203..204, data 205..216; 217 bytes.
struct malformed {
  txn::parse_error reason;
  std::size_t len;                 // bytes of the frame given to the tile
  std::size_t at = 0;              // byte to overwrite, if `set` >= 0
  int set = -1;
  bool duplicate_key = false;      // copy key 0 over key 1
};

const malformed malformed_packets[] = {
    {txn::parse_error::too_long, 1233},
    {txn::parse_error::too_long, 1300},  // longer than a frame too
    {txn::parse_error::empty, 0},
    {txn::parse_error::no_signatures, 217, 0, 0},
    {txn::parse_error::too_many_signatures, 217, 0, 13},
    {txn::parse_error::truncated_signatures, 30},
    {txn::parse_error::truncated_message_header, 67},
    {txn::parse_error::unsupported_version, 217, 65, 2},
    {txn::parse_error::signature_count_mismatch, 217, 66, 2},
    {txn::parse_error::too_many_readonly_signed, 217, 67, 1},
    {txn::parse_error::too_many_readonly_unsigned, 217, 68, 3},
    {txn::parse_error::too_many_accounts, 217, 69, 33},
    {txn::parse_error::fewer_accounts_than_signers, 217, 69, 0},
    {txn::parse_error::truncated_account_keys, 100},
    {txn::parse_error::duplicate_account_key, 217, 0, -1, true},
    {txn::parse_error::truncated_blockhash, 180},
    {txn::parse_error::truncated_instruction_count, 198},
    {txn::parse_error::too_many_instructions, 217, 198, 33},
    {txn::parse_error::truncated_instruction_header, 200},
    {txn::parse_error::program_index_out_of_range, 217, 199, 3},
    {txn::parse_error::program_not_readonly_unsigned, 217, 199, 0},
    {txn::parse_error::too_many_instruction_accounts, 217, 200, 33},
    {txn::parse_error::truncated_instruction_accounts, 202},
    {txn::parse_error::account_index_out_of_range, 217, 201, 3},
    {txn::parse_error::truncated_instruction_data_length, 204},
    {txn::parse_error::instruction_data_overrun, 216},
    {txn::parse_error::trailing_bytes, 218},
};

}  // namespace

TEST(verify_tile, every_parse_failure_is_counted_under_its_reason_and_released) {
  util::frame_pool pool{256};
  ring in{256}, out{256}, release{256};
  tpu::verify_tile t("verify0", pool, in, out, &release, {});
  const auto alice = crypto::keypair::generate();
  const auto bob = crypto::keypair::generate();
  std::map<txn::parse_error, std::uint64_t> want;
  std::uint32_t frame = 0;
  std::set<std::uint32_t> bad_frames;

  // Every reason, from a valid transfer.
  std::set<txn::parse_error> covered;
  for (const auto& m : malformed_packets) {
    auto bytes = pool.frame(frame);
    std::memset(bytes.data(), 0x5c, bytes.size());
    ASSERT_EQ(txn::build_transfer(alice, bob.public_key(), 1, crypto::hash32{}, bytes), 217u);
    if (m.set >= 0) bytes[m.at] = static_cast<std::uint8_t>(m.set);
    if (m.duplicate_key) std::memcpy(bytes.data() + 70 + 32, bytes.data() + 70, 32);
    if (m.len <= bytes.size()) {  // the test's own check that the packet fails as intended
      txn::transaction_view tx;
      ASSERT_EQ(txn::parse_transaction(bytes.first(m.len), tx), m.reason) << to_string(m.reason);
    }
    ASSERT_TRUE(in.try_push({frame, static_cast<std::uint16_t>(m.len), 0, 0}));
    ++want[m.reason];
    covered.insert(m.reason);
    bad_frames.insert(frame++);
  }
  EXPECT_EQ(covered.size(), txn::parse_error_count - 1) << "a reason has no test packet";

  // Random bytes of random lengths: counted under whatever the parser says.
  std::mt19937_64 rng(42);
  for (int i = 0; i < 60; ++i) {
    auto bytes = pool.frame(frame);
    for (auto& b : bytes) b = static_cast<std::uint8_t>(rng());
    if (i % 3 == 0) bytes[0] = static_cast<std::uint8_t>(1 + rng() % 12);  // get past S
    const std::size_t len = rng() % (txn::max_transaction_bytes + 1);
    txn::transaction_view tx;
    const auto e = txn::parse_transaction(bytes.first(len), tx);
    ASSERT_NE(e, txn::parse_error::none);
    ++want[e];
    ASSERT_TRUE(in.try_push({frame, static_cast<std::uint16_t>(len), 0, 0}));
    bad_frames.insert(frame++);
  }
  // One valid packet among them, and one with a wrong signature.
  const std::uint32_t good = frame++;
  ASSERT_TRUE(in.try_push({good, static_cast<std::uint16_t>(txn::build_transfer(
                                     alice, bob.public_key(), 9, crypto::hash32{}, pool.frame(good))),
                           0, 0}));
  const std::uint32_t forged = frame++;
  const auto forged_len =
      txn::build_transfer(alice, bob.public_key(), 9, crypto::hash32{}, pool.frame(forged));
  pool.frame(forged)[5] ^= 1;
  ASSERT_TRUE(in.try_push({forged, static_cast<std::uint16_t>(forged_len), 0, 0}));
  bad_frames.insert(forged);

  while (t.poll() != 0) {
  }
  std::uint64_t total = 0;
  for (std::size_t i = 1; i < txn::parse_error_count; ++i) {
    const auto e = static_cast<txn::parse_error>(i);
    const std::uint64_t expect = want.count(e) != 0 ? want[e] : 0;
    EXPECT_EQ(t.own_counter(tpu::verify_tile::parse_counter(e)), expect) << to_string(e);
    total += expect;
  }
  EXPECT_EQ(t.own_counter(tpu::verify_tile::c_parse_failed), total);
  EXPECT_EQ(total, bad_frames.size() - 1);
  EXPECT_EQ(t.own_counter(tpu::verify_tile::c_sig_failed), 1u);
  EXPECT_EQ(t.own_counter(tpu::verify_tile::c_verified), 1u);
  // Nothing invalid reaches out; every invalid frame comes back exactly once.
  util::frag_desc d;
  ASSERT_TRUE(out.try_pop(d));
  EXPECT_EQ(d.frame, good);
  EXPECT_FALSE(out.try_pop(d));
  std::set<std::uint32_t> released;
  while (release.try_pop(d)) EXPECT_TRUE(released.insert(d.frame).second) << d.frame;
  EXPECT_EQ(released, bad_frames);
  EXPECT_EQ(t.own_counter(tpu::verify_tile::c_release_full), 0u);
}
