#pragma once
// Fixed-size packet frames, allocated once at start-up.
//
// Contract
//   - `frame_pool` owns one contiguous, page-aligned region of `count` frames of
//     `frame_bytes` each (≥ max_packet_frame_bytes, rounded up to a cache line). The region is
//     mapped and pre-faulted in the constructor, so the hot path never takes a page fault
//     or allocates. Construction failure (bad sizes, mmap failure) throws.
//   - A frame is named by its 32-bit index; `frame(i)` gives its bytes. Ownership of a frame
//     moves with the descriptor that names it (spsc_ring<frag_desc>): whoever holds the
//     descriptor may read or write the frame, nobody else touches it.
//   - `frame_stack` is the owner's free list: a LIFO of free indices (LIFO keeps recently
//     used, cache-warm frames in play). It is single-threaded; frames released on another
//     thread come back through a return ring, never through the stack directly.
//
//   region:  | frame 0 | frame 1 | ... | frame count-1 |     each frame_bytes long

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

namespace riptide::util {

constexpr std::size_t max_packet_frame_bytes = 1280;  // IPv6 minimum MTU

class frame_pool {
 public:
  frame_pool(std::uint32_t count, std::size_t frame_bytes = max_packet_frame_bytes);
  ~frame_pool();
  frame_pool(const frame_pool&) = delete;
  frame_pool& operator=(const frame_pool&) = delete;

  std::uint32_t count() const noexcept { return count_; }
  std::size_t frame_bytes() const noexcept { return frame_bytes_; }

  std::span<std::uint8_t> frame(std::uint32_t index) noexcept {
    return {base_ + static_cast<std::size_t>(index) * frame_bytes_, frame_bytes_};
  }
  std::span<const std::uint8_t> frame(std::uint32_t index) const noexcept {
    return {base_ + static_cast<std::size_t>(index) * frame_bytes_, frame_bytes_};
  }
  bool contains(std::uint32_t index) const noexcept { return index < count_; }

 private:
  std::uint32_t count_;
  std::size_t frame_bytes_;
  std::size_t region_bytes_;
  std::uint8_t* base_;
};

// LIFO of free frame indices owned by one thread. Capacity fixed at construction.
class frame_stack {
 public:
  // Starts holding every index in [first, first + count).
  frame_stack(std::uint32_t first, std::uint32_t count);

  [[nodiscard]] bool try_acquire(std::uint32_t& index) noexcept {
    if (top_ == 0) return false;
    index = free_[--top_];
    return true;
  }
  // Returns false (and drops nothing) if the stack is already full: a double release.
  [[nodiscard]] bool release(std::uint32_t index) noexcept {
    if (top_ == free_.size()) return false;
    free_[top_++] = index;
    return true;
  }
  std::size_t available() const noexcept { return top_; }
  std::size_t capacity() const noexcept { return free_.size(); }

 private:
  std::vector<std::uint32_t> free_;
  std::size_t top_;
};

}  // namespace riptide::util
