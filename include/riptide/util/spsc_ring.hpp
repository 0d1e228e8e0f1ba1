#pragma once
// Single-producer single-consumer ring of small trivially-copyable descriptors.
//
// Contract
//   - Exactly one thread pushes (the producer) and exactly one thread pops (the consumer)
//     at any time; which threads they are may change only across a happens-before edge
//     (e.g. thread start/join).
//   - Capacity is a power of two fixed at construction; the slot array is allocated once,
//     in the constructor, cache-line aligned. Nothing allocates afterwards.
//   - Every operation is wait-free and never blocks: `try_push`/`try_pop` return false and
//     the batch forms return how many items they moved. Whether a full ring means
//     backpressure (retry later) or a counted drop is the caller's policy.
//
// Layout (why it is fast)
//   Producer-owned and consumer-owned indices live on separate cache lines. Each side keeps
//   a private copy of the other side's index and only re-reads the shared one when the copy
//   says the ring is full (producer) or empty (consumer), so in steady state a batch costs
//   one acquire load at most and one release store, and the two cores do not bounce a line
//   per item.
//
//     line 0 : head_ (written by producer)   | line 1 : cached_tail_ (producer private)
//     line 2 : tail_ (written by consumer)   | line 3 : cached_head_ (consumer private)
//     slots_ : capacity × T, 64-byte aligned
//
// Indices are free-running 64-bit counters (they never wrap in practice), masked on access.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <span>
#include <stdexcept>
#include <type_traits>

namespace riptide::util {

constexpr std::size_t cache_line_bytes = 64;

template <typename T>
class spsc_ring {
  static_assert(std::is_trivially_copyable_v<T>, "ring descriptors must be trivially copyable");

 public:
  // Throws std::invalid_argument if capacity is not a power of two ≥ 2 (start-up only).
  explicit spsc_ring(std::size_t capacity)
      : mask_(validated(capacity) - 1),
        slots_(static_cast<T*>(::operator new[](capacity * sizeof(T),
                                                std::align_val_t{cache_line_bytes}))) {}
  ~spsc_ring() { ::operator delete[](slots_, std::align_val_t{cache_line_bytes}); }
  spsc_ring(const spsc_ring&) = delete;
  spsc_ring& operator=(const spsc_ring&) = delete;

  std::size_t capacity() const noexcept { return mask_ + 1; }

  // ---- producer side --------------------------------------------------------------
  [[nodiscard]] bool try_push(const T& item) noexcept {
    const std::uint64_t head = head_.load(std::memory_order_relaxed);
    if (head - cached_tail_ > mask_) {
      cached_tail_ = tail_.load(std::memory_order_acquire);
      if (head - cached_tail_ > mask_) return false;
    }
    slots_[head & mask_] = item;
    head_.store(head + 1, std::memory_order_release);
    return true;
  }

  // Pushes as many of `items` as fit; returns the count pushed (0 if full).
  std::size_t try_push_batch(std::span<const T> items) noexcept {
    const std::uint64_t head = head_.load(std::memory_order_relaxed);
    std::size_t free_slots = capacity() - static_cast<std::size_t>(head - cached_tail_);
    if (free_slots < items.size()) {
      cached_tail_ = tail_.load(std::memory_order_acquire);
      free_slots = capacity() - static_cast<std::size_t>(head - cached_tail_);
    }
    const std::size_t n = items.size() < free_slots ? items.size() : free_slots;
    for (std::size_t i = 0; i < n; ++i) slots_[(head + i) & mask_] = items[i];
    if (n != 0) head_.store(head + n, std::memory_order_release);
    return n;
  }

  // Free slots as the producer currently sees them (refreshes its view of the consumer).
  std::size_t free_approx() noexcept {
    cached_tail_ = tail_.load(std::memory_order_acquire);
    return capacity() - static_cast<std::size_t>(head_.load(std::memory_order_relaxed) - cached_tail_);
  }

  // ---- consumer side --------------------------------------------------------------
  [[nodiscard]] bool try_pop(T& out) noexcept {
    const std::uint64_t tail = tail_.load(std::memory_order_relaxed);
    if (tail == cached_head_) {
      cached_head_ = head_.load(std::memory_order_acquire);
      if (tail == cached_head_) return false;
    }
    out = slots_[tail & mask_];
    tail_.store(tail + 1, std::memory_order_release);
    return true;
  }

  // Pops up to out.size() items; returns the count popped (0 if empty).
  std::size_t try_pop_batch(std::span<T> out) noexcept {
    const std::uint64_t tail = tail_.load(std::memory_order_relaxed);
    std::size_t avail = static_cast<std::size_t>(cached_head_ - tail);
    if (avail < out.size()) {
      cached_head_ = head_.load(std::memory_order_acquire);
      avail = static_cast<std::size_t>(cached_head_ - tail);
    }
    const std::size_t n = out.size() < avail ? out.size() : avail;
    for (std::size_t i = 0; i < n; ++i) out[i] = slots_[(tail + i) & mask_];
    if (n != 0) tail_.store(tail + n, std::memory_order_release);
    return n;
  }

  // Items waiting, as the consumer currently sees them.
  std::size_t size_approx() const noexcept {
    return static_cast<std::size_t>(head_.load(std::memory_order_acquire) -
                                    tail_.load(std::memory_order_acquire));
  }
  bool empty_approx() const noexcept { return size_approx() == 0; }

  // Free-running totals, readable from any thread (metrics sampling): the indices never
  // wrap, so they double as "descriptors ever pushed / popped" counters at no cost.
  std::uint64_t pushed_total() const noexcept { return head_.load(std::memory_order_acquire); }
  std::uint64_t popped_total() const noexcept { return tail_.load(std::memory_order_acquire); }

 private:
  static std::size_t validated(std::size_t capacity) {
    if (capacity < 2 || (capacity & (capacity - 1)) != 0 || capacity > (std::size_t{1} << 32))
      throw std::invalid_argument("spsc_ring capacity must be a power of two in [2, 2^32]");
    return capacity;
  }

  alignas(cache_line_bytes) std::atomic<std::uint64_t> head_{0};
  alignas(cache_line_bytes) std::uint64_t cached_tail_{0};
  alignas(cache_line_bytes) std::atomic<std::uint64_t> tail_{0};
  alignas(cache_line_bytes) std::uint64_t cached_head_{0};
  alignas(cache_line_bytes) const std::uint64_t mask_;
  T* const slots_;
};

// The descriptor most links carry: which frame, how long, and a little metadata.
// 16 bytes, so four fit a cache line.
struct frag_desc {
  std::uint32_t frame;   // index into the producer's frame pool
  std::uint16_t len;     // payload bytes in the frame
  std::uint16_t kind;    // link-specific: port, message kind, shard…
  std::uint64_t meta;    // link-specific: tag, slot, sequence…
};
static_assert(sizeof(frag_desc) == 16);

}  // namespace riptide::util
