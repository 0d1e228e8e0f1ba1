#pragma once
// A tile: one pipeline stage, run by a core thread (runtime.hpp) among other tiles.
//
// Contract
//   - Every virtual below is called on the tile's core thread only, never concurrently,
//     except `drained()`, which the runtime's stop coordinator may call from another thread
//     (implementations read only atomics there, e.g. ring sizes).
//   - `poll()` does a bounded slice of work (aim for ≤ ~10 µs), never blocks, never throws,
//     and returns how much it did (items, bytes, hashes: any positive unit). 0 means "nothing
//     to do", which lets the core thread idle.
//   - `housekeep()` runs periodically (metrics flush, timers); it may be slower than poll
//     but still must not block.
//   - Stopping: the runtime calls `begin_drain()` once; a source tile (one that creates work
//     from nothing, like PoH) stops creating it, every other tile keeps consuming its inputs.
//     The runtime stops when every tile is `drained()` and a full pass of every core did no
//     work.
//   - Metrics: the tile's block starts with the standard counters (tile_counter) the
//     runtime maintains; a tile's own counters follow at index `first_own_counter`.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <riptide/util/metrics.hpp>

namespace riptide::util {

enum tile_counter : std::size_t {
  busy_polls = 0,   // polls that did work
  idle_polls = 1,   // polls that did none
  work_done = 2,    // sum of poll() results
  housekeeps = 3,
  first_own_counter = 4,
};
inline constexpr std::string_view tile_standard_counter_names[] = {
    "busy_polls", "idle_polls", "work_done", "housekeeps"};

class tile {
 public:
  // Until the runtime attaches a block in the shared metrics file, counters go to a private
  // block, so a tile used alone (tests, benches) still counts correctly.
  explicit tile(std::string name)
      : name_(std::move(name)), local_(std::make_unique<metrics_file_block>()),
        metrics_(local_.get()) {}
  virtual ~tile() = default;
  tile(const tile&) = delete;
  tile& operator=(const tile&) = delete;

  const std::string& name() const noexcept { return name_; }

  // Names of the tile's own counters (indices first_own_counter + i). Start-up only.
  virtual std::vector<std::string_view> own_counter_names() const { return {}; }
  // Own counters that count something lost or refused on the way (a datagram, transaction,
  // entry, shred or send not passed on), by reason; totals of other listed counters are left
  // out, and so are copies of what is already held (a duplicate shred), which lose nothing.
  // The node names every one that is not 0 in its live line and summary. Start-up only.
  virtual std::vector<std::size_t> drop_counters() const { return {}; }

  virtual void on_start() {}
  virtual int poll() noexcept = 0;
  virtual void housekeep(std::uint64_t /*monotonic_ns*/) noexcept {}
  virtual void begin_drain() noexcept {}
  virtual bool drained() const noexcept { return true; }
  virtual void on_stop() noexcept {}

  void attach_metrics(metrics_block block) noexcept { metrics_ = block; }
  // The tile's own counter i (index first_own_counter + i in its block).
  std::uint64_t own_counter(std::size_t i) const noexcept {
    return metrics_.get(first_own_counter + i);
  }
  metrics_block& metrics() noexcept { return metrics_; }
  const metrics_block& metrics() const noexcept { return metrics_; }

 protected:
  void count(std::size_t own_counter, std::uint64_t n = 1) noexcept {
    metrics_.add(first_own_counter + own_counter, n);
  }
  void set_counter(std::size_t own_counter, std::uint64_t value) noexcept {
    metrics_.set(first_own_counter + own_counter, value);
  }

 private:
  std::string name_;
  std::unique_ptr<metrics_file_block> local_;
  metrics_block metrics_;
};

}  // namespace riptide::util
