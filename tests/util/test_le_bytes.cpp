#include <riptide/util/le_bytes.hpp>

#include <gtest/gtest.h>

#include <array>
#include <vector>

using namespace riptide;

TEST(le_bytes, writes_and_reads_little_endian_fields) {
  std::array<std::uint8_t, 25> buf{};
  util::le_writer w(buf);
  w.u8(0x01);
  w.u16(0x0302);
  w.u32(0x07060504);
  w.u64(0x0f0e0d0c0b0a0908);
  w.i64(-2);
  const std::array<std::uint8_t, 2> tail{0xaa, 0xbb};
  w.bytes(tail);
  EXPECT_TRUE(w.ok());
  EXPECT_EQ(w.size(), 25u);
  for (std::uint8_t i = 0; i < 15; ++i) EXPECT_EQ(buf[i], i + 1) << int(i);
  EXPECT_EQ(buf[15], 0xfe);
  EXPECT_EQ(buf[22], 0xff);

  util::le_reader r(buf);
  EXPECT_EQ(r.u8(), 0x01);
  EXPECT_EQ(r.u16(), 0x0302);
  EXPECT_EQ(r.u32(), 0x07060504u);
  EXPECT_EQ(r.u64(), 0x0f0e0d0c0b0a0908u);
  EXPECT_EQ(r.i64(), -2);
  std::array<std::uint8_t, 2> got{};
  r.bytes(got);
  EXPECT_EQ(got, tail);
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.remaining(), 0u);
  EXPECT_EQ(r.position(), 25u);
}

TEST(le_bytes, past_the_end_reads_zero_and_clears_ok_for_good) {
  const std::array<std::uint8_t, 3> three{1, 2, 3};
  util::le_reader r(three);
  EXPECT_EQ(r.u16(), 0x0201);
  EXPECT_EQ(r.u16(), 0u);  // one byte left: nothing read
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.u8(), 0u);   // the byte that was left is not read either
  std::array<std::uint8_t, 1> out{9};
  r.bytes(out);
  EXPECT_EQ(out[0], 0);

  std::array<std::uint8_t, 3> buf{};
  util::le_writer w(buf);
  w.u16(0xffff);
  w.u16(0x1111);  // does not fit: nothing written
  EXPECT_FALSE(w.ok());
  w.u8(0x22);
  EXPECT_EQ(w.size(), 2u);
  EXPECT_EQ(buf[2], 0);
}
