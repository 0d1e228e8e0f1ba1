#include <riptide/util/runtime.hpp>

#include <sched.h>
#include <time.h>

#include <cstdio>
#include <cstring>
#include <string>

#include <riptide/util/cpu.hpp>
#include <riptide/util/spsc_ring.hpp>

namespace riptide::util {

void idle_strategy::idle() noexcept {
  const std::uint64_t n = empty_passes_++;
  if (n < policy_.spins) return;
  if (n < std::uint64_t{policy_.spins} + policy_.pauses) {
    cpu_relax();
    return;
  }
  if (n < std::uint64_t{policy_.spins} + policy_.pauses + policy_.yields) {
    ++yields_;
    sched_yield();
    return;
  }
  ++sleeps_;
  timespec ts{0, static_cast<long>(sleep_us_) * 1000};
  nanosleep(&ts, nullptr);
  sleep_us_ = sleep_us_ * 2 > policy_.max_sleep_us ? policy_.max_sleep_us : sleep_us_ * 2;
}

// Per-thread state. The fields the coordinator reads are atomics on their own line.
struct runtime::core {
  core_plan plan;
  std::thread thread;
  metrics_block metrics;
  std::vector<std::uint64_t> busy, idle, work;  // per tile, flushed at housekeeping
  // Published for the stop coordinator (written by this core only).
  alignas(cache_line_bytes) std::atomic<std::uint64_t> total_work{0};
  std::atomic<std::uint64_t> idle_passes{0};  // completed passes that did no work
  std::atomic<bool> drain_acked{false};       // begin_drain() called on every tile
  std::atomic<bool> started{false};
};

namespace {
enum core_counter : std::size_t { c_passes, c_idle_passes, c_yields, c_sleeps, c_pinned_cpu };
constexpr std::uint64_t unpinned = ~std::uint64_t{0};
}  // namespace

runtime::runtime(std::vector<core_plan> plan, runtime_options options) : options_(options) {
  std::size_t index = 0;
  for (auto& p : plan) {
    auto c = std::make_unique<core>();
    c->plan = std::move(p);
    const std::size_t n = c->plan.tiles.size();
    c->busy.assign(n, 0);
    c->idle.assign(n, 0);
    c->work.assign(n, 0);
    if (options_.metrics != nullptr) {
      c->metrics = options_.metrics->add(metrics_kind::core, "core" + std::to_string(index),
                                         {"passes", "idle_passes", "yields", "sleeps", "cpu"});
      for (tile* t : c->plan.tiles) {
        std::vector<std::string_view> names(std::begin(tile_standard_counter_names),
                                            std::end(tile_standard_counter_names));
        for (auto own : t->own_counter_names()) names.push_back(own);
        t->attach_metrics(options_.metrics->add(metrics_kind::tile, t->name(), names));
      }
    }
    cores_.push_back(std::move(c));
    ++index;
  }
}

runtime::~runtime() {
  if (started_ && !stopped_) stop();
}

void runtime::start() {
  if (started_) return;
  started_ = true;
  for (auto& c : cores_) {
    core* cp = c.get();
    cp->thread = std::thread([this, cp] { run_core(*cp); });
  }
}

void runtime::run_core(core& c) noexcept {
  std::string thread_name = "rt";
  for (tile* t : c.plan.tiles) thread_name += ":" + t->name();
  name_current_thread(thread_name.c_str());
  c.metrics.set(c_pinned_cpu, unpinned);
  if (options_.pin && c.plan.cpu >= 0) {
    const int rc = pin_current_thread(c.plan.cpu);
    if (rc == 0) {
      c.metrics.set(c_pinned_cpu, static_cast<std::uint64_t>(c.plan.cpu));
    } else {
      std::fprintf(stderr, "warning: cannot pin thread %s to cpu %d: %s; running unpinned\n",
                   thread_name.c_str(), c.plan.cpu, std::strerror(-rc));
    }
  }
  for (tile* t : c.plan.tiles) t->on_start();
  c.started.store(true, std::memory_order_release);

  idle_strategy idler(options_.idle);
  idler.reset();
  const std::size_t n = c.plan.tiles.size();
  std::uint64_t last_housekeep = monotonic_ns();
  std::uint64_t passes = 0, idle_passes = 0, total = 0;
  bool draining = false;

  auto flush = [&](std::uint64_t now) {
    for (std::size_t i = 0; i < n; ++i) {
      metrics_block& m = c.plan.tiles[i]->metrics();
      m.add(tile_counter::busy_polls, c.busy[i]);
      m.add(tile_counter::idle_polls, c.idle[i]);
      m.add(tile_counter::work_done, c.work[i]);
      m.add(tile_counter::housekeeps, 1);
      c.busy[i] = c.idle[i] = c.work[i] = 0;
      c.plan.tiles[i]->housekeep(now);
    }
    c.metrics.set(c_passes, passes);
    c.metrics.set(c_idle_passes, idle_passes);
    c.metrics.set(c_yields, idler.yields());
    c.metrics.set(c_sleeps, idler.sleeps());
  };

  for (;;) {
    std::uint64_t pass_work = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const int w = c.plan.tiles[i]->poll();
      if (w > 0) {
        ++c.busy[i];
        c.work[i] += static_cast<std::uint64_t>(w);
        pass_work += static_cast<std::uint64_t>(w);
      } else {
        ++c.idle[i];
      }
    }
    ++passes;
    if (pass_work != 0) {
      total += pass_work;
      c.total_work.store(total, std::memory_order_relaxed);
      idler.reset();
    } else {
      ++idle_passes;
      c.idle_passes.store(idle_passes, std::memory_order_release);
      idler.idle();
    }
    // Read the clock every 16 busy passes or on every idle pass.
    if (pass_work == 0 || (passes & 15) == 0) {
      const std::uint64_t now = monotonic_ns();
      if (now - last_housekeep >= options_.housekeep_interval_ns) {
        flush(now);
        last_housekeep = now;
      }
      const int phase = phase_.load(std::memory_order_acquire);
      if (phase >= phase_drain && !draining) {
        draining = true;
        for (tile* t : c.plan.tiles) t->begin_drain();
        c.drain_acked.store(true, std::memory_order_release);
      }
      if (phase == phase_exit) break;
    }
  }
  flush(monotonic_ns());
  for (tile* t : c.plan.tiles) t->on_stop();
}

bool runtime::stop(std::chrono::milliseconds drain_timeout) {
  if (!started_ || stopped_) return true;
  phase_.store(phase_drain, std::memory_order_release);
  // Quiescence: every core has stopped its sources (drain acknowledged), every tile says its
  // inputs are empty, no core did any work over a whole check interval, and every core
  // completed at least two idle passes inside that interval. The last condition matters on
  // an oversubscribed machine: a core preempted in the middle of a pass (holding items it
  // popped but has not pushed on) completes no pass, so it cannot be mistaken for idle.
  const auto deadline = std::chrono::steady_clock::now() + drain_timeout;
  std::vector<std::uint64_t> work_before(cores_.size()), idle_before(cores_.size());
  auto sample = [&] {
    for (std::size_t i = 0; i < cores_.size(); ++i) {
      work_before[i] = cores_[i]->total_work.load(std::memory_order_acquire);
      idle_before[i] = cores_[i]->idle_passes.load(std::memory_order_acquire);
    }
  };
  sample();
  bool clean = false;
  while (std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    bool quiet = true;
    for (std::size_t i = 0; i < cores_.size() && quiet; ++i) {
      core& c = *cores_[i];
      quiet = c.started.load(std::memory_order_acquire) &&
              c.drain_acked.load(std::memory_order_acquire) &&
              c.total_work.load(std::memory_order_acquire) == work_before[i] &&
              c.idle_passes.load(std::memory_order_acquire) >= idle_before[i] + 2;
      for (tile* t : c.plan.tiles) quiet = quiet && t->drained();
    }
    if (quiet) {
      clean = true;
      break;
    }
    sample();
  }
  phase_.store(phase_exit, std::memory_order_release);
  for (auto& c : cores_)
    if (c->thread.joinable()) c->thread.join();
  stopped_ = true;
  return clean;
}

}  // namespace riptide::util
