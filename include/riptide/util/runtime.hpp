#pragma once
// Core threads that run tiles round-robin, pinned to CPUs, with an idle strategy.
//
// Contract
//   - Built at start-up from a plan: one `core_plan` per OS thread, each naming the CPU to
//     pin to (or -1 for none) and the tiles it runs, in order. A tile appears in exactly one
//     plan. The runtime does not own the tiles; they must outlive it.
//   - `start()` launches the threads; `stop()` (any thread but a core thread) asks every
//     tile to drain, waits until the whole system is quiescent (all tiles drained and no
//     core did work across two checks), then ends the threads. The destructor stops too.
//   - Pinning that fails (CPU not allowed, e.g. in a container) is reported on stderr once
//     and the thread runs unpinned; it is not fatal. `pin = false` skips pinning.
//   - Idle: a pass over the core's tiles that does no work calls the idle strategy:
//     spin → pause → sched_yield → sleep with exponential backoff (Aeron's backoff idle
//     strategy). Any work resets it. On small machines this keeps an idle node near 0 % CPU.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include <riptide/util/metrics.hpp>
#include <riptide/util/tile.hpp>

namespace riptide::util {

struct idle_policy {
  std::uint32_t spins = 64;          // empty passes that just retry
  std::uint32_t pauses = 256;        // then passes with a pause instruction
  std::uint32_t yields = 16;         // then passes with sched_yield()
  std::uint32_t min_sleep_us = 16;   // then sleeps, doubling …
  std::uint32_t max_sleep_us = 1000; // … up to this
};

class idle_strategy {
 public:
  explicit idle_strategy(const idle_policy& policy) noexcept : policy_(policy) {}
  void reset() noexcept {
    empty_passes_ = 0;
    sleep_us_ = policy_.min_sleep_us;
  }
  void idle() noexcept;
  std::uint64_t yields() const noexcept { return yields_; }
  std::uint64_t sleeps() const noexcept { return sleeps_; }

 private:
  idle_policy policy_;
  std::uint64_t empty_passes_ = 0;
  std::uint32_t sleep_us_ = 0;
  std::uint64_t yields_ = 0;
  std::uint64_t sleeps_ = 0;
};

struct core_plan {
  int cpu = -1;  // -1: do not pin
  std::vector<tile*> tiles;
};

struct runtime_options {
  bool pin = true;
  idle_policy idle;
  std::uint64_t housekeep_interval_ns = 1'000'000;
  metrics_registry* metrics = nullptr;  // if set, tiles and cores get blocks in it
};

class runtime {
 public:
  runtime(std::vector<core_plan> plan, runtime_options options);
  ~runtime();
  runtime(const runtime&) = delete;
  runtime& operator=(const runtime&) = delete;

  void start();
  // Returns true if the system drained fully before `drain_timeout`.
  bool stop(std::chrono::milliseconds drain_timeout = std::chrono::milliseconds(2000));
  bool running() const noexcept { return started_ && !stopped_; }
  std::size_t core_count() const noexcept { return cores_.size(); }

 private:
  struct core;
  enum : int { phase_run = 0, phase_drain = 1, phase_exit = 2 };

  void run_core(core& c) noexcept;

  std::vector<std::unique_ptr<core>> cores_;
  runtime_options options_;
  std::atomic<int> phase_{phase_run};
  bool started_ = false;
  bool stopped_ = false;
};

}  // namespace riptide::util
