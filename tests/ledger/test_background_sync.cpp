// background_sync with a real ledger in a temp dir: the owner appends and hands over points,
// the sync thread makes them durable and reports each one. Then the owner appends on one
// thread while the syncer works and another thread watches the durable watermark.

#include <riptide/ledger/background_sync.hpp>

#include "../support/temp_dir.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

using namespace riptide;

namespace {

// What the done callback saw, shared with the test thread.
struct done_log {
  std::mutex mutex;
  std::condition_variable cv;
  std::vector<std::uint64_t> slots;
  std::vector<ledger::sync_result> results;

  ledger::background_sync::done_fn fn() {
    return [this](std::uint64_t slot, const ledger::sync_result& r) {
      {
        std::lock_guard lock(mutex);
        slots.push_back(slot);
        results.push_back(r);
      }
      cv.notify_all();
    };
  }
  // Waits (bounded) until `n` reports arrived.
  bool wait_for(std::size_t n) {
    std::unique_lock lock(mutex);
    return cv.wait_for(lock, std::chrono::seconds(30), [&] { return slots.size() >= n; });
  }
  std::vector<std::uint64_t> seen() {
    std::lock_guard lock(mutex);
    return slots;
  }
};

std::vector<std::uint8_t> payload(std::uint64_t slot, std::size_t n) {
  std::vector<std::uint8_t> p(n);
  for (std::size_t i = 0; i < n; ++i) p[i] = static_cast<std::uint8_t>(slot * 13 + i);
  return p;
}

void append_slot(ledger::ledger& lg, std::uint64_t slot, int records) {
  for (int i = 0; i < records; ++i)
    ASSERT_EQ(lg.append(ledger::record_type::entry_batch, slot, payload(slot, 100 + 50 * i)),
              ledger::append_error::none);
}

ledger::ledger open_ledger(const riptide::testing::temp_dir& dir, std::size_t segment_bytes = 1 << 20) {
  return ledger::ledger::open({dir.path() / "lg", segment_bytes, false});
}

}  // namespace

TEST(background_sync, a_request_is_made_durable_and_reported_on_the_sync_thread) {
  riptide::testing::temp_dir dir("riptide-background-sync");
  auto lg = open_ledger(dir);
  done_log log;
  std::thread::id owner = std::this_thread::get_id(), reporter;
  ledger::background_sync syncer(lg, [&](std::uint64_t slot, const ledger::sync_result& r) {
    reporter = std::this_thread::get_id();  // read after the wait below (the log's mutex orders it)
    log.fn()(slot, r);
  });
  syncer.start();
  append_slot(lg, 0, 3);
  EXPECT_EQ(lg.durable_records(), 0u);  // append never syncs
  syncer.request(lg.mark(), 0);
  ASSERT_TRUE(log.wait_for(1));
  {
    std::lock_guard lock(log.mutex);
    EXPECT_EQ(log.slots[0], 0u);
    EXPECT_TRUE(log.results[0].ok);
    EXPECT_EQ(log.results[0].durable_records, 3u);
    EXPECT_EQ(log.results[0].durable_bytes, lg.stats().bytes);
    EXPECT_NE(reporter, owner);
  }
  EXPECT_EQ(lg.durable_records(), 3u);

  // The next slot: only up to the point handed over, not what was appended after it.
  append_slot(lg, 1, 2);
  const auto point = lg.mark();
  append_slot(lg, 2, 4);
  syncer.request(point, 1);
  ASSERT_TRUE(log.wait_for(2));
  EXPECT_EQ(lg.durable_records(), 5u);
  {
    std::lock_guard lock(log.mutex);
    EXPECT_EQ(log.slots[1], 1u);
    EXPECT_EQ(log.results[1].durable_records, 5u);
  }
  syncer.stop();
  EXPECT_EQ(lg.durable_records(), 5u);  // stop does not sync what was never requested
  EXPECT_EQ(lg.stats().syncs, 2u);

}

TEST(background_sync, what_it_reported_durable_survives_reopening) {
  riptide::testing::temp_dir dir("riptide-background-sync");
  {
    auto lg = open_ledger(dir);
    done_log log;
    ledger::background_sync syncer(lg, log.fn());
    syncer.start();
    append_slot(lg, 0, 3);
    syncer.request(lg.mark(), 0);
    ASSERT_TRUE(log.wait_for(1));
    syncer.stop();
    append_slot(lg, 1, 2);  // never synced
  }
  const auto lg = open_ledger(dir);
  EXPECT_EQ(lg.durable_records(), 3u);
  EXPECT_GE(lg.stats().records, 3u);
}

TEST(background_sync, stop_finishes_a_pending_request_before_it_joins) {
  riptide::testing::temp_dir dir("riptide-background-sync");
  auto lg = open_ledger(dir);
  done_log log;
  {
    ledger::background_sync syncer(lg, log.fn());
    syncer.start();
    append_slot(lg, 4, 5);
    syncer.request(lg.mark(), 4);
    syncer.stop();  // no wait in between
    EXPECT_EQ(log.seen(), std::vector<std::uint64_t>{4});
    EXPECT_EQ(lg.durable_records(), 5u);
    syncer.stop();  // a second stop is a no-op
  }
  // The destructor stops too (and finishes what is pending).
  {
    ledger::background_sync syncer(lg, log.fn());
    syncer.start();
    append_slot(lg, 5, 1);
    syncer.request(lg.mark(), 5);
  }
  EXPECT_EQ(log.seen(), (std::vector<std::uint64_t>{4, 5}));
  EXPECT_EQ(lg.durable_records(), 6u);
}

// While the thread syncs, requests pile up: only the newest is kept, since its point covers
// every earlier one.
TEST(background_sync, requests_made_while_syncing_collapse_into_the_newest) {
  riptide::testing::temp_dir dir("riptide-background-sync");
  auto lg = open_ledger(dir);
  std::mutex mutex;
  std::condition_variable cv;
  bool inside = false, go_on = false;
  std::vector<std::uint64_t> slots;
  ledger::background_sync syncer(lg, [&](std::uint64_t slot, const ledger::sync_result& r) {
    std::unique_lock lock(mutex);
    EXPECT_TRUE(r.ok);
    slots.push_back(slot);
    if (slot == 1) {  // hold the sync thread inside the first report
      inside = true;
      cv.notify_all();
      cv.wait_for(lock, std::chrono::seconds(30), [&] { return go_on; });
    }
  });
  syncer.start();
  append_slot(lg, 1, 1);
  syncer.request(lg.mark(), 1);
  {
    std::unique_lock lock(mutex);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(30), [&] { return inside; }));
  }
  for (std::uint64_t slot = 2; slot <= 4; ++slot) {
    append_slot(lg, slot, 2);
    syncer.request(lg.mark(), slot);
  }
  {
    std::lock_guard lock(mutex);
    go_on = true;
  }
  cv.notify_all();
  syncer.stop();
  EXPECT_EQ(slots, (std::vector<std::uint64_t>{1, 4}));
  EXPECT_EQ(lg.durable_records(), 7u);
  EXPECT_EQ(lg.stats().syncs, 2u);
}

// Contention: the owner appends slot after slot on its thread (small segments, so it rolls
// new ones while the syncer works) and requests a sync at every slot end; a watcher thread
// reads the durable watermark. Reports come in slot order, each covering at least what its
// request covered, the watermark never goes back, and after stop() the last slot is durable.
// Run under ThreadSanitizer too.
TEST(background_sync, owner_appends_while_the_syncer_runs) {
  constexpr std::uint64_t slots = 300;
  constexpr int records_per_slot = 6;
  riptide::testing::temp_dir dir("riptide-background-sync");
  auto lg = open_ledger(dir, 64 * 1024);
  // Records in the ledger at each slot's end, published before the request for that slot.
  std::vector<std::atomic<std::uint64_t>> records_at(slots);
  std::atomic<std::uint64_t> reports{0}, last_reported{0}, failures{0}, out_of_order{0},
      short_of_request{0};
  ledger::background_sync syncer(lg, [&](std::uint64_t slot, const ledger::sync_result& r) {
    if (!r.ok) ++failures;
    if (reports.load(std::memory_order_relaxed) != 0 && slot <= last_reported.load(std::memory_order_relaxed))
      ++out_of_order;
    if (r.durable_records < records_at[slot].load(std::memory_order_relaxed)) ++short_of_request;
    last_reported.store(slot, std::memory_order_relaxed);
    reports.fetch_add(1, std::memory_order_release);
  });
  std::atomic<bool> owner_done{false};
  std::atomic<std::uint64_t> went_back{0};
  std::thread watcher([&] {
    std::uint64_t last = 0;
    while (!owner_done.load(std::memory_order_acquire)) {
      const std::uint64_t d = lg.durable_records();
      if (d < last) ++went_back;
      last = d;
      std::this_thread::yield();
    }
  });
  std::thread owner([&] {
    syncer.start();
    for (std::uint64_t slot = 0; slot < slots; ++slot) {
      append_slot(lg, slot, records_per_slot);
      records_at[slot].store(lg.stats().records, std::memory_order_relaxed);
      syncer.request(lg.mark(), slot);
    }
    syncer.stop();
    owner_done.store(true, std::memory_order_release);
  });
  owner.join();
  watcher.join();

  EXPECT_EQ(failures.load(), 0u);
  EXPECT_EQ(out_of_order.load(), 0u);
  EXPECT_EQ(short_of_request.load(), 0u);
  EXPECT_EQ(went_back.load(), 0u);
  EXPECT_GE(reports.load(), 1u);
  EXPECT_LE(reports.load(), slots);
  EXPECT_EQ(last_reported.load(), slots - 1);
  EXPECT_EQ(lg.durable_records(), slots * records_per_slot);
  EXPECT_GT(lg.stats().segments, 1u);
}
