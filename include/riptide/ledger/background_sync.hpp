#pragma once
// Background sync: a thread that makes a ledger durable up to points its owner hands over, so
// the owner's core never waits on fdatasync. Used by the leader's ledger tile and the
// follower's replay tile.
//
// Contract
//   - The ledger's owner thread calls start(), request() and stop(); the sync thread is the
//     ledger's one syncer (ledger.hpp) between start() and stop().
//   - request(point, slot) never blocks on the disk: it takes a mutex for a copy. If the
//     thread is still syncing, only the newest request is kept (a later point covers every
//     earlier one).
//   - After each sync_to, `done(slot, result)` runs on the sync thread (count, publish the
//     durable slot). It must be thread-safe with respect to the owner and must not throw.
//   - stop() finishes a pending request, then joins. The destructor stops too. Neither the
//     final sync of a partial slot nor anything else is done here: the owner calls
//     ledger::sync() itself after stop() if it wants one.

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>

#include <riptide/ledger/ledger.hpp>

namespace riptide::ledger {

class background_sync {
 public:
  using done_fn = std::function<void(std::uint64_t slot, const sync_result& result)>;
  background_sync(ledger& lg, done_fn done) : ledger_(lg), done_(std::move(done)) {}
  ~background_sync() { stop(); }
  background_sync(const background_sync&) = delete;
  background_sync& operator=(const background_sync&) = delete;

  void start() {
    stop_ = false;
    has_pending_ = false;
    thread_ = std::thread([this] { loop(); });
  }

  void request(const sync_point& point, std::uint64_t slot) noexcept {
    {
      std::lock_guard lock(mutex_);
      pending_ = {point, slot};
      has_pending_ = true;
    }
    cv_.notify_one();
  }

  void stop() noexcept {
    if (!thread_.joinable()) return;
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    cv_.notify_one();
    thread_.join();  // it finishes a pending request first
  }

 private:
  struct pending {
    sync_point point;
    std::uint64_t slot = 0;
  };
  void loop() noexcept {
    for (;;) {
      pending req;
      {
        std::unique_lock lock(mutex_);
        cv_.wait(lock, [this] { return has_pending_ || stop_; });
        if (!has_pending_) return;  // stop, nothing left
        req = pending_;
        has_pending_ = false;
      }
      const sync_result r = ledger_.sync_to(req.point);
      if (done_) done_(req.slot, r);
    }
  }

  ledger& ledger_;
  done_fn done_;
  std::thread thread_;
  std::mutex mutex_;
  std::condition_variable cv_;
  pending pending_{};
  bool has_pending_ = false;
  bool stop_ = false;
};

}  // namespace riptide::ledger
