// contact_book: rows by identity, one atomic endpoint per port, columns as tile views; a
// writer thread rewriting rows while readers send (run under ThreadSanitizer by dev.sh).
#include <riptide/net/contact_book.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>
#include <thread>

using namespace riptide;
using net::port_kind;

namespace {

crypto::pubkey key(std::uint8_t b) {
  crypto::pubkey k{};
  k.fill(b);
  return k;
}

net::port_numbers ports(std::uint16_t base) {
  net::port_numbers p{};
  for (std::size_t k = 0; k < p.size(); ++k) p[k] = static_cast<std::uint16_t>(base + k);
  return p;
}

}  // namespace

TEST(ContactBook, RowsKeepTheGivenOrderAndAreFoundById) {
  const net::contact_book book({key(9), key(3), key(7)});
  ASSERT_EQ(book.size(), 3u);
  EXPECT_EQ(book.ids()[0], key(9));
  EXPECT_EQ(book.row_of(key(9)), 0u);
  EXPECT_EQ(book.row_of(key(3)), 1u);
  EXPECT_EQ(book.row_of(key(7)), 2u);
  EXPECT_FALSE(book.row_of(key(1)).has_value());
  EXPECT_FALSE(book.row_of(key(8)).has_value());
}

TEST(ContactBook, RefusesARepeatedIdentity) {
  EXPECT_THROW(net::contact_book({key(1), key(2), key(1)}), std::invalid_argument);
}

TEST(ContactBook, EveryEndpointStartsUnknown) {
  const net::contact_book book({key(1), key(2)});
  for (std::size_t row = 0; row < 2; ++row)
    for (std::size_t k = 0; k < net::port_kind_count; ++k)
      EXPECT_EQ(book.get(row, static_cast<port_kind>(k)).pack(), 0u);
}

TEST(ContactBook, SetReportsAChangeOnlyWhenTheEndpointDiffers) {
  net::contact_book book({key(1), key(2)});
  EXPECT_TRUE(book.set(1, port_kind::tvu, {0x7f000001, 14001}));
  EXPECT_FALSE(book.set(1, port_kind::tvu, {0x7f000001, 14001}));
  EXPECT_EQ(book.get(1, port_kind::tvu), (net::endpoint{0x7f000001, 14001}));
  EXPECT_EQ(book.get(0, port_kind::tvu).pack(), 0u);       // other row untouched
  EXPECT_EQ(book.get(1, port_kind::repair).pack(), 0u);    // other port untouched
  EXPECT_TRUE(book.set(1, port_kind::tvu, {0x7f000001, 24001}));
  EXPECT_EQ(book.get(1, port_kind::tvu).port, 24001);
}

TEST(ContactBook, OutOfRangeRowsAndPortsAreIgnored) {
  net::contact_book book({key(1)});
  EXPECT_FALSE(book.set(1, port_kind::tvu, {0x7f000001, 1}));
  EXPECT_FALSE(book.set(0, port_kind::count, {0x7f000001, 1}));
  EXPECT_EQ(book.get(1, port_kind::tvu).pack(), 0u);
  EXPECT_EQ(book.get(0, port_kind::count).pack(), 0u);
}

TEST(ContactBook, SetRowTakesEveryNonZeroPortAndCountsChanges) {
  net::contact_book book({key(1), key(2)});
  EXPECT_EQ(book.set_row(0, 0x0a000001, ports(100)), net::port_kind_count);
  EXPECT_EQ(book.set_row(0, 0x0a000001, ports(100)), 0u);  // the same again: nothing changed
  EXPECT_EQ(book.get(0, port_kind::repair), (net::endpoint{0x0a000001, 104}));
  auto moved = ports(100);
  moved[static_cast<std::size_t>(port_kind::tvu)] = 900;
  moved[static_cast<std::size_t>(port_kind::gossip)] = 0;  // unknown port: kept as it was
  EXPECT_EQ(book.set_row(0, 0x0a000001, moved), 1u);
  EXPECT_EQ(book.get(0, port_kind::tvu).port, 900);
  EXPECT_EQ(book.get(0, port_kind::gossip).port, 100);
  EXPECT_EQ(book.set_row(0, 0, ports(500)), 0u);  // no address: nothing taken
  EXPECT_EQ(book.get(0, port_kind::tpu).port, 101);
}

TEST(ContactBook, AColumnSeesLaterChanges) {
  net::contact_book book({key(1), key(2)});
  const net::contact_column tvu = book.column(port_kind::tvu);
  EXPECT_EQ(tvu.size(), 2u);
  EXPECT_EQ(tvu.port(), port_kind::tvu);
  EXPECT_EQ(tvu[1].pack(), 0u);
  book.set(1, port_kind::tvu, {0x7f000001, 14001});
  EXPECT_EQ(tvu[1].port, 14001);
  EXPECT_EQ(tvu[2].pack(), 0u);  // past the end: unknown
  const net::contact_column none;
  EXPECT_EQ(none.size(), 0u);
  EXPECT_EQ(none[0].pack(), 0u);
}

// One writer moves every row between two endpoints while two readers read columns: every
// endpoint read is one of the two written (never a mix), and the readers see the last write.
TEST(ContactBookContention, ReadersSeeWholeEndpointsWhileGossipRewrites) {
  constexpr std::size_t rows = 64;
  std::vector<crypto::pubkey> ids;
  for (std::size_t i = 0; i < rows; ++i) ids.push_back(key(static_cast<std::uint8_t>(i + 1)));
  net::contact_book book(ids);
  const net::endpoint a{0x7f000001, 14000}, b{0x0a0b0c0d, 24000};
  for (std::size_t r = 0; r < rows; ++r) book.set(r, port_kind::tvu, a);
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> bad{0}, reads{0}, passes{0};
  auto reader = [&] {
    const net::contact_column col = book.column(port_kind::tvu);
    std::uint64_t n = 0;
    while (!stop.load(std::memory_order_acquire)) {
      for (std::size_t r = 0; r < col.size(); ++r) {
        const net::endpoint e = col[r];
        if (!(e == a) && !(e == b)) bad.fetch_add(1, std::memory_order_relaxed);
        ++n;
      }
      passes.fetch_add(1, std::memory_order_relaxed);
    }
    reads.fetch_add(n, std::memory_order_relaxed);
  };
  std::thread r1(reader), r2(reader);
  // At least 2000 rounds, and on until the readers have made 200 passes between them.
  for (int round = 0; round < 2000 || passes.load(std::memory_order_relaxed) < 200 || round % 2 == 1; ++round)
    for (std::size_t r = 0; r < rows; ++r) book.set(r, port_kind::tvu, round % 2 == 0 ? b : a);
  stop.store(true, std::memory_order_release);
  r1.join();
  r2.join();
  EXPECT_EQ(bad.load(), 0u);
  EXPECT_GT(reads.load(), 0u);
  for (std::size_t r = 0; r < rows; ++r) EXPECT_EQ(book.get(r, port_kind::tvu), a);  // the last (odd) round wrote a
}
