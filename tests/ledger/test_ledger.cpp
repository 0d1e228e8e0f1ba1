#include <riptide/ledger/ledger.hpp>
#include <riptide/util/file_lock.hpp>

#include "../support/temp_dir.hpp"

#include <gtest/gtest.h>
#include <isa-l/crc.h>

#include <iterator>

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace riptide::ledger;
namespace fs = std::filesystem;

constexpr std::size_t test_segment_bytes = 64 * 1024;

struct temp_dir : riptide::testing::temp_dir {
  temp_dir() : riptide::testing::temp_dir("riptide-ledger") {}
};

// Deterministic payload for record number i: its size and bytes depend only on i.
std::vector<std::uint8_t> payload_for(std::uint64_t i, std::size_t max_bytes = 700) {
  std::vector<std::uint8_t> p((i * 37) % max_bytes);
  std::uint64_t x = i * 0x9E3779B97F4A7C15ULL + 1;
  for (auto& b : p) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    b = static_cast<std::uint8_t>(x);
  }
  return p;
}
std::uint64_t slot_for(std::uint64_t i) { return 10 + i / 7; }
record_type type_for(std::uint64_t i) { return static_cast<record_type>(1 + i % 3); }

ledger_config config_for(const fs::path& dir) {
  ledger_config c;
  c.dir = dir;
  c.segment_bytes = test_segment_bytes;
  return c;
}

void append_n(ledger& l, std::uint64_t from, std::uint64_t to) {
  for (std::uint64_t i = from; i < to; ++i) {
    const auto p = payload_for(i);
    ASSERT_EQ(l.append(type_for(i), slot_for(i), p), append_error::none) << i;
  }
}

// Checks that the ledger holds exactly records [0, n) as made by payload_for.
void expect_records(const ledger& l, std::uint64_t n) {
  std::uint64_t i = 0;
  l.for_each([&](const record_view& v) {
    const auto p = payload_for(i);
    EXPECT_EQ(v.slot, slot_for(i)) << i;
    EXPECT_EQ(v.type, type_for(i)) << i;
    ASSERT_EQ(v.payload.size(), p.size()) << i;
    EXPECT_TRUE(std::equal(p.begin(), p.end(), v.payload.begin())) << i;
    ++i;
  });
  EXPECT_EQ(i, n);
  EXPECT_EQ(l.stats().records, n);
}

fs::path last_segment(const fs::path& dir) {
  fs::path last;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().filename().string().starts_with("segment-") && e.path() > last) last = e.path();
  return last;
}

void patch_file(const fs::path& file, std::uint64_t offset, const std::vector<std::uint8_t>& b) {
  const int fd = ::open(file.c_str(), O_WRONLY);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::pwrite(fd, b.data(), b.size(), static_cast<off_t>(offset)),
            static_cast<ssize_t>(b.size()));
  ::close(fd);
}

std::uint8_t read_byte(const fs::path& file, std::uint64_t offset) {
  std::uint8_t b = 0;
  const int fd = ::open(file.c_str(), O_RDONLY);
  EXPECT_EQ(::pread(fd, &b, 1, static_cast<off_t>(offset)), 1);
  ::close(fd);
  return b;
}

// ---- parse_record ----------------------------------------------------------------------

std::vector<std::uint8_t> encoded(record_type type, std::uint64_t slot,
                                  std::vector<std::uint8_t> payload) {
  std::vector<std::uint8_t> out(encoded_record_bytes(payload.size()));
  EXPECT_EQ(encode_record(type, slot, payload, out), out.size());
  return out;
}

TEST(ledger_record, round_trip) {
  const std::vector<std::uint8_t> payload = {1, 2, 3, 4, 5};
  auto bytes = encoded(record_type::shred, 42, payload);
  EXPECT_EQ(bytes.size(), 32u);
  bytes.push_back(0xAA);  // trailing bytes belong to the next record
  record_view v;
  ASSERT_EQ(parse_record(bytes, v), record_error::none);
  EXPECT_EQ(v.type, record_type::shred);
  EXPECT_EQ(v.slot, 42u);
  EXPECT_EQ(v.size, 32u);
  EXPECT_TRUE(std::equal(payload.begin(), payload.end(), v.payload.begin(), v.payload.end()));
}

TEST(ledger_record, crc_is_crc32_iscsi_over_the_rest_of_the_record) {
  // The writer may use a specific ISA-L kernel; the format is defined by crc32_iscsi.
  for (std::size_t n : {0u, 1u, 7u, 8u, 63u, 256u, 1000u, 4096u, 70000u}) {
    std::vector<std::uint8_t> payload(n);
    for (std::size_t i = 0; i < n; ++i) payload[i] = static_cast<std::uint8_t>(i * 31 + n);
    auto b = encoded(record_type::entry_batch, n * 1000 + 1, payload);
    const std::uint32_t expected =
        crc32_iscsi(b.data() + 4, static_cast<int>(record_header_bytes - 4 + n), 0xFFFFFFFFu);
    std::uint32_t stored = 0;
    std::memcpy(&stored, b.data(), 4);
    EXPECT_EQ(stored, expected) << n;
  }
}

TEST(ledger_record, empty_payload) {
  auto bytes = encoded(record_type::slot_meta, 7, {});
  record_view v;
  ASSERT_EQ(parse_record(bytes, v), record_error::none);
  EXPECT_EQ(v.size, record_header_bytes);
  EXPECT_TRUE(v.payload.empty());
}

TEST(ledger_record, rejects_truncated_header) {
  auto b = encoded(record_type::shred, 1, {1, 2, 3});
  record_view v;
  EXPECT_EQ(parse_record(std::span(b).first(record_header_bytes - 1), v),
            record_error::truncated_header);
  EXPECT_EQ(parse_record({}, v), record_error::truncated_header);
}

TEST(ledger_record, rejects_bad_magic) {
  auto b = encoded(record_type::shred, 1, {1, 2, 3});
  b[4] ^= 1;
  record_view v;
  EXPECT_EQ(parse_record(b, v), record_error::bad_magic);
}

TEST(ledger_record, rejects_unknown_type) {
  record_view v;
  auto b = encoded(record_type::shred, 1, {1});
  b[8] = 0;
  b[9] = 0;
  EXPECT_EQ(parse_record(b, v), record_error::unknown_type);
  b[8] = max_record_type + 1;
  EXPECT_EQ(parse_record(b, v), record_error::unknown_type);
}

TEST(ledger_record, rejects_nonzero_flags) {
  auto b = encoded(record_type::shred, 1, {1});
  b[11] = 0x80;
  record_view v;
  EXPECT_EQ(parse_record(b, v), record_error::nonzero_flags);
}

TEST(ledger_record, rejects_payload_too_large) {
  auto b = encoded(record_type::shred, 1, {1});
  const std::uint32_t len = max_record_payload_bytes + 1;
  std::memcpy(b.data() + 12, &len, 4);
  record_view v;
  EXPECT_EQ(parse_record(b, v), record_error::payload_too_large);
}

TEST(ledger_record, rejects_truncated_payload) {
  auto b = encoded(record_type::shred, 1, {1, 2, 3, 4, 5, 6, 7, 8, 9});
  record_view v;
  EXPECT_EQ(parse_record(std::span(b).first(b.size() - 1), v), record_error::truncated_payload);
  EXPECT_EQ(parse_record(std::span(b).first(record_header_bytes + 3), v),
            record_error::truncated_payload);
}

TEST(ledger_record, rejects_nonzero_padding) {
  auto b = encoded(record_type::shred, 1, {1, 2, 3});
  b.back() = 1;
  record_view v;
  EXPECT_EQ(parse_record(b, v), record_error::nonzero_padding);
}

TEST(ledger_record, rejects_checksum_mismatch) {
  record_view v;
  auto b = encoded(record_type::shred, 1, {1, 2, 3});
  b[record_header_bytes + 1] ^= 0x10;  // payload
  EXPECT_EQ(parse_record(b, v), record_error::checksum_mismatch);
  b = encoded(record_type::shred, 1, {1, 2, 3});
  b[16] ^= 1;  // slot
  EXPECT_EQ(parse_record(b, v), record_error::checksum_mismatch);
  b = encoded(record_type::shred, 1, {1, 2, 3});
  b[8] = static_cast<std::uint8_t>(record_type::entry_batch);  // the type is covered too
  EXPECT_EQ(parse_record(b, v), record_error::checksum_mismatch);
  b = encoded(record_type::shred, 1, {1, 2, 3});
  b[0] ^= 0xFF;  // the CRC itself
  EXPECT_EQ(parse_record(b, v), record_error::checksum_mismatch);
}

TEST(ledger_record, every_error_has_a_name) {
  for (std::size_t i = 0; i < record_error_count; ++i)
    EXPECT_STRNE(to_string(static_cast<record_error>(i)), "unknown");
  for (std::size_t i = 0; i < append_error_count; ++i)
    EXPECT_STRNE(to_string(static_cast<append_error>(i)), "unknown");
}

// ---- ledger ----------------------------------------------------------------------------

TEST(ledger, round_trip_across_segments_and_reopen) {
  temp_dir dir;
  constexpr std::uint64_t n = 2000;
  std::vector<slot_records> index_before;
  {
    auto l = ledger::open(config_for(dir.path()));
    EXPECT_TRUE(l.empty());
    append_n(l, 0, n);
    EXPECT_GT(l.stats().segments, 5u);
    expect_records(l, n);
    EXPECT_EQ(l.last_slot(), slot_for(n - 1));
    const auto idx = l.slot_index();
    index_before.assign(idx.begin(), idx.end());
    const auto r = l.sync();
    ASSERT_TRUE(r.ok) << r.error;
    EXPECT_EQ(r.durable_records, n);
    EXPECT_EQ(r.durable_bytes, l.stats().bytes);
  }
  auto l = ledger::open(config_for(dir.path()));
  expect_records(l, n);
  EXPECT_EQ(l.stats().truncated_tail_bytes, 0u);
  EXPECT_EQ(l.durable_records(), n);
  EXPECT_EQ(l.durable_bytes(), l.stats().bytes);
  EXPECT_EQ(l.last_slot(), slot_for(n - 1));
  ASSERT_EQ(l.slot_index().size(), index_before.size());
  for (std::size_t i = 0; i < index_before.size(); ++i) {
    EXPECT_EQ(l.slot_index()[i].slot, index_before[i].slot);
    EXPECT_EQ(l.slot_index()[i].count, index_before[i].count);
    EXPECT_EQ(l.slot_index()[i].first.segment, index_before[i].first.segment);
    EXPECT_EQ(l.slot_index()[i].first.offset, index_before[i].first.offset);
  }
  // Appending after reopen continues the log.
  append_n(l, n, n + 50);
  expect_records(l, n + 50);
}

TEST(ledger, records_in_slot) {
  temp_dir dir;
  auto l = ledger::open(config_for(dir.path()));
  append_n(l, 0, 500);
  for (std::uint64_t i = 0; i + 7 <= 500; i += 7) {
    const auto r = l.records_in_slot(slot_for(i));
    EXPECT_EQ(r.count, 7u);
    std::uint64_t j = i;
    l.for_each_in_slot(slot_for(i), [&](const record_view& v) {
      EXPECT_EQ(v.slot, slot_for(i));
      EXPECT_EQ(v.payload.size(), payload_for(j).size());
      ++j;
    });
    EXPECT_EQ(j, i + 7);
  }
  EXPECT_EQ(l.records_in_slot(3).count, 0u);
  EXPECT_EQ(l.records_in_slot(1'000'000).count, 0u);
  std::uint64_t none = 0;
  l.for_each_in_slot(3, [&](const record_view&) { ++none; });
  EXPECT_EQ(none, 0u);
}

TEST(ledger, append_rejections_are_counted) {
  temp_dir dir;
  auto l = ledger::open(config_for(dir.path()));
  std::vector<std::uint8_t> big(l.max_payload_bytes() + 1);
  EXPECT_EQ(l.append(record_type::shred, 5, big), append_error::payload_too_large);
  big.pop_back();
  EXPECT_EQ(l.append(record_type::shred, 5, big), append_error::none);  // exactly fits
  EXPECT_EQ(l.append(static_cast<record_type>(0), 5, {}), append_error::invalid_type);
  EXPECT_EQ(l.append(static_cast<record_type>(9), 5, {}), append_error::invalid_type);
  EXPECT_EQ(l.append(record_type::shred, 4, {}), append_error::slot_regressed);
  EXPECT_EQ(l.append(record_type::shred, 5, {}), append_error::none);
  const auto& s = l.stats();
  EXPECT_EQ(s.append_rejected[static_cast<std::size_t>(append_error::payload_too_large)], 1u);
  EXPECT_EQ(s.append_rejected[static_cast<std::size_t>(append_error::invalid_type)], 2u);
  EXPECT_EQ(s.append_rejected[static_cast<std::size_t>(append_error::slot_regressed)], 1u);
  EXPECT_EQ(s.records, 2u);
  EXPECT_EQ(s.segments, 2u);
}

TEST(ledger, segment_create_failure_is_an_error_code) {
  // A file-size limit below the segment size makes posix_fallocate fail (EFBIG) the way a
  // full disk would, and works for root too (directory permissions would not).
  temp_dir dir;
  auto l = ledger::open(config_for(dir.path()));
  std::vector<std::uint8_t> big(l.max_payload_bytes());
  EXPECT_EQ(l.append(record_type::shred, 1, big), append_error::none);
  struct rlimit old_limit {};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old_limit), 0);
  struct rlimit small = old_limit;
  small.rlim_cur = 4096;
  const auto old_handler = ::signal(SIGXFSZ, SIG_IGN);
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
  const auto err = l.append(record_type::shred, 1, big);
  ::setrlimit(RLIMIT_FSIZE, &old_limit);
  ::signal(SIGXFSZ, old_handler);
  EXPECT_EQ(err, append_error::segment_create_failed);
  EXPECT_EQ(l.stats().append_rejected[static_cast<std::size_t>(append_error::segment_create_failed)], 1u);
  EXPECT_EQ(l.stats().segments, 1u);
  EXPECT_FALSE(fs::exists(dir.path() / "segment-00000001.log"));
  // Once the cause is gone, appends work again.
  EXPECT_EQ(l.append(record_type::shred, 1, big), append_error::none);
  EXPECT_EQ(l.stats().segments, 2u);
}

TEST(ledger, bad_config_throws) {
  temp_dir dir;
  auto c = config_for(dir.path());
  c.segment_bytes = 5000;
  EXPECT_THROW((void)ledger::open(c), std::invalid_argument);
}

// The common set-up for the torn-tail tests: 300 records, the first 200 synced.
struct torn_fixture {
  temp_dir dir;
  fs::path segment;
  std::uint64_t record_199 = 0;  // offset of record 199 (the last durable one)
  std::uint64_t tail_start = 0;  // start of record 299
  std::uint64_t tail_end = 0;    // end of record 299
  std::uint64_t records_before = 299;

  torn_fixture() {
    auto l = ledger::open(config_for(dir.path()));
    append_n(l, 0, 199);
    const record_position p199 = l.end_position();
    append_n(l, 199, 200);
    EXPECT_TRUE(l.sync().ok);
    append_n(l, 200, 299);
    const record_position p299 = l.end_position();
    append_n(l, 299, 300);
    const record_position end = l.end_position();
    // Everything the tests damage is in the last segment.
    EXPECT_EQ(p199.segment, end.segment);
    EXPECT_EQ(p299.segment, end.segment);
    record_199 = p199.offset;
    tail_start = p299.offset;
    tail_end = end.offset;
    segment = last_segment(dir.path());
    EXPECT_EQ(segment.filename().string(), "segment-0000000" + std::to_string(end.segment) + ".log");
  }
};

TEST(ledger, torn_tail_truncated_file) {
  torn_fixture f;
  fs::resize_file(f.segment, (f.tail_start + f.tail_end) / 2);
  {
    auto l = ledger::open(config_for(f.dir.path()));
    expect_records(l, f.records_before);
    EXPECT_EQ(l.stats().truncated_tail_records, 1u);
    EXPECT_GT(l.stats().truncated_tail_bytes, 0u);
    EXPECT_EQ(fs::file_size(f.segment), test_segment_bytes);
    // The ledger keeps working and the next reopen is clean.
    append_n(l, 299, 310);
    ASSERT_TRUE(l.sync().ok);
  }
  auto again = ledger::open(config_for(f.dir.path()));
  expect_records(again, 310);
  EXPECT_EQ(again.stats().truncated_tail_bytes, 0u);
}

TEST(ledger, torn_tail_truncated_inside_header) {
  torn_fixture f;
  fs::resize_file(f.segment, f.tail_start + 10);
  auto l = ledger::open(config_for(f.dir.path()));
  expect_records(l, f.records_before);
  EXPECT_EQ(l.stats().truncated_tail_bytes, 16u);  // 10 bytes rounded up to 8
}

TEST(ledger, garbage_after_last_record_is_truncated) {
  torn_fixture f;
  std::vector<std::uint8_t> junk(100);
  for (std::size_t i = 0; i < junk.size(); ++i) junk[i] = static_cast<std::uint8_t>(i * 7 + 1);
  patch_file(f.segment, f.tail_end, junk);
  auto l = ledger::open(config_for(f.dir.path()));
  expect_records(l, 300);
  EXPECT_EQ(l.stats().truncated_tail_bytes, 104u);
  EXPECT_EQ(read_byte(f.segment, f.tail_end), 0);  // zeroed on disk
}

TEST(ledger, zero_bytes_after_last_record_are_a_clean_end) {
  torn_fixture f;
  patch_file(f.segment, f.tail_end, std::vector<std::uint8_t>(4096, 0));
  auto l = ledger::open(config_for(f.dir.path()));
  expect_records(l, 300);
  EXPECT_EQ(l.stats().truncated_tail_bytes, 0u);
}

TEST(ledger, flipped_payload_byte_in_last_record_is_truncated) {
  torn_fixture f;
  const std::uint64_t at = f.tail_start + record_header_bytes;
  ASSERT_GT(payload_for(299).size(), 0u);
  patch_file(f.segment, at, {static_cast<std::uint8_t>(read_byte(f.segment, at) ^ 0x01)});
  auto l = ledger::open(config_for(f.dir.path()));
  expect_records(l, f.records_before);
  EXPECT_EQ(l.stats().truncated_tail_bytes, f.tail_end - f.tail_start);
}

TEST(ledger, corruption_in_the_middle_names_file_and_offset) {
  temp_dir dir;
  std::uint64_t middle = 0;
  {
    auto l = ledger::open(config_for(dir.path()));
    append_n(l, 0, 10);
    middle = l.end_position().offset;
    append_n(l, 10, 20);
    ASSERT_EQ(l.stats().segments, 1u);  // unsynced: only "valid records follow" can tell
  }
  const auto seg = last_segment(dir.path());
  patch_file(seg, middle + record_header_bytes, {static_cast<std::uint8_t>(read_byte(seg, middle + record_header_bytes) ^ 0xFF)});
  try {
    (void)ledger::open(config_for(dir.path()));
    FAIL() << "expected an error";
  } catch (const std::runtime_error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(seg.filename().string()), std::string::npos) << msg;
    EXPECT_NE(msg.find("offset " + std::to_string(middle)), std::string::npos) << msg;
    EXPECT_NE(msg.find("checksum_mismatch"), std::string::npos) << msg;
  }
}

TEST(ledger, corruption_below_durable_watermark_is_an_error) {
  torn_fixture f;  // records [0, 200) were reported durable
  // Cut the file inside record 199 so that no valid record follows the damage: it would pass
  // for a torn tail, but it was reported durable, so it is an error.
  const std::uint64_t off = f.record_199;
  fs::resize_file(f.segment, off + record_header_bytes + 1);
  try {
    (void)ledger::open(config_for(f.dir.path()));
    FAIL() << "expected an error";
  } catch (const std::runtime_error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("durable"), std::string::npos) << msg;
    EXPECT_NE(msg.find("offset " + std::to_string(off)), std::string::npos) << msg;
  }
}

TEST(ledger, corruption_in_sealed_segment_is_an_error) {
  temp_dir dir;
  {
    auto l = ledger::open(config_for(dir.path()));
    append_n(l, 0, 1000);
    ASSERT_GT(l.stats().segments, 2u);
  }
  const auto first = dir.path() / "segment-00000000.log";
  patch_file(first, segment_header_bytes + 4, {0xFF});  // magic of the first record
  try {
    (void)ledger::open(config_for(dir.path()));
    FAIL() << "expected an error";
  } catch (const std::runtime_error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("segment-00000000.log"), std::string::npos) << msg;
    EXPECT_NE(msg.find("offset 32"), std::string::npos) << msg;
  }
}

TEST(ledger, checksums_of_sealed_segments_are_verified_on_request) {
  temp_dir dir;
  std::uint64_t second = 0;
  {
    auto l = ledger::open(config_for(dir.path()));
    append_n(l, 0, 1000);
    ASSERT_GT(l.stats().segments, 2u);
    auto c = l.read_all();
    record_view v;
    ASSERT_TRUE(c.next(v));
    second = segment_header_bytes + v.size;
    ASSERT_TRUE(c.next(v));
    ASSERT_GT(v.payload.size(), 0u);
  }
  const auto first = dir.path() / "segment-00000000.log";
  const std::uint64_t at = second + record_header_bytes;
  patch_file(first, at, {static_cast<std::uint8_t>(read_byte(first, at) ^ 0x40)});
  // By default sealed segments are checked for structure only (fast open)...
  EXPECT_NO_THROW((void)ledger::open(config_for(dir.path())));
  // ...and fully on request.
  auto c = config_for(dir.path());
  c.verify_all_checksums_on_open = true;
  try {
    (void)ledger::open(c);
    FAIL() << "expected an error";
  } catch (const std::runtime_error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("segment-00000000.log"), std::string::npos) << msg;
    EXPECT_NE(msg.find("offset " + std::to_string(second) + " (checksum_mismatch)"),
              std::string::npos)
        << msg;
  }
}

TEST(ledger, newest_segment_without_header_is_reinitialized) {
  temp_dir dir;
  {
    auto l = ledger::open(config_for(dir.path()));
    append_n(l, 0, 100);
    ASSERT_TRUE(l.sync().ok);
  }
  // What a power loss right after creating segment 1 can leave: an empty file.
  { std::ofstream(dir.path() / "segment-00000001.log"); }
  {
    auto l = ledger::open(config_for(dir.path()));
    expect_records(l, 100);
    EXPECT_EQ(l.stats().reinitialized_segments, 1u);
    EXPECT_EQ(l.stats().segments, 2u);
    append_n(l, 100, 120);
    ASSERT_TRUE(l.sync().ok);
  }
  expect_records(ledger::open(config_for(dir.path())), 120);
  // The first segment is never re-initialised: that would hide the loss of durable data.
  std::vector<std::uint8_t> zeros(segment_header_bytes, 0);
  patch_file(dir.path() / "segment-00000000.log", 0, zeros);
  EXPECT_THROW((void)ledger::open(config_for(dir.path())), std::runtime_error);
}

// A writer killed while creating a new ledger leaves segment 0 as zeros and no watermark:
// the next open starts it afresh (read-only still reports it, and changes nothing).
TEST(ledger, a_first_segment_of_zeros_is_started_afresh) {
  temp_dir dir;
  {
    std::ofstream f(dir.path() / "segment-00000000.log", std::ios::binary);
    const std::vector<char> zeros(test_segment_bytes / 2, 0);
    f.write(zeros.data(), static_cast<std::streamsize>(zeros.size()));
  }
  ledger_config ro = config_for(dir.path());
  ro.read_only = true;
  EXPECT_THROW(ledger::open(ro), std::runtime_error);
  auto l = ledger::open(config_for(dir.path()));
  EXPECT_EQ(l.stats().reinitialized_segments, 1u);
  EXPECT_TRUE(l.empty());
  append_n(l, 0, 10);
  EXPECT_EQ(l.stats().records, 10u);
}

TEST(ledger, missing_segment_is_an_error) {
  temp_dir dir;
  {
    auto l = ledger::open(config_for(dir.path()));
    append_n(l, 0, 1000);
  }
  fs::remove(dir.path() / "segment-00000001.log");
  EXPECT_THROW((void)ledger::open(config_for(dir.path())), std::runtime_error);
}

// ---- ownership, read-only, repair --------------------------------------------------------

std::vector<std::uint8_t> file_bytes(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

TEST(ledger_lock, a_second_writer_is_refused_and_readers_are_not) {
  temp_dir dir;
  auto l = ledger::open(config_for(dir.path()));
  append_n(l, 0, 5);
  try {
    (void)ledger::open(config_for(dir.path()));
    FAIL() << "expected lock_held_error";
  } catch (const riptide::util::lock_held_error& e) {
    EXPECT_EQ(e.holder_pid(), static_cast<std::uint32_t>(::getpid()));
  }
  riptide::ledger::repair_report r;
  EXPECT_THROW((void)ledger::repair(config_for(dir.path()), r), riptide::util::lock_held_error);
  auto ro = config_for(dir.path());
  ro.read_only = true;
  EXPECT_NO_THROW((void)ledger::open(ro));  // a reader takes no lock
  append_n(l, 5, 8);  // the writer was not disturbed
  expect_records(l, 8);
}

TEST(ledger_read_only, creates_nothing_where_there_is_no_ledger) {
  temp_dir dir;
  auto ro = config_for(dir.path() / "absent");
  ro.read_only = true;
  EXPECT_THROW((void)ledger::open(ro), std::runtime_error);
  EXPECT_FALSE(fs::exists(dir.path() / "absent"));
  ro.dir = dir.path();  // exists, holds no ledger
  try {
    (void)ledger::open(ro);
    FAIL() << "expected an error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("no ledger here"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(fs::is_empty(dir.path()));
}

TEST(ledger_read_only, leaves_a_torn_tail_as_it_is_and_refuses_writes) {
  temp_dir dir;
  std::uint64_t end = 0;
  {
    auto l = ledger::open(config_for(dir.path()));
    append_n(l, 0, 20);
    end = l.end_position().offset;
  }
  const auto seg = last_segment(dir.path());
  patch_file(seg, end, {0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88});  // a torn record
  const auto before = file_bytes(seg);
  const auto durable_before = file_bytes(dir.path() / "durable");
  {
    auto ro = config_for(dir.path());
    ro.read_only = true;
    auto l = ledger::open(ro);
    expect_records(l, 20);
    EXPECT_EQ(l.stats().truncated_tail_records, 1u);
    EXPECT_EQ(l.append(record_type::entry_batch, 99, payload_for(1)), append_error::read_only);
    EXPECT_FALSE(l.sync().ok);
    EXPECT_THROW(l.truncate({0, segment_header_bytes}), std::runtime_error);
  }
  EXPECT_EQ(file_bytes(seg), before);
  EXPECT_EQ(file_bytes(dir.path() / "durable"), durable_before);
}

TEST(ledger_repair, a_sound_ledger_keeps_every_record) {
  temp_dir dir;
  {
    auto l = ledger::open(config_for(dir.path()));
    append_n(l, 0, 300);
    ASSERT_TRUE(l.sync().ok);
  }
  riptide::ledger::repair_report r;
  {
    auto l = ledger::repair(config_for(dir.path()), r);
    expect_records(l, 300);
  }
  EXPECT_FALSE(r.cut) << r.reason;
  EXPECT_EQ(r.records_kept, 300u);
  EXPECT_EQ(r.records_dropped, 0u);
  EXPECT_EQ(r.segments_deleted, 0u);
  expect_records(ledger::open(config_for(dir.path())), 300);
}

TEST(ledger_repair, corruption_in_a_sealed_segment_cuts_there_and_says_what_went) {
  temp_dir dir;
  std::uint64_t segments = 0;
  {
    auto l = ledger::open(config_for(dir.path()));
    append_n(l, 0, 1000);
    ASSERT_TRUE(l.sync().ok);
    segments = l.stats().segments;
    ASSERT_GT(segments, 2u);
  }
  // Record 10 of segment 0 loses a payload byte: a checked open refuses the ledger for good.
  std::uint64_t off = segment_header_bytes;
  for (std::uint64_t i = 0; i < 10; ++i) off += encoded_record_bytes(payload_for(i).size());
  const auto first = dir.path() / "segment-00000000.log";
  patch_file(first, off + record_header_bytes, {static_cast<std::uint8_t>(read_byte(first, off + record_header_bytes) ^ 0x5A)});
  auto checked = config_for(dir.path());
  checked.verify_all_checksums_on_open = true;  // what `ledger verify` does
  EXPECT_THROW((void)ledger::open(checked), std::runtime_error);
  riptide::ledger::repair_report r;
  (void)ledger::repair(config_for(dir.path()), r);
  EXPECT_TRUE(r.cut);
  EXPECT_NE(r.reason.find("segment-00000000.log"), std::string::npos) << r.reason;
  EXPECT_NE(r.reason.find("offset " + std::to_string(off)), std::string::npos) << r.reason;
  EXPECT_EQ(r.at.segment, 0u);
  EXPECT_EQ(r.at.offset, off);
  EXPECT_EQ(r.records_kept, 10u);
  EXPECT_EQ(r.last_slot_kept, slot_for(9));
  EXPECT_EQ(r.records_dropped, 989u);  // every intact record after the damaged one
  EXPECT_EQ(r.first_slot_dropped, slot_for(11));
  EXPECT_EQ(r.last_slot_dropped, slot_for(999));
  EXPECT_EQ(r.segments_deleted, segments - 1);
  // The ledger opens again, holds exactly the valid prefix, and takes appends.
  auto l = ledger::open(config_for(dir.path()));
  expect_records(l, 10);
  EXPECT_EQ(l.durable_records(), 10u);
  append_n(l, 10, 20);
  expect_records(l, 20);
}

TEST(ledger_repair, a_missing_or_headerless_segment_ends_the_ledger_before_it) {
  for (const bool missing : {true, false}) {
    temp_dir dir;
    {
      auto l = ledger::open(config_for(dir.path()));
      append_n(l, 0, 1000);
      ASSERT_TRUE(l.sync().ok);
      ASSERT_GT(l.stats().segments, 3u);
    }
    const auto second = dir.path() / "segment-00000001.log";
    if (missing) fs::remove(second);
    else patch_file(second, 0, {'X'});
    EXPECT_THROW((void)ledger::open(config_for(dir.path())), std::runtime_error);
    riptide::ledger::repair_report r;
    (void)ledger::repair(config_for(dir.path()), r);
    EXPECT_TRUE(r.cut) << missing;
    EXPECT_NE(r.reason.find("segment-00000001.log"), std::string::npos) << r.reason;
    EXPECT_EQ(r.at.segment, 0u);
    EXPECT_FALSE(fs::exists(dir.path() / "segment-00000002.log"));
    auto l = ledger::open(config_for(dir.path()));
    EXPECT_EQ(l.stats().records, r.records_kept);
    EXPECT_GT(r.records_kept, 0u);
    expect_records(l, r.records_kept);
    EXPECT_GT(r.records_dropped, 0u);  // the later segments' records are counted
  }
}

// ---- crash test ------------------------------------------------------------------------

// A child appends and syncs every `sync_every` records, writing the durable record count to
// a pipe after each sync; the parent kill -9's it at a random moment and checks that every
// record reported durable is present and intact after reopen.
TEST(ledger, kill_9_loses_nothing_reported_durable) {
  std::mt19937_64 rng(std::random_device{}());
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(2500);
  int iterations = 0;
  std::uint64_t reported_total = 0;
  while (iterations < 8 && std::chrono::steady_clock::now() < deadline) {
    temp_dir dir;
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    const std::uint64_t sync_every = 1 + rng() % 64;
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::close(fds[0]);
      try {
        auto l = ledger::open(config_for(dir.path()));
        for (std::uint64_t i = 0;; ++i) {
          const auto p = payload_for(i);
          if (l.append(type_for(i), slot_for(i), p) != append_error::none) ::_exit(2);
          if ((i + 1) % sync_every == 0) {
            const auto r = l.sync();
            if (!r.ok) ::_exit(3);
            if (::write(fds[1], &r.durable_records, sizeof r.durable_records) !=
                static_cast<ssize_t>(sizeof r.durable_records))
              ::_exit(4);
          }
        }
      } catch (...) {
        ::_exit(5);
      }
    }
    ::close(fds[1]);
    const auto run_for = std::chrono::microseconds(2000 + rng() % 150000);
    std::this_thread::sleep_for(run_for);
    ::kill(pid, SIGKILL);
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(status)) << "child exited with " << WEXITSTATUS(status);
    std::uint64_t durable = 0;
    std::uint64_t value = 0;
    while (::read(fds[0], &value, sizeof value) == static_cast<ssize_t>(sizeof value))
      durable = value;
    ::close(fds[0]);

    auto l = ledger::open(config_for(dir.path()));
    ASSERT_GE(l.stats().records, durable);
    EXPECT_GE(l.durable_records(), durable);
    std::uint64_t i = 0;
    l.for_each([&](const record_view& v) {
      const auto p = payload_for(i);
      EXPECT_EQ(v.slot, slot_for(i));
      ASSERT_EQ(v.payload.size(), p.size()) << i;
      EXPECT_TRUE(std::equal(p.begin(), p.end(), v.payload.begin())) << i;
      ++i;
    });
    EXPECT_EQ(i, l.stats().records);
    reported_total += durable;
    ++iterations;
  }
  EXPECT_GE(iterations, 2);
  RecordProperty("iterations", iterations);
  RecordProperty("durable_records_checked", static_cast<int>(reported_total));
}

}  // namespace

// ---- sync points, truncation, a syncer thread ---------------------------------------------

namespace {

TEST(ledger_sync, sync_to_a_mark_makes_exactly_that_much_durable) {
  temp_dir d;
  {
    ledger l = ledger::open(config_for(d.path()));
    append_n(l, 0, 150);  // several segments
    const sync_point p = l.mark();
    EXPECT_EQ(p.records, 150u);
    append_n(l, 150, 200);
    const sync_result r = l.sync_to(p);
    ASSERT_TRUE(r.ok);
    EXPECT_EQ(r.durable_records, 150u);
    EXPECT_EQ(l.durable_records(), 150u);
    EXPECT_EQ(l.durable_bytes(), p.bytes);
    EXPECT_EQ(l.stats().syncs, 1u);
    // An older point is a no-op that reports what is durable.
    EXPECT_TRUE(l.sync_to(sync_point{}).ok);
    EXPECT_EQ(l.durable_records(), 150u);
  }
  ledger again = ledger::open(config_for(d.path()));
  EXPECT_EQ(again.durable_records(), 150u);
  expect_records(again, 200);  // the rest was in the page cache
}

TEST(ledger_sync, truncate_removes_the_tail_durably_across_segments) {
  temp_dir d;
  record_position cut;
  std::uint64_t keep = 0;
  {
    ledger l = ledger::open(config_for(d.path()));
    append_n(l, 0, 600);
    ASSERT_TRUE(l.sync().ok);
    ASSERT_GE(l.stats().segments, 3u);
    // Cut after record 120 (its end, found with a cursor).
    auto c = l.read_all();
    record_view v;
    for (keep = 0; keep < 121; ++keep) ASSERT_TRUE(c.next(v));
    cut = c.position();
    l.truncate(cut);
    EXPECT_EQ(l.stats().records, 121u);
    EXPECT_EQ(l.durable_records(), 121u);
    EXPECT_EQ(l.last_slot(), slot_for(120));
    EXPECT_EQ(l.stats().segments, cut.segment + 1);
    expect_records(l, 121);
    append_n(l, 121, 130);  // appending goes on from the cut
    ASSERT_TRUE(l.sync().ok);
  }
  ledger again = ledger::open(config_for(d.path()));
  expect_records(again, 130);
  EXPECT_EQ(again.durable_records(), 130u);
  EXPECT_EQ(again.stats().truncated_tail_bytes, 0u);
}

TEST(ledger_sync, truncate_to_the_start_empties_the_ledger) {
  temp_dir d;
  {
    ledger l = ledger::open(config_for(d.path()));
    append_n(l, 0, 20);
    ASSERT_TRUE(l.sync().ok);
    l.truncate({0, segment_header_bytes});
    EXPECT_TRUE(l.empty());
    EXPECT_EQ(l.durable_records(), 0u);
  }
  ledger again = ledger::open(config_for(d.path()));
  EXPECT_TRUE(again.empty());
}

TEST(ledger_sync, truncate_rejects_a_position_inside_a_record) {
  temp_dir d;
  ledger l = ledger::open(config_for(d.path()));
  append_n(l, 0, 5);
  EXPECT_THROW(l.truncate({0, segment_header_bytes + 8}), std::runtime_error);
  EXPECT_THROW(l.truncate({7, segment_header_bytes}), std::runtime_error);
  EXPECT_EQ(l.stats().records, 5u);
}

TEST(ledger_root, set_root_is_durable_with_the_sync_that_covers_it) {
  temp_dir d;
  {
    ledger l = ledger::open(config_for(d.path()));
    EXPECT_EQ(l.root(), no_root);
    append_n(l, 0, 70);  // slots 10..19
    EXPECT_FALSE(l.set_root(9));   // not in the ledger
    EXPECT_FALSE(l.set_root(20));  // not yet
    ASSERT_TRUE(l.set_root(12));
    EXPECT_EQ(l.root(), 12u);
    EXPECT_EQ(l.durable_root(), no_root);  // not synced yet
    const sync_point p = l.mark();
    EXPECT_EQ(p.root, 12u);
    ASSERT_TRUE(l.set_root(15));
    EXPECT_FALSE(l.set_root(14));  // roots only move forward
    EXPECT_EQ(l.root(), 15u);
    ASSERT_TRUE(l.sync_to(p).ok);
    EXPECT_EQ(l.durable_root(), 12u);  // what that point carried
  }
  {
    ledger l = ledger::open(config_for(d.path()));
    EXPECT_EQ(l.root(), 12u);  // 15 was never synced
    ASSERT_TRUE(l.set_root(15));
    ASSERT_TRUE(l.set_root(15));  // the same root again is fine
    ASSERT_TRUE(l.sync().ok);      // a root-only change is written too
  }
  ledger_config ro = config_for(d.path());
  ro.read_only = true;
  const ledger reader = ledger::open(ro);
  EXPECT_EQ(reader.root(), 15u);
  EXPECT_EQ(reader.durable_root(), 15u);
}

TEST(ledger_root, a_cut_below_the_root_lowers_it_to_the_last_slot_kept) {
  temp_dir d;
  ledger l = ledger::open(config_for(d.path()));
  append_n(l, 0, 70);  // 7 records per slot, slots 10..19
  ASSERT_TRUE(l.set_root(18));
  ASSERT_TRUE(l.sync().ok);
  auto c = l.read_all();
  record_view v;
  for (int i = 0; i < 30; ++i) ASSERT_TRUE(c.next(v));  // through record 29: slot 14
  l.truncate(c.position());
  EXPECT_EQ(l.root(), 14u);
  EXPECT_EQ(l.durable_root(), 14u);
  l.truncate({0, segment_header_bytes});
  EXPECT_EQ(l.root(), no_root);
}

TEST(ledger_root, a_watermark_file_from_before_roots_opens_with_no_root) {
  temp_dir d;
  {
    ledger l = ledger::open(config_for(d.path()));
    append_n(l, 0, 20);
    ASSERT_TRUE(l.set_root(11));
    ASSERT_TRUE(l.sync().ok);
  }
  // Rewrite the file as the 40-byte format: crc32c over [0, 32) at 32.
  std::vector<std::uint8_t> b(durable_file_v1_bytes);
  {
    std::FILE* f = std::fopen((d.path() / "durable").c_str(), "rb");
    ASSERT_NE(f, nullptr);
    ASSERT_EQ(std::fread(b.data(), 1, b.size(), f), b.size());
    std::fclose(f);
  }
  const std::uint32_t crc = crc32_iscsi(b.data(), 32, 0xFFFFFFFFu);
  for (int i = 0; i < 4; ++i) b[32 + i] = static_cast<std::uint8_t>(crc >> (8 * i));
  fs::resize_file(d.path() / "durable", 0);
  patch_file(d.path() / "durable", 0, b);
  ledger l = ledger::open(config_for(d.path()));
  EXPECT_EQ(l.root(), no_root);
  EXPECT_EQ(l.durable_records(), 20u);  // the watermark itself was read
}

// The ledger tile's arrangement: the owner appends (rolling segments) and hands marks to a
// syncer thread through a mutex; the syncer calls sync_to. Run under ThreadSanitizer.
TEST(ledger_sync_contention, appender_and_syncer_threads) {
  temp_dir d;
  constexpr std::uint64_t total = 3000;
  std::uint64_t synced_records = 0;
  {
    ledger l = ledger::open(config_for(d.path()));
    std::mutex m;
    std::condition_variable cv;
    sync_point pending;
    bool have = false, done = false;
    std::uint64_t syncs = 0;
    std::thread syncer([&] {
      for (;;) {
        sync_point p;
        {
          std::unique_lock lock(m);
          cv.wait(lock, [&] { return have || done; });
          if (!have) return;
          p = pending;
          have = false;
        }
        const sync_result r = l.sync_to(p);
        EXPECT_TRUE(r.ok);
        EXPECT_GE(l.durable_records(), p.records);
        ++syncs;
      }
    });
    for (std::uint64_t i = 0; i < total; ++i) {
      const auto p = payload_for(i);
      ASSERT_EQ(l.append(type_for(i), slot_for(i), p), append_error::none);
      if (i % 50 == 49) {
        {
          std::lock_guard lock(m);
          pending = l.mark();
          have = true;
        }
        cv.notify_one();
      }
    }
    {
      std::lock_guard lock(m);
      done = true;
    }
    cv.notify_one();
    syncer.join();
    EXPECT_GT(syncs, 0u);
    EXPECT_EQ(l.durable_records(), total);  // the last mark was after the last append
    synced_records = l.durable_records();
    EXPECT_GT(l.stats().segments, 10u);
  }
  ledger again = ledger::open(config_for(d.path()));
  EXPECT_EQ(again.durable_records(), synced_records);
  expect_records(again, total);
}

}  // namespace
