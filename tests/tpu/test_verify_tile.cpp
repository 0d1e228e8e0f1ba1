#include <riptide/tpu/verify_tile.hpp>

#include <gtest/gtest.h>

#include <cstring>

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
  EXPECT_EQ(f.own(t, tpu::verify_tile::c_parse_failed), 3u);
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
