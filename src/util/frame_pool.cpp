#include <riptide/util/frame_pool.hpp>

#include <sys/mman.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

#include <riptide/util/spsc_ring.hpp>

namespace riptide::util {

namespace {
std::size_t round_up(std::size_t n, std::size_t to) { return (n + to - 1) / to * to; }
}  // namespace

frame_pool::frame_pool(std::uint32_t count, std::size_t frame_bytes)
    : count_(count), frame_bytes_(round_up(frame_bytes, cache_line_bytes)), region_bytes_(0),
      base_(nullptr) {
  if (count == 0) throw std::invalid_argument("frame_pool: count must be > 0");
  if (frame_bytes < max_packet_frame_bytes)
    throw std::invalid_argument("frame_pool: frame_bytes must be >= " +
                                std::to_string(max_packet_frame_bytes));
  region_bytes_ = round_up(static_cast<std::size_t>(count) * frame_bytes_, 4096);
  // MAP_POPULATE pre-faults the region so the first touch on the hot path is not a fault.
  void* p = ::mmap(nullptr, region_bytes_, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  if (p == MAP_FAILED)
    throw std::runtime_error(std::string("frame_pool: mmap of ") + std::to_string(region_bytes_) +
                             " bytes failed: " + std::strerror(errno));
  base_ = static_cast<std::uint8_t*>(p);
}

frame_pool::~frame_pool() {
  if (base_ != nullptr) ::munmap(base_, region_bytes_);
}

frame_stack::frame_stack(std::uint32_t first, std::uint32_t count) : free_(count), top_(count) {
  // Highest index at the bottom so acquire hands out `first` first.
  for (std::uint32_t i = 0; i < count; ++i) free_[i] = first + count - 1 - i;
}

}  // namespace riptide::util
